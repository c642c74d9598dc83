/** Audit and integrity: `alignloop audit` (one training example back to its samples) and `alignloop verify` (re-hash every artifact). */
import type { Command } from 'commander';
import * as path from 'node:path';
import { EXIT, UserError } from '../../config/errors';
import { exitWith, nonNegativeInt, out } from '../context';
import { artifactsRootOf, localArtifacts } from './inspect';

interface CompositeRecord {
  gate: string | null;
  combined: number | null;
  members: Record<string, { asked?: false; raw?: number | null; norm?: number | null; status?: string; pass?: boolean }>;
}

const num = (v: number | null | undefined) => (typeof v === 'number' ? Number(v.toFixed(4)) : 'null');

/** A composite labeler's members on one sample: raw and normalised scores, the gate, the combined reward. */
function compositeLine(c: CompositeRecord): string {
  const members = Object.entries(c.members).map(([name, m]) =>
    m.asked === false
      ? `${name} not asked`
      : `${name} ${m.pass === undefined ? '' : m.pass ? 'pass ' : 'fail '}raw ${num(m.raw)} norm ${num(m.norm)}${m.status && m.status !== 'ok' ? ` (${m.status})` : ''}`,
  );
  return `members: ${members.join('; ')}; gate ${c.gate ?? 'none'}; combined ${num(c.combined)}`;
}

async function verify(id: string, opts: { json?: boolean; root?: string }): Promise<number> {
  const { verifyCampaign } = await import('../../activities/audit/verify');
  const local = await localArtifacts(id, opts.root, { fresh: true });
  let r;
  try {
    r = local.display(verifyCampaign(path.join(local.root, id), { pulledFromStore: local.fromStore }));
  } finally {
    local.dispose();
  }
  if (opts.json) out(JSON.stringify(r, null, 2));
  else {
    out(`verified ${id}: ${r.iterations} iterations, ${r.filesChecked} files re-hashed against their records`);
    if (r.pruned.length) out(`${r.pruned.length} checkpoint folder(s) deleted on purpose by trainer.keepCheckpoints (descriptors and sha256 kept)`);
    for (const f of r.missing) out(`missing    ${f.path} (${f.detail}; recorded in ${f.recordedIn})`);
    for (const f of r.changed) out(`changed    ${f.path} (${f.detail}; recorded in ${f.recordedIn})`);
    for (const f of r.unexpected) out(`unexpected ${f} (no record names it)`);
    out(r.ok ? 'ok: every artifact matches its record' : `NOT OK: ${r.missing.length} missing, ${r.changed.length} changed, ${r.unexpected.length} unexpected`);
  }
  return r.ok ? EXIT.ok : EXIT.failure;
}

async function audit(
  id: string,
  opts: { iteration: number; example?: number; promptId?: string; prompt?: string; json?: boolean; root?: string },
): Promise<number> {
  const { auditExample } = await import('../../activities/audit/audit');
  const root = await artifactsRootOf(id, opts.root);
  const r = await auditExample(root, id, { iteration: opts.iteration, example: opts.example, promptId: opts.promptId, prompt: opts.prompt });
  if (opts.json) {
    out(JSON.stringify(r, null, 2));
    return EXIT.ok;
  }
  const short = (v: unknown, n = 80) => {
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return s.length > n ? `${s.slice(0, n)}…` : s;
  };
  out(`campaign ${id}, iteration ${r.iteration}, prompt ${r.prompt_id}: ${short(r.prompt, 100)}`);
  out(`examples in the training data: ${r.examples.map((e) => `#${e.index}`).join(', ') || 'none'}`);
  out(`samples (labeler ${short(r.labeler, 120)}):`);
  for (const s of r.samples) {
    const from = s.sampled_from as { version: number; lag: number } | undefined;
    const lag = from ? `, sampled from checkpoint version ${from.version} (lag ${from.lag})` : '';
    out(`  sample ${s.sample_id}: reward ${s.reward ?? 'null'} (${s.label_status}), generator ${s.generator}${lag}: ${short(s.output, 70)}`);
    if (s.composite) out(`    ${compositeLine(s.composite as CompositeRecord)}`);
  }
  const d = r.decision;
  out(
    `decision: ${d.type}${d.mode ? `, mode ${d.mode}` : ''}, threshold ${d.threshold}; reproduced by re-running the feedback stage: ${d.reproduced ? 'yes' : 'NO'}`,
  );
  for (const p of d.pairs)
    out(
      `  ${p.sample_ids.length === 2 ? `chosen ${p.sample_ids[0]} over ${p.sample_ids[1]}, gap ${p.gap?.toFixed(4)}` : `sample ${p.sample_ids[0]} label ${p.label}`}`,
    );
  for (const u of d.unused) out(`  sample ${u.sample_id} not used: ${u.why}`);
  out(`policy in: ${short(r.policy_in, 120)}`);
  out(`trained into: ${short(r.training.checkpoint_out, 120)} (${short(r.training.result, 120)})`);
  const t = r.training.trainer;
  out(
    `trainer: ${t.kind ?? 'unknown'}${t.preset ? ` (${t.preset})` : ''}, method ${t.method ?? 'unknown'}, beta ${t.beta ?? '-'}, ` +
      `reference ${t.reference ?? '-'}${t.reference_checkpoint ? ` ${t.reference_checkpoint.sha256.slice(0, 12)}` : ''}; ` +
      `feedback ${t.feedback_files.map((f) => `${f.format} ${f.sha256.slice(0, 12)}`).join(', ') || 'none consumed'}`,
  );
  return d.reproduced ? EXIT.ok : EXIT.failure;
}

async function diff(id: string, opts: { iterations: string[]; json?: boolean; root?: string }): Promise<number> {
  const { iterationFigures, diffRows } = await import('../../activities/audit/diff');
  const [a, b] = opts.iterations.map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0) throw new UserError(`--iterations: "${x}" is not an iteration number`, 2);
    return n;
  });
  const root = await artifactsRootOf(id, opts.root);
  const fa = await iterationFigures(root, id, a);
  const fb = await iterationFigures(root, id, b);
  const rows = diffRows(fa, fb);
  if (opts.json) {
    out(JSON.stringify({ a: fa, b: fb, rows }, null, 2));
    return EXIT.ok;
  }
  const fmt = (v: number | null) => (v === null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(4));
  const w = Math.max(...rows.map((r) => r.metric.length));
  out(`${'metric'.padEnd(w)}  ${`iter ${a}`.padStart(12)}  ${`iter ${b}`.padStart(12)}  ${'change'.padStart(12)}`);
  for (const r of rows)
    out(
      `${r.metric.padEnd(w)}  ${fmt(r.a).padStart(12)}  ${fmt(r.b).padStart(12)}  ${(r.change === null ? '-' : (r.change > 0 ? '+' : '') + fmt(r.change)).padStart(12)}`,
    );
  return EXIT.ok;
}

