/** validate's prompt count: streamed, so a prompts file of any size (over V8's 512 MiB strings) is counted. */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCampaign } from '../../activities/campaign/load';
import { countNonBlankLines } from '../../config/count-lines';
import { tmpDir } from '../helpers/paths';
import { writeCampaign } from '../helpers/temporal';

describe('counting prompts (validate)', () => {
  const dir = tmpDir();
  // Fragments with what a byte-level counter can get wrong: Unicode whitespace (U+00A0, U+2028, a BOM),
  // multi-byte characters cut by any chunk size, \r, invalid UTF-8 (a lone lead byte, a lead byte before a newline).
  const fragment = fc.constantFrom(
    ...['a', ' ', '\t', '\r', '\n', '\n', '\u00a0', '\u2028', '\u3000', '\ufeff', 'é', '😀', '\u200b'].map((t) => Buffer.from(t)),
    Buffer.from([0xc2]),
    Buffer.from([0xe2, 0x80]),
    Buffer.from([0x80]),
    Buffer.from([0x00]),
  );

  test('counts the non-blank lines exactly as split + trim on the decoded text, for any chunk size', () => {
    const file = path.join(dir, 'count.jsonl');
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 60 }), fc.integer({ min: 1, max: 9 }), (parts, chunk) => {
        const bytes = Buffer.concat(parts);
        fs.writeFileSync(file, bytes);
        const expected = bytes
          .toString('utf8')
          .split('\n')
          .filter((l) => l.trim()).length;
        expect(countNonBlankLines(file, chunk)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  test('a prompts file over 512 MiB (sparse: one huge line after the prompts) validates instead of crashing', () => {
    const prompts = path.join(dir, 'huge-prompts.jsonl');
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ prompt: `prompt ${i}` }) + '\n').join('');
    fs.writeFileSync(prompts, lines);
    fs.truncateSync(prompts, 600 * 1024 * 1024); // a hole of NUL bytes: one more non-blank line, no disk used
    try {
      const file = writeCampaign(dir, 'huge', { iterations: 5, perIteration: 8, promptsPath: prompts });
      expect(loadCampaign(file).config.prompts.path).toBe(prompts);
      const tooFew = writeCampaign(dir, 'huge-few', { iterations: 6, perIteration: 8, promptsPath: prompts });
      expect(() => loadCampaign(tooFew)).toThrow(/need 48 distinct prompts but the file has 41/);
    } finally {
      fs.rmSync(prompts);
    }
  });
});
