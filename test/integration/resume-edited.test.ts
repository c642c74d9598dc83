/**
 * A completed shard edited while its campaign is paused is not taken as done: the resumed stage
 * redoes that shard (its record no longer matches it) and reuses every other one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { MODELS } from '../helpers/paths';
import { cli, cliEnv, killHard, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-edited-');

const records = (dir: string) => {
  const out = new Map<string, { mtimeMs: number; body: string }>();
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.done.json')))
    out.set(f, { mtimeMs: fs.statSync(path.join(dir, f)).mtimeMs, body: fs.readFileSync(path.join(dir, f), 'utf8') });
  return out;
};

test('a completed sample shard edited during a pause is redone on resume (the same bytes again); the others are reused', async () => {
  const model = path.join(ctx.dir, 'rm');
  fs.cpSync(MODELS.bt, model, { recursive: true });
  const file = writeCampaign(ctx.dir, 'edited', {
    iterations: 1,
    perIteration: 16,
    labeler: `{ kind: reward-model, model: ${model}, batchTokens: 8192, threads: 1 }`,
  });
  const env = cliEnv(ctx.server.address);
  const samples = path.join(ctx.dir, 'artifacts', 'edited-1', 'iter-000', 'samples');
  let worker = spawnWorker({ ...env, ALIGNLOOP_TEST_SLOW_MS: '150' });
  try {
    expect(cli(['start', file, '--id', 'edited-1'], env).status).toBe(0);
    // Once a sample shard is complete, the reward model goes away: scoring fails for good, the campaign pauses.
    await waitFor('a completed sample shard', () => fs.existsSync(samples) && fs.readdirSync(samples).some((n) => n.endsWith('.done.json')));
    fs.renameSync(model, `${model}.away`);
    const h = ctx.client.workflow.getHandle('edited-1');
    await waitFor('failed-paused', async () => (await h.query(campaignStatusQuery).catch(() => null))?.state === 'failed-paused', 120000, 100);
    await killHard(worker);

    const before = records(samples);
    const edited = path.join(samples, [...before.keys()].sort()[0].replace(/\.done\.json$/, ''));
    const original = fs.readFileSync(edited, 'utf8');
    const lines = original.trim().split('\n');
    const first = JSON.parse(lines[0]);
    first.output = 'an edited answer';
    fs.writeFileSync(edited, [JSON.stringify(first), ...lines.slice(1)].join('\n') + '\n');

    fs.renameSync(`${model}.away`, model);
    worker = spawnWorker(env);
    expect(cli(['resume', 'edited-1'], env).status).toBe(0);
    expect((await h.result()).state).toBe('completed');

    // The edited shard was sampled again (the built-in sampler is seeded: the same bytes), and its record rewritten.
    expect(fs.readFileSync(edited, 'utf8')).toBe(original);
    const after = records(samples);
    const name = `${path.basename(edited)}.done.json`;
    expect(after.get(name)!.mtimeMs).toBeGreaterThan(before.get(name)!.mtimeMs);
    // Every other shard completed before the pause was reused as it was.
    for (const [f, r] of before) if (f !== name) expect({ f, ...after.get(f) }).toEqual({ f, ...r });
    // The labels of the redone shard are of its real samples, not of the edit.
    const scored = fs.readFileSync(edited.replace(`${path.sep}samples${path.sep}`, `${path.sep}scored${path.sep}`), 'utf8');
    expect(scored).not.toContain('an edited answer');
    expect(cli(['verify', 'edited-1'], env).status).toBe(0);
  } finally {
    await killHard(worker);
  }
});
