/**
 * The campaign id rule. An id names the campaign's folder under the artifacts root, so it is one
 * path component: no "/", no "..", nothing that could reach outside the root. Pure (no Node
 * built-ins): the CLI, the activities and the workflows all apply it.
 */
export const CAMPAIGN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Why `id` is not a campaign id, or null when it is one. */
export function campaignIdProblem(id: unknown): string | null {
  if (typeof id === 'string' && CAMPAIGN_ID_PATTERN.test(id)) return null;
  return `campaign id ${JSON.stringify(id)} must be 1 to 200 letters, digits, ".", "_" or "-", starting with a letter or digit (it names a folder under the artifacts root)`;
}
