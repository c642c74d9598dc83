/**
 * Loading a campaign file: YAML or JSON -> zod -> cross-field rules -> resolved paths. Every
 * problem is reported at once, with the file, line and config path, and how to fix it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { countNonBlankLines } from './count-lines';
import { ConfigError } from './errors';
import { CampaignKinds, CampaignView, kindNamed, Problem } from './kind';
import { isS3Root, s3RootProblem } from './store-location';

/**
 * Rules between the campaign's parts that hold whatever the kinds (each kind checks its own block: kind.ts).
 * `trainerJudgement` is the trainer kind's feedbackProblem: where it has an opinion, it replaces the generic rule.
 */
export function campaignRuleProblems(c: CampaignView, trainerJudgement?: (type: CampaignView['feedback']['type']) => string | null | undefined): Problem[] {
  const out: Problem[] = [];
  const method = c.trainer.method;
  const type = c.feedback.type;
  const judged = trainerJudgement?.(type);
  if (judged !== undefined) {
    if (judged) out.push({ path: ['feedback', 'type'], message: judged });
  } else out.push(...methodFeedbackProblems(method, type));
  if (type === 'pairwise') {
    if (c.sampler.samplesPerPrompt < 2) {
      out.push({ path: ['sampler', 'samplesPerPrompt'], message: `pairwise feedback needs at least 2 samples per prompt, got ${c.sampler.samplesPerPrompt}` });
    }
    if (c.feedback.threshold !== undefined && (typeof c.feedback.threshold !== 'number' || c.feedback.threshold < 0)) {
      out.push({
        path: ['feedback', 'threshold'],
        message: `pairwise needs a number >= 0 (the minimum reward gap of a pair), got ${JSON.stringify(c.feedback.threshold)}`,
      });
    }
    if (c.feedback.perPrompt) out.push({ path: ['feedback', 'perPrompt'], message: 'perPrompt thresholds apply to binary feedback only' });
  } else if (c.feedback.mode !== undefined) {
    out.push({ path: ['feedback', 'mode'], message: `mode applies to pairwise feedback only; remove it for ${type}` });
  }
  if (type === 'scalar' && c.feedback.threshold !== undefined) out.push({ path: ['feedback', 'threshold'], message: 'scalar feedback takes no threshold' });
  return out;
}

/** What each method trains on, whatever the trainer (the built-in trainer's rules). */
function methodFeedbackProblems(method: CampaignView['trainer']['method'], type: CampaignView['feedback']['type']): Problem[] {
  if (method === 'dpo' && type !== 'pairwise')
    return [
      {
        path: ['feedback', 'type'],
        message: `DPO trains on pairs: feedback.type must be pairwise, not ${type} (a DPO trainer given ${type} data runs zero steps and reports success)`,
      },
    ];
  if (method === 'kto' && type === 'scalar') return [{ path: ['feedback', 'type'], message: 'KTO needs binary or pairwise feedback, not scalar' }];
  if (method === 'grpo' && type === 'pairwise')
    return [{ path: ['feedback', 'type'], message: 'GRPO needs scalar (or binary) feedback with rewards per sample, not pairwise' }];
  return [];
}

/** The trainer kind's say on the feedback it reads (kind.ts feedbackProblem), for campaignRuleProblems. */
export function trainerJudgement(kinds: CampaignKinds, c: CampaignView): ((type: CampaignView['feedback']['type']) => string | null | undefined) | undefined {
  const k = kindNamed(kinds.trainer, 'trainer', c.trainer.kind);
  return k.feedbackProblem && ((type) => k.feedbackProblem!(c.trainer, type));
}

const ROLES = ['sampler', 'labeler', 'trainer'] as const;

function zodProblems(err: z.ZodError): Problem[] {
  return err.issues.map((i) => {
    let message = i.message;
    if (i.code === 'unrecognized_keys')
      message = `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')} (check the spelling)`;
    else if (i.code === 'invalid_type' && /received undefined/.test(i.message)) message = `required (${i.message.replace(/^Invalid input: /, '')})`;
    else if (i.code === 'invalid_union' && 'discriminator' in i) message = `${i.message}; supported kinds: see docs/campaign-file.md`;
    return { path: i.path as (string | number)[], message };
  });
}

/** The parts of a campaign that loading reads and resolves, whatever the kinds. */
type Loadable = CampaignView & { artifacts: { root: string } };

export interface LoadedCampaign<C> {
  file: string;
  config: C;
}

/**
 * Parse, validate and resolve a campaign file against `schema` (the common parts with the registered
 * kinds' blocks) and the kinds' own checks. Relative input paths resolve against the file's folder.
 */
