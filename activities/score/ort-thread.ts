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
    parentPort!.postMessage({ kind: 'error', id: null, message: `cannot load ${init.modelPath}: ${(e as Error).message}` } satisfies OrtThreadMessage);
    return;
  }
  parentPort!.postMessage({ kind: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] } satisfies OrtThreadMessage);
  parentPort!.on('message', async (req: OrtRunRequest) => {
    try {
      const dims = [req.rows, req.cols];
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) {
        if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', req.inputIds, dims);
        else if (name === 'attention_mask') feeds[name] = new ort.Tensor('int64', req.attentionMask, dims);
        else if (name === 'token_type_ids') feeds[name] = new ort.Tensor('int64', new BigInt64Array(req.rows * req.cols), dims);
        else if (name === 'position_ids') {
          const pos = new BigInt64Array(req.rows * req.cols);
          for (let r = 0; r < req.rows; r++) for (let c = 0; c < req.cols; c++) pos[r * req.cols + c] = BigInt(c);
          feeds[name] = new ort.Tensor('int64', pos, dims);
        } else throw new Error(`the model asks for an input alignloop cannot supply: ${name}`);
      }
      const out = await session.run(feeds, ['logits']);
      const logits = out.logits;
      parentPort!.postMessage({ kind: 'result', id: req.id, logits: logits.data as Float32Array, dims: [...logits.dims] } satisfies OrtThreadMessage);
    } catch (e) {
      parentPort!.postMessage({ kind: 'error', id: req.id, message: (e as Error).message } satisfies OrtThreadMessage);
    }
  });
}

if (parentPort) void start();
