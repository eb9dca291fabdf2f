// One resumable, verified file download into a cache directory, the way huggingface_hub does it: HEAD for the
// expected size and sha256, GET into `<file>.incomplete` with Range resume, verify, rename. Not a mirror or a lock.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic, writeFully } from './atomic.js';
import { NetworkError, request, type Response } from './http.js';

export type ProgressCallback = (received: number, total: number | undefined, file: string) => void;

/** One failed attempt that will be retried after `delayMs`. */
export interface RetryInfo {
  file: string;
  url: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** Attempts allowed in all (retries + 1). */
  attempts: number;
  delayMs: number;
  /** Why the attempt failed (the error's message). */
  reason: string;
}
export type RetryCallback = (info: RetryInfo) => void;

/**
 * Checks that a downloaded file is what it claims to be; throws with the reason if not. Used when the server
 * gives no sha256, so a size match (or no size at all) proves nothing about the content.
 */
export type ContentValidator = (path: string) => Promise<void>;

export interface FileDownloadOptions {
  onProgress?: ProgressCallback;
  /** Called before each retry's backoff, with the reason of the failed attempt. */
  onRetry?: RetryCallback;
  /** Run on the complete download (and on a cached copy) when the server gives no sha256 to check against. */
  validate?: ContentValidator;
  /** Skip the HEAD request and use only what is already verified on disk. */
  offline?: boolean;
  /** Attempts after the first, on connection errors and 5xx answers. Default 5. */
  retries?: number;
  /** First backoff delay; doubles each retry. Default 1000 ms. */
  retryDelayMs?: number;
  /** Idle timeout for HEAD and GET. Default 30 s. */
  timeoutMs?: number;
}

export interface FileResult {
  file: string;
  path: string;
  size: number;
  sha256: string;
  /** True when no bytes were downloaded: the verified local copy was used. */
  fromCache: boolean;
}

/** Written beside a file after it was verified; lets a later run trust it without re-hashing. */
interface Sidecar {
  url: string;
  size: number;
  sha256: string;
  etag: string | null;
  commit: string | null;
  mtimeMs: number;
}

interface RemoteInfo {
  size: number | undefined;
  etag: string | null;
  /** The LFS object id when the etag is one (64 hex chars), else null. */
  sha256: string | null;
  commit: string | null;
}

const header = (res: Response, name: string): string | undefined => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** huggingface_hub's metadata rule: prefer X-Linked-* (LFS, on the CDN redirect), fall back to ETag/Content-Length. */
async function fetchRemoteInfo(url: string, timeoutMs: number): Promise<RemoteInfo> {
  const res = await request(url, { method: 'HEAD', timeoutMs, relativeOnly: true });
  res.body.resume();
  if (res.status === 404) throw new Error(`not found on the hub: ${url}`);
  if (res.status === 401 || res.status === 403)
    throw new Error(`access denied (${res.status}) by the hub: ${url}`);
  if (res.status >= 500) throw new NetworkError(`${url}: server error ${res.status}`, `HTTP${res.status}`);
  if (res.status >= 400) throw new Error(`${url}: HTTP ${res.status}`);
  const rawEtag = header(res, 'x-linked-etag') ?? header(res, 'etag');
  const etag = rawEtag ? rawEtag.replace(/^W\//, '').replace(/"/g, '') : null;
  const rawSize =
    header(res, 'x-linked-size') ?? (res.status < 300 ? header(res, 'content-length') : undefined);
  const size = rawSize !== undefined && /^\d+$/.test(rawSize) ? Number(rawSize) : undefined;
  const sha256 = etag && /^[0-9a-f]{64}$/i.test(etag) ? etag.toLowerCase() : null;
  return { size, etag, sha256, commit: header(res, 'x-repo-commit') ?? null };
}

async function hashFile(path: string, hash: Hash = createHash('sha256')): Promise<Hash> {
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash;
}

async function readSidecar(path: string): Promise<Sidecar | null> {
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as Partial<Sidecar>;
    return typeof s.size === 'number' && typeof s.sha256 === 'string' && typeof s.mtimeMs === 'number'
      ? (s as Sidecar)
      : null;
  } catch {
    return null;
  }
}

async function writeSidecar(path: string, s: Sidecar): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(s, null, 2) + '\n');
}

/**
 * The sidecar of `final` if the file is still the one that was verified: same size and mtime, or (if only the
 * mtime moved, e.g. after a plain copy) same sha256 on re-hashing. Null when there is no trusted copy.
 */
