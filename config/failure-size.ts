/**
 * Bounds on what a failure carries to the Temporal server. The server keeps a retried activity's last
 * failure in the workflow's mutable state and replaces one over its limit (4 KiB by default) with
 * "Failure exceeds size limit.", so a long log tail would hide why an attempt failed. The full log
 * stays in the artifacts; the failure keeps its first line and the end of its tail. Pure.
 */

/** Budgets in UTF-8 bytes: message + stack + details stay well under the server's 4 KiB. */
export const FAILURE_BYTES = { message: 2000, stack: 900, details: 600 } as const;

const bytes = (s: string) => new TextEncoder().encode(s).length;

/** The longest prefix (or suffix) of `s` within `max` bytes, never cutting a character in two. */
function fit(s: string, max: number, fromEnd: boolean): string {
  if (bytes(s) <= max) return s;
  const chars = Array.from(s);
  let lo = 0;
  let hi = chars.length;
  // Binary search on the number of characters kept.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const part = fromEnd ? chars.slice(chars.length - mid).join('') : chars.slice(0, mid).join('');
    if (bytes(part) <= max) lo = mid;
    else hi = mid - 1;
  }
  return fromEnd ? chars.slice(chars.length - lo).join('') : chars.slice(0, lo).join('');
}

/**
 * `text` within `max` bytes: unchanged when it fits, else its head (up to the first line, at most a
 * third of the budget) and its tail, joined by a note of what was cut.
 */
export function boundText(text: string, max: number, note = 'the full log is in the artifacts'): string {
  if (bytes(text) <= max) return text;
  const firstLine = text.split('\n', 1)[0];
  const head = fit(firstLine, Math.floor(max / 3), false);
  const marker = `\n  … (cut to fit the failure size limit; ${note}) …\n`;
  const tail = fit(text.slice(head.length), max - bytes(head) - bytes(marker), true);
  return head + marker + tail;
}

/** A stack without the message it repeats (its first line), bounded. */
export function boundStack(stack: string, name: string, message: string): string {
  const frames = stack
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .join('\n');
  return fit(`${name}: ${fit(message.split('\n', 1)[0], 200, false)}\n${frames}`, FAILURE_BYTES.stack, false);
}

/** Details that fit, or a note saying they did not. */
export function boundDetails(details: unknown[]): unknown[] {
  return bytes(JSON.stringify(details)) <= FAILURE_BYTES.details ? details : [{ detailsCut: `over ${FAILURE_BYTES.details} bytes` }];
}
