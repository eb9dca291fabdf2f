// Tensor: a strided view (shape, strides, offset) over reference-counted pooled storage, plus the
// autograd bookkeeping (requiresGrad, grad, the node that produced it). Ops live in src/ops, not here.
import { pool, BYTES, type AnyTypedArray, type DType } from './pool.js';
import type { PackedMatrix } from '../backend/backend.js';

export type { DType } from './pool.js';

/** Backing memory shared by a tensor and its views. Pooled storage returns to the pool at refs = 0. */
export class Storage {
  refs = 0;
  constructor(
    public data: AnyTypedArray,
    readonly pooled: boolean,
    /**
     * Inference weights held as bf16 or int8 (data is then empty): only linear and the embedding lookup
     * read them, through the backend's packed kernels; any other access to `data` throws.
     */
    readonly packed: PackedMatrix | null = null,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0 && this.pooled) {
      pool.release(this.data);
      // Any later access through a stale reference now fails loudly instead of reading reused memory.
      this.data = EMPTY[dtypeOf(this.data)];
    }
  }
}

const EMPTY: Record<DType, AnyTypedArray> = {
  float32: new Float32Array(0),
  float64: new Float64Array(0),
  int32: new Int32Array(0),
};

export function dtypeOf(a: AnyTypedArray): DType {
  return a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : 'int32';
}

/** One recorded op on the tape: its inputs and a closure mapping the output gradient to input gradients. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input, in order; null where an input needs none. */
  backward(gradOutput: Tensor): Array<Tensor | null>;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

// ---- scopes: deterministic release of intermediate tensors -------------------------------------

type Scope = Set<Tensor>;
const scopes: Scope[] = [];

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly size: number;
  private _storage: Storage | null;
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor (same shape, contiguous). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded for autograd. */
  node: GradNode | null = null;
  /** Optional name (parameters carry their state-dict key here, for error messages). */
  name = '';

  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor: invalid shape ${shapeStr(shape)}`);
    }
    this._storage = storage;
    storage.retain();
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = dtypeOf(storage.data);
    this.size = numel(shape);
    const scope = scopes[scopes.length - 1];
    if (scope) scope.add(this);
  }

  get storage(): Storage {
    if (!this._storage) {
      throw new Error(`tensor${this.name ? ` '${this.name}'` : ''} ${shapeStr(this.shape)} was disposed`);
    }
    return this._storage;
  }

  /** The raw backing array (may be larger than the tensor or strided; see isContiguous). */
  get data(): AnyTypedArray {
    const s = this.storage;
    if (s.packed) {
      throw new Error(
        `tensor${this.name ? ` '${this.name}'` : ''} ${shapeStr(this.shape)} holds ${s.packed.dtype} weights for inference: ` +
          'only linear layers and embedding lookups can read it (load the model as f32 for anything else)',
      );
    }
    return s.data;
  }

  /** The bf16 / int8 weights this tensor holds (inference storage), or null for an ordinary tensor. */
  get packed(): PackedMatrix | null {
    return this.storage.packed;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this._storage === null;
  }

  isContiguous(): boolean {
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== s) return false;
      s *= this.shape[i];
    }
    return true;
  }

  /** Release this tensor's hold on its storage; the pool reuses the memory once no view holds it. */
  dispose(): void {
    if (!this._storage) return;
    this._storage.release();
    this._storage = null;
    this.node = null;
    for (const s of scopes) s.delete(this);
  }

  /** The elements as a flat JS array in row-major order. */
  toArray(): number[] {
    const out = new Array<number>(this.size);
    let k = 0;
    forEachIndex(this, (o) => {
      out[k++] = this.data[o];
    });
    return out;
  }

  /** The only element of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new Error(`item(): tensor has ${this.size} elements, shape ${shapeStr(this.shape)}`);
    return this.data[this.offset];
  }

  toString(): string {
    return `Tensor(${this.packed ? this.packed.dtype : this.dtype}, ${shapeStr(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** Visit the storage offset of every element in row-major order. */
export function forEachIndex(t: Tensor, fn: (offset: number) => void): void {
  const nd = t.ndim;
  if (t.size === 0) return;
  if (t.isContiguous()) {
    for (let i = 0; i < t.size; i++) fn(t.offset + i);
    return;
  }
  const idx = new Array<number>(nd).fill(0);
  let o = t.offset;
  for (let n = 0; n < t.size; n++) {
    fn(o);
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      o += t.strides[d];
      if (idx[d] < t.shape[d]) break;
      o -= t.strides[d] * t.shape[d];
      idx[d] = 0;
    }
  }
}

/** A new contiguous tensor on fresh pooled storage (contents arbitrary unless zero). */
export function empty(shape: readonly number[], dtype: DType = 'float32', zero = false): Tensor {
  const n = numel(shape);
  if (n * BYTES[dtype] > 2 ** 53) throw new Error(`empty: shape ${shapeStr(shape)} is too large`);
  return new Tensor(new Storage(pool.acquire(dtype, n, zero), true), shape);
}

/** Wrap an existing typed array (not copied, never returned to the pool) as a contiguous tensor. */
export function fromTypedArray(data: AnyTypedArray, shape: readonly number[]): Tensor {
  if (numel(shape) !== data.length) {
    throw new Error(`fromTypedArray: ${data.length} elements do not fill shape ${shapeStr(shape)}`);
  }
  return new Tensor(new Storage(data, false), shape);
}

/** A (rows, cols) tensor over packed inference weights; computations see the float32 values they stand for. */
export function fromPacked(packed: PackedMatrix): Tensor {
  return new Tensor(new Storage(new Float32Array(0), false, packed), [packed.rows, packed.cols]);
}

/**
 * Run fn, then dispose every tensor created inside it except those it returns (a tensor, or an
 * array / object of tensors) and those passed to keep(). Returned tensors move to the enclosing scope.
 * Use it around a training step or a generation step so memory goes back to the pool deterministically.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const keepers = new Set<Tensor>();
  collectTensors(result, keepers);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keepers.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Exempt a tensor from every enclosing tidy() scope (it lives until disposed by hand or the GC). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out);
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out);
  }
}
