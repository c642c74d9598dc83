/**
 * The one reader for JSON-lines and JSON-array files. Files are streamed in 1 MiB chunks, so a
 * multi-GB shard or a HALOs JSON array larger than V8's biggest string (512 MiB) still reads.
 */
import * as fs from 'node:fs';
import { InputError } from '../../config/errors';
import { parseJsonAllowingNonFinite } from './lenient-json';

const CHUNK = 1 << 20;

/** Calls onLine for every non-blank line (1-based line numbers), reading the file in chunks. A leading BOM is dropped. */
export async function forEachLine(file: string, onLine: (text: string, line: number) => void): Promise<void> {
  const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: CHUNK });
  let rest = '';
  let line = 0;
  let first = true;
  for await (const chunk of stream as AsyncIterable<string>) {
    const text = rest + (first && chunk.startsWith('\uFEFF') ? chunk.slice(1) : chunk);
    first = false;
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

/** Every record of a JSON-lines file (for files a shard's size bounds). */
export async function readJsonl<T>(file: string): Promise<T[]> {
  const out: T[] = [];
  await forEachJsonLine(file, (raw) => out.push(raw as T));
  return out;
}

/**
 * Records of an append-only log held in memory (a progress file, a downloaded batch result): a line
 * that does not parse is a torn write by a killed writer; reading stops there ('stop') or skips it ('skip').
 */
export function parseJsonLines<T>(text: string, onTorn: 'stop' | 'skip'): T[] {
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      if (onTorn === 'stop') break;
    }
  }
  return out;
}

/** The first non-blank character of a file (a BOM counts as blank), to tell a JSON array from JSON lines. */
export function firstNonSpaceChar(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) {
      const m = /[^\s\uFEFF]/.exec(buf.toString('utf8', 0, n));
      if (m) return m[0];
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Calls onElement with each element of a top-level JSON array (index 1-based), streaming: only one
 * element is held as text at a time. NaN / Infinity literals are accepted as in parseJsonAllowingNonFinite.
 */
export async function forEachJsonArrayElement(file: string, onElement: (raw: unknown, index: number) => void): Promise<void> {
  const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: CHUNK });
  type State = 'before' | 'inside' | 'after';
  let state = 'before' as State;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let parts: string[] = [];
  let index = 0;
  const bad = (what: string) => new InputError(file, undefined, `not a valid JSON array (${what})`);
  const emit = (text: string, closing: boolean) => {
    if (!text.trim()) {
      if (closing && index === 0) return; // "[]"
      throw bad(`empty element after element ${index}`);
    }
    index++;
    let raw: unknown;
    try {
      raw = parseJsonAllowingNonFinite(text);
    } catch (e) {
      throw new InputError(file, index, `record ${index} is not valid JSON (${(e as Error).message})`);
    }
    onElement(raw, index);
  };
  for await (const chunk of stream as AsyncIterable<string>) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk[i];
      if (state === 'before') {
        if (ch === '[') {
          state = 'inside';
          start = i + 1;
        } else if (!/[\s\uFEFF]/.test(ch)) throw bad(`starts with "${ch}", not "["`);
        continue;
      }
      if (state === 'after') {
        if (!/\s/.test(ch)) throw bad(`text after the closing "]"`);
        continue;
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === '\\') escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{' || ch === '[') depth++;
      else if ((ch === '}' || ch === ']') && depth > 0) depth--;
      else if (depth === 0 && (ch === ',' || ch === ']')) {
        parts.push(chunk.slice(start, i));
        emit(parts.join(''), ch === ']');
        parts = [];
        start = i + 1;
        if (ch === ']') state = 'after';
      }
    }
    if (state === 'inside') parts.push(chunk.slice(start));
  }
  if ((state as State) !== 'after') throw bad((state as State) === 'before' ? 'no "[" found' : 'the closing "]" is missing');
}
