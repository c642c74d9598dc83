/** `alignloop audit` follows training examples back to their samples; `alignloop verify` catches tampering. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, cliEnv, runToEnd, useTestServer, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-audit-');

async function run(id: string, file: string): Promise<void> {
  expect((await runToEnd(ctx, id, file)).state).toBe('completed');
}

interface Audit {
  examples: { index: number; record: { sample_ids?: number[]; label: number } }[];
  samples: { sample_id: number; reward: number | null; label_status: string; generator: string }[];
  decision: {
    reproduced: boolean;
    mode: string;
    threshold: number;
    pairs: { sample_ids: number[]; rewards: number[]; gap: number }[];
    unused: { sample_id: number; why: string }[];
  };
  training: { checkpoint_out: { sha256: string }; trainer: Record<string, unknown> };
}

describe('audit', () => {
  test('every example of an iteration is followed back to samples whose rewards reproduce the pairing decision', async () => {
    await run('aud-1', writeCampaign(ctx.dir, 'aud', { iterations: 2, perIteration: 12 }));
    const env = cliEnv(ctx.server.address);
    const fb = path.join(ctx.dir, 'artifacts', 'aud-1', 'iter-001', 'feedback', 'feedback.jsonl');
    const n = fs.readFileSync(fb, 'utf8').trim().split('\n').length;
    expect(n).toBeGreaterThan(3);
    const manifest = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'aud-1', 'iter-001', 'manifest.json'), 'utf8'));
    for (let k = 0; k < n; k++) {
      const r = cli(['audit', 'aud-1', '--iteration', '1', '--example', String(k), '--json'], env);
      expect(r.status).toBe(0);
      const a = JSON.parse(r.stdout) as Audit;
      expect(a.decision.reproduced).toBe(true);
      expect(a.examples.map((e) => e.index)).toContain(k);
      const labelled = a.samples.filter((s) => s.label_status === 'ok').map((s) => s.reward!);
      // mode max: the best sample over the worst, by at least the threshold.
      const [pair] = a.decision.pairs;
      expect(pair.rewards[0]).toBeCloseTo(Math.max(...labelled), 9);
      expect(pair.rewards[1]).toBeCloseTo(Math.min(...labelled), 9);
      expect(pair.gap).toBeGreaterThanOrEqual(a.decision.threshold);
      for (const id of pair.sample_ids) expect(a.samples.find((s) => s.sample_id === id)!.generator).toMatch(/^builtin@/);
      expect(a.decision.unused.length).toBe(a.samples.length - 2);
      for (const u of a.decision.unused) expect(u.why).toMatch(/mode max pairs the highest with the lowest reward; this sample is neither/);
      expect(a.training.checkpoint_out.sha256).toBe(manifest.lineage.checkpoint_out.sha256);
      // How it trained, for the built-in trainer too (its checkpoint holds no trainer details).
      expect(a.training.trainer).toEqual({
        kind: 'builtin',
        preset: null,
        method: 'dpo',
        beta: 0.1,
        reference: 'initial',
        reference_checkpoint: { path: manifest.lineage.reference.path, sha256: manifest.lineage.reference.sha256 },
        feedback_files: [{ format: 'jsonl', path: fb, sha256: manifest.artifacts.feedback.jsonl.sha256 }],
        command: null,
      });
    }
    const text = cli(['audit', 'aud-1', '--iteration', '1', '--example', '0'], env);
    expect(text.stdout).toMatch(/reproduced by re-running the feedback stage: yes/);
    expect(text.stdout).toMatch(/chosen \d+ over \d+, gap \d/);
    expect(text.stdout).toMatch(/trainer: builtin, method dpo, beta 0\.1, reference initial [0-9a-f]{12}; feedback jsonl [0-9a-f]{12}/);
    const bad = cli(['audit', 'aud-1', '--iteration', '1', '--example', String(n + 5)], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/has examples 0\.\.\d+/);
  });

  test('binary feedback: each labelled sample is an example with its label against the threshold', async () => {
    await run(
      'audb-1',
      writeCampaign(ctx.dir, 'audb', {
        iterations: 1,
        perIteration: 8,
        feedback: '{ type: binary, threshold: median, seed: 1 }',
        trainer: '{ kind: builtin, method: kto, epochs: 5 }',
      }),
    );
    const a = JSON.parse(cli(['audit', 'audb-1', '--iteration', '0', '--example', '0', '--json'], cliEnv(ctx.server.address)).stdout) as Audit;
    expect(a.decision.reproduced).toBe(true);
    expect(a.decision.pairs.length).toBe(a.samples.filter((s) => s.label_status === 'ok').length);
    for (const p of a.decision.pairs) expect((p as unknown as { label: number }).label).toBe(p.rewards[0] >= a.decision.threshold ? 1 : 0);
  });
});

describe('verify', () => {
  test('a clean campaign verifies; a flipped label, a deleted shard and an extra file are each caught with a non-zero exit', async () => {
    await run('ver-1', writeCampaign(ctx.dir, 'ver', { iterations: 2, perIteration: 8 }));
    const env = cliEnv(ctx.server.address);
    const ok = cli(['verify', 'ver-1'], env);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/ok: every artifact matches its record/);
    const dir = path.join(ctx.dir, 'artifacts', 'ver-1');

    const fb = path.join(dir, 'iter-001', 'feedback', 'feedback.jsonl');
    const original = fs.readFileSync(fb, 'utf8');
    fs.writeFileSync(
      fb,
      original.replace(/"label":(0|1)/, (_m, l) => `"label":${l === '0' ? 1 : 0}`),
    );
    const flipped = cli(['verify', 'ver-1', '--json'], env);
    expect(flipped.status).toBe(1);
    const r1 = JSON.parse(flipped.stdout);
    expect(r1.changed.map((f: { path: string }) => f.path)).toContain(fb);
    fs.writeFileSync(fb, original);

    const shard = path.join(dir, 'iter-000', 'scored', 'shard-001.jsonl');
    const saved = fs.readFileSync(shard);
    fs.rmSync(shard);
    const deleted = cli(['verify', 'ver-1'], env);
    expect(deleted.status).toBe(1);
    expect(deleted.stdout).toContain(`missing    ${shard}`);
    fs.writeFileSync(shard, saved);

    const extra = path.join(dir, 'iter-001', 'samples', 'shard-999.jsonl');
    fs.writeFileSync(extra, '{}\n');
    const unexpected = cli(['verify', 'ver-1', '--root', path.join(ctx.dir, 'artifacts')], env);
    expect(unexpected.status).toBe(1);
    expect(unexpected.stdout).toContain(`unexpected ${extra}`);
    fs.rmSync(extra);
    expect(cli(['verify', 'ver-1'], env).status).toBe(0);
  });
});

describe('diff', () => {
  test('two iterations side by side: reward shift, label balance, kept and dropped examples, chosen vs rejected length, cost', async () => {
    // aud-1 ran in the audit test above: the built-in policy learns, so iteration 1's rewards move.
    const env = cliEnv(ctx.server.address);
    const r = cli(['diff', 'aud-1', '--iterations', '0', '1', '--json'], env);
    expect(r.status).toBe(0);
    const d = JSON.parse(r.stdout) as {
      a: { reward: { mean: number; n: number }; examples: number };
      b: { reward: { mean: number } };
      rows: { metric: string; a: number; b: number; change: number }[];
    };
    const row = (m: string) => d.rows.find((x) => x.metric === m)!;
    expect(row('reward mean').change).toBeCloseTo(d.b.reward.mean - d.a.reward.mean, 9);
    expect(row('labelled samples').a).toBe(48); // 12 prompts x 4 samples
    expect(row('examples').a).toBe(d.a.examples);
    const m0 = JSON.parse(fs.readFileSync(path.join(ctx.dir, 'artifacts', 'aud-1', 'iter-000', 'manifest.json'), 'utf8'));
    expect(row('reward mean').a).toBeCloseTo(m0.reward.mean, 9);
    expect(row('dropped: prompts_all_below_threshold').a).toBe(m0.feedback.prompts_dropped_by_threshold);
    // Length bias: computed from the feedback file's chosen and rejected outputs.
    const lines = fs
      .readFileSync(path.join(ctx.dir, 'artifacts', 'aud-1', 'iter-000', 'feedback', 'feedback.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const chosenLen = lines.map((e) => (e.label === 1 ? e.output_A : e.output_B)[0].content.length);
    expect(row('chosen length (chars)').a).toBeCloseTo(chosenLen.reduce((s: number, x: number) => s + x, 0) / chosenLen.length, 6);
    const text = cli(['diff', 'aud-1', '--iterations', '0', '1'], env);
    expect(text.stdout).toMatch(/reward mean\s+-?\d/);
    const bad = cli(['diff', 'aud-1', '--iterations', '0'], env);
    expect(bad.status).toBe(2);
    expect(cli(['diff', 'aud-1', '--iterations', '0', '7'], env).stderr).toMatch(/no finished iteration 7/);
  });
});
