/**
 * The environment of a supervised subprocess (managed server, sampler command, trainer). It is the
 * worker's environment without its credentials: the variables the campaign names as API keys
 * (`apiKeyEnv` of the sampler and the labeler, OPENAI_API_KEY, their default), every TEMPORAL_*
 * (addresses, API keys, TLS keys of the cluster) and the AWS credentials the artifact store uses are
 * dropped unless the step lists them in `inheritEnv`; the step's own `env` is added on top. A trainer
 * or server that runs third-party code then never holds the keys to the judge, the sampler endpoint,
 * the Temporal namespace or the campaign's bucket.
 */
import { z } from 'zod';

/** The `inheritEnv` setting of the managed and command samplers and the command trainer. */
export const INHERIT_ENV = z
  .array(z.string().min(1))
  .default([])
  .describe(
    'Variables of the worker\'s environment this step keeps although they are credentials (an apiKeyEnv, TEMPORAL_*): docs/many-hosts.md, "Credentials stay with the worker".',
  );

/** The variables a campaign names as credentials: the sampler's and the labeler's apiKeyEnv (a composite's members' too), and OPENAI_API_KEY (their default). */
export function credentialNames(campaign: { sampler: object; labeler: object }): string[] {
  const named = new Set<string>(['OPENAI_API_KEY']);
  const members = ((campaign.labeler as { members?: { labeler?: object }[] }).members ?? []).map((m) => m.labeler ?? {});
  for (const section of [campaign.sampler, campaign.labeler, ...members] as { apiKeyEnv?: unknown }[]) {
    if (typeof section.apiKeyEnv === 'string' && section.apiKeyEnv) named.add(section.apiKeyEnv);
  }
  return [...named].sort();
}

/** The AWS credential chain's secrets (the artifact store's): never handed to a child that did not ask. */
export const AWS_CREDENTIALS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_WEB_IDENTITY_TOKEN_FILE'];

/** The worker's environment less `credentials`, every TEMPORAL_* and the AWS credentials (unless the step inherits them), plus the step's env. */
export function childEnv(
  credentials: string[],
  step: { env: Record<string, string>; inheritEnv?: string[] },
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const keep = new Set(step.inheritEnv ?? []);
  const withheld = [...credentials, ...AWS_CREDENTIALS, ...Object.keys(env).filter((k) => k.startsWith('TEMPORAL_'))];
  const out: NodeJS.ProcessEnv = { ...env };
  for (const k of withheld) if (!keep.has(k)) delete out[k];
  return { ...out, ...step.env };
}
