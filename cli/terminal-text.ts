/**
 * Text for people's terminals. Outputs of models, server bodies and error messages may hold escape
 * sequences (ESC/CSI/OSC, BEL, C1 controls, bidirectional overrides) that would retitle the window,
 * clear the screen or write the clipboard if printed raw: each such character is printed as a
 * visible escape (\x1b, \u202e) instead. Newlines and tabs are kept. `--json` output needs nothing:
 * JSON.stringify escapes control characters already.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function printable(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
