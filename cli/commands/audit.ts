/** Audit and integrity: `alignloop audit` (one training example back to its samples) and `alignloop verify` (re-hash every artifact). */
import type { Command } from 'commander';
import * as path from 'node:path';
import { EXIT } from '../../config/errors';
import { exitWith, nonNegativeInt, out } from '../context';
import { artifactsRootOf } from './inspect';

async function verify(id: string, opts: { json?: boolean; root?: string }): Promise<number> {
  const { verifyCampaign } = await import('../../activities/audit/verify');
  const root = await artifactsRootOf(id, opts.root);
  const r = verifyCampaign(path.join(root, id));
  if (opts.json) out(JSON.stringify(r, null, 2));
  else {
    out(`verified ${id}: ${r.iterations} iterations, ${r.filesChecked} files re-hashed against their records`);
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
  for (const s of r.samples) out(`  sample ${s.sample_id}: reward ${s.reward ?? 'null'} (${s.label_status}), generator ${s.generator}: ${short(s.output, 70)}`);
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
  return d.reproduced ? EXIT.ok : EXIT.failure;
}

export function registerAuditCommands(program: Command): void {
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
