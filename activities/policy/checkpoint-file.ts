/** Reading a built-in policy checkpoint from the artifact store, after checking it is the one recorded. */
import * as fs from 'node:fs';
import { FileRef, verifyRef } from '../artifacts/store';
import { parseCheckpoint, PolicyCheckpoint } from './builtin-policy';

export function loadBuiltinCheckpoint(ref: FileRef, what: string): PolicyCheckpoint {
  verifyRef(ref, what);
  return parseCheckpoint(fs.readFileSync(ref.path, 'utf8'), ref.path);
}