export async function verifiedLocal(final: string): Promise<Sidecar | null> {
  const metaPath = `${final}.meta.json`;
  const meta = await readSidecar(metaPath);
  if (!meta) return null;
  const st = await stat(final).catch(() => null);
  if (!st || st.size !== meta.size) return null;
  if (st.mtimeMs === meta.mtimeMs) return meta;
  if ((await hashFile(final)).digest('hex') !== meta.sha256) return null;
  const updated = { ...meta, mtimeMs: st.mtimeMs };
  await writeSidecar(metaPath, updated);
  return updated;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `validate` on `path`, turning its failure into an error that names the URL, with a hint when it is HTML. */
async function checkContent(
  url: string,
  file: string,
  path: string,
  validate: ContentValidator,
): Promise<Error | null> {
  try {
    await validate(path);
    return null;
  } catch (err) {
    const reason = (err as Error).message.replaceAll(`${path}: `, '');
    const fh = await open(path, 'r');
    let start = '';
    try {
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(256), 0, 256, 0);
      start = buffer.subarray(0, bytesRead).toString('utf8').trimStart().toLowerCase();
    } finally {
      await fh.close();
    }
    const html = /^<(!doctype html|html|head|body)\b/.test(start);
    const hint = html ? ' (the server sent an HTML page: is the endpoint a Hugging Face hub or mirror?)' : '';
    return new Error(`${url}: the downloaded ${file} is ${reason}${hint}; nothing was saved`, {
      cause: err,
    });
  }
}

function isRetryable(err: unknown): boolean {
  if (err instanceof NetworkError) return true;
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT' || code === 'ECONNABORTED';
}

/** Download `url` to `dir/file`, resuming `dir/file.incomplete`, verifying size and sha256 before the rename. */
export async function downloadFile(
  url: string,
  dir: string,
  file: string,
  options: FileDownloadOptions = {},
): Promise<FileResult> {
  const final = join(dir, file);
  const partial = `${final}.incomplete`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const local = await verifiedLocal(final);
  const cached = (m: Sidecar): FileResult => ({
    file,
    path: final,
    size: m.size,
    sha256: m.sha256,
    fromCache: true,
  });

  let remote: RemoteInfo;
  if (options.offline) {
    if (local) return cached(local);
    throw new Error(`offline and ${final} is not downloaded and verified`);
  }
  try {
    remote = await fetchRemoteInfo(url, timeoutMs);
  } catch (err) {
    if (!(err instanceof NetworkError)) throw err;
    if (local) return cached(local); // offline, but what we have was verified
    throw new Error(
      `cannot reach ${new URL(url).origin} to download ${file} (${err.message}), and ${dir} has no verified copy`,
    );
  }
  const sameAsRemote = (m: Sidecar): boolean =>
    (remote.size === undefined || m.size === remote.size) &&
    (m.etag === remote.etag || (remote.sha256 !== null && m.sha256 === remote.sha256));
  // Without a sha256, a matching size and etag do not prove the content (e.g. a copy cached before validation).
  if (
    local &&
    sameAsRemote(local) &&
    (remote.sha256 || !options.validate || !(await checkContent(url, file, final, options.validate)))
  ) {
    return cached(local);
  }

  // A complete file without a sidecar (crash between rename and sidecar write): trust it if the hashes agree.
  if (!local && remote.sha256) {
    const st = await stat(final).catch(() => null);
    if (st && st.size === remote.size && (await hashFile(final)).digest('hex') === remote.sha256) {
      const meta = {
        url,
        size: st.size,
        sha256: remote.sha256,
        etag: remote.etag,
        commit: remote.commit,
        mtimeMs: st.mtimeMs,
      };
      await writeSidecar(`${final}.meta.json`, meta);
      return cached(meta);
    }
  }

  const retries = options.retries ?? 5;
  const delay0 = options.retryDelayMs ?? 1000;
  // The sha256 of the first `hashed` bytes of `partial`, carried across retries so a resume does not re-hash.
  const state: HashState = { hash: createHash('sha256'), hashed: 0 };
  let restartedAfterMismatch = false;
  for (let attempt = 0; ; attempt++) {
    try {
      const have = (await stat(partial).catch(() => null))?.size ?? 0;
      if (have !== state.hashed) {
        state.hash = have > 0 ? await hashFile(partial) : createHash('sha256');
        state.hashed = have;
      }
      const resumedFrom = state.hashed;
      await fetchInto(url, partial, file, remote.size, state, timeoutMs, options.onProgress);

      if (remote.size !== undefined && state.hashed !== remote.size) {
        throw new NetworkError(
          `${file}: connection ended after ${state.hashed} of ${remote.size} bytes`,
          'ETRUNCATED',
        );
      }
      const digest = state.hash.digest('hex');
      state.hash = createHash('sha256');
      state.hashed = -1; // the digest consumed the hash; force a re-hash if we ever loop again
      if (remote.sha256 && digest !== remote.sha256) {
        await rm(partial, { force: true });
        // A stale partial from another version of the file can cause this; one clean restart settles it.
        if (resumedFrom > 0 && !restartedAfterMismatch) {
          restartedAfterMismatch = true;
          attempt--;
          continue;
        }
        throw new Error(
          `sha256 mismatch for ${file}: expected ${remote.sha256}, got ${digest} (download deleted; try again)`,
        );
      }
      if (!remote.sha256 && options.validate) {
        const invalid = await checkContent(url, file, partial, options.validate);
        if (invalid) {
          await rm(partial, { force: true });
          throw invalid;
        }
      }
      await rename(partial, final);
      await fsyncDir(dir);
      const st = await stat(final);
      const meta = {
        url,
        size: st.size,
        sha256: digest,
        etag: remote.etag,
        commit: remote.commit,
        mtimeMs: st.mtimeMs,
      };
      await writeSidecar(`${final}.meta.json`, meta);
      return { file, path: final, size: st.size, sha256: digest, fromCache: false };
    } catch (err) {
      if (!isRetryable(err)) throw err;
      const reason = (err as Error).message;
      if (attempt >= retries) {
        throw new Error(
          `downloading ${file} from ${url} failed after ${attempt + 1} attempts; last error: ${reason}`,
          { cause: err },
        );
      }
      const delayMs = delay0 * 2 ** attempt;
      options.onRetry?.({ file, url, attempt: attempt + 1, attempts: retries + 1, delayMs, reason });
      await sleep(delayMs);
    }
  }
}

