// Size-classed buffer pool: storage freed by tensors goes back here for reuse instead of to the
// garbage collector, because first-touching fresh pages costs ~15 us per 4 KiB on our machines.
// It is not a general allocator: buffers are whole ArrayBuffers, never split or coalesced.

import { getBackend } from '../backend/index.js';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArrayOf<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : Int32Array;
export type AnyTypedArray = Float32Array | Float64Array | Int32Array;

export const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

/** Fresh buffers of at least this many bytes are offered huge pages (when the backend can advise). */
const HUGE_PAGE_MIN_BYTES = 4 << 20;

/** Buffers smaller than this many elements are not pooled: the GC handles them cheaply. */
const MIN_POOLED = 1024;

/** How many classes above the requested one a free buffer may come from (8 classes: up to 2x the size). */
const REUSE_LARGER_CLASSES = 8;

/** Round up to one of 8 classes per power of two, so reuse wastes at most 12.5% of a buffer. */
export function sizeClass(n: number): number {
  if (n <= MIN_POOLED) return n;
  const exp = Math.floor(Math.log2(n));
  const step = 2 ** Math.max(exp - 3, 0);
  return Math.ceil(n / step) * step;
}

export interface PoolStats {
  /** Buffers created fresh (each one first-touches new memory). */
  allocations: number;
  /** Requests served from the free lists. */
  reuses: number;
  /** Bytes of buffers ever created by the pool. */
  bytesAllocated: number;
  /** Bytes currently sitting in free lists. */
  bytesFree: number;
}

export class BufferPool {
  private free = new Map<string, ArrayBuffer[]>();
  readonly stats: PoolStats = { allocations: 0, reuses: 0, bytesAllocated: 0, bytesFree: 0 };

  /** A typed array of exactly n elements; its contents are arbitrary (previous use) unless zero is set. */
  acquire<D extends DType>(dtype: D, n: number, zero = false): TypedArrayOf<D> {
    if (n < MIN_POOLED) return make(dtype, new ArrayBuffer(n * BYTES[dtype]), n);
    const cls = sizeClass(n);
    let buf = this.take(dtype, cls);
    if (buf) {
      this.stats.reuses++;
      this.stats.bytesFree -= buf.byteLength;
      const arr = make(dtype, buf, n);
      if (zero) arr.fill(0);
      return arr;
    }
    buf = new ArrayBuffer(cls * BYTES[dtype]);
    if (buf.byteLength >= HUGE_PAGE_MIN_BYTES) getBackend().adviseHugePages?.(buf);
    this.stats.allocations++;
    this.stats.bytesAllocated += buf.byteLength;
    return make(dtype, buf, n);
  }

  /**
   * A free buffer of class cls, or else of one of the next classes up to twice its size. Shapes that vary
   * from batch to batch (padded instruction batches: every batch has its own length) then reuse the
   * buffers of longer batches instead of each length growing a free list of its own.
   */
  private take(dtype: DType, cls: number): ArrayBuffer | undefined {
    for (let c = cls, i = 0; i <= REUSE_LARGER_CLASSES; i++, c = sizeClass(c + 1)) {
      const buf = this.free.get(`${dtype}:${c}`)?.pop();
      if (buf) return buf;
    }
    return undefined;
  }

  /** Return an array obtained from acquire; small arrays are left to the GC. */
  release(arr: AnyTypedArray): void {
    const n = arr.length;
    if (n < MIN_POOLED) return;
    const dtype: DType =
      arr instanceof Float32Array ? 'float32' : arr instanceof Float64Array ? 'float64' : 'int32';
    // The buffer's own class: it may be larger than n needs (take() hands out larger buffers).
    const cls = arr.buffer.byteLength / BYTES[dtype];
    if (!(cls >= n && sizeClass(cls) === cls && arr.byteOffset === 0)) return; // not one of ours (e.g. a file-backed view)
    const key = `${dtype}:${cls}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(arr.buffer as ArrayBuffer);
    this.stats.bytesFree += arr.buffer.byteLength;
  }

  /** Drop every free buffer (lets the GC reclaim them), e.g. after loading a model. */
  trim(): void {
    this.free.clear();
    this.stats.bytesFree = 0;
  }
}

function make<D extends DType>(dtype: D, buf: ArrayBuffer, n: number): TypedArrayOf<D> {
  const arr =
    dtype === 'float32'
      ? new Float32Array(buf, 0, n)
      : dtype === 'float64'
        ? new Float64Array(buf, 0, n)
        : new Int32Array(buf, 0, n);
  return arr as TypedArrayOf<D>;
}

export const pool = new BufferPool();
