// Indexing ops: embedding lookup (scatter-add backward), concat, split, indexSelect.
import { record } from '../tensor/autograd.js';
import { empty, keep, shapeStr, Tensor } from '../tensor/tensor.js';
import { normAxis } from './util.js';
import { assignInto, contiguous, narrow } from './view.js';

function checkIds(op: string, ids: Tensor, limit: number): Int32Array {
  if (ids.dtype !== 'int32')
    throw new Error(`${op}: indices must be int32, got ${ids.dtype} ${shapeStr(ids.shape)}`);
  const c = contiguous(ids);
  const d = (c.data as Int32Array).subarray(c.offset, c.offset + c.size);
  for (let i = 0; i < d.length; i++) {
    if (d[i] < 0 || d[i] >= limit)
      throw new Error(`${op}: index ${d[i]} at position ${i} is out of range [0, ${limit})`);
  }
  return d;
}

/**
 * Rows of weight [V, C] picked by int32 ids [...]: out [..., C]. The backward scatter-adds rows;
 * for a leaf weight it adds straight into weight.grad instead of materialising a dense [V, C] gradient.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.ndim !== 2)
    throw new Error(`embedding: weight must be 2-d [V, C], got ${shapeStr(weight.shape)}`);
  const [V, C] = weight.shape;
  const idx = checkIds('embedding', ids, V);
  const w = contiguous(weight);
  const out = empty([...ids.shape, C], weight.dtype);
  const od = out.data;
  const wd = w.data;
  for (let i = 0; i < idx.length; i++) {
    const src = w.offset + idx[i] * C;
    od.set(wd.subarray(src, src + C), i * C);
  }
  return record(out, 'embedding', [weight], (g) => {
    const gc = contiguous(g);
    const gd = gc.data;
    let dst: Tensor;
    let result: Tensor | null;
    if (!weight.node) {
      weight.grad ??= keep(empty(weight.shape, weight.dtype, true));
      dst = weight.grad;
      result = null;
    } else {
      dst = result = empty(weight.shape, weight.dtype, true);
    }
    const dd = dst.data;
    for (let i = 0; i < idx.length; i++) {
      const row = idx[i] * C;
      const src = gc.offset + i * C;
      for (let j = 0; j < C; j++) dd[row + j] += gd[src + j];
    }
    return [result];
  });
}

/** Join tensors along an existing axis (torch.cat). */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: needs at least one tensor');
  const first = tensors[0];
  const a = normAxis('concat', axis, first.ndim);
  for (const t of tensors) {
    if (
      t.ndim !== first.ndim ||
      t.dtype !== first.dtype ||
      t.shape.some((d, i) => i !== a && d !== first.shape[i])
    ) {
      throw new Error(
        `concat: shapes ${tensors.map((x) => shapeStr(x.shape)).join(', ')} differ outside axis ${a} (or dtypes differ)`,
      );
    }
  }
  const shape = [...first.shape];
  shape[a] = tensors.reduce((s, t) => s + t.shape[a], 0);
  const out = empty(shape, first.dtype);
  let start = 0;
  const starts: number[] = [];
  for (const t of tensors) {
    starts.push(start);
    const view = new Tensor(out.storage, t.shape, out.strides, start * out.strides[a]);
    assignInto(view, t);
    view.dispose();
    start += t.shape[a];
  }
  return record(out, 'concat', tensors, (g) =>
    tensors.map((t, i) => contiguous(narrow(g, a, starts[i], t.shape[a]))),
  );
}

/** Split along axis into pieces of the given sizes (or equal pieces of one size), as views. */
export function split(t: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis('split', axis, t.ndim);
  const n = t.shape[a];
  let parts: number[];
  if (typeof sizes === 'number') {
    if (!(sizes > 0)) throw new Error(`split: size must be positive, got ${sizes}`);
    parts = [];
    for (let s = 0; s < n; s += sizes) parts.push(Math.min(sizes, n - s));
  } else {
    parts = [...sizes];
    if (parts.reduce((p, d) => p + d, 0) !== n) {
      throw new Error(
        `split: sizes ${shapeStr(parts)} do not add up to ${n} (axis ${a} of ${shapeStr(t.shape)})`,
      );
    }
  }
  const out: Tensor[] = [];
  let start = 0;
  for (const len of parts) {
    out.push(narrow(t, a, start, len));
    start += len;
  }
  return out;
}

/** Entries of t along axis at the int32 indices (torch.index_select); backward scatter-adds. */
export function indexSelect(t: Tensor, axis: number, indices: Tensor): Tensor {
  const a = normAxis('indexSelect', axis, t.ndim);
  if (indices.ndim !== 1) throw new Error(`indexSelect: indices must be 1-d, got ${shapeStr(indices.shape)}`);
  const idx = checkIds('indexSelect', indices, t.shape[a]);
  const pieces = Array.from(idx, (i) => narrow(t, a, i, 1));
  const out = concat(pieces.length ? pieces : [narrow(t, a, 0, 0)], a);
  return out;
}
