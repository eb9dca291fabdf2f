// Views share storage with their source (reshape of contiguous data, transpose, permute, narrow,
// expand, unsqueeze, squeeze) and contiguous() copies. Each records a backward that undoes the view.
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { empty, forEachIndex, numel, shapeStr, Tensor } from '../tensor/tensor.js';
import { normAxis, sameShape } from './util.js';

/** Contiguous copy (or t itself when already contiguous and offset-free of gaps). */
export function contiguous(t: Tensor): Tensor {
  if (t.isContiguous()) return t;
  const out = empty(t.shape, t.dtype);
  copyInto(t, out.data, 0);
  return record(out, 'contiguous', [t], (g) => [g]);
}

/** Copy t's elements in row-major order into dst starting at dstOffset. */
export function copyInto(t: Tensor, dst: Tensor['data'], dstOffset: number): void {
  const src = t.data;
  if (t.isContiguous()) {
    dst.set(src.subarray(t.offset, t.offset + t.size), dstOffset);
    return;
  }
  const nd = t.ndim;
  const bk = getBackend();
  if (
    bk.copyStrided &&
    src instanceof Float32Array &&
    dst instanceof Float32Array &&
    nd <= 8 &&
    t.size >= 4096
  ) {
    // A large transpose (attention heads split and merged): one native pass instead of a JS loop per row.
    bk.copyStrided(src, t.offset, t.shape, t.strides, dst.subarray(dstOffset, dstOffset + t.size));
    return;
  }
  // Row-major walk with a tight inner loop over the last dimension.
  const inner = t.shape[nd - 1];
  const is = t.strides[nd - 1];
  const outer = t.size / inner;
  const idx = new Array<number>(nd - 1).fill(0);
  let o = t.offset;
  let k = dstOffset;
  // Rows of at least 16 contiguous elements are block copies (memcpy speed); shorter or strided rows loop.
  const blockRows = is === 1 && inner >= 16;
  for (let r = 0; r < outer; r++) {
    if (blockRows) {
      dst.set(src.subarray(o, o + inner), k);
      k += inner;
    } else for (let j = 0; j < inner; j++) dst[k++] = src[o + j * is];
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      o += t.strides[d];
      if (idx[d] < t.shape[d]) break;
      o -= t.strides[d] * t.shape[d];
      idx[d] = 0;
    }
  }
}

/** Reshape (one dimension may be -1). A view when t is contiguous, else a copy. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const infer = shape.indexOf(-1);
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const newShape = [...shape];
  if (infer >= 0) {
    if (known === 0 || t.size % known !== 0) {
      throw new Error(`reshape: cannot reshape ${shapeStr(t.shape)} into ${shapeStr(shape)}`);
    }
    newShape[infer] = t.size / known;
  }
  if (numel(newShape) !== t.size || newShape.some((d) => d < 0 || !Number.isInteger(d))) {
    throw new Error(
      `reshape: cannot reshape ${shapeStr(t.shape)} (${t.size} elements) into ${shapeStr(shape)}`,
    );
  }
  const src = contiguous(t);
  const out = new Tensor(src.storage, newShape, undefined, src.offset);
  return record(out, 'reshape', [src], (g) => [reshape(g, src.shape)]);
}

/** Swap two dimensions (a strided view, like torch.transpose). */
export function transpose(t: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normAxis('transpose', dim0, t.ndim);
  const b = normAxis('transpose', dim1, t.ndim);
  const perm = [...Array(t.ndim).keys()];
  perm[a] = b;
  perm[b] = a;
  return permute(t, perm);
}

/** Reorder dimensions (a strided view). */
export function permute(t: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== t.ndim || new Set(perm.map((p) => normAxis('permute', p, t.ndim))).size !== t.ndim) {
    throw new Error(
      `permute: ${shapeStr(perm)} is not a permutation of the ${t.ndim} dims of ${shapeStr(t.shape)}`,
    );
  }
  const p = perm.map((x) => normAxis('permute', x, t.ndim));
  const out = new Tensor(
    t.storage,
    p.map((i) => t.shape[i]),
    p.map((i) => t.strides[i]),
    t.offset,
  );
  const inverse = new Array<number>(p.length);
  p.forEach((src, dst) => (inverse[src] = dst));
  return record(out, 'permute', [t], (g) => [permute(g, inverse)]);
}

/** Elements [start, start + length) along axis (a view, like torch.narrow). */
export function narrow(t: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis('narrow', axis, t.ndim);
  if (
    !Number.isInteger(start) ||
    !Number.isInteger(length) ||
    start < 0 ||
    length < 0 ||
    start + length > t.shape[a]
  ) {
    throw new Error(
      `narrow: range [${start}, ${start + length}) out of bounds for axis ${a} of ${shapeStr(t.shape)}`,
    );
  }
  const shape = [...t.shape];
  shape[a] = length;
  const out = new Tensor(t.storage, shape, t.strides, t.offset + start * t.strides[a]);
  return record(out, 'narrow', [t], (g) => {
    const gx = empty(t.shape, g.dtype, true);
    const view = new Tensor(gx.storage, shape, gx.strides, start * gx.strides[a]);
    assignInto(view, g);
    view.dispose();
    return [gx];
  });
}

