// The compute backend contract: the few kernels the tensor layer needs, on raw typed arrays.
// Kernels never allocate result storage; the caller (the tensor layer, with its pool) owns all memory.
// Float64 arrays are only ever passed to the `js` backend (used for finite-difference gradient tests).

export type FloatArray = Float32Array | Float64Array;

/**
 * Strided batched GEMM: for each b < batch,
 *   C[b] = alpha * A[b] @ B[b] + beta * C[b]
 * A[b] is M x K with element (i, p) at a[aOffset + b*aBatchStride + i*aRowStride + p*aColStride],
 * B[b] is K x N with element (p, j) at b[bOffset + b*bBatchStride + p*bRowStride + j*bColStride],
 * C[b] is M x N with element (i, j) at c[cOffset + b*cBatchStride + i*cRowStride + j] (unit column stride).
 * A transposed operand is expressed by swapping its row and column strides. beta is 0 or 1;
 * with beta = 0, C is overwritten (its old contents, even NaN, are ignored).
 */
export interface GemmArgs<T extends FloatArray = FloatArray> {
  batch: number;
  M: number;
  N: number;
  K: number;
  a: T;
  aOffset: number;
  aRowStride: number;
  aColStride: number;
  aBatchStride: number;
  b: T;
  bOffset: number;
  bRowStride: number;
  bColStride: number;
  bBatchStride: number;
  c: T;
  cOffset: number;
  cRowStride: number;
  cBatchStride: number;
  alpha: number;
  beta: 0 | 1;
}

/**
 * Fused causal self-attention over contiguous q, k, v of shape (B*H, T, D) (row-major).
 * out (B*H, T, D) = softmax(mask(q @ k^T * scale)) @ v, with the causal mask (key j > query i masked).
 * lse (B*H, T) receives the log-sum-exp of each score row, for the memory-efficient backward.
 * qOffset lets a KV-cache step attend Tq new queries positioned at [T - Tq, T) against T keys:
 * q has shape (B*H, Tq, D) and query row r sits at absolute position qStart + r.
 */
export interface AttentionArgs<T extends FloatArray = FloatArray> {
  BH: number;
  Tq: number;
  Tk: number;
  D: number;
  qStart: number;
  scale: number;
  q: T;
  k: T;
  v: T;
  out: T;
  lse: T;
  /**
   * Dropout on the attention weights (after softmax), 0 when absent. The keep/drop decision for
   * (bh, query position, key position) comes from dropoutKeep() below, so backward regenerates the
   * same mask without storing it (as FlashAttention does with its counter-based RNG).
   */
  dropoutP?: number;
  dropoutSeed?: number;
  /**
   * Elements between the keys (and values) of consecutive heads; default Tk * D (contiguous). A KV cache
   * of capacity Tmax passes Tmax * D to be read in place. Forward only: the backward needs contiguous k, v.
   */
  kvHeadStride?: number;
}

export interface AttentionBackwardArgs<T extends FloatArray = FloatArray> extends AttentionArgs<T> {
  dout: T;
  dq: T; // overwritten
  dk: T; // overwritten
  dv: T; // overwritten
}

export interface AdamWArgs {
  param: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/**
 * How a weight matrix is stored: f32 (the reference), bf16 (the top 16 bits of the f32, rounded to nearest even)
 * or int8 (per-row symmetric: W[j, :] = scales[j] * q[j, :], q in [-127, 127], scales[j] = max|W[j, :]| / 127).
 */
export type WeightDtype = 'f32' | 'bf16' | 'int8';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'bf16', 'int8'];

/** An (rows, cols) matrix held as bf16 or int8 for inference, row-major; rows are a Linear's output features. */
export interface PackedMatrix {
  readonly dtype: 'bf16' | 'int8';
  readonly rows: number;
  readonly cols: number;
  /** bf16 bits (Uint16Array) or int8 values (Int8Array), rows * cols. */
  readonly data: Uint16Array | Int8Array;
  /** int8: one scale per row; null for bf16. */
  readonly scales: Float32Array | null;
}

/**
 * dst (rows x cols, row-major) = src(i, j) = src[srcOffset + i*srcRowStride + j*srcColStride], converted to
 * dst's format: Float32Array (a strided copy: the Conv1D [in, out] -> Linear (out, in) transpose), Uint16Array
 * (bf16) or Int8Array (int8, with scales[i] written). Results are bit-identical on every backend.
 */
