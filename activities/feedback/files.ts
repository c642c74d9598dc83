/** Reading scored-sample files (JSONL, or a JSON array as HALOs' sampler writes) from disk. */
import * as fs from 'node:fs';
import { InputError } from '../../config/errors';
import { firstNonSpaceChar, forEachJsonArrayElement, forEachLine } from '../artifacts/json-lines';
import { ScoredSampleCollector } from './scored-samples';

/** Reads one file into `collector` (a new one by default; pass one to read several files as one batch). */
export async function readScoredSamples(file: string, collector = new ScoredSampleCollector(file)): Promise<ScoredSampleCollector> {
  if (!fs.existsSync(file)) throw new InputError(file, undefined, 'file not found', 'check the --in path');
  if (fs.statSync(file).isDirectory()) throw new InputError(file, undefined, 'is a directory, expected a JSONL or JSON file');
  if (firstNonSpaceChar(file) === '[') {
    // For a JSON array, "line" is the 1-based record index.
    await forEachJsonArrayElement(file, (raw, i) => collector.addParsed(raw, i));
  } else {
    await forEachLine(file, (text, line) => collector.addLine(text, line));
  }
  return collector;
}
