/** Counting a text file's non-blank lines without reading it into one string (`validate`'s prompt count). */
import * as fs from 'node:fs';

const CHUNK = 1 << 20;

/**
 * The lines of a file that hold more than whitespace (as `text.split('\n').filter((l) => l.trim())`
 * counts them), read in chunks of `chunkBytes`: any file size, linear time however long a line is.
 * Works on bytes (a newline byte never occurs inside a UTF-8 sequence); only a non-ASCII character
 * met before a line's first non-blank one is decoded, to know whether it is Unicode whitespace.
 */
export function countNonBlankLines(file: string, chunkBytes = CHUNK): number {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(Math.max(chunkBytes, 4));
  let count = 0;
  let content = false; // the current line has a non-blank character
  let carry = 0; // bytes of a character cut by the end of the last read, moved to the front of buf
  try {
    for (;;) {
      const got = fs.readSync(fd, buf, carry, buf.length - carry, null);
      const end = carry + got;
      if (got === 0) {
        if (carry > 0) content = true; // a cut-off character: U+FFFD, not blank
        break;
      }
      carry = 0;
      let i = 0;
      while (i < end) {
        if (content) {
          const nl = buf.indexOf(10, i);
          if (nl === -1 || nl >= end) break;
          count++;
          content = false;
          i = nl + 1;
          continue;
        }
        const b = buf[i];
        if (b === 32 || (b >= 9 && b <= 13)) {
          i++;
        } else if (b < 0x80) {
          content = true;
        } else {
          const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
          if (i + len > end) {
            buf.copy(buf, 0, i, end);
            carry = end - i;
            break;
          }
          // Only a valid whitespace character (U+00A0, U+2028, U+FEFF, ...) skips its bytes, none of them a newline.
          if (/^\s$/.test(buf.toString('utf8', i, i + len))) i += len;
          else content = true;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return content ? count + 1 : count;
}
