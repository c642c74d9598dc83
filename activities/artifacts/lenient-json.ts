/** JSON as Python's json module writes it (NaN / Infinity literals allowed). Pure: no I/O. */
const NONFINITE_PREFIX = '\u0000alignloop-nonfinite:';
const NONFINITE_TOKEN = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;

/**
 * JSON.parse that also accepts the NaN / Infinity literals Python's json module writes; they
 * come back as sentinels (see isNonFiniteSentinel) so a validator can say what they were.
 */
export function parseJsonAllowingNonFinite(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (first) {
    if (!/NaN|Infinity/.test(text)) throw first;
    const patched = text.replace(NONFINITE_TOKEN, (m) => (m[0] === '"' ? m : JSON.stringify(NONFINITE_PREFIX + m)));
    return JSON.parse(patched);
  }
}

export function isNonFiniteSentinel(v: unknown): boolean {
  return typeof v === 'string' && v.startsWith(NONFINITE_PREFIX);
}
