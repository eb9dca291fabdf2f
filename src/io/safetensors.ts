// The safetensors format (https://github.com/huggingface/safetensors): validated header parsing, streaming loads
// into caller-owned Float32Arrays (F32/F16/BF16), positioned reads of tensor bytes for callers that convert as
// they load (openSafetensors), and atomic streaming F32 saves. No mmap and no big-endian hosts.
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { openAtomicWrite } from './atomic.js';
import { decodeBF16, decodeF16 } from './half.js';

/** Every dtype of the safetensors spec with a whole number of bytes per element. */
// prettier-ignore
export type SafetensorsDtype =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

// prettier-ignore
const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** The dtypes loadSafetensors can decode into float32. */
export const LOADABLE_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16'];

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Product of the shape (1 for a scalar). */
  numel: number;
  /** [begin, end) relative to the start of the data section, as stored in the file. */
  dataOffsets: readonly [number, number];
  byteLength: number;
}

export interface SafetensorsHeader {
  path: string;
  /** N, the JSON header's length in bytes; the data section starts at 8 + N. */
  headerBytes: number;
  dataStart: number;
  dataBytes: number;
  /** In file order (ascending offsets). */
  tensors: readonly TensorInfo[];
  byName: ReadonlyMap<string, TensorInfo>;
  metadata: Readonly<Record<string, string>>;
}

// The reference implementation refuses headers above 100 MB; a larger N means a corrupt or foreign file.
const MAX_HEADER_BYTES = 100_000_000;
const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 2;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * A header value for an error message, cut short. JSON.stringify overflows the stack on values nested a few
 * thousand deep, which JSON.parse accepts: a damaged header must still get its own error, not a RangeError.
 */
function show(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return `a ${Array.isArray(v) ? 'deeply nested array' : typeof v}`;
  }
  if (s === undefined) return String(v); // a missing field
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

