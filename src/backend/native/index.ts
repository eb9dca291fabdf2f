// Loader for the native addon (build/Release/gptkit_native.node, built by scripts/build-native.mjs) and the
// `native` Backend over it. Float32 only: float64 kernels exist in the js backend alone, so they throw here.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  AdamWArgs,
  AttentionArgs,
  AttentionBackwardArgs,
  Backend,
  FloatArray,
  GemmArgs,
  PackArgs,
  PackedLinearArgs,
} from '../backend.js';

/** The addon's exports (native/binding.c). Scalars that come in groups travel in a reused Float64Array. */
export interface NativeAddon {
  /** params: batch, M, N, K, aOffset, aRowStride, aColStride, aBatchStride, bOffset, bRowStride, bColStride,
   * bBatchStride, cOffset, cRowStride, cBatchStride, alpha, beta */
  gemm(a: Float32Array, b: Float32Array, c: Float32Array, params: Float64Array): void;
  softmax(x: Float32Array, y: Float32Array, rows: number, cols: number): void;
  softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  layerNorm(
    x: Float32Array,
    w: Float32Array,
    b: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  layerNormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dw: Float32Array,
    db: Float32Array,
    rows: number,
    cols: number,
  ): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  dropout(
    x: Float32Array,
    out: Float32Array,
    n: number,
    seed: number,
    threshold: number,
    scale: number,
  ): void;
  sumRows(g: Float32Array, rows: number, cols: number, dst: Float32Array, beta: number): void;
  copyStrided(src: Float32Array, dst: Float32Array, dims: Float64Array): void;
  gelu(x: Float32Array, y: Float32Array, n: number): void;
  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void;
  crossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    loss: Float32Array,
    lse: Float32Array,
    rows: number,
    V: number,
    ignoreIndex: number,
  ): void;
  crossEntropyBackward(
    logits: Float32Array,
    targets: Int32Array,
    lse: Float32Array,
    dlogits: Float32Array,
    rows: number,
    V: number,
    ignoreIndex: number,
    scale: number,
  ): void;
  /** params: BH, Tq, Tk, D, qStart, scale, dropoutP, dropoutSeed, kvHeadStride */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    params: Float64Array,
  ): void;
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    lse: Float32Array,
    dout: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    params: Float64Array,
  ): void;
  /** params: n, lr, beta1, beta2, eps, weightDecay, step */
  adamw(
    param: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    params: Float64Array,
  ): void;
  threads(): number;
  setThreads(n: number): void;
  setGemvRows(rows: number): number;
  /** The SIMD path in use: 'avx512' | 'avx2' | 'portable'. */
  isa(): string;
  adviseHugePages(buffer: ArrayBuffer): boolean;
  mapFile(path: string, offset: number, length: number): ArrayBuffer;
  /** params: rows, cols, srcOffset, srcRowStride, srcColStride */
  packWeights(
    src: Float32Array,
    dst: Float32Array | Uint16Array | Int8Array,
    scales: Float32Array,
    params: Float64Array,
  ): void;
  /** params: M, N, K, xOffset, xRowStride, yOffset, yRowStride, beta */
  packedLinear(
    x: Float32Array,
    w: Uint16Array | Int8Array,
    scales: Float32Array,
    y: Float32Array,
    params: Float64Array,
  ): void;
  /** The path of the packed-weight kernels: 'avx512bf16' | 'avx512' | 'avx2' | 'portable'. */
  packedPath(): string;
  firstNonFinite(x: Float32Array): number;
}

const NO_SCALES = new Float32Array(0);

function f32(x: FloatArray, name: string): Float32Array {
  if (x instanceof Float32Array) return x;
  throw new TypeError(`native backend: ${name} is a Float64Array, but float64 kernels are js-only`);
}