export function loadCampaignFile<S extends z.ZodType<Loadable>>(
  file: string,
  schema: S,
  kinds: CampaignKinds,
  cwd = process.cwd(),
): LoadedCampaign<z.output<S>> {
  const abs = path.resolve(cwd, file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch {
    throw new ConfigError(file, ['file not found; pass the path of a campaign .yaml or .json file']);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `line ${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`),
    );
  }
  const raw = doc.toJS() as Record<string, Record<string, unknown> | undefined> | null;
  const where = (p: (string | number)[]): string => {
    // The deepest node that exists gives the line.
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && node.range && (n > 0 || isMap(node) || isSeq(node))) return `line ${lc.linePos(node.range[0]).line}: `;
    }
    return '';
  };
  const fmt = (pr: Problem) => `${where(pr.path)}${pr.path.length ? pr.path.join('.') : '(top level)'}: ${pr.message}`;
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(file, zodProblems(parsed.error).map(fmt));
  const config = parsed.data;
  const problems = campaignRuleProblems(config, trainerJudgement(kinds, config));
  const base = path.dirname(abs);
  config.prompts.path = path.resolve(base, config.prompts.path);
  const artifacts = config.artifacts as { root: string; endpoint?: string; region?: string; forcePathStyle?: boolean };
  if (isS3Root(artifacts.root)) {
    const problem = s3RootProblem(artifacts.root);
    if (problem) problems.push({ path: ['artifacts', 'root'], message: problem });
  } else {
    artifacts.root = path.resolve(cwd, artifacts.root);
    for (const k of ['endpoint', 'region', 'forcePathStyle'] as const)
      if (artifacts[k] !== undefined)
        problems.push({ path: ['artifacts', k], message: `applies to an s3:// root only; artifacts.root is the folder ${artifacts.root}` });
  }
  if (config.policy && isS3Root(config.policy.path)) {
    // Fetched by the workers from the campaign's object store (its endpoint and credentials).
    if (!isS3Root(artifacts.root))
      problems.push({
        path: ['policy', 'path'],
        message: 'an s3:// model needs the artifacts in the same object store (artifacts.root: s3://...); or give a local folder',
      });
  } else if (config.policy) {
    config.policy.path = path.resolve(base, config.policy.path);
    if (!fs.existsSync(config.policy.path))
      problems.push({ path: ['policy', 'path'], message: `not found: ${config.policy.path}; point it at the initial model folder` });
  }
  for (const role of ROLES) kindNamed(kinds[role], role, config[role].kind).resolvePaths?.(config[role], base);
  for (const role of ROLES) problems.push(...(kindNamed(kinds[role], role, config[role].kind).problems?.(config[role], config, raw?.[role]) ?? []));
  problems.push(...evalProblems(config, kinds, base, raw?.eval));
  if (!fs.existsSync(config.prompts.path)) problems.push({ path: ['prompts', 'path'], message: `file not found: ${config.prompts.path}` });
  else {
    const n = countPrompts(config.prompts.path);
    if (!config.prompts.reuse && n < config.prompts.perIteration * config.iterations) {
      problems.push({
        path: ['prompts', 'perIteration'],
        message: `${config.iterations} iterations x ${config.prompts.perIteration} prompts need ${config.prompts.perIteration * config.iterations} distinct prompts but the file has ${n}; lower perIteration or iterations, or set prompts.reuse: true`,
      });
    }
  }
  if (problems.length) throw new ConfigError(file, problems.map(fmt));
  return { file: abs, config };
}

/** `eval:`: its prompts file (resolved) exists and is not the training file; its own labeler block is checked as the labeler's kind checks it. */
function evalProblems(config: CampaignView, kinds: CampaignKinds, base: string, raw: Record<string, unknown> | undefined): Problem[] {
  const e = config.eval;
  if (!e) return [];
  const out: Problem[] = [];
  e.prompts = path.resolve(base, e.prompts);
  if (!fs.existsSync(e.prompts)) out.push({ path: ['eval', 'prompts'], message: `file not found: ${e.prompts}; point it at a held-out prompts file` });
  else if (e.prompts === config.prompts.path)
    out.push({ path: ['eval', 'prompts'], message: 'is the training prompts file; evaluate on held-out prompts (a separate file)' });
  // The baseline's answers are the initial policy's: a sampler must sample the checkpoint it is handed.
  if (config.sampler.kind !== 'builtin')
    out.push({ path: ['eval'], message: `evaluation samples with the builtin sampler only for now, not ${config.sampler.kind}; remove eval` });
  if ((e.labeler ?? config.labeler).kind === 'judge')
    out.push({
      path: ['eval', 'labeler'],
      message: 'eval answers are scored on the score queue: give eval a reward-model or reward-server labeler (the LLM judge is not an eval scorer yet)',
    });
  for (const role of ['labeler', 'judge'] as const) {
    const block = e[role];
    if (!block) continue;
    const k = kindNamed(kinds.labeler, `eval.${role}`, block.kind);
    k.resolvePaths?.(block, base);
    const rawBlock = raw?.[role] as Record<string, unknown> | undefined;
    // The kind's checks of its own block (labeler.*, here eval.labeler.* or eval.judge.*); how it fits the
    // campaign's feedback is no concern of an eval scorer.
    const own = (k.problems?.(block, config, rawBlock) ?? []).filter((p) => p.path[0] === 'labeler');
    out.push(...own.map((p) => ({ ...p, path: ['eval', role, ...p.path.slice(1)] })));
  }
  const j = e.judge;
  if (j && (j.kind !== 'judge' || j.mode !== 'pairwise'))
    out.push({
      path: ['eval', 'judge'],
      message: `the eval judge compares two answers: use kind: judge with mode: pairwise (got kind ${j.kind}${j.mode ? `, mode ${String(j.mode)}` : ''})`,
    });
  if (j && (j.batch as { enabled?: boolean } | undefined)?.enabled)
    out.push({ path: ['eval', 'judge', 'batch', 'enabled'], message: 'the eval judge judges online; remove batch (or set enabled: false)' });
  return out;
}

/** Streamed: a prompts file of any size (over V8's 512 MiB string limit) is counted. */
const countPrompts = (file: string): number => countNonBlankLines(file);
