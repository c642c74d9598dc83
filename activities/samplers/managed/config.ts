/** Settings of the `managed` sampler: alignloop starts an OpenAI-compatible server per iteration for the policy checkpoint. */
import { z } from 'zod';
import * as path from 'node:path';
import { builtinTrainerProblem, checkCommand, unknownPlaceholders } from '../../campaign/checks';
import { placeholdersOf } from '../../process/argv-template';
import { MANAGED_PLACEHOLDERS, needsPolicy } from '../command/config';
import { OpenAISamplerSchema } from '../openai/config';
import type { SamplerKind } from '../sampler';
import { INHERIT_ENV } from '../../process/child-env';

export const ManagedSamplerSchema = OpenAISamplerSchema.omit({ kind: true, baseURL: true, model: true }).extend({
  kind: z.literal('managed'),
  command: z
    .array(z.string().min(1))
    .min(1)
    .describe(
      'The server\'s argv (no shell), e.g. ["vllm", "serve", "{{policy.path}}", "--port", "{{port}}", "--served-model-name", "policy"]. Placeholders: {{policy.path}}, {{policy.name}}, {{policy.sha}}, {{port}}, {{iteration}}, and any of `vars`.',
    ),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe("Extra environment for the server (literal values; the worker's environment is inherited less its credentials, see inheritEnv)."),
  inheritEnv: INHERIT_ENV,
  vars: z.record(z.string(), z.string()).default({}).describe('Your own placeholders for the command, baseURL and model, as {{name}}.'),
  port: z.number().int().min(0).max(65535).default(0).describe('0: a free port on 127.0.0.1 for each start.'),
  baseURL: z.string().default('http://127.0.0.1:{{port}}/v1').describe('Where the started server answers; {{port}} is the port alignloop picked.'),
  model: z.string().min(1).default('policy').describe('The model name the server serves (--served-model-name); templated like the command.'),
  readyTimeoutSeconds: z.number().positive().default(900).describe('Loading a large model takes minutes: how long /health and /v1/models may take to answer.'),
  stopTimeoutSeconds: z.number().positive().default(30).describe("SIGTERM, then SIGKILL of the server's process group after this long."),
  idleStopSeconds: z
    .number()
    .positive()
    .default(300)
    .describe('A server no shard has used for this long is stopped (a safety net: the iteration stops it when sampling ends).'),
});

export type ManagedSamplerConfig = z.infer<typeof ManagedSamplerSchema>;

export const managedSamplerKind: SamplerKind<typeof ManagedSamplerSchema> = {
  schema: ManagedSamplerSchema,
  resolvePaths(s, base) {
    if (s.tokenizer) s.tokenizer = path.resolve(base, s.tokenizer);
  },
  problems(s, c) {
    const out = [...builtinTrainerProblem('managed', c.trainer.kind, 'trainer.kind: command or none'), ...needsPolicy('managed', c)];
    out.push(
      ...unknownPlaceholders(
        [...s.command, s.baseURL, s.model],
        [...MANAGED_PLACEHOLDERS, ...Object.keys(s.vars)],
        ['sampler', 'command'],
        ' (add your own under sampler.vars)',
      ),
    );
    if (!placeholdersOf([...s.command, s.baseURL]).includes('port') && s.port === 0)
      out.push({
        path: ['sampler', 'command'],
        message:
          'the server must listen where alignloop looks: pass {{port}} in the command (e.g. "--port", "{{port}}") or set sampler.port and sampler.baseURL',
      });
    return out;
  },
  async preflight(s, _c, o) {
    checkCommand(s.command[0], 'sampler.command[0]', o);
    return [];
  },
  load: async () => (await import('./sampler')).managedSampler,
};
