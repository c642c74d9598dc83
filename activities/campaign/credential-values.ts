/**
 * Literal credentials in a campaign file: `env` and `vars` values travel in the workflow's input, so
 * they are stored in the Temporal history (and shown in the Web UI) for as long as it is kept.
 * `validate` warns about values that look like secrets; the fix is to set them in the worker's
 * environment (a withheld name also in the step's `inheritEnv`).
 */
import type { CampaignConfig } from './schema';

const SECRET_NAME = /(^|_)(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_?KEY|ACCESS_?KEY)(_|$)/i;
const SECRET_VALUE =
  /^(sk-[A-Za-z0-9_-]{8,}|sk_(live|test)_\w{8,}|hf_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{16,}|xox[abpr]-[\w-]{10,}|AKIA[0-9A-Z]{16}|AIza[\w-]{30,}|eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]*)$/;

/** One warning line per setting holding a credential-looking literal (the value is never printed). */
export function literalCredentials(c: CampaignConfig): string[] {
  const sections: [string, { env?: Record<string, string>; vars?: Record<string, string> }][] = [
    ['sampler', c.sampler as never],
    ['trainer', c.trainer as never],
  ];
  const out: string[] = [];
  for (const [section, s] of sections) {
    for (const field of ['env', 'vars'] as const) {
      for (const [name, value] of Object.entries(s[field] ?? {})) {
        if (typeof value !== 'string' || value === '' || value.includes('{{')) continue;
        if (SECRET_NAME.test(name) || SECRET_VALUE.test(value.trim())) {
          out.push(
            `warning: ${section}.${field}.${name} holds a literal that looks like a credential; it would be stored in the workflow history ` +
              `(and shown in the Web UI): set ${name} in the worker's environment instead (the ${section}'s subprocess inherits it; ` +
              `an apiKeyEnv or TEMPORAL_* name must also be listed in ${section}.inheritEnv)`,
          );
        }
      }
    }
  }
  return out;
}
