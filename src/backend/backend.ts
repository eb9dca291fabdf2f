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

export interface Backend {
  readonly name: 'js' | 'native';
  /** Number of threads this backend's kernels use (1 for js). */
  threads(): number;
  setThreads(n: number): void;

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

  /** PyTorch AdamW: p -= lr*wd*p; m,v moments; p -= lr * mhat / (sqrt(vhat) + eps). */
  adamw(args: AdamWArgs): void;
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