function parseTensor(path: string, name: string, raw: unknown, dataBytes: number): TensorInfo {
  const where = `${path}: tensor '${name}'`;
  if (!isObject(raw)) throw new Error(`${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw new Error(`${where}: unknown dtype ${show(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw new Error(`${where}: shape must be an array of non-negative integers, got ${show(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1]) {
    throw new Error(
      `${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${show(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const size = DTYPE_BYTES[dtype as SafetensorsDtype];
  if (!Number.isSafeInteger(numel * size))
    throw new Error(`${where}: shape [${shape.join(', ')}] is too large`);
  if (end - begin !== numel * size) {
    throw new Error(
      `${where}: dtype ${dtype} with shape [${shape.join(', ')}] needs ${numel * size} bytes ` +
        `but data_offsets ${begin}..${end} span ${end - begin}`,
    );
  }
  if (end > dataBytes) {
    throw new Error(`${where} claims bytes ${begin}..${end} but the file has only ${dataBytes} data bytes`);
  }
  return {
    name,
    dtype: dtype as SafetensorsDtype,
    shape: shape as number[],
    numel,
    dataOffsets: [begin, end],
    byteLength: end - begin,
  };
}

/** Validate a header's JSON text; fileSize is the whole file's size. Exported for tests and in-memory use. */
export function parseSafetensorsHeader(path: string, json: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerBytes = json.byteLength;
  const dataStart = 8 + headerBytes;
  const dataBytes = fileSize - dataStart;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (err) {
    throw new Error(`${path}: header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) throw new Error(`${path}: header is not a JSON object`);

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isObject(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        throw new Error(`${path}: __metadata__ must map strings to strings`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    tensors.push(parseTensor(path, name, raw, dataBytes));
  }

  // The spec requires the tensors to tile the data section exactly: no overlaps, no holes, no trailing bytes.
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let covered = 0;
  let prev: TensorInfo | undefined;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (prev && begin < covered) {
      throw new Error(
        `${path}: tensors '${prev.name}' (bytes ${prev.dataOffsets[0]}..${prev.dataOffsets[1]}) ` +
          `and '${t.name}' (bytes ${begin}..${end}) overlap`,
      );
    }
    if (begin > covered) {
      const after = prev ? `after '${prev.name}'` : 'at the start';
      throw new Error(
        `${path}: data bytes ${covered}..${begin} ${after} belong to no tensor (hole before '${t.name}')`,
      );
    }
    covered = end;
    prev = t;
  }
  if (covered !== dataBytes) {
    throw new Error(`${path}: the data section has ${dataBytes} bytes but the tensors cover only ${covered}`);
  }
  return {
    path,
    headerBytes,
    dataStart,
    dataBytes,
    tensors,
    byName: new Map(tensors.map((t) => [t.name, t])),
    metadata,
  };
}

async function readAt(fh: FileHandle, dst: Uint8Array, position: number, what: () => string): Promise<void> {
  let off = 0;
  while (off < dst.byteLength) {
    const { bytesRead } = await fh.read(dst, off, dst.byteLength - off, position + off);
    if (bytesRead === 0) throw new Error(`${what()}: unexpected end of file at byte ${position + off}`);
    off += bytesRead;
  }
}

async function readHeaderFrom(fh: FileHandle, path: string): Promise<SafetensorsHeader> {
  const { size } = await fh.stat();
  if (size < 8) throw new Error(`${path}: file has ${size} bytes, too short for the 8-byte header length`);
  const prefix = new Uint8Array(8);
  await readAt(fh, prefix, 0, () => path);
  const n = new DataView(prefix.buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(
      `${path}: header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`,
    );
  }
  if (8n + n > BigInt(size)) {
    throw new Error(
      `${path}: header claims ${n} bytes but the file has only ${size - 8} after the length (truncated?)`,
    );
  }
  const json = new Uint8Array(Number(n));
  await readAt(fh, json, 8, () => path);
  return parseSafetensorsHeader(path, json, size);
}

/** Read and validate the header of a safetensors file, without reading tensor data. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

/** Return the Float32Array to fill for a tensor (length = info.numel), or null to skip it. */
export type SelectTensor = (name: string, info: TensorInfo) => Float32Array | null | undefined;

export interface LoadOptions {
  /** Size of one positioned read; F16/BF16 use one scratch buffer this big per read in flight. Default 8 MiB. */
  chunkBytes?: number;
  /**
   * Reads in flight (libuv threads). Loading into fresh arrays is bound by first-touch page faults, which
   * parallelise: 2 reads in flight roughly doubled throughput on a 2-core machine (bench/safetensors-load.ts).
   */
  concurrency?: number;
}

export interface LoadResult {
  header: SafetensorsHeader;
  loaded: string[];
  skipped: string[];
  bytesRead: number;
}

interface ReadJob {
  info: TensorInfo;
  dest: Float32Array;
  /** Byte range [off, off + n) within the tensor's data. */
  off: number;
  n: number;
}

/**
 * Stream tensors from `path` straight into caller-owned buffers. `select` is called once per tensor in file
 * order. F32 is read directly into the destination's memory; F16/BF16 go through a scratch chunk per read in
 * flight. Extra memory beyond the destinations: a few chunks.
 */
export async function loadSafetensors(
  path: string,
  select: SelectTensor,
  options: LoadOptions = {},
): Promise<LoadResult> {
  if (endianness() !== 'LE') throw new Error(`${path}: loading safetensors needs a little-endian host`);
  // Multiples of 8 keep every chunk boundary on an element boundary for all loadable dtypes.
  const chunk = Math.max(8, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 8) * 8);
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
  const fh = await open(path, 'r');
  try {
    const header = await readHeaderFrom(fh, path);
    const loaded: string[] = [];
    const skipped: string[] = [];
    let bytesRead = 0;

    // One shared generator hands out chunk reads; select runs lazily, just before its tensor's first read.
    function* jobs(): Generator<ReadJob> {
      for (const info of header.tensors) {
        const dest = select(info.name, info);
        if (!dest) {
          skipped.push(info.name);
          continue;
        }
        const where = `${path}: tensor '${info.name}'`;
        if (!(dest instanceof Float32Array) || dest.length !== info.numel) {
          const got = dest instanceof Float32Array ? `length ${dest.length}` : 'not a Float32Array';
          throw new Error(
            `${where}: destination is ${got}, expected ${info.numel} floats (shape [${info.shape.join(', ')}])`,
          );
        }
        if (!LOADABLE_DTYPES.includes(info.dtype)) {
          throw new Error(
            `${where}: dtype ${info.dtype} cannot be loaded as float32 (loadable: ${LOADABLE_DTYPES.join(', ')})`,
          );
        }
        loaded.push(info.name);
        bytesRead += info.byteLength;
        for (let off = 0; off < info.byteLength; off += chunk) {
          yield { info, dest, off, n: Math.min(chunk, info.byteLength - off) };
        }
      }
    }
    const queue = jobs();
    let failed = false;

    const worker = async (): Promise<void> => {
      let scratch: Uint8Array | undefined;
      while (!failed) {
        const next = queue.next();
        if (next.done) return;
        const { info, dest, off, n } = next.value;
        const position = header.dataStart + info.dataOffsets[0] + off;
        const where = (): string => `${path}: tensor '${info.name}'`;
        if (info.dtype === 'F32') {
          await readAt(fh, new Uint8Array(dest.buffer, dest.byteOffset + off, n), position, where);
        } else {
          // A fresh ArrayBuffer is 8-byte aligned, so the Uint16Array view below is always legal.
          scratch ??= new Uint8Array(new ArrayBuffer(chunk));
          await readAt(fh, scratch.subarray(0, n), position, where);
          const decode = info.dtype === 'F16' ? decodeF16 : decodeBF16;
          decode(new Uint16Array(scratch.buffer, 0, n / 2), dest, off / 2);
        }
      }
    };
    // allSettled, not all: the file handle must outlive every read still in flight when one fails.
    const results = await Promise.allSettled(
      Array.from({ length: concurrency }, () =>
        worker().catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      ),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    return { header, loaded, skipped, bytesRead };
  } finally {
    await fh.close();
  }
}

/** An open safetensors file for callers that place (or convert) each tensor themselves. */
export interface SafetensorsReader {
  header: SafetensorsHeader;
  /**
   * Read bytes [begin, begin + dst.byteLength) of a tensor's data into dst, as positioned reads of
   * options.chunkBytes with options.concurrency of them in flight (default 8 MiB, 2).
   */
  read(info: TensorInfo, dst: Uint8Array, begin?: number): Promise<void>;
  close(): Promise<void>;
}

export async function openSafetensors(path: string, options: LoadOptions = {}): Promise<SafetensorsReader> {
  if (endianness() !== 'LE') throw new Error(`${path}: loading safetensors needs a little-endian host`);
  const chunk = Math.max(8, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 8) * 8);
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
  const fh = await open(path, 'r');
  let header: SafetensorsHeader;
  try {
    header = await readHeaderFrom(fh, path);
  } catch (err) {
    await fh.close();
    throw err;
  }
  const read = async (info: TensorInfo, dst: Uint8Array, begin = 0): Promise<void> => {
    if (begin < 0 || begin + dst.byteLength > info.byteLength)
      throw new Error(
        `${path}: tensor '${info.name}': bytes ${begin}..${begin + dst.byteLength} are outside it`,
      );
    const where = (): string => `${path}: tensor '${info.name}'`;
    const start = header.dataStart + info.dataOffsets[0] + begin;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < dst.byteLength) {
        const off = next;
        next = Math.min(dst.byteLength, off + chunk);
        await readAt(fh, dst.subarray(off, next), start + off, where);
      }
    };
    // allSettled: every read in flight must finish before the caller may reuse dst or close the file.
    const results = await Promise.allSettled(Array.from({ length: concurrency }, worker));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  };
  return { header, read, close: () => fh.close() };
}

export interface NamedTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/** Load every tensor into a fresh Float32Array. Convenient for small files (fixtures, logits). */
export async function readSafetensors(path: string): Promise<Map<string, NamedTensor>> {
  const out = new Map<string, NamedTensor>();
  await loadSafetensors(path, (name, info) => {
    const data = new Float32Array(info.numel);
    out.set(name, { name, shape: info.shape, data });
    return data;
  });
  return out;
}

export interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
}

/**
 * Encode the 8-byte length and the JSON header for tensors laid out back to back in the given order,
 * padded with spaces to a multiple of 8 bytes as the reference writer does (keeps the data section aligned).
 */
export function encodeSafetensorsHeader(
  entries: readonly HeaderEntry[],
  metadata?: Record<string, string>,
): Uint8Array {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata '${k}' must be a string`);
    }
    obj.__metadata__ = metadata;
  }
  let offset = 0;
  for (const e of entries) {
    if (e.name === '__metadata__' || Object.hasOwn(obj, e.name))
      throw new Error(`duplicate or reserved tensor name '${e.name}'`);
    const bytes = e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype];
    obj[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** Write F32 tensors, sorted by name as the reference writer does, atomically and without one big buffer. */
export async function saveSafetensors(
  path: string,
  tensors: readonly NamedTensor[],
  metadata?: Record<string, string>,
): Promise<void> {
  if (endianness() !== 'LE') throw new Error(`${path}: writing safetensors needs a little-endian host`);
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (!(t.data instanceof Float32Array) || t.data.length !== numel) {
      throw new Error(
        `${path}: tensor '${t.name}' has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel}`,
      );
    }
  }
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let header: Uint8Array;
  try {
    header = encodeSafetensorsHeader(
      sorted.map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape })),
      metadata,
    );
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  const out = await openAtomicWrite(path);
  try {
    await out.write(header);
    for (const t of sorted)
      await out.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } catch (err) {
    await out.abort();
    throw err;
  }
  await out.commit();
}
