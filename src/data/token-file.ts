// A binary file of uint16 token ids with a small header, written atomically and read by ranges, so a
// tokenised corpus larger than memory can feed training. Not a general array store: one vocabulary
// of at most 65,536 tokens, little-endian, append-only while writing.
//
// Layout (64-byte header, then the ids):
//   0  magic "GPTKTOK\0"     8  version (u32)      12 vocab size (u32)    16 token count (u64)
//   24 source hash (32 bytes, e.g. sha256 of the corpus fingerprint)   56 bytes per token (u32) = 2
//   60 reserved (u32)        64 ids, uint16 little-endian

import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { SlidingWindowDataset, type TokenSource, type WindowOptions } from './windows.js';

const MAGIC = Buffer.from('GPTKTOK\0', 'latin1');
export const TOKEN_FILE_VERSION = 1;
export const TOKEN_FILE_HEADER_BYTES = 64;
const BYTES_PER_TOKEN = 2;
const WRITE_BUFFER_TOKENS = 1 << 19; // 1 MiB of ids per write

export interface TokenFileHeader {
  version: number;
  vocabSize: number;
  tokenCount: number;
  /** 64 hex characters. */
  sourceHash: string;
}

function encodeHeader(h: TokenFileHeader): Buffer {
  const b = Buffer.alloc(TOKEN_FILE_HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(h.version, 8);
  b.writeUInt32LE(h.vocabSize, 12);
  b.writeBigUInt64LE(BigInt(h.tokenCount), 16);
  Buffer.from(h.sourceHash.padEnd(64, '0').slice(0, 64), 'hex').copy(b, 24);
  b.writeUInt32LE(BYTES_PER_TOKEN, 56);
  return b;
}

/** Reads and checks the header of a token file; errors say which file and what is wrong. */
export function readTokenFileHeader(path: string): TokenFileHeader {
  const fd = openSync(path, 'r');
  try {
    return readHeader(fd, path);
  } finally {
    closeSync(fd);
  }
}

function readHeader(fd: number, path: string): TokenFileHeader {
  const b = Buffer.alloc(TOKEN_FILE_HEADER_BYTES);
  const got = readSync(fd, b, 0, b.length, 0);
  if (got < TOKEN_FILE_HEADER_BYTES || !b.subarray(0, 8).equals(MAGIC)) {
    throw new Error(
      `${path}: not a gptkit token file (bad magic or shorter than the ${TOKEN_FILE_HEADER_BYTES}-byte header)`,
    );
  }
  const version = b.readUInt32LE(8);
  if (version !== TOKEN_FILE_VERSION)
    throw new Error(
      `${path}: token file version ${version}, this gptkit reads version ${TOKEN_FILE_VERSION}`,
    );
  if (b.readUInt32LE(56) !== BYTES_PER_TOKEN)
    throw new Error(`${path}: ${b.readUInt32LE(56)} bytes per token, expected ${BYTES_PER_TOKEN}`);
  const header = {
    version,
    vocabSize: b.readUInt32LE(12),
    tokenCount: Number(b.readBigUInt64LE(16)),
    sourceHash: b.subarray(24, 56).toString('hex'),
  };
  const size = fstatSync(fd).size;
  const expected = TOKEN_FILE_HEADER_BYTES + header.tokenCount * BYTES_PER_TOKEN;
  if (size !== expected) {
    throw new Error(
      `${path}: the header promises ${header.tokenCount} tokens (${expected} bytes) but the file has ${size} bytes; it is truncated or corrupt`,
    );
  }
  return header;
}

/**
 * Writes a token file through a temporary file in the same folder, renamed into place by finish(),
 * so readers never see a half-written file and a crash leaves the old one intact.
 */
export class TokenFileWriter {
  private readonly tmpPath: string;
  private fd: number;
  private readonly buffer = Buffer.alloc(WRITE_BUFFER_TOKENS * BYTES_PER_TOKEN);
  private buffered = 0;
  private count = 0;
  private position = TOKEN_FILE_HEADER_BYTES;

  constructor(
    readonly path: string,
    readonly vocabSize: number,
  ) {
    if (vocabSize > 65536)
      throw new Error(
        `TokenFileWriter: vocabulary of ${vocabSize} tokens does not fit in uint16 token files (at most 65,536)`,
      );
    this.tmpPath = join(
      dirname(path),
      `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
    );
    this.fd = openSync(this.tmpPath, 'w');
  }

  get tokenCount(): number {
    return this.count;
  }

  append(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < this.vocabSize && Number.isInteger(id))) {
        this.abort();
        throw new Error(
          `TokenFileWriter: token id ${id} (token ${this.count} of the file) is outside the vocabulary 0..${this.vocabSize - 1}`,
        );
      }
      this.buffer.writeUInt16LE(id, this.buffered * BYTES_PER_TOKEN);
      this.count++;
      if (++this.buffered === WRITE_BUFFER_TOKENS) this.flushBuffer();
    }
  }

  private flushBuffer(): void {
    let done = 0;
    const bytes = this.buffered * BYTES_PER_TOKEN;
    while (done < bytes) done += writeSync(this.fd, this.buffer, done, bytes - done, this.position + done);
    this.position += bytes;
    this.buffered = 0;
  }

  /** Writes the header, syncs, and renames the file into place. */
  finish(sourceHash: string): TokenFileHeader {
    if (!/^[0-9a-f]{0,64}$/.test(sourceHash)) {
      this.abort();
      throw new Error(
        `TokenFileWriter: sourceHash must be up to 64 lowercase hex characters, got ${JSON.stringify(sourceHash)}`,
      );
    }
    this.flushBuffer();
    const header = {
      version: TOKEN_FILE_VERSION,
      vocabSize: this.vocabSize,
      tokenCount: this.count,
      sourceHash,
    };
    writeSync(this.fd, encodeHeader(header), 0, TOKEN_FILE_HEADER_BYTES, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    renameSync(this.tmpPath, this.path);
    return header;
  }

  /** Closes and deletes the temporary file (after an error). */
  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.tmpPath, { force: true });
  }
}

/** An open token file: reads any range of ids with one positioned read, never the whole file. */
export class TokenFile implements TokenSource {
  readonly header: TokenFileHeader;
  private fd: number;
  private buffer = Buffer.alloc(0);

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    this.header = readHeader(fd, path);
  }

  static open(path: string): TokenFile {
    const fd = openSync(path, 'r');
    try {
      return new TokenFile(path, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  get length(): number {
    return this.header.tokenCount;
  }

  read(start: number, count: number, out: Int32Array, offset: number): void {
    if (this.fd < 0) throw new Error(`${this.path}: read after close`);
    if (start < 0 || count < 0 || start + count > this.length) {
      throw new Error(
        `${this.path}: tokens ${start}..${start + count} are outside the file's ${this.length} tokens`,
      );
    }
    const bytes = count * BYTES_PER_TOKEN;
    if (this.buffer.length < bytes) this.buffer = Buffer.alloc(bytes);
    let done = 0;
    while (done < bytes) {
      const n = readSync(
        this.fd,
        this.buffer,
        done,
        bytes - done,
        TOKEN_FILE_HEADER_BYTES + start * BYTES_PER_TOKEN + done,
      );
      if (n === 0)
        throw new Error(`${this.path}: unexpected end of file at token ${start + done / BYTES_PER_TOKEN}`);
      done += n;
    }
    for (let k = 0; k < count; k++) out[offset + k] = this.buffer.readUInt16LE(k * BYTES_PER_TOKEN);
  }

  /** Sliding windows over the file's ids (the book's GPTDatasetV1, read from disk). */
  windows(options: WindowOptions): SlidingWindowDataset {
    return new SlidingWindowDataset(this, options);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Writes ids (all in memory) to a token file; for large corpora use TokenFileWriter directly. */
export function writeTokenFile(
  path: string,
  ids: ArrayLike<number>,
  vocabSize: number,
  sourceHash = '',
): TokenFileHeader {
  const w = new TokenFileWriter(path, vocabSize);
  w.append(ids);
  return w.finish(sourceHash);
}
