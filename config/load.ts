/**
 * Loading a campaign file: YAML or JSON -> zod -> cross-field rules -> resolved paths. Every
 * problem is reported at once, with the file, line and config path, and how to fix it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { CampaignConfig, CampaignSchema } from './schema';
import { loadTemplate } from '../activities/judge/template';
import { placeholdersOf } from '../activities/process/argv-template';
import { readChatTemplate } from '../activities/artifacts/chat-template-file';
import { layoutProblems } from '../activities/policy/checkpoint-layout';
import { findModelFile } from '../activities/score/model-folder';
import { COMMAND_PLACEHOLDERS, MANAGED_PLACEHOLDERS } from '../activities/samplers/command-config';
import { TRAINER_PLACEHOLDERS } from '../activities/trainers/command-config';
import { PRESETS } from '../activities/trainers/presets';
import { ConfigError } from './errors';

interface Problem {
  path: (string | number)[];
  message: string;
}

/** Cross-field rules zod's shapes cannot express. */
export function compatibilityProblems(c: CampaignConfig, rawLabeler?: Record<string, unknown>): Problem[] {
  const out: Problem[] = [];
  const method = c.trainer.method;
  const type = c.feedback.type;
  if (method === 'dpo' && type !== 'pairwise') {
    out.push({
      path: ['feedback', 'type'],
      message: `DPO trains on pairs: feedback.type must be pairwise, not ${type} (a DPO trainer given ${type} data runs zero steps and reports success)`,
    });
  }
  if (method === 'kto' && type === 'scalar') {
    out.push({ path: ['feedback', 'type'], message: 'KTO needs binary or pairwise feedback, not scalar' });
  }
  if (method === 'grpo' && type === 'pairwise') {
    out.push({ path: ['feedback', 'type'], message: 'GRPO needs scalar (or binary) feedback with rewards per sample, not pairwise' });
  }
  if (c.sampler.kind === 'openai' && c.trainer.kind === 'builtin') {
    out.push({
      path: ['trainer', 'kind'],
      message:
        'the built-in trainer trains the built-in miniature policy, not the model an openai sampler serves; use trainer.kind: command (HALOs, TRL, OpenRLHF) or none (feedback files for training elsewhere)',
    });
  }
  if (c.trainer.kind === 'command') {
    const t = c.trainer;
    if (!c.policy) out.push({ path: ['policy'], message: 'a command trainer trains a model folder: add policy: { path: <initial model folder> }' });
    if (c.sampler.kind === 'builtin')
      out.push({ path: ['sampler', 'kind'], message: 'a command trainer trains a real model: sample it with kind openai, managed or command' });
    if (t.preset === 'custom' && !t.command) out.push({ path: ['trainer', 'command'], message: 'preset: custom needs the trainer argv in trainer.command' });
    const refusal = t.preset === 'custom' ? null : PRESETS[t.preset].refuse(t);
    if (refusal) out.push({ path: ['trainer', 'reference'], message: refusal });
    const allowed = [...TRAINER_PLACEHOLDERS, ...Object.keys(t.vars)];
    const unknown = placeholdersOf([...(t.command ?? []), ...t.extraArgs, t.checkpointSubdir ?? '']).filter((v) => !allowed.includes(v));
    if (unknown.length > 0) {
      out.push({
        path: ['trainer', 'command'],
        message: `unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `{{${u}}}`).join(', ')}; use ${allowed.map((a) => `{{${a}}}`).join(', ')}`,
      });
    }
    if (t.command && !placeholdersOf(t.command).includes('output_dir')) {
      out.push({ path: ['trainer', 'command'], message: 'the trainer must write its checkpoint under {{output_dir}}: pass it as the output folder argument' });
    }
  }
  if ((c.sampler.kind === 'managed' || c.sampler.kind === 'command') && c.trainer.kind === 'builtin') {
    out.push({
      path: ['trainer', 'kind'],
      message: `the built-in trainer trains the built-in miniature policy, not the model a ${c.sampler.kind} sampler runs; use trainer.kind: command or none`,
    });
  }
  if ((c.sampler.kind === 'managed' || c.sampler.kind === 'command') && !c.policy) {
    out.push({
      path: ['policy'],
      message: `a ${c.sampler.kind} sampler runs the policy checkpoint as {{policy.path}}: add policy: { path: <model folder> } (the initial policy)`,
    });
  }
  if (c.sampler.kind === 'builtin' && c.policy) {
    out.push({
      path: ['policy'],
      message: 'the built-in sampler starts from its own miniature policy: remove policy (it is for the managed and command samplers)',
    });
  }
  if (c.sampler.kind === 'managed' || c.sampler.kind === 'command') {
    const allowed = [...(c.sampler.kind === 'managed' ? MANAGED_PLACEHOLDERS : COMMAND_PLACEHOLDERS), ...Object.keys(c.sampler.vars)];
    const texts = c.sampler.kind === 'managed' ? [...c.sampler.command, c.sampler.baseURL, c.sampler.model] : c.sampler.command;
    const unknown = placeholdersOf(texts).filter((v) => !allowed.includes(v));
    if (unknown.length > 0) {
      out.push({
        path: ['sampler', 'command'],
        message: `unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `{{${u}}}`).join(', ')}; use ${allowed.map((a) => `{{${a}}}`).join(', ')} (add your own under sampler.vars)`,
      });
    }
    if (c.sampler.kind === 'managed' && !placeholdersOf([...c.sampler.command, c.sampler.baseURL]).includes('port') && c.sampler.port === 0) {
      out.push({
        path: ['sampler', 'command'],
        message:
          'the server must listen where alignloop looks: pass {{port}} in the command (e.g. "--port", "{{port}}") or set sampler.port and sampler.baseURL',
      });
    }
    if (c.sampler.kind === 'command' && !placeholdersOf(c.sampler.command).includes('out')) {
      out.push({ path: ['sampler', 'command'], message: 'the command must write its samples to {{out}}: pass it as the output file argument' });
    }
  }
  if (c.sampler.kind === 'builtin' && c.trainer.kind !== 'builtin') {
    out.push({ path: ['trainer', 'kind'], message: 'the built-in sampler samples the built-in policy, which only trainer.kind: builtin trains' });
  }
  if (c.sampler.kind === 'openai' && c.sampler.endpoint === 'completions' && !c.sampler.tokenizer) {
    out.push({
      path: ['sampler', 'tokenizer'],
      message: 'endpoint: completions renders the chat template here: set sampler.tokenizer to a folder with tokenizer_config.json',
    });
  }
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
  if (c.labeler.kind === 'judge' && c.labeler.mode === 'pairwise') {
    if (type !== 'pairwise') {
      out.push({
        path: ['feedback', 'type'],
        message: `a pairwise judge produces pairwise feedback directly: feedback.type must be pairwise, not ${type} (or use labeler.mode: pointwise for rewards per sample)`,
      });
    }
    for (const k of ['mode', 'threshold'] as const) {
      if (c.feedback[k] !== undefined)
        out.push({
          path: ['feedback', k],
          message: `the pairwise judge picks and decides the pairs itself: remove feedback.${k} (pairs are chosen by labeler.pairing)`,
        });
    }
  } else if (c.labeler.kind === 'judge') {
    for (const k of ['pairing', 'maxPairsPerPrompt', 'swap'] as const) {
      if (rawLabeler?.[k] !== undefined) out.push({ path: ['labeler', k], message: `labeler.${k} applies to mode: pairwise only` });
    }
  }
  if (type === 'scalar' && c.feedback.threshold !== undefined) out.push({ path: ['feedback', 'threshold'], message: 'scalar feedback takes no threshold' });
  return out;
}

