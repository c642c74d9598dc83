/** Reading scored-sample files (JSONL, or a JSON array as HALOs' sampler writes) from disk. */
import * as fs from 'node:fs';
import { InputError, ScoredSampleCollector, parseJsonAllowingNonFinite } from './scored-samples';

function firstNonSpaceChar(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) {
      const m = /\S/.exec(buf.toString('utf8', 0, n));
      if (m) return m[0];
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Calls onLine for every non-blank line (1-based line numbers), reading the file in chunks. */
export async function forEachLine(file: string, onLine: (text: string, line: number) => void): Promise<void> {
  const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  let rest = '';
  let line = 0;
  for await (const chunk of stream as AsyncIterable<string>) {
    const text = rest + chunk;
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      line++;
      const l = text.slice(start, nl);
      if (l.trim().length > 0) onLine(l, line);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.trim().length > 0) onLine(rest, line + 1);
}

/** Calls onRecord with every non-blank line parsed as JSON; a line that is not JSON is an InputError naming file and line. */
export async function forEachJsonLine(file: string, onRecord: (raw: unknown, line: number) => void): Promise<void> {
  await forEachLine(file, (text, line) => {
    let raw: unknown;
    try {
      raw = parseJsonAllowingNonFinite(text);
    } catch (e) {
      throw new InputError(file, line, `not valid JSON (${(e as Error).message})`);
    }
    onRecord(raw, line);
  });
}

/** Reads one file into `collector` (a new one by default; pass one to read several files as one batch). */
export async function readScoredSamples(file: string, collector = new ScoredSampleCollector(file)): Promise<ScoredSampleCollector> {
  if (!fs.existsSync(file)) throw new InputError(file, undefined, 'file not found', 'check the --in path');
  if (fs.statSync(file).isDirectory()) throw new InputError(file, undefined, 'is a directory, expected a JSONL or JSON file');
  if (firstNonSpaceChar(file) === '[') {
    let arr: unknown;
    try {
      arr = parseJsonAllowingNonFinite(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new InputError(file, undefined, `not a valid JSON array (${(e as Error).message})`);
    }
    if (!Array.isArray(arr)) throw new InputError(file, undefined, 'starts with [ but is not a JSON array');
    // For a JSON array, "line" is the 1-based record index.
    arr.forEach((raw, i) => collector.addParsed(raw, i + 1));
  } else {
    await forEachLine(file, (text, line) => collector.addLine(text, line));
  }
  return collector;
}