export interface PackArgs {
  rows: number;
  cols: number;
  src: Float32Array;
  srcOffset: number;
  srcRowStride: number;
  srcColStride: number;
  dst: Float32Array | Uint16Array | Int8Array;
  /** rows floats, for an Int8Array dst. */
  scales?: Float32Array;
}

/** y[i, j] = sum_p x[i, p] * W[j, p] (+ y[i, j] when beta = 1): x (M, K) and y (M, N) row-major f32, W packed (N, K). */
export interface PackedLinearArgs {
  M: number;
  N: number;
  K: number;
  x: Float32Array;
  xOffset: number;
  xRowStride: number;
  w: PackedMatrix;
  y: Float32Array;
  yOffset: number;
  yRowStride: number;
  beta: 0 | 1;
}

export interface Backend {
  readonly name: 'js' | 'native';
  /** Number of threads this backend's kernels use (1 for js). */
  threads(): number;
  setThreads(n: number): void;
  /**
   * GEMMs with up to `rows` rows (1..16; default 4) stream B without packing it, reading each weight once
   * for all rows (batched decoding). Returns the previous limit. Results then depend on how many rows
   * share a call (the paths round differently), so it is opt-in. Absent on backends without the choice.
   */
  setGemvRows?(rows: number): number;

  gemm(args: GemmArgs): void;

  /** y = softmax over the last axis of x (rows x cols, contiguous); y may alias x. */
  softmax(x: FloatArray, y: FloatArray, rows: number, cols: number): void;
  /** dx = y * (dy - sum(dy * y)) row-wise; dx may alias dy. */
  softmaxBackward(y: FloatArray, dy: FloatArray, dx: FloatArray, rows: number, cols: number): void;

  /** Layer norm over the last axis; writes y, and mean / rstd (rows) for backward. Biased variance. */
  layerNorm(
    x: FloatArray,
    weight: FloatArray,
    bias: FloatArray,
    y: FloatArray,
    mean: FloatArray,
    rstd: FloatArray,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  /** dx is overwritten; dweight and dbias are accumulated into (+=). */
  layerNormBackward(
    dy: FloatArray,
    x: FloatArray,
    weight: FloatArray,
    mean: FloatArray,
    rstd: FloatArray,
    dx: FloatArray,
    dweight: FloatArray,
    dbias: FloatArray,
    rows: number,
    cols: number,
  ): void;

  /** out[i] = a[i] + b[i] for i < n; out may be a or b. */
  add(a: FloatArray, b: FloatArray, out: FloatArray, n: number): void;
  /**
   * Inverted dropout with a counter-hash mask: out[i] = x[i] * (fmix32(seed + i * 0x9e3779b9) >>> 8 < threshold
   * ? 0 : scale), so backward regenerates the mask from the seed. out may be x.
   */
  dropout(x: FloatArray, out: FloatArray, n: number, seed: number, threshold: number, scale: number): void;
  /** dst[j] = (beta ? dst[j] : 0) + the sum over rows r, in order, of g[r * cols + j] (a bias gradient). */
  sumRows(g: FloatArray, rows: number, cols: number, dst: FloatArray, beta: 0 | 1): void;

  /**
   * Optional: dst[0..) = the elements of the view of src at `offset` with `shape` and `strides`, in row-major order
   * (contiguous() of a transpose). Callers loop in JS where a backend lacks it.
   */
  copyStrided?(
    src: Float32Array,
    offset: number,
    shape: readonly number[],
    strides: readonly number[],
    dst: Float32Array,
  ): void;

  /** GELU, tanh approximation (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  gelu(x: FloatArray, y: FloatArray, n: number): void;
  /** dx = dy * gelu'(x); dx is overwritten and may alias dy. */
  geluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray, n: number): void;

  /**
   * Cross-entropy per row of logits (rows x V): loss[r] = lse(logits[r]) - logits[r][target[r]],
   * and lse[r] is stored. Rows whose target equals ignoreIndex get loss 0 (lse still written).
   * Targets outside [0, V) other than ignoreIndex are the caller's job to reject before the call.
   */
  crossEntropy(
    logits: FloatArray,
    targets: Int32Array,
    loss: FloatArray,
    lse: FloatArray,
    rows: number,
    V: number,
    ignoreIndex: number,
  ): void;
  /** dlogits[r] = scale[r] * (softmax(logits[r]) - onehot(target[r])); 0 for ignored rows. Overwrites. */
  crossEntropyBackward(
    logits: FloatArray,
    targets: Int32Array,
    lse: FloatArray,
    dlogits: FloatArray,
    rows: number,
    V: number,
    ignoreIndex: number,
    scale: number,
  ): void;