/** Default thread count: GPTKIT_THREADS if set to a positive integer, else every core. */
function defaultThreads(): number {
  const env = Number(process.env.GPTKIT_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

export function createNativeBackend(addon: NativeAddon): Backend {
  // Reused parameter blocks: one napi typed-array read instead of a dozen number conversions per call.
  const gp = new Float64Array(17);
  const ap = new Float64Array(9);
  const op = new Float64Array(7);
  const pp = new Float64Array(5);
  const lp = new Float64Array(8);
  const attnParams = (g: AttentionArgs): Float64Array => {
    ap[0] = g.BH;
    ap[1] = g.Tq;
    ap[2] = g.Tk;
    ap[3] = g.D;
    ap[4] = g.qStart;
    ap[5] = g.scale;
    ap[6] = g.dropoutP ?? 0;
    ap[7] = g.dropoutSeed ?? 0;
    ap[8] = g.kvHeadStride ?? g.Tk * g.D;
    return ap;
  };
  addon.setThreads(defaultThreads());
  return {
    name: 'native',
    attentionDropout: true,
    threads: () => addon.threads(),
    setThreads: (n: number) => addon.setThreads(n),
    setGemvRows: (rows: number) => addon.setGemvRows(rows),
    gemm(g: GemmArgs) {
      gp[0] = g.batch;
      gp[1] = g.M;
      gp[2] = g.N;
      gp[3] = g.K;
      gp[4] = g.aOffset;
      gp[5] = g.aRowStride;
      gp[6] = g.aColStride;
      gp[7] = g.aBatchStride;
      gp[8] = g.bOffset;
      gp[9] = g.bRowStride;
      gp[10] = g.bColStride;
      gp[11] = g.bBatchStride;
      gp[12] = g.cOffset;
      gp[13] = g.cRowStride;
      gp[14] = g.cBatchStride;
      gp[15] = g.alpha;
      gp[16] = g.beta;
      addon.gemm(f32(g.a, 'gemm a'), f32(g.b, 'gemm b'), f32(g.c, 'gemm c'), gp);
    },
    softmax: (x, y, rows, cols) => addon.softmax(f32(x, 'x'), f32(y, 'y'), rows, cols),
    softmaxBackward: (y, dy, dx, rows, cols) =>
      addon.softmaxBackward(f32(y, 'y'), f32(dy, 'dy'), f32(dx, 'dx'), rows, cols),
    layerNorm: (x, w, b, y, mean, rstd, rows, cols, eps) =>
      addon.layerNorm(
        f32(x, 'x'),
        f32(w, 'weight'),
        f32(b, 'bias'),
        f32(y, 'y'),
        f32(mean, 'mean'),
        f32(rstd, 'rstd'),
        rows,
        cols,
        eps,
      ),
    layerNormBackward: (dy, x, w, mean, rstd, dx, dw, db, rows, cols) =>
      addon.layerNormBackward(
        f32(dy, 'dy'),
        f32(x, 'x'),
        f32(w, 'weight'),
        f32(mean, 'mean'),
        f32(rstd, 'rstd'),
        f32(dx, 'dx'),
        f32(dw, 'dweight'),
        f32(db, 'dbias'),
        rows,
        cols,
      ),
    add: (a, b, out, n) => addon.add(f32(a, 'a'), f32(b, 'b'), f32(out, 'out'), n),
    dropout: (x, out, n, seed, threshold, scale) =>
      addon.dropout(f32(x, 'x'), f32(out, 'out'), n, seed, threshold, scale),
    sumRows: (g, rows, cols, dst, beta) => addon.sumRows(f32(g, 'g'), rows, cols, f32(dst, 'dst'), beta),
    copyStrided(src, offset, shape, strides, dst) {
      const dims = new Float64Array(2 + 2 * shape.length);
      dims[0] = offset;
      dims[1] = shape.length;
      dims.set(shape, 2);
      dims.set(strides, 2 + shape.length);
      addon.copyStrided(src, dst, dims);
    },
    gelu: (x, y, n) => addon.gelu(f32(x, 'x'), f32(y, 'y'), n),
    geluBackward: (x, dy, dx, n) => addon.geluBackward(f32(x, 'x'), f32(dy, 'dy'), f32(dx, 'dx'), n),
    crossEntropy: (logits, targets, loss, lse, rows, V, ignoreIndex) =>
      addon.crossEntropy(
        f32(logits, 'logits'),
        targets,
        f32(loss, 'loss'),
        f32(lse, 'lse'),
        rows,
        V,
        ignoreIndex,
      ),
    crossEntropyBackward: (logits, targets, lse, dlogits, rows, V, ignoreIndex, scale) =>
      addon.crossEntropyBackward(
        f32(logits, 'logits'),
        targets,
        f32(lse, 'lse'),
        f32(dlogits, 'dlogits'),
        rows,
        V,
        ignoreIndex,
        scale,
      ),
    attention: (g: AttentionArgs) =>
      addon.attention(
        f32(g.q, 'q'),
        f32(g.k, 'k'),
        f32(g.v, 'v'),
        f32(g.out, 'out'),
        f32(g.lse, 'lse'),
        attnParams(g),
      ),
    attentionBackward: (g: AttentionBackwardArgs) =>
      addon.attentionBackward(
        f32(g.q, 'q'),
        f32(g.k, 'k'),
        f32(g.v, 'v'),
        f32(g.out, 'out'),
        f32(g.lse, 'lse'),
        f32(g.dout, 'dout'),
        f32(g.dq, 'dq'),
        f32(g.dk, 'dk'),
        f32(g.dv, 'dv'),
        attnParams(g),
      ),
    adviseHugePages: (buffer: ArrayBuffer) => addon.adviseHugePages(buffer),
    mapFile: (path: string, offset: number, length: number) => addon.mapFile(path, offset, length),
    adamw(g: AdamWArgs) {
      op[0] = g.n;
      op[1] = g.lr;
      op[2] = g.beta1;
      op[3] = g.beta2;
      op[4] = g.eps;
      op[5] = g.weightDecay;
      op[6] = g.step;
      addon.adamw(g.param, g.grad, g.m, g.v, op);
    },
    packWeights(a: PackArgs) {
      pp[0] = a.rows;
      pp[1] = a.cols;
      pp[2] = a.srcOffset;
      pp[3] = a.srcRowStride;
      pp[4] = a.srcColStride;
      if (a.dst instanceof Int8Array && !a.scales)
        throw new Error('packWeights: an Int8Array dst needs scales');
      addon.packWeights(a.src, a.dst, a.scales ?? NO_SCALES, pp);
    },
    firstNonFinite: (x: Float32Array) => addon.firstNonFinite(x),
    packedLinear(g: PackedLinearArgs) {
      lp[0] = g.M;
      lp[1] = g.N;
      lp[2] = g.K;
      lp[3] = g.xOffset;
      lp[4] = g.xRowStride;
      lp[5] = g.yOffset;
      lp[6] = g.yRowStride;
      lp[7] = g.beta;
      addon.packedLinear(g.x, g.w.data, g.w.scales ?? NO_SCALES, g.y, lp);
    },
  };
}

let loaded: { backend: Backend | null; error: string; addon: NativeAddon | null } | null = null;

/** The addon itself (null if it did not load), for benchmarks that report its SIMD path. */
export function loadNativeAddon(): NativeAddon | null {
  loadNativeBackend();
  return loaded?.addon ?? null;
}

/** The addon file: GPTKIT_NATIVE_ADDON (a path, relative to the working directory) when set, e.g. the sanitizer
 * build of scripts/test-asan.sh; else build/Release/gptkit_native.node in the package root. */
function addonPath(): string {
  const override = process.env.GPTKIT_NATIVE_ADDON;
  if (override) return path.resolve(override);
  // This file runs as dist/src/backend/native/index.js: the package root is four levels up.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
  return path.join(root, 'build', 'Release', 'gptkit_native.node');
}

/** Loads the addon (see addonPath) once; a failure is reported, not thrown. */
export function loadNativeBackend(): { backend: Backend | null; error: string } {
  if (!loaded) {
    const file = addonPath();
    try {
      const require = createRequire(import.meta.url);
      const addon = require(file) as NativeAddon;
      loaded = { backend: createNativeBackend(addon), error: '', addon };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const error = process.env.GPTKIT_NATIVE_ADDON ? `GPTKIT_NATIVE_ADDON=${file}: ${message}` : message;
      loaded = { backend: null, error, addon: null };
    }
  }
  return { backend: loaded.backend, error: loaded.error };
}
