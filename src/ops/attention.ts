// Fused causal self-attention: softmax(mask(q k^T * scale)) v in one kernel, with a memory-efficient
// backward that recomputes attention weights from the saved log-sum-exp instead of storing [T, T].
import { isGradEnabled, record } from '../tensor/autograd.js';
import { globalRng, type Rng } from '../tensor/rng.js';
import { empty, shapeStr, Tensor } from '../tensor/tensor.js';
import { assertFloat, backendFor } from './util.js';
import { flat } from './nn-fused.js';

export interface AttentionOptions {
  /** Default 1 / sqrt(D). */
  scale?: number;
  /** Dropout on the attention weights (training); the mask comes from a hash seeded by rng. */
  dropoutP?: number;
  rng?: Rng;
}

/** Elements between heads when t (B, H, T, D) has contiguous rows and evenly spaced heads; else null. */
function headStride(t: Tensor): number | null {
  const [B, H, T, D] = t.shape;
  const [s0, s1, s2, s3] = t.strides;
  const rowsOk = (s3 === 1 || D <= 1) && (s2 === D || T <= 1);
  return rowsOk && (s0 === H * s1 || B <= 1) ? s1 : null;
}

/** Whether the active backend can fuse attention-weight dropout (the js backend always can). */
export function canFuseAttentionDropout(t: Tensor): boolean {
  return backendFor(t).attentionDropout === true;
}

/**
 * q: (B, H, Tq, D), k and v: (B, H, Tk, D) with Tq <= Tk; query i sits at position Tk - Tq + i
 * (so a KV-cache step attends its new queries to all cached keys). Returns (B, H, Tq, D).
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const scale = opts.scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]);
  const dropoutP = opts.dropoutP ?? 0;
  if (!(dropoutP >= 0 && dropoutP < 1))
    throw new Error(`causalAttention: dropoutP must be in [0, 1), got ${dropoutP}`);
  assertFloat('causalAttention', q, k, v);
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    throw new Error(
      `causalAttention: expected 4-d (B, H, T, D) tensors, got ${shapeStr(q.shape)}, ${shapeStr(k.shape)}, ${shapeStr(v.shape)}`,
    );
  }
  const [B, H, Tq, D] = q.shape;
  const Tk = k.shape[2];
  if (
    k.shape[0] !== B ||
    k.shape[1] !== H ||
    k.shape[3] !== D ||
    v.shape.some((d, i) => d !== k.shape[i]) ||
    Tq > Tk
  ) {
    throw new Error(
      `causalAttention: incompatible shapes q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`,
    );
  }
  const bk = backendFor(q);
  if (dropoutP > 0 && !bk.attentionDropout) {
    throw new Error(`causalAttention: the ${bk.name} backend has no fused attention dropout`);
  }
  const dropoutSeed = dropoutP > 0 ? (opts.rng ?? globalRng).nextUint32() : 0;
  const qf = flat(q);
  // Inference over a KV cache: keys and values are read in place from the cache's (B, H, Tmax, D) buffers.
  const needGrad = isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  const ks = headStride(k);
  const inPlace = !needGrad && ks !== null && ks === headStride(v) && ks >= Tk * D;
  const kvLength = (B * H - 1) * (ks ?? 0) + Tk * D;
  const kf = inPlace ? k.data.subarray(k.offset, k.offset + kvLength) : flat(k);
  const vf = inPlace ? v.data.subarray(v.offset, v.offset + kvLength) : flat(v);
  const kvHeadStride = inPlace ? ks : Tk * D;
  const out = empty(q.shape, q.dtype);
  const lse = empty([B * H * Tq], q.dtype);
  const args = {
    BH: B * H,
    Tq,
    Tk,
    D,
    qStart: Tk - Tq,
    scale,
    q: qf,
    k: kf,
    v: vf,
    out: out.data,
    lse: lse.data,
    dropoutP,
    dropoutSeed,
    kvHeadStride,
  } as const;
  bk.attention(args as Parameters<typeof bk.attention>[0]);
  return record(out, 'causalAttention', [q, k, v], (g) => {
    const dq = empty(q.shape, q.dtype);
    const dk = empty(k.shape, k.dtype);
    const dv = empty(v.shape, v.dtype);
    bk.attentionBackward({ ...args, dout: flat(g), dq: dq.data, dk: dk.data, dv: dv.data } as Parameters<
      typeof bk.attentionBackward
    >[0]);
    return [dq, dk, dv];
  });
}