  /** True when attention() / attentionBackward() implement dropoutP (otherwise callers must not pass it). */
  readonly attentionDropout?: boolean;
  attention(args: AttentionArgs): void;
  attentionBackward(args: AttentionBackwardArgs): void;

  /**
   * Optional: advise the OS to back a large, not yet touched buffer with huge pages (fewer first-touch
   * faults and TLB misses). Returns whether the advice was taken.
   */
  adviseHugePages?(buffer: ArrayBuffer): boolean;

  /**
   * Optional: bytes [offset, offset + length) of a file as an ArrayBuffer over a private, copy-on-write memory
   * mapping (no copy, no fresh memory: the page cache's own pages; a write changes this process's copy, never
   * the file). Unmapped when the buffer is garbage collected. length < 4 GiB (Node's limit for one buffer).
   * Loaders read the file instead where a backend lacks it.
   */
  mapFile?(path: string, offset: number, length: number): ArrayBuffer;

  /** PyTorch AdamW: p -= lr*wd*p; m,v moments; p -= lr * mhat / (sqrt(vhat) + eps). */
  adamw(args: AdamWArgs): void;

  /** Convert / transpose weights into their inference storage (loading, quantizeModel). */
  packWeights(args: PackArgs): void;
  /**
   * x @ W^T with W held as bf16 or int8, f32 accumulation. The native AVX512_BF16 path rounds x to bf16 too
   * (vdpbf16ps): its results differ from the js reference by up to ~2^-8 of sum |x_p W_jp|; others by f32 rounding.
   */
  packedLinear(args: PackedLinearArgs): void;
  /** Index of the first NaN or infinity in x, or -1 (loading checks every weight it reads). */
  firstNonFinite(x: Float32Array): number;
}

const bitsF32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bitsF32.buffer);

/** bf16 bits -> the f32 value they are the top half of. */
export function bf16ToF32(h: number): number {
  bitsU32[0] = h << 16;
  return bitsF32[0];
}

/** f32 -> bf16 bits, round to nearest even; NaN stays NaN (what torch's .to(torch.bfloat16) does). */
export function f32ToBf16(f: number): number {
  bitsF32[0] = f;
  const u = bitsU32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** 32-bit finaliser of MurmurHash3: a bijective mix of all input bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Per (seed, bh, query position) base of the attention-dropout hash; the C kernels compute the same. */
export function dropoutRowBase(seed: number, bh: number, queryPos: number): number {
  return fmix32((fmix32((seed ^ bh) >>> 0) ^ queryPos) >>> 0);
}

/** Uniform in [0, 1) with 24 bits for key position j of a row: the weight is kept when it is >= p. */
export function dropoutUniform(rowBase: number, keyPos: number): number {
  return (fmix32((rowBase + Math.imul(keyPos, 0x9e3779b9)) >>> 0) >>> 8) / 16777216;
}

/**
 * One row of int8 (the quantizer every backend matches bit for bit): returns the row's scale, writes q.
 * Each step rounds to f32 as the C code does: inv = 127 / amax, v = src * inv, q = v rounded half to even.
 */
export function quantizeRowInt8(
  src: Float32Array,
  srcOffset: number,
  stride: number,
  n: number,
  q: Int8Array,
  qOffset: number,
): number {
  let amax = 0;
  for (let j = 0; j < n; j++) {
    const a = Math.abs(src[srcOffset + j * stride]);
    if (a > amax) amax = a; // NaN is skipped, as in C
  }
  if (amax === 0) {
    q.fill(0, qOffset, qOffset + n);
    return 0;
  }
  const inv = Math.fround(127 / amax);
  for (let j = 0; j < n; j++) {
    const v = Math.fround(src[srcOffset + j * stride] * inv);
    // Adding 1.5 * 2^23 in f32 leaves no fraction bits: round half to even, as the C code does.
    const r = Math.fround(Math.fround(v + 12582912) - 12582912);
    q[qOffset + j] = Math.max(-127, Math.min(127, r));
  }
  return Math.fround(amax / 127);
}
