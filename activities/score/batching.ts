/**
 * Token-budget batching: sort by length (longest first, stable), fill each batch while
 * rows x longest row <= the budget, pad on the right with the model's pad id. The plan depends
 * only on the items, so a resumed shard recomputes exactly the same batches.
 */
export interface BatchPlan {
  /** Item indices per batch. */
  batches: number[][];
}

export function planBatches(lengths: number[], batchTokens: number, maxBatchSize = 256): BatchPlan {
  const order = lengths.map((len, i) => ({ len, i })).sort((a, b) => b.len - a.len || a.i - b.i);
  const batches: number[][] = [];
  let cur: number[] = [];
  let curMax = 0;
  for (const { len, i } of order) {
    const max = Math.max(curMax, len);
    if (cur.length > 0 && ((cur.length + 1) * max > batchTokens || cur.length >= maxBatchSize)) {
      batches.push(cur);
      cur = [];
      curMax = 0;
    }
    cur.push(i);
    curMax = Math.max(curMax, len);
  }
  if (cur.length) batches.push(cur);
  return { batches };
}

export interface PaddedBatch {
  rows: number;
  cols: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  /** Segment ids (sentence pairs); absent: zeros. */
  tokenTypeIds?: BigInt64Array;
}

export function padBatch(seqs: number[][], padId: number, typeIds?: (number[] | undefined)[]): PaddedBatch {
  const rows = seqs.length;
  const cols = Math.max(1, ...seqs.map((s) => s.length));
  const inputIds = new BigInt64Array(rows * cols).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(rows * cols);
  seqs.forEach((s, r) => {
    for (let c = 0; c < s.length; c++) {
      inputIds[r * cols + c] = BigInt(s[c]);
      attentionMask[r * cols + c] = 1n;
    }
  });
  if (!typeIds?.some((t) => t !== undefined)) return { rows, cols, inputIds, attentionMask };
  const tokenTypeIds = new BigInt64Array(rows * cols);
  typeIds.forEach((t, r) => t?.forEach((v, c) => (tokenTypeIds[r * cols + c] = BigInt(v))));
  return { rows, cols, inputIds, attentionMask, tokenTypeIds };
}