function zodProblems(err: z.ZodError): Problem[] {
  return err.issues.map((i) => {
    let message = i.message;
    if (i.code === 'unrecognized_keys')
      message = `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')} (check the spelling)`;
    else if (i.code === 'invalid_type' && /received undefined/.test(i.message)) message = `required (${i.message.replace(/^Invalid input: /, '')})`;
    else if (i.code === 'invalid_union' && 'discriminator' in i) message = `${i.message}; supported kinds: see README "Campaign file"`;
    return { path: i.path as (string | number)[], message };
  });
}

export interface LoadedCampaign {
  file: string;
  config: CampaignConfig;
}

/** Parse, validate and resolve a campaign file. Relative input paths resolve against the file's folder. */
export function loadCampaignFile(file: string, cwd = process.cwd()): LoadedCampaign {
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
  const raw = doc.toJS();
  const where = (p: (string | number)[]): string => {
    // The deepest node that exists gives the line.
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && node.range && (n > 0 || isMap(node) || isSeq(node))) return `line ${lc.linePos(node.range[0]).line}: `;
    }
    return '';
  };
  const fmt = (pr: Problem) => `${where(pr.path)}${pr.path.length ? pr.path.join('.') : '(top level)'}: ${pr.message}`;
  const parsed = CampaignSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(file, zodProblems(parsed.error).map(fmt));
  const config = parsed.data;
  const problems = compatibilityProblems(config, (raw as { labeler?: Record<string, unknown> } | null)?.labeler);
  const base = path.dirname(abs);
  config.prompts.path = path.resolve(base, config.prompts.path);
  if (config.labeler.kind === 'reward-model') {
    config.labeler.model = path.resolve(base, config.labeler.model);
    const t = config.labeler.chatTemplate;
    if (t && (t.includes('/') || t.endsWith('.jinja'))) config.labeler.chatTemplate = path.resolve(base, t);
  } else if (config.labeler.kind === 'reward-server') {
    const l = config.labeler;
    if (l.tokenizer) l.tokenizer = path.resolve(base, l.tokenizer);
    if (l.chatTemplate) l.chatTemplate = path.resolve(base, l.chatTemplate);
    if (!l.tokenizer && !l.chatTemplate)
      problems.push({
        path: ['labeler'],
        message: 'a reward server scores text: give labeler.tokenizer (the reward model folder, for its chat template) or labeler.chatTemplate (a .jinja file)',
      });
    for (const k of ['tokenizer', 'chatTemplate'] as const)
      if (l[k] && !fs.existsSync(l[k]!)) problems.push({ path: ['labeler', k], message: `not found: ${l[k]}` });
    if (l.tokenizer && !l.chatTemplate && fs.existsSync(l.tokenizer)) {
      const t = readChatTemplate(l.tokenizer);
      if (t.template === null)
        problems.push({
          path: ['labeler', 'tokenizer'],
          message: `${t.problem ?? `${l.tokenizer} has no chat template`}; give labeler.chatTemplate (a .jinja file)`,
        });
    }
  } else if (config.labeler.template) config.labeler.template = path.resolve(base, config.labeler.template);
  config.artifacts.root = path.resolve(cwd, config.artifacts.root);
  if (config.policy) {
    config.policy.path = path.resolve(base, config.policy.path);
    if (!fs.existsSync(config.policy.path))
      problems.push({ path: ['policy', 'path'], message: `not found: ${config.policy.path}; point it at the initial model folder` });
    else if (config.trainer.kind === 'command') {
      const bad = layoutProblems(config.policy.path);
      if (bad.length)
        problems.push({ path: ['policy', 'path'], message: `${config.policy.path} is not a checkpoint a trainer can start from: ${bad.join('; ')}` });
      else {
        const t = readChatTemplate(config.policy.path);
        const serverTemplate = config.sampler.kind === 'managed' && config.sampler.command.some((a) => a.startsWith('--chat-template'));
        if ((t.template === null || t.problem) && !serverTemplate)
          problems.push({
            path: ['policy', 'path'],
            message:
              `${t.problem ?? `${config.policy.path} has no chat template (chat_template in tokenizer_config.json or chat_template.jinja)`}: ` +
              'servers refuse chat requests without one (or apply a default) and trainers apply their own default, so the samples and the training would not use the same template; ' +
              'add the template the model was tuned with to the folder',
          });
      }
    }
  }
  if ((config.sampler.kind === 'openai' || config.sampler.kind === 'managed') && config.sampler.tokenizer)
    config.sampler.tokenizer = path.resolve(base, config.sampler.tokenizer);
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
  if (config.labeler.kind === 'reward-model') {
    try {
      findModelFile(config.labeler.model, config.labeler.modelFile);
    } catch (e) {
      problems.push({
        path: ['labeler', config.labeler.modelFile ? 'modelFile' : 'model'],
        message: `${(e as Error).message}; point it at an exported reward-model folder`,
      });
    }
    const choice = config.labeler.chatTemplate;
    if (choice && choice !== 'default' && fs.existsSync(config.labeler.model)) {
      const t = readChatTemplate(config.labeler.model, undefined, choice);
      if (t.problem) problems.push({ path: ['labeler', 'chatTemplate'], message: `${t.problem}; use default, one of the names, or a .jinja file` });
    }
  }
  if (config.labeler.kind === 'judge' && config.labeler.template && !fs.existsSync(config.labeler.template)) {
    problems.push({ path: ['labeler', 'template'], message: `template file not found: ${config.labeler.template}` });
  } else if (config.labeler.kind === 'judge') {
    try {
      loadTemplate(config.labeler.template, config.labeler.mode);
    } catch (e) {
      problems.push({ path: ['labeler', 'template'], message: (e as Error).message });
    }
  }
  if (problems.length) throw new ConfigError(file, problems.map(fmt));
  return { file: abs, config };
}

function countPrompts(file: string): number {
  const text = fs.readFileSync(file, 'utf8');
  let n = 0;
  for (const line of text.split('\n')) if (line.trim()) n++;
  return n;
}
