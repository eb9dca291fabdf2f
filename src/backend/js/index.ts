// The `js` backend: plain TypeScript loops for every kernel. It is the specification and the test
// oracle for the native kernels, and the fallback where the addon cannot load. Not tuned for speed.
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
import { bf16ToF32, dropoutRowBase, dropoutUniform, f32ToBf16, fmix32, quantizeRowInt8 } from '../backend.js';

const GELU_C = Math.sqrt(2 / Math.PI);

function gemm(g: GemmArgs): void {
  const { a, b, c, M, N, K } = g;
  for (let bi = 0; bi < g.batch; bi++) {
    const aBase = g.aOffset + bi * g.aBatchStride;
    const bBase = g.bOffset + bi * g.bBatchStride;
    const cBase = g.cOffset + bi * g.cBatchStride;
    for (let i = 0; i < M; i++) {
      const cRow = cBase + i * g.cRowStride;
      if (g.beta === 0) c.fill(0, cRow, cRow + N);
      const aRow = aBase + i * g.aRowStride;
      // i-p-j loop order keeps the inner loop on contiguous rows of B and C when B is row-major.
      for (let p = 0; p < K; p++) {
        const av = g.alpha * a[aRow + p * g.aColStride];
        if (av === 0) continue;
        const bRow = bBase + p * g.bRowStride;
        const bcs = g.bColStride;
        for (let j = 0; j < N; j++) c[cRow + j] += av * b[bRow + j * bcs];
      }
    }
  }
}

function softmax(x: FloatArray, y: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
    // A row that is entirely -inf (fully masked) yields zeros, not NaN.
    if (max === -Infinity) {
      y.fill(0, o, o + cols);
      continue;
    }
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(x[o + j] - max);
      y[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < cols; j++) y[o + j] *= inv;
  }
}

function softmaxBackward(y: FloatArray, dy: FloatArray, dx: FloatArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - dot);
  }
}

function layerNorm(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray,
  y: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
  rows: number,
  cols: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = 0;
    for (let j = 0; j < cols; j++) m += x[o + j];
    m /= cols;
    let v = 0;
    for (let j = 0; j < cols; j++) {
      const d = x[o + j] - m;
      v += d * d;
    }
    v /= cols; // biased variance, as torch.nn.LayerNorm and the book
    const s = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < cols; j++) y[o + j] = (x[o + j] - m) * s * w[j] + b[j];
    mean[r] = m;
    rstd[r] = s;
  }
}

function layerNormBackward(
  dy: FloatArray,
  x: FloatArray,
  w: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
  dx: FloatArray,
  dw: FloatArray,
  db: FloatArray,
  rows: number,
  cols: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const m = mean[r];
    const s = rstd[r];
    // dx = s * (g - mean(g) - xhat * mean(g * xhat)), with g = dy * w (see llm.c layernorm_backward)
    let gMean = 0;
    let gxMean = 0;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[o + j] - m) * s;
      const g = dy[o + j] * w[j];
      gMean += g;
      gxMean += g * xhat;
      dw[j] += dy[o + j] * xhat;
      db[j] += dy[o + j];
    }
    gMean /= cols;
    gxMean /= cols;
    for (let j = 0; j < cols; j++) {
      const xhat = (x[o + j] - m) * s;
      dx[o + j] = s * (dy[o + j] * w[j] - gMean - xhat * gxMean);
    }
  }
}

function add(a: FloatArray, b: FloatArray, out: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

function dropout(
  x: FloatArray,
  out: FloatArray,
  n: number,
  seed: number,
  threshold: number,
  scale: number,
): void {
  // float32 results multiply by the float32 scale, as the native kernel does
  const s = out instanceof Float32Array ? Math.fround(scale) : scale;
  for (let i = 0; i < n; i++) {
    const keep = fmix32((seed + Math.imul(i, 0x9e3779b9)) >>> 0) >>> 8 >= threshold;
    out[i] = x[i] * (keep ? s : 0);
  }
}

function sumRows(g: FloatArray, rows: number, cols: number, dst: FloatArray, beta: 0 | 1): void {
  if (!beta) dst.fill(0, 0, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) dst[j] += g[o + j];
  }
}

function gelu(x: FloatArray, y: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    y[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v * v * v)));
  }
}

function geluBackward(x: FloatArray, dy: FloatArray, dx: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    const t = Math.tanh(GELU_C * (v + 0.044715 * v * v * v));
    const dt = (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * v * v);
    dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * dt);
  }
}

function crossEntropy(
  logits: FloatArray,
  targets: Int32Array,
  loss: FloatArray,
  lse: FloatArray,
  rows: number,
  V: number,
  ignoreIndex: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j] - max);
    const l = max + Math.log(sum);
    lse[r] = l;
    const t = targets[r];
    loss[r] = t === ignoreIndex ? 0 : l - logits[o + t];
  }
}

function crossEntropyBackward(
  logits: FloatArray,
  targets: Int32Array,
  lse: FloatArray,
  dlogits: FloatArray,
  rows: number,
  V: number,
  ignoreIndex: number,
  scale: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    const t = targets[r];
    if (t === ignoreIndex) {
      dlogits.fill(0, o, o + V);
      continue;
    }
    const l = lse[r];
    for (let j = 0; j < V; j++) dlogits[o + j] = scale * Math.exp(logits[o + j] - l);
    dlogits[o + t] -= scale;
  }
}

