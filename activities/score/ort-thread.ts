/**
 * Runs the ONNX Runtime session on a worker thread: session.run() blocks its thread for the
 * whole native call, and the main thread must keep heartbeating and serving HTTP meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface OrtThreadInit {
  modelPath: string;
  provider: 'cpu' | 'cuda';
  deviceId: number;
  threads: number;
}

export interface OrtRunRequest {
  id: number;
  rows: number;
  cols: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds?: BigInt64Array;
}

export type OrtThreadMessage =
  | { kind: 'ready'; inputNames: string[]; outputNames: string[] }
  | { kind: 'result'; id: number; logits: Float32Array; dims: number[] }
  | { kind: 'error'; id: number | null; message: string };

async function start(): Promise<void> {
  const init = workerData as OrtThreadInit;
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: init.provider === 'cuda' ? [{ name: 'cuda', deviceId: init.deviceId } as never, 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: init.threads,
    interOpNumThreads: 1,
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(init.modelPath, options);
  } catch (e) {
    const msg = (e as Error).message;
    const hint =
      init.provider === 'cuda' && /Failed to load shared library/.test(msg)
        ? " (ORT's CUDA provider libraries are not installed beside onnxruntime-node, or CUDA/cuDNN are not on LD_LIBRARY_PATH: see docs/labeling.md, GPU)"
        : '';
    parentPort!.postMessage({ kind: 'error', id: null, message: `cannot load ${init.modelPath}: ${msg}${hint}` } satisfies OrtThreadMessage);
    return;
  }
  // Exports differ in their input integer type (int64 from transformers, int32 from some tools).
  const inputType = new Map<string, string>();
  for (const m of session.inputMetadata) if (m.isTensor) inputType.set(m.name, m.type);
  const past = session.inputNames.filter((n) => n.startsWith('past_key_values') || n === 'use_cache_branch');
  if (past.length > 0) {
    parentPort!.postMessage({
      kind: 'error',
      id: null,
      message:
        `${init.modelPath}: the graph was exported with the KV cache (inputs ${past.slice(0, 3).join(', ')}${past.length > 3 ? ', …' : ''}), which a reward model ` +
        'scoring whole sequences never uses; export it without past (optimum-cli export onnx --task text-classification, no "-with-past")',
    } satisfies OrtThreadMessage);
    return;
  }
  const unsupported = session.inputNames.filter((n) => !['input_ids', 'attention_mask', 'token_type_ids', 'position_ids'].includes(n));
  if (unsupported.length > 0) {
    parentPort!.postMessage({
      kind: 'error',
      id: null,
      message: `${init.modelPath}: the graph asks for inputs alignloop cannot supply: ${unsupported.join(', ')} (supported: input_ids, attention_mask, token_type_ids, position_ids)`,
    } satisfies OrtThreadMessage);
    return;
  }
  parentPort!.postMessage({ kind: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] } satisfies OrtThreadMessage);
  const tensor = (name: string, data: BigInt64Array, dims: number[]) =>
    inputType.get(name) === 'int32'
      ? new ort.Tensor(
          'int32',
          Int32Array.from(data, (v) => Number(v)),
          dims,
        )
      : new ort.Tensor('int64', data, dims);
  parentPort!.on('message', async (req: OrtRunRequest) => {
    try {
      const dims = [req.rows, req.cols];
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) {
        if (name === 'input_ids') feeds[name] = tensor(name, req.inputIds, dims);
        else if (name === 'attention_mask') feeds[name] = tensor(name, req.attentionMask, dims);
        else if (name === 'token_type_ids') feeds[name] = tensor(name, req.tokenTypeIds ?? new BigInt64Array(req.rows * req.cols), dims);
        else if (name === 'position_ids') {
          const pos = new BigInt64Array(req.rows * req.cols);
          for (let r = 0; r < req.rows; r++) for (let c = 0; c < req.cols; c++) pos[r * req.cols + c] = BigInt(c);
          feeds[name] = tensor(name, pos, dims);
        }
      }
      const out = await session.run(feeds, ['logits']);
      const logits = out.logits;
      parentPort!.postMessage({ kind: 'result', id: req.id, logits: asFloat32(logits), dims: [...logits.dims] } satisfies OrtThreadMessage);
    } catch (e) {
      parentPort!.postMessage({ kind: 'error', id: req.id, message: (e as Error).message } satisfies OrtThreadMessage);
    }
  });
}

/** IEEE 754 half -> number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Logits as float32 whatever the export's output type: float16 bits are decoded, never read as float32. */
export function asFloat32(t: ort.Tensor): Float32Array {
  switch (t.type as string) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16': {
      const d = t.data as unknown;
      // ORT hands float16 as raw bits (Uint16Array), or as a Float16Array where the runtime has one.
      if (d instanceof Uint16Array) return Float32Array.from(d, halfToFloat);
      return Float32Array.from(d as ArrayLike<number>);
    }
    case 'float64':
      return Float32Array.from(t.data as Float64Array);
    case 'bfloat16':
      return Float32Array.from(t.data as Uint16Array, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
    default:
      throw new Error(`logits of type ${t.type} are not a reward (expected a float type)`);
  }
}

if (parentPort) void start();
