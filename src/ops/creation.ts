// Tensor constructors: from JS arrays or typed arrays, zeros / ones / full, random (seeded), arange, tril.
import { globalRng, type Rng } from '../tensor/rng.js';
import { empty, fromTypedArray, numel, shapeStr, type DType, type Tensor } from '../tensor/tensor.js';

type Nested = number | Nested[];

function inferShape(v: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as Nested;
  }
  return shape;
}

/** A new tensor from nested JS arrays (copied), like torch.tensor. */
export function tensor(values: Nested, dtype: DType = 'float32'): Tensor {
  const shape = inferShape(values);
  const flatValues = Array.isArray(values) ? ((values as unknown[]).flat(Infinity) as number[]) : [values];
  if (flatValues.length !== numel(shape))
    throw new Error(`tensor: ragged nested array, expected shape ${shapeStr(shape)}`);
  const t = empty(shape, dtype);
  t.data.set(flatValues);
  return t;
}

/** A new tensor with a copy of data in the given shape. */
export function fromArray(
  data: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType = 'float32',
): Tensor {
  if (data.length !== numel(shape)) {
    throw new Error(`fromArray: ${data.length} values do not fill shape ${shapeStr(shape)}`);
  }
  const t = empty(shape, dtype);
  t.data.set(data);
  return t;
}

export { fromTypedArray };

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return empty(shape, dtype, true);
}

export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  const t = empty(shape, dtype);
  t.data.fill(value);
  return t;
}

export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

/** Standard normal samples * std + mean. */
export function randn(
  shape: readonly number[],
  opts: { mean?: number; std?: number; rng?: Rng; dtype?: DType } = {},
): Tensor {
  const t = empty(shape, opts.dtype ?? 'float32');
  const rng = opts.rng ?? globalRng;
  const m = opts.mean ?? 0;
  const s = opts.std ?? 1;
  for (let i = 0; i < t.size; i++) t.data[i] = m + s * rng.normal();
  return t;
}

/** Uniform samples in [low, high). */
export function rand(
  shape: readonly number[],
  opts: { low?: number; high?: number; rng?: Rng; dtype?: DType } = {},
): Tensor {
  const t = empty(shape, opts.dtype ?? 'float32');
  const rng = opts.rng ?? globalRng;
  const lo = opts.low ?? 0;
  const hi = opts.high ?? 1;
  for (let i = 0; i < t.size; i++) t.data[i] = lo + (hi - lo) * rng.uniform();
  return t;
}

export function arange(n: number, dtype: DType = 'int32'): Tensor {
  const t = empty([n], dtype);
  for (let i = 0; i < n; i++) t.data[i] = i;
  return t;
}

/** [n, n] int32 mask with 1 strictly above the diagonal: the causal mask of the book (torch.triu(..., 1)). */
export function causalMask(n: number): Tensor {
  const t = empty([n, n], 'int32');
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t.data[i * n + j] = j > i ? 1 : 0;
  return t;
}
