// Crash-safe file writes: temp file in the same directory, fsync, rename over the target, fsync the directory.
// Not a lock: two writers of the same path race and the last rename wins.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Where a streaming atomic write sends its bytes; `write` always writes the whole chunk. */
export interface AtomicSink {
  write(chunk: Uint8Array | string): Promise<void>;
  /** Bytes written so far. */
  readonly bytesWritten: number;
  /** The temp file's handle, for callers that need positioned writes; the target is untouched until commit. */
  readonly handle: FileHandle;
}

/** An atomic write in progress: bytes go to a temp file until `commit` renames it over the target. */
export interface AtomicWrite extends AtomicSink {
  readonly path: string;
  readonly tempPath: string;
  /** fsync, rename over `path`, fsync the directory. After this the new content survives a power cut. */
  commit(): Promise<void>;
  /** Close and delete the temp file; the target keeps its previous content. Safe to call twice. */
  abort(): Promise<void>;
}

export type AtomicWriter = (sink: AtomicSink) => Promise<void>;

// Larger single writes gain nothing and fs.write caps one call near 2 GiB.
const MAX_WRITE = 64 * 1024 * 1024;

function withPath(path: string, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  if (msg.includes(path)) return err instanceof Error ? err : new Error(msg);
  return new Error(`writing ${path}: ${msg}`, { cause: err });
}

/** Write all of `bytes` at the handle's current position (fs.write may write less than asked). */
export async function writeFully(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) {
    const len = Math.min(bytes.byteLength - off, MAX_WRITE);
    const { bytesWritten } = await handle.write(bytes, off, len, null);
    if (bytesWritten <= 0) throw new Error('write returned 0 bytes');
    off += bytesWritten;
  }
}

/** fsync a directory so a rename inside it is durable. Platforms that cannot open directories skip it. */
export async function fsyncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Windows cannot open or fsync a directory; rename there is already as durable as it gets.
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw err;
  } finally {
    await h?.close();
  }
}

/** Start an atomic write of `path`. The caller must `commit()` or `abort()`. */
export async function openAtomicWrite(path: string): Promise<AtomicWrite> {
  const dir = dirname(path);
  const tempPath = join(dir, `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let handle: FileHandle;
  try {
    // 'wx': never clobber another writer's temp file, however unlikely the name clash.
    handle = await open(tempPath, 'wx', 0o644);
  } catch (err) {
    throw withPath(path, err);
  }
  let written = 0;
  let state: 'open' | 'committed' | 'aborted' = 'open';
  const encoder = new TextEncoder();

  const abort = async (): Promise<void> => {
    if (state !== 'open') return;
    state = 'aborted';
    await handle.close().catch(() => undefined);
    await unlink(tempPath).catch(() => undefined);
  };

  return {
    path,
    tempPath,
    handle,
    get bytesWritten() {
      return written;
    },
    async write(chunk) {
      if (state !== 'open') throw new Error(`writing ${path}: write after ${state}`);
      const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
      try {
        await writeFully(handle, bytes);
      } catch (err) {
        await abort();
        throw withPath(path, err);
      }
      written += bytes.byteLength;
    },
    async commit() {
      if (state !== 'open') throw new Error(`writing ${path}: commit after ${state}`);
      try {
        await handle.sync();
        await handle.close();
        state = 'committed';
        await rename(tempPath, path);
        await fsyncDir(dir);
      } catch (err) {
        state = 'committed'; // the handle is closed either way; clean up by hand
        await handle.close().catch(() => undefined);
        await unlink(tempPath).catch(() => undefined);
        throw withPath(path, err);
      }
    },
    abort,
  };
}

/**
 * Replace `path` with `data` so that readers (and a crash) see either the old file or the new one, never a mix.
 * `data` may be bytes, a string (UTF-8), or a callback that streams into the temp file.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string | AtomicWriter): Promise<void> {
  const out = await openAtomicWrite(path);
  try {
    if (typeof data === 'function') await data(out);
    else await out.write(data);
  } catch (err) {
    await out.abort();
    throw withPath(path, err);
  }
  await out.commit();
}
