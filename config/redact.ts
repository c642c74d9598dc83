/**
 * Secrets never enter workflow histories, artifacts or logs: every error message that leaves an
 * activity or the CLI passes through redact(). It removes the values of secrets this process has
 * read (registered where they are read) and the values of credential headers a remote server may
 * echo back in an error body. No Node imports.
 */
const secrets = new Set<string>();

/** Called wherever a secret is read from the environment. Short values are not registered (they would redact ordinary text). */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 6) secrets.add(value);
}

const CREDENTIAL =
  /((?:authorization|proxy-authorization|api[-_]?key|x-api-key|openai-api-key|access[-_]?token)["']?\s*[:=]\s*["']?)(?:bearer\s+|basic\s+)?[^"'\s,;}]+/gi;
const BEARER = /\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}/gi;
const KEY_SHAPED = /\bsk-[A-Za-z0-9_-]{8,}/g;

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('[REDACTED]');
  return out.replace(CREDENTIAL, '$1[REDACTED]').replace(BEARER, '$1[REDACTED]').replace(KEY_SHAPED, '[REDACTED]');
}
