/**
 * The built-in policy's features for many candidates, packed: a candidate's hashed-gram counts
 * (int16) and bucket indices in shared arrays, one float64 norm per candidate. A million candidates
 * take ~250 MB instead of ~1.25 GB as one pair of typed arrays each, with the same floating-point
 * results: a value is count * norm, the very product features() stores.
 */
import { dot, gramCounts, SparseFeatures } from './builtin-policy';

/** A prompt's candidate pool as the trainer reads it: scores and gradient contributions by candidate. */
export interface Pool {
  readonly size: number;
  /** theta · phi(candidate j) */
  dot(theta: ArrayLike<number>, j: number): number;
  /** g += w * phi(candidate j) */
  addTo(g: Float64Array, j: number, w: number): void;
}

export class FeatureStore {
  private idx: Uint16Array | Int32Array;
  private cnt = new Int16Array(1 << 16);
  private start = new Uint32Array(1 << 12);
  private norm = new Float64Array(1 << 12);
  private nnz = 0;
  private count = 0;

  constructor(readonly dims: number) {
    this.idx = dims <= 0xffff ? new Uint16Array(1 << 16) : new Int32Array(1 << 16);
  }

  get candidates(): number {
    return this.count;
  }

  /** Adds one candidate's features; returns its id. */
  add(text: string): number {
    const { counts, norm } = gramCounts(text, this.dims);
    const need = this.nnz + counts.size;
    if (need > this.idx.length) {
      const size = Math.max(need, this.idx.length * 2);
      const idx = this.idx instanceof Uint16Array ? new Uint16Array(size) : new Int32Array(size);
      idx.set(this.idx);
      const cnt = new Int16Array(size);
      cnt.set(this.cnt);
      [this.idx, this.cnt] = [idx, cnt];
    }
    if (this.count + 2 > this.start.length) {
      const start = new Uint32Array(this.start.length * 2);
      start.set(this.start);
      const n = new Float64Array(this.norm.length * 2);
      n.set(this.norm);
      [this.start, this.norm] = [start, n];
    }
    let k = this.nnz;
    for (const [i, v] of counts) {
      if (v > 32767 || v < -32768) throw new Error(`a candidate repeats one hashed gram ${v} times: too long for the built-in policy`);
      this.idx[k] = i;
      this.cnt[k++] = v;
    }
    this.start[this.count] = this.nnz;
    this.start[this.count + 1] = k;
    this.norm[this.count] = norm;
    this.nnz = k;
    return this.count++;
  }

  dot(theta: ArrayLike<number>, c: number): number {
    const n = this.norm[c];
    let s = 0;
    for (let k = this.start[c], e = this.start[c + 1]; k < e; k++) s += theta[this.idx[k]] * (this.cnt[k] * n);
    return s;
  }

  addTo(g: Float64Array, c: number, w: number): void {
    const n = this.norm[c];
    for (let k = this.start[c], e = this.start[c + 1]; k < e; k++) g[this.idx[k]] += w * (this.cnt[k] * n);
  }

  /** Candidates first .. first+size-1 as one pool. */
  pool(first: number, size: number): Pool {
    return new PackedPool(this, first, size);
  }
}

class PackedPool implements Pool {
  constructor(
    private readonly store: FeatureStore,
    private readonly first: number,
    readonly size: number,
  ) {}

  dot(theta: ArrayLike<number>, j: number): number {
    return this.store.dot(theta, this.first + j);
  }

  addTo(g: Float64Array, j: number, w: number): void {
    this.store.addTo(g, this.first + j, w);
  }
}

/** A pool of features computed one by one (tests, small pools). */
export function arrayPool(fs: SparseFeatures[]): Pool {
  return {
    size: fs.length,
    dot: (theta, j) => dot(theta, fs[j]),
    addTo: (g, j, w) => {
      const f = fs[j];
      for (let k = 0; k < f.idx.length; k++) g[f.idx[k]] += w * f.val[k];
    },
  };
}
