// Shared helpers for ops: backend choice per dtype, shape checks, broadcasting, axis normalisation.
import { getBackend, jsBackend, type Backend } from '../backend/index.js';
import { shapeStr, type Tensor } from '../tensor/tensor.js';

/** float64 tensors run on the js backend (the only one with float64 kernels). */
export function backendFor(t: Tensor): Backend {
  return t.dtype === 'float64' ? jsBackend : getBackend();
}

export function assertFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype === 'int32')
      throw new Error(`${op}: expected a float tensor, got int32 ${shapeStr(t.shape)}`);
  }
  for (const t of ts) {
    if (t.dtype !== ts[0].dtype) {
      throw new Error(
        `${op}: dtype mismatch ${ts.map((x) => `${x.dtype} ${shapeStr(x.shape)}`).join(' vs ')}`,
      );
    }
  }
}

/** Normalise a possibly negative axis for a tensor of ndim dimensions. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) {
    throw new Error(`${op}: axis ${axis} out of range for a ${ndim}-d tensor`);
  }
  return a;
}

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of t viewed in the (broadcast) shape `shape`: 0 along broadcast dimensions. */
export function broadcastStrides(t: Tensor, shape: readonly number[]): number[] {
  const n = shape.length;
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < t.ndim; i++) {
    const j = n - t.ndim + i;
    out[j] = t.shape[i] === 1 && shape[j] !== 1 ? 0 : t.strides[i];
  }
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