/** Python-style slice along one axis: t[..., start:end, ...] with negative indices allowed. */
export function slice(t: Tensor, axis: number, start: number, end?: number): Tensor {
  const a = normAxis('slice', axis, t.ndim);
  const n = t.shape[a];
  const s = Math.min(Math.max(start < 0 ? start + n : start, 0), n);
  const e = Math.min(Math.max(end === undefined ? n : end < 0 ? end + n : end, s), n);
  return narrow(t, a, s, e - s);
}

/** Write src's elements into the (possibly strided) view dst, element by element. */
export function assignInto(dst: Tensor, src: Tensor): void {
  if (!sameShape(dst.shape, src.shape)) {
    throw new Error(`assign: shape ${shapeStr(src.shape)} does not match destination ${shapeStr(dst.shape)}`);
  }
  const s = contiguous(src);
  const sd = s.data;
  const dd = dst.data;
  let k = s.offset;
  const nd = dst.ndim - 1;
  const inner = nd >= 0 ? dst.shape[nd] : 1;
  if (nd >= 0 && dst.strides[nd] === 1 && inner >= 8) {
    // Rows of the last dimension are contiguous on both sides (a KV-cache append): copy them whole.
    const idx = new Array<number>(nd).fill(0);
    let o = dst.offset;
    for (let r = dst.size / inner; r > 0; r--) {
      dd.set(sd.subarray(k, k + inner), o);
      k += inner;
      for (let d = nd - 1; d >= 0; d--) {
        o += dst.strides[d];
        if (++idx[d] < dst.shape[d]) break;
        o -= dst.strides[d] * dst.shape[d];
        idx[d] = 0;
      }
    }
  } else {
    forEachIndex(dst, (o) => {
      dd[o] = sd[k++];
    });
  }
  if (s !== src) s.dispose();
}

/** Broadcast size-1 dimensions to `shape` without copying (stride 0), like torch.expand. */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < t.ndim)
    throw new Error(`expand: cannot expand ${shapeStr(t.shape)} to ${shapeStr(shape)}`);
  const lead = shape.length - t.ndim;
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    const sd = t.shape[i - lead];
    if (sd === d) return t.strides[i - lead];
    if (sd === 1) return 0;
    throw new Error(`expand: cannot expand ${shapeStr(t.shape)} to ${shapeStr(shape)}`);
  });
  const out = new Tensor(t.storage, shape, strides, t.offset);
  return record(out, 'expand', [t], (g) => [sumTo(g, t.shape)]);
}

export function unsqueeze(t: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis < 0 ? axis + t.ndim + 1 : axis, t.ndim + 1);
  const shape = [...t.shape];
  shape.splice(a, 0, 1);
  const strides = [...t.strides];
  strides.splice(a, 0, a < t.ndim ? t.strides[a] * t.shape[a] : 1);
  const out = new Tensor(t.storage, shape, strides, t.offset);
  return record(out, 'unsqueeze', [t], (g) => [reshape(g, t.shape)]);
}

export function squeeze(t: Tensor, axis: number): Tensor {
  const a = normAxis('squeeze', axis, t.ndim);
  if (t.shape[a] !== 1)
    throw new Error(`squeeze: axis ${a} of ${shapeStr(t.shape)} has size ${t.shape[a]}, not 1`);
  const shape = t.shape.filter((_, i) => i !== a);
  const strides = t.strides.filter((_, i) => i !== a);
  const out = new Tensor(t.storage, shape, strides, t.offset);
  return record(out, 'squeeze', [t], (g) => [reshape(g, t.shape)]);
}

/**
 * Sum g over the dimensions that broadcasting expanded, so it has `shape` (the reverse of broadcasting).
 * Returns g itself when no reduction is needed.
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new Error(`sumTo: cannot reduce ${shapeStr(g.shape)} to ${shapeStr(shape)}`);
  const out = empty(shape, g.dtype, true);
  const od = out.data;
  const gd = g.data;
  // Output strides in g's index space: 0 where the output is broadcast (summed) or absent.
  const ostr = out.strides;
  const mapped = g.shape.map((d, i) => {
    if (i < lead) return 0;
    const sd = shape[i - lead];
    if (sd === d) return ostr[i - lead];
    if (sd === 1) return 0;
    throw new Error(`sumTo: cannot reduce ${shapeStr(g.shape)} to ${shapeStr(shape)}`);
  });
  const nd = g.ndim;
  const idx = new Array<number>(nd).fill(0);
  let o = 0;
  forEachIndex(g, (go) => {
    od[o] += gd[go];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      o += mapped[d];
      if (idx[d] < g.shape[d]) break;
      o -= mapped[d] * g.shape[d];
      idx[d] = 0;
    }
  });
  return out;
}