function attention(g: AttentionArgs): void {
  const { BH, Tq, Tk, D, qStart, scale, q, k, v, out, lse } = g;
  const kvStride = g.kvHeadStride ?? Tk * D;
  const p = g.dropoutP ?? 0;
  const keepScale = p > 0 ? 1 / (1 - p) : 1;
  const scores = new Float64Array(Tk);
  for (let h = 0; h < BH; h++) {
    for (let i = 0; i < Tq; i++) {
      const qo = (h * Tq + i) * D;
      const last = qStart + i; // keys 0..last are visible
      const rowBase = p > 0 ? dropoutRowBase(g.dropoutSeed ?? 0, h, last) : 0;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        const ko = h * kvStride + j * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
        s *= scale;
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      lse[h * Tq + i] = max + Math.log(sum);
      out.fill(0, qo, qo + D);
      for (let j = 0; j <= last; j++) {
        let w = scores[j] / sum;
        if (p > 0) w = dropoutUniform(rowBase, j) < p ? 0 : w * keepScale;
        const vo = h * kvStride + j * D;
        for (let d = 0; d < D; d++) out[qo + d] += w * v[vo + d];
      }
    }
  }
}

function attentionBackward(g: AttentionBackwardArgs): void {
  const { BH, Tq, Tk, D, qStart, scale, q, k, v, out, lse, dout, dq, dk, dv } = g;
  if ((g.kvHeadStride ?? Tk * D) !== Tk * D) throw new Error('attentionBackward: k and v must be contiguous');
  const drop = g.dropoutP ?? 0;
  const keepScale = drop > 0 ? 1 / (1 - drop) : 1;
  dq.fill(0, 0, BH * Tq * D);
  dk.fill(0, 0, BH * Tk * D);
  dv.fill(0, 0, BH * Tk * D);
  for (let h = 0; h < BH; h++) {
    for (let i = 0; i < Tq; i++) {
      const qo = (h * Tq + i) * D;
      const last = qStart + i;
      const l = lse[h * Tq + i];
      const rowBase = drop > 0 ? dropoutRowBase(g.dropoutSeed ?? 0, h, last) : 0;
      // delta = rowsum(dout * out) = sum_j P_ij dP_ij, also with dropout (FlashAttention-2's D_i)
      let delta = 0;
      for (let d = 0; d < D; d++) delta += dout[qo + d] * out[qo + d];
      for (let j = 0; j <= last; j++) {
        const ko = (h * Tk + j) * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qo + d] * k[ko + d];
        const p = Math.exp(s * scale - l);
        // Z: the dropout mask scaled by 1/(1-p); the forward used weight p * Z.
        const z = drop > 0 ? (dropoutUniform(rowBase, j) < drop ? 0 : keepScale) : 1;
        let dvdot = 0;
        for (let d = 0; d < D; d++) {
          dv[ko + d] += p * z * dout[qo + d];
          dvdot += dout[qo + d] * v[ko + d];
        }
        const ds = p * (dvdot * z - delta) * scale;
        for (let d = 0; d < D; d++) {
          dq[qo + d] += ds * k[ko + d];
          dk[ko + d] += ds * q[qo + d];
        }
      }
    }
  }
}

function adamw(a: AdamWArgs): void {
  const { param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step } = a;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const stepSize = lr / bc1;
  const bc2Sqrt = Math.sqrt(bc2);
  const decay = 1 - lr * weightDecay;
  for (let i = 0; i < n; i++) {
    const gi = grad[i];
    const mi = (m[i] = beta1 * m[i] + (1 - beta1) * gi);
    const vi = (v[i] = beta2 * v[i] + (1 - beta2) * gi * gi);
    // Same order of operations as torch.optim.AdamW (single-tensor path): decay, then the Adam step.
    param[i] = param[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
  }
}

function packWeights(a: PackArgs): void {
  const { rows, cols, src, srcOffset, srcRowStride: rs, srcColStride: cs, dst } = a;
  for (let i = 0; i < rows; i++) {
    const o = srcOffset + i * rs;
    if (dst instanceof Int8Array) {
      if (!a.scales) throw new Error('packWeights: an Int8Array dst needs scales');
      a.scales[i] = quantizeRowInt8(src, o, cs, cols, dst, i * cols);
    } else if (dst instanceof Uint16Array) {
      for (let j = 0; j < cols; j++) dst[i * cols + j] = f32ToBf16(src[o + j * cs]);
    } else {
      for (let j = 0; j < cols; j++) dst[i * cols + j] = src[o + j * cs];
    }
  }
}

/** y = x @ W^T with W dequantized to the f32 weights it stands for, summed in float64 (the oracle). */
function packedLinear(g: PackedLinearArgs): void {
  const { M, N, K, x, y, w } = g;
  const row = new Float64Array(K);
  for (let j = 0; j < N; j++) {
    if (w.dtype === 'bf16') for (let p = 0; p < K; p++) row[p] = bf16ToF32(w.data[j * K + p]);
    else for (let p = 0; p < K; p++) row[p] = w.data[j * K + p] * w.scales![j];
    for (let i = 0; i < M; i++) {
      const xo = g.xOffset + i * g.xRowStride;
      let s = 0;
      for (let p = 0; p < K; p++) s += x[xo + p] * row[p];
      const yo = g.yOffset + i * g.yRowStride + j;
      y[yo] = g.beta ? y[yo] + s : s;
    }
  }
}

function firstNonFinite(x: Float32Array): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return i;
  return -1;
}

export const jsBackend: Backend = {
  name: 'js',
  threads: () => 1,
  setThreads: () => {},
  gemm,
  softmax,
  softmaxBackward,
  layerNorm,
  layerNormBackward,
  add,
  dropout,
  sumRows,
  gelu,
  geluBackward,
  crossEntropy,
  crossEntropyBackward,
  attentionDropout: true,
  attention,
  attentionBackward,
  adamw,
  packWeights,
  packedLinear,
  firstNonFinite,
};