interface HashState {
  hash: Hash;
  /** Bytes of the partial file fed to `hash`; updated after every successful write. */
  hashed: number;
}

/** One GET (following redirects) appended to `partial`, keeping `state` in step with the bytes on disk. */
async function fetchInto(
  url: string,
  partial: string,
  file: string,
  expected: number | undefined,
  state: HashState,
  timeoutMs: number,
  onProgress: ProgressCallback | undefined,
): Promise<void> {
  const restart = async (): Promise<void> => {
    await truncate(partial, 0).catch(() => undefined);
    state.hash = createHash('sha256');
    state.hashed = 0;
  };
  if (expected !== undefined && state.hashed === expected) return; // already complete
  if (expected !== undefined && state.hashed > expected) await restart();
  const headers: Record<string, string> = state.hashed > 0 ? { Range: `bytes=${state.hashed}-` } : {};
  const res = await request(url, { method: 'GET', headers, timeoutMs });
  try {
    if (res.status === 416 && state.hashed > 0) {
      // The server says our partial is already as long as the file (or longer): start over to be sure.
      await restart();
      throw new NetworkError(`${file}: server refused the range of a partial download; restarting`, 'ERANGE');
    }
    if (res.status >= 500 || res.status === 429) {
      throw new NetworkError(`${file}: server answered ${res.status}`, `HTTP${res.status}`);
    }
    if (res.status !== 200 && res.status !== 206)
      throw new Error(`downloading ${file}: HTTP ${res.status} from ${res.url}`);
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
    // A 200, or a 206 for some other range, is taken as the whole file from byte 0.
    if (res.status === 200 || !range || Number(range[1]) !== state.hashed) await restart();
    const length = header(res, 'content-length');
    const total = expected ?? (length !== undefined ? state.hashed + Number(length) : undefined);
    const fh = await open(partial, 'a');
    try {
      onProgress?.(state.hashed, total, file);
      try {
        for await (const chunk of res.body) {
          const bytes = chunk as Buffer;
          if (expected !== undefined && state.hashed + bytes.byteLength > expected) {
            throw new Error(`downloading ${file}: server sent more than the expected ${expected} bytes`);
          }
          await writeFully(fh, bytes);
          state.hash.update(bytes);
          state.hashed += bytes.byteLength;
          onProgress?.(state.hashed, total, file);
        }
      } catch (err) {
        // The body stream failing (reset, idle timeout) is a network error; say which file and where.
        const e = err as NodeJS.ErrnoException;
        if (err instanceof NetworkError) throw new NetworkError(`${file}: ${e.message}`, e.code, err);
        if (e.code === 'ECONNRESET' || e.message === 'aborted') {
          throw new NetworkError(
            `${file}: connection lost after ${state.hashed} bytes (${e.message})`,
            e.code,
            err,
          );
        }
        throw err;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  } finally {
    res.body.destroy();
  }
}
