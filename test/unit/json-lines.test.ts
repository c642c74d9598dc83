import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { forEachJsonArrayElement, forEachJsonLine, parseJsonLines, readJsonl } from '../../activities/artifacts/json-lines';
import { isNonFiniteSentinel } from '../../activities/artifacts/lenient-json';
import { readScoredSamples } from '../../activities/feedback/files';
import { InputError } from '../../config/errors';
import { tmpDir } from '../helpers/paths';

async function elements(file: string): Promise<unknown[]> {
  const out: unknown[] = [];
  await forEachJsonArrayElement(file, (raw, i) => {
    expect(i).toBe(out.length + 1);
    out.push(raw);
  });
  return out;
}

// Strings full of the characters a naive splitter trips on: brackets, commas, quotes, escapes, braces.
const tricky = fc.string({ unit: fc.constantFrom('a', ',', ']', '[', '{', '}', '"', '\\', ' ', '\n', 'é', '😀'), maxLength: 40 });
const record = fc.record({ prompt_id: tricky, sample_id: fc.integer(), output: tricky, nested: fc.array(fc.record({ k: tricky }), { maxLength: 3 }) });

describe('JSON array streaming', () => {
  const dir = tmpDir();

  test('gives back exactly what JSON.parse gives, for any records and whitespace', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(record, { maxLength: 20 }), fc.boolean(), async (records, pretty) => {
        const file = path.join(dir, 'a.json');
        fs.writeFileSync(file, `\n ${JSON.stringify(records, null, pretty ? 2 : undefined)} \n`);
        expect(await elements(file)).toEqual(JSON.parse(fs.readFileSync(file, 'utf8')));
      }),
      { numRuns: 60 },
    );
  });

  test('elements that straddle the 1 MiB read chunks, multi-byte characters on the boundaries', async () => {
    const records = Array.from({ length: 5000 }, (_, i) => ({ prompt_id: `p${i}`, output: `😀 é ] , " ${'x'.repeat(i % 997)}`, reward: i / 7 }));
    const file = path.join(dir, 'big.json');
    fs.writeFileSync(file, JSON.stringify(records));
    expect(fs.statSync(file).size).toBeGreaterThan(2 * (1 << 20));
    expect(await elements(file)).toEqual(records);
  });

  test('NaN and Infinity literals (as Python writes them) become non-finite sentinels', async () => {
    const file = path.join(dir, 'nan.json');
    fs.writeFileSync(file, '[{"reward": NaN, "output": "NaN"}, {"reward": -Infinity}]');
    const [a, b] = (await elements(file)) as { reward: unknown; output?: string }[];
    expect(isNonFiniteSentinel(a.reward)).toBe(true);
    expect(a.output).toBe('NaN');
    expect(isNonFiniteSentinel(b.reward)).toBe(true);
  });

  test.each([
    ['[]', []],
    [' [ ] ', []],
    ['\uFEFF[1, 2]', [1, 2]],
  ])('%j reads as %j', async (text, expected) => {
    const file = path.join(dir, 'small.json');
    fs.writeFileSync(file, text);
    expect(await elements(file)).toEqual(expected);
  });

  test.each([
    ['[1, 2', /closing "\]" is missing/],
    ['[1, , 2]', /empty element/],
    ['[1] x', /text after the closing/],
    ['{"a": 1}', /not "\["/],
    ['[1, {"a": }]', /record 2 is not valid JSON/],
  ])('%j is refused with a clear error', async (text, message) => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, text);
    const err = await elements(file).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(file);
  });

  test('scored samples in a JSON array read like the same records in JSONL', async () => {
    const records = Array.from({ length: 40 }, (_, i) => ({
      prompt_id: `p${i % 10}`,
      sample_id: Math.floor(i / 10),
      prompt: [{ role: 'user', content: `q${i % 10}` }],
      output: `a${i}`,
      reward: i % 3,
      label_status: 'ok',
    }));
    const arr = path.join(dir, 'scored.json');
    const jsonl = path.join(dir, 'scored.jsonl');
    fs.writeFileSync(arr, JSON.stringify(records, null, 1));
    fs.writeFileSync(jsonl, records.map((r) => JSON.stringify(r)).join('\n'));
    const a = await readScoredSamples(arr);
    const b = await readScoredSamples(jsonl);
    expect([...a.groups.keys()]).toEqual([...b.groups.keys()]);
    expect([...a.groups.values()].map((g) => g.map((s) => [s.output, s.reward]))).toEqual(
      [...b.groups.values()].map((g) => g.map((s) => [s.output, s.reward])),
    );
  });
});

describe('JSON lines', () => {
  const dir = tmpDir();

  test('blank lines skipped, line numbers are the file lines, no trailing newline needed', async () => {
    const file = path.join(dir, 'a.jsonl');
    fs.writeFileSync(file, '{"a":1}\n\n  \n{"a":2}\r\n{"a":3}');
    const seen: [unknown, number][] = [];
    await forEachJsonLine(file, (raw, line) => seen.push([raw, line]));
    expect(seen).toEqual([
      [{ a: 1 }, 1],
      [{ a: 2 }, 4],
      [{ a: 3 }, 5],
    ]);
    expect(await readJsonl(file)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  test('a bad line names the file and line', async () => {
    const file = path.join(dir, 'b.jsonl');
    fs.writeFileSync(file, '{"a":1}\n{"a":\n');
    await expect(readJsonl(file)).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: not valid JSON`));
  });

  test('append logs: a torn line stops the read or is skipped', () => {
    const text = '{"b":1}\n{"b":2}\n{"b":\n{"b":4}\n';
    expect(parseJsonLines(text, 'stop')).toEqual([{ b: 1 }, { b: 2 }]);
    expect(parseJsonLines(text, 'skip')).toEqual([{ b: 1 }, { b: 2 }, { b: 4 }]);
  });
});
