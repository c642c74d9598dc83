/**
 * A tokenization thread: renders and tokenizes conversations with the reward model's chat template
 * and tokenizer, so a many-core (or GPU) scorer is not bound by one thread's tokenization.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Turn } from '../feedback/scored-samples';
import { loadModelFolder } from './model-folder';
import { InputFormat, TextEncoder } from './render';

export interface EncodeThreadInit {
  modelDir: string;
  modelFile?: string;
  chatTemplate?: string;
  maxLength: number;
  inputFormat?: InputFormat;
}

export interface EncodeRequest {
  id: number;
  items: { prompt: Turn[]; response: string }[];
}

/** Token ids (and segment ids, for pairs) of every item back to back; per item its length, truncation, or the error that stopped it. */
export interface EncodeReply {
  id: number;
  ids: Int32Array;
  typeIds: Int32Array | null;
  lengths: Int32Array;
  truncated: Uint8Array;
  errors: (string | null)[];
}

const init = workerData as EncodeThreadInit;
const encoder = new TextEncoder(loadModelFolder(init.modelDir, init.modelFile, init.chatTemplate), init.maxLength, init.inputFormat);

parentPort!.on('message', (req: EncodeRequest) => {
  const all: number[][] = [];
  const types: number[][] = [];
  const errors: (string | null)[] = [];
  const truncated = new Uint8Array(req.items.length);
  req.items.forEach((it, i) => {
    try {
      const e = encoder.encode(it.prompt, it.response);
      all.push(e.ids);
      if (e.typeIds) types[i] = e.typeIds;
      truncated[i] = e.truncated ? 1 : 0;
      errors.push(null);
    } catch (err) {
      all.push([]);
      errors.push((err as Error).message);
    }
  });
  const lengths = Int32Array.from(all.map((a) => a.length));
  const ids = new Int32Array(lengths.reduce((a, b) => a + b, 0));
  const typeIds = init.inputFormat === 'pair' ? new Int32Array(ids.length) : null;
  let at = 0;
  all.forEach((a, i) => {
    ids.set(a, at);
    if (typeIds && types[i]) typeIds.set(types[i], at);
    at += a.length;
  });
  const reply: EncodeReply = { id: req.id, ids, typeIds, lengths, truncated, errors };
  parentPort!.postMessage(reply, [ids.buffer, lengths.buffer, truncated.buffer, ...(typeIds ? [typeIds.buffer] : [])]);
});