async function report(id: string, opts: { out: string; root?: string }): Promise<number> {
  const { buildReport } = await import('../../activities/audit/report');
  const { writeFileAtomic } = await import('../../activities/artifacts/atomic-file');
  const fs = await import('node:fs');
  const root = await artifactsRootOf(id, opts.root);
  // The UMD build is not in chart.js's "exports": find it beside the package's main file.
  const chartJs = fs.readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
  const r = await buildReport(root, id, chartJs);
  const w = writeFileAtomic(path.resolve(opts.out), [r.html]);
  out(`wrote ${w.path}: ${r.iterations} iterations, ${(w.bytes / 1024).toFixed(0)} KiB, self-contained (open it in any browser, no network needed)`);
  return EXIT.ok;
}

export function registerAuditCommands(program: Command): void {
  program
    .command('report')
    .description(
      'the campaign as one self-contained HTML file with plots (rewards, best-of-n, kept/dropped, lengths, judge cost, timings) and the iteration table',
    )
    .argument('<id>', 'campaign id')
    .requiredOption('--out <file>', 'the HTML file to write')
    .option('--root <dir>', 'artifacts root (default: the one the campaign recorded)')
    .action((id: string, opts: { out: string; root?: string }) => exitWith(report(id, opts)));
  program
    .command('diff')
    .description(
      'two iterations side by side: reward shift, label balance, examples kept and dropped by reason, chosen vs rejected length, judge consistency, cost',
    )
    .argument('<id>', 'campaign id')
    .requiredOption('--iterations <n...>', 'the two iterations to compare, e.g. --iterations 0 3')
    .option('--json', 'machine-readable output')
    .option('--root <dir>', 'artifacts root (default: the one the campaign recorded)')
    .action((id: string, opts: { iterations: string[]; json?: boolean; root?: string }) => {
      return exitWith(
        opts.iterations.length === 2 ? diff(id, opts) : Promise.reject(new UserError('--iterations takes two iteration numbers, e.g. --iterations 0 3', 2)),
      );
    });
  program
    .command('audit')
    .description('follow a training example of an iteration back to its samples, rewards or judgements, pairing decision and training run')
    .argument('<id>', 'campaign id')
    .requiredOption('--iteration <n>', 'iteration', nonNegativeInt)
    .option('--example <k>', 'the k-th example (0-based) of the iteration feedback.jsonl', nonNegativeInt)
    .option('--prompt-id <id>', 'every example of this prompt')
    .option('--prompt <text>', 'every example of this prompt text (one user turn)')
    .option('--json', 'machine-readable output')
    .option('--root <dir>', 'artifacts root (default: the one the campaign recorded)')
    .action((id: string, opts) => exitWith(audit(id, opts)));
  program
    .command('verify')
    .description('re-hash every artifact of every iteration against the manifests and completion records; exit 1 on anything missing, changed or unexpected')
    .argument('<id>', 'campaign id')
    .option('--json', 'machine-readable output')
    .option('--root <dir>', 'artifacts root (default: the one the campaign recorded)')
    .action((id: string, opts) => exitWith(verify(id, opts)));
}
