// Tests for hub.ts against a local HTTP server that mimics the hub: HEAD metadata with X-Linked-* on a redirect
// to a "CDN", Range support, and switchable faults (a dropped connection, a flipped byte, ignored ranges).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadModel, hubFileUrl, modelCacheDir, resolveModelRef, type RetryInfo } from './hub.js';

// Compiled to dist/src/io/, so the repo root (with test/fixtures) is three levels up.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const sourceDir = join(repoRoot, 'test', 'fixtures', 'gpt2-tiny', 'model');

interface Faults {
  /** Destroy the socket after this many body bytes on the first CDN GET. */
  dropAfter?: number;
  /** Flip one byte in every CDN body. */
  corrupt?: boolean;
  /** Answer 200 with the whole file even when a Range is asked for. */
  ignoreRange?: boolean;
  /** Use a relative Location for the CDN redirect. */
  relativeRedirect?: boolean;
  /** Answer the first N CDN GETs with 503. */
  unavailable?: number;
}

class FakeHub {
  server: Server;
  files = new Map<string, Buffer>();
  log: string[] = [];
  faults: Faults = {};
  cdnGets = 0;
  url = '';

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }
  async start(): Promise<void> {
    for (const f of ['config.json', 'model.safetensors'])
      this.files.set(f, await readFile(join(sourceDir, f)));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
  reset(faults: Faults = {}): void {
    this.faults = faults;
    this.log = [];
    this.cdnGets = 0;
  }
  count(prefix: string): number {
    return this.log.filter((l) => l.startsWith(prefix)).length;
  }
  sha256(file: string): string {
    return createHash('sha256').update(this.files.get(file)!).digest('hex');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url!, this.url).pathname;
    this.log.push(`${req.method} ${path}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    const hub = /^\/openai-community\/(gpt2(?:-medium|-large|-xl)?)\/resolve\/main\/(.+)$/.exec(path);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (hub && hub[2] === 'config.json') {
      // Small files: served directly; ETag is the git blob id (not a sha256), as on the hub.
      const body = this.files.get('config.json')!;
      const gitSha1 = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
      res.writeHead(200, { ETag: `"${gitSha1}"`, 'Content-Length': body.length, 'X-Repo-Commit': 'abc123' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } else if (hub && hub[2] === 'model.safetensors') {
      // LFS files: a redirect to the CDN carrying the LFS metadata.
      const sha = this.sha256('model.safetensors');
      const location = this.faults.relativeRedirect ? `/cdn/${sha}` : `${this.url}/cdn/${sha}`;
      res.writeHead(302, {
        Location: location,
        'X-Linked-Size': this.files.get('model.safetensors')!.length,
        'X-Linked-Etag': `"${sha}"`,
        ETag: '"0123456789abcdef0123456789abcdef01234567"',
        'X-Repo-Commit': 'abc123',
        'Content-Length': 0,
      });
      res.end();
    } else if (cdn && cdn[1] === this.sha256('model.safetensors')) {
      this.serveCdn(req, res, this.files.get('model.safetensors')!);
    } else {
      res.writeHead(404, { 'Content-Length': 0 });
      res.end();
    }
  }

  private serveCdn(req: IncomingMessage, res: ServerResponse, file: Buffer): void {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m && !this.faults.ignoreRange ? Number(m[1]) : 0;
    let body = file.subarray(start);
    if (this.faults.corrupt) {
      body = Buffer.from(body);
      body[Math.floor(body.length / 2)]! ^= 0x01;
    }
    const first = this.cdnGets++ === 0;
    if (this.cdnGets <= (this.faults.unavailable ?? 0)) {
      res.writeHead(503, { 'Content-Length': 0 });
      return void res.end();
    }
    const headers = { 'Content-Length': body.length, 'Accept-Ranges': 'bytes' };
    const range = `bytes ${start}-${file.length - 1}/${file.length}`;
    res.writeHead(start > 0 ? 206 : 200, start > 0 ? { ...headers, 'Content-Range': range } : headers);
    if (first && this.faults.dropAfter !== undefined) {
      res.write(body.subarray(0, this.faults.dropAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }
}

const hub = new FakeHub();
let work = '';
before(async () => {
  await hub.start();
  work = await mkdtemp(join(tmpdir(), 'gptkit-hub-'));
  process.env.GPTKIT_CACHE = join(work, 'cache'); // never touch the user's real cache
});
after(async () => {
  await hub.stop();
  await rm(work, { recursive: true, force: true });
});

const fast = { retryDelayMs: 10, timeoutMs: 5000 };
let dirCount = 0;
const freshDir = (): string => join(work, `d${dirCount++}`);

async function assertSameAsSource(dir: string): Promise<void> {
  for (const f of ['config.json', 'model.safetensors']) {
    assert.ok((await readFile(join(dir, f))).equals(hub.files.get(f)!), `${f} differs from the source`);
  }
  const leftovers = (await readdir(dir)).filter((n) => n.includes('.incomplete') || n.includes('.tmp-'));
  assert.deepEqual(leftovers, []);
}

test('a fresh download matches the source files and reports progress', async () => {
  hub.reset();
  const dir = freshDir();
  const progress: Array<[number, number | undefined, string]> = [];
  const res = await downloadModel('gpt2', {
    ...fast,
    dir,
    endpoint: hub.url,
    onProgress: (r, t, f) => progress.push([r, t, f]),
  });
  await assertSameAsSource(dir);
  assert.equal(res.dir, dir);
  assert.deepEqual(res.files.map((f) => [f.file, f.fromCache]), [['config.json', false], ['model.safetensors', false]]); // prettier-ignore
  assert.equal(res.files[1]!.sha256, hub.sha256('model.safetensors'));
  const size = hub.files.get('model.safetensors')!.length;
  assert.deepEqual(progress.at(-1), [size, size, 'model.safetensors']);
  assert.equal(hub.count('GET /cdn/'), 1);
  assert.equal(hub.count('HEAD /cdn/'), 0, 'the metadata HEAD must not follow the CDN redirect');
});

test('an interrupted transfer resumes with Range and verifies', async () => {
  hub.reset({ dropAfter: 3_000_000 });
  const dir = freshDir();
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  await assertSameAsSource(dir);
  const gets = hub.log.filter((l) => l.startsWith('GET /cdn/'));
  assert.equal(gets.length, 2);
  assert.match(gets[1]!, /bytes=\d+-$/);
  const resumedAt = Number(/bytes=(\d+)-/.exec(gets[1]!)![1]);
  assert.ok(resumedAt > 0 && resumedAt <= 3_000_000, `resumed at ${resumedAt}`);
});

test('a partial file left by an earlier run is resumed, following a relative redirect', async () => {
  hub.reset({ relativeRedirect: true });
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'model.safetensors.incomplete'),
    hub.files.get('model.safetensors')!.subarray(0, 5_000_000),
  );
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  await assertSameAsSource(dir);
  assert.deepEqual(hub.log.filter((l) => l.startsWith('GET /cdn/')), [`GET /cdn/${hub.sha256('model.safetensors')} bytes=5000000-`]); // prettier-ignore
});

test('a server that ignores Range makes the client start over from byte 0', async () => {
  hub.reset({ ignoreRange: true });
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.safetensors.incomplete'), Buffer.alloc(1000, 7)); // junk: must be discarded
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  await assertSameAsSource(dir);
  assert.equal(hub.count('GET /cdn/'), 1);
});

test('a stale partial (another version of the file) fails verification once, then downloads cleanly', async () => {
  hub.reset();
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.safetensors.incomplete'), Buffer.alloc(1000, 7));
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  await assertSameAsSource(dir);
  assert.deepEqual(
    hub.log.filter((l) => l.startsWith('GET /cdn/')).map((l) => l.split(' ')[2]),
    ['bytes=1000-', undefined],
  );
});

test('server errors (503) are retried with backoff', async () => {
  hub.reset({ unavailable: 2 });
  const dir = freshDir();
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  await assertSameAsSource(dir);
  assert.equal(hub.count('GET /cdn/'), 3);
  hub.reset({ unavailable: 10 });
  await assert.rejects(
    downloadModel('gpt2', { ...fast, dir: freshDir(), endpoint: hub.url, retries: 2 }),
    /downloading model\.safetensors from http:\/\/127\.0\.0\.1:\d+\/openai-community\/gpt2\/resolve\/main\/model\.safetensors failed after 3 attempts; last error: model\.safetensors: server answered 503/,
  );
});

test('a corrupted transfer is a sha256 mismatch error and leaves no file behind', async () => {
  hub.reset({ corrupt: true });
  const dir = freshDir();
  const want = hub.sha256('model.safetensors');
  await assert.rejects(
    downloadModel('gpt2', { ...fast, dir, endpoint: hub.url }),
    new RegExp(`^Error: sha256 mismatch for model\\.safetensors: expected ${want}, got [0-9a-f]{64}`),
  );
  const names = await readdir(dir);
  assert.ok(
    !names.includes('model.safetensors') && !names.includes('model.safetensors.incomplete'),
    names.join(),
  );
});

test('a second download of verified files is instant: HEADs only, no GET', async () => {
  hub.reset();
  const dir = freshDir();
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  hub.reset();
  const t = performance.now();
  const res = await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  assert.ok(performance.now() - t < 1000);
  assert.ok(res.files.every((f) => f.fromCache));
  assert.equal(hub.count('GET'), 0, hub.log.join('\n'));
  assert.equal(hub.count('HEAD'), 2);

  // Offline (nothing listening) the verified files are still used; an empty directory is a clear error.
  const closed = 'http://127.0.0.1:9'; // discard port: connection refused
  assert.ok(
    (await downloadModel('gpt2', { ...fast, dir, endpoint: closed })).files.every((f) => f.fromCache),
  );
  assert.ok((await downloadModel('gpt2', { ...fast, dir, offline: true })).files.every((f) => f.fromCache));
  await assert.rejects(
    downloadModel('gpt2', { ...fast, dir: freshDir(), endpoint: closed, retries: 0 }),
    /cannot reach http:\/\/127\.0\.0\.1:9 to download config\.json .*no verified copy/,
  );
});

test('a file changed on disk after verification is downloaded again', async () => {
  hub.reset();
  const dir = freshDir();
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  await writeFile(join(dir, 'model.safetensors'), 'tampered');
  hub.reset();
  await downloadModel('gpt2', { ...fast, dir, endpoint: hub.url });
  await assertSameAsSource(dir);
  assert.equal(hub.count('GET /cdn/'), 1);
});

test('an unknown model name is a clear error listing the known ones', async () => {
  await assert.rejects(
    downloadModel('gpt3', { dir: freshDir(), endpoint: hub.url }),
    /unknown model 'gpt3': known models are gpt2, gpt2-medium, gpt2-large, gpt2-xl/,
  );
});

test('HF_ENDPOINT is honoured, and the default directory is the cache', async () => {
  hub.reset();
  const saved = process.env.HF_ENDPOINT;
  process.env.HF_ENDPOINT = `${hub.url}/`;
  try {
    assert.equal(
      hubFileUrl('gpt2-xl', 'config.json'),
      `${hub.url}/openai-community/gpt2-xl/resolve/main/config.json`,
    );
    const res = await downloadModel('gpt2-medium', fast);
    assert.equal(res.dir, modelCacheDir('gpt2-medium'));
    assert.equal(res.dir, join(work, 'cache', 'models', 'gpt2-medium'));
    await assertSameAsSource(res.dir);
    assert.equal(hub.count('HEAD /openai-community/gpt2-medium/resolve/main/'), 2);
  } finally {
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
  }
});

test('resolveModelRef: directories as-is, downloaded names from the cache, clear errors otherwise', async () => {
  const asDir = await resolveModelRef(sourceDir);
  assert.equal(asDir.weightsPath, join(sourceDir, 'model.safetensors'));
  assert.equal(asDir.name, undefined);

  hub.reset();
  await downloadModel('gpt2-large', { ...fast, endpoint: hub.url });
  const byName = await resolveModelRef('gpt2-large');
  assert.equal(byName.dir, join(work, 'cache', 'models', 'gpt2-large'));
  assert.equal(byName.name, 'gpt2-large');
  assert.equal(byName.configPath, join(byName.dir, 'config.json'));

  await assert.rejects(
    resolveModelRef('gpt2-xl'),
    /model 'gpt2-xl' is not downloaded .*run `gptkit download gpt2-xl`/,
  );
  await assert.rejects(
    resolveModelRef('llama'),
    /unknown model 'llama': give a directory .* or one of gpt2, gpt2-medium/,
  );
  await assert.rejects(resolveModelRef('./no/such/dir'), /model directory '.\/no\/such\/dir' does not exist/);
  const empty = freshDir();
  await mkdir(empty);
  await writeFile(join(empty, 'config.json'), '{}');
  await assert.rejects(resolveModelRef(empty), /model directory .* has no model\.safetensors/);
});

// --- Servers that misbehave in ways node:http will not: raw sockets, so a body can end early without a
// Content-Length (the connection close is the end), or stall with the socket left open.

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}
type RawHandler = (req: RawRequest, socket: Socket) => void;

/** A one-request-per-connection HTTP/1.1 server on 127.0.0.1 whose handler writes the raw response. */
async function rawServer(handler: RawHandler): Promise<{ url: string; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d: Buffer) => {
      if (buf.includes('\r\n\r\n')) return;
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [line, ...rest] = buf.slice(0, end).split('\r\n');
      const [method, target] = line!.split(' ');
      const headers: Record<string, string> = {};
      for (const h of rest) {
        const i = h.indexOf(':');
        headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
      }
      handler({ method: method!, path: new URL(target!, 'http://x').pathname, headers }, socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const head = (status: string, headers: Record<string, string | number>): string =>
  `HTTP/1.1 ${status}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`; // prettier-ignore

/** Serve `files[name]` for every repo's resolve/main/<name>: no Content-Length, no ETag, only the first `cut` bytes. */
function unsizedHandler(files: Record<string, Buffer>, cut: Record<string, number> = {}): RawHandler {
  return (req, socket) => {
    const name = /\/resolve\/main\/(.+)$/.exec(req.path)?.[1] ?? '';
    const body = files[name];
    if (!body) return void socket.end(head('404 Not Found', { 'Content-Length': 0 }));
    socket.write(head('200 OK', { 'Content-Type': 'application/octet-stream' }));
    if (req.method === 'HEAD') return void socket.end();
    socket.end(body.subarray(0, cut[name] ?? body.length)); // the close ends the body: a cut is undetectable
  };
}

async function assertNothingCached(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  assert.deepEqual(
    names.filter((n) => n.startsWith('model.safetensors')),
    [],
    names.join(),
  );
}

test('without size or hash from the server, a truncated model.safetensors is an error and is not cached', async () => {
  const weights = hub.files.get('model.safetensors')!;
  const files = { 'config.json': hub.files.get('config.json')!, 'model.safetensors': weights };
  const srv = await rawServer(unsizedHandler(files, { 'model.safetensors': weights.length - 1000 }));
  try {
    const dir = freshDir();
    const url = `${srv.url}/openai-community/gpt2/resolve/main/model.safetensors`;
    await assert.rejects(downloadModel('gpt2', { ...fast, dir, endpoint: srv.url }), (err: Error) => {
      assert.ok(err.message.startsWith(`${url}: `), err.message);
      assert.match(
        err.message,
        /is not a valid safetensors file: .*but the file has only \d+ data bytes; nothing was saved$/,
      );
      assert.doesNotMatch(err.message, /\.incomplete/);
      return true;
    });
    await assertNothingCached(dir);
    // The same server sending the whole file is fine: validation passes, the file is recorded.
    const whole = await rawServer(unsizedHandler(files));
    try {
      const res = await downloadModel('gpt2', { ...fast, dir, endpoint: whole.url });
      await assertSameAsSource(dir);
      // config.json (whole and valid) was kept from the first run; only the weights are fetched now.
      assert.deepEqual(
        res.files.map((f) => f.fromCache),
        [true, false],
      );
      const again = await downloadModel('gpt2', { ...fast, dir, endpoint: whole.url });
      assert.deepEqual(
        again.files.map((f) => f.fromCache),
        [true, true],
      );
    } finally {
      await whole.stop();
    }
  } finally {
    await srv.stop();
  }
});

test('without size or hash, a truncated config.json is an error naming the URL and is not cached', async () => {
  const config = hub.files.get('config.json')!;
  const srv = await rawServer(unsizedHandler({ 'config.json': config }, { 'config.json': 20 }));
  try {
    const dir = freshDir();
    await assert.rejects(
      downloadModel('gpt2', { ...fast, dir, endpoint: srv.url }),
      new RegExp(
        `^Error: ${srv.url}/openai-community/gpt2/resolve/main/config\\.json: the downloaded config\\.json is not valid JSON \\(.+\\); nothing was saved$`,
      ),
    );
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await srv.stop();
  }
});

test('a cached copy that only a size or etag vouched for is checked again, and replaced if invalid', async () => {
  // What an earlier version recorded from a server without sha256: a cut-off config.json with a sidecar.
  const config = hub.files.get('config.json')!;
  const dir = freshDir();
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'config.json');
  await writeFile(path, config.subarray(0, 20));
  const { mtimeMs } = await stat(path);
  const sidecar = {
    url: 'x',
    size: 20,
    sha256: createHash('sha256').update(config.subarray(0, 20)).digest('hex'),
  };
  await writeFile(`${path}.meta.json`, JSON.stringify({ ...sidecar, etag: null, commit: null, mtimeMs }));
  const files = { 'config.json': config, 'model.safetensors': hub.files.get('model.safetensors')! };
  const srv = await rawServer(unsizedHandler(files));
  try {
    const res = await downloadModel('gpt2', { ...fast, dir, endpoint: srv.url });
    assert.deepEqual(res.files.map((f) => f.fromCache), [false, false]); // prettier-ignore
    await assertSameAsSource(dir);
  } finally {
    await srv.stop();
  }
});

test('a server answering HTML with 200 for every path is an error, not a download', async () => {
  const page = Buffer.from('<!DOCTYPE html>\n<html><body>Welcome to the mirror</body></html>\n');
  const srv = await rawServer((req, socket) => {
    socket.write(
      head('200 OK', { 'Content-Type': 'text/html', 'Content-Length': page.length, ETag: '"page-1"' }),
    );
    socket.end(req.method === 'HEAD' ? '' : page);
  });
  try {
    const dir = freshDir();
    await assert.rejects(
      downloadModel('gpt2', { ...fast, dir, endpoint: srv.url }),
      new RegExp(`^Error: ${srv.url}/openai-community/gpt2/resolve/main/config\\.json: .*HTML`),
    );
    assert.deepEqual(await readdir(dir), []);
    // With a valid config, the HTML stands in for the weights: refused too.
    const config = hub.files.get('config.json')!;
    const mixed = await rawServer((req, socket) => {
      if (req.path.endsWith('/config.json')) return unsizedHandler({ 'config.json': config })(req, socket);
      socket.write(head('200 OK', { 'Content-Type': 'text/html', 'Content-Length': page.length }));
      socket.end(req.method === 'HEAD' ? '' : page);
    });
    try {
      await assert.rejects(
        downloadModel('gpt2', { ...fast, dir, endpoint: mixed.url }),
        new RegExp(`^Error: ${mixed.url}/openai-community/gpt2/resolve/main/model\\.safetensors: .*HTML`),
      );
      await assertNothingCached(dir);
    } finally {
      await mixed.stop();
    }
  } finally {
    await srv.stop();
  }
});

test('HF_ENDPOINT that is not a URL is named in the error', async () => {
  const saved = process.env.HF_ENDPOINT;
  const want = "HF_ENDPOINT 'not-a-url' is not a valid URL (expected e.g. https://huggingface.co)";
  process.env.HF_ENDPOINT = 'not-a-url';
  try {
    assert.throws(() => hubFileUrl('gpt2', 'config.json'), { message: want });
    const dir = freshDir();
    await assert.rejects(downloadModel('gpt2', { ...fast, dir }), { message: want });
    assert.deepEqual(await readdir(dir).catch(() => 'absent'), 'absent', 'nothing is created');
    process.env.HF_ENDPOINT = 'ftp://example.org';
    await assert.rejects(downloadModel('gpt2', { ...fast, dir: freshDir() }), /HF_ENDPOINT 'ftp:\/\/example\.org' is not a valid URL/); // prettier-ignore
  } finally {
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
  }
});

test('a download that stalls mid-body reports each retry and ends naming URL, attempts and reason', async () => {
  const weights = hub.files.get('model.safetensors')!;
  const srv = await rawServer((req, socket) => {
    if (req.path.endsWith('/config.json')) {
      const config = hub.files.get('config.json')!;
      socket.write(head('200 OK', { 'Content-Length': config.length }));
      return void socket.end(req.method === 'HEAD' ? '' : config);
    }
    socket.write(head('200 OK', { 'Content-Length': weights.length, 'Accept-Ranges': 'bytes' }));
    if (req.method === 'HEAD') return void socket.end();
    socket.write(weights.subarray(0, 1000)); // ... and then nothing, with the connection left open
  });
  try {
    const retries: RetryInfo[] = [];
    const url = `${srv.url}/openai-community/gpt2/resolve/main/model.safetensors`;
    const t = performance.now();
    await assert.rejects(
      downloadModel('gpt2', {
        dir: freshDir(),
        endpoint: srv.url,
        retries: 2,
        retryDelayMs: 10,
        timeoutMs: 150,
        onRetry: (info) => retries.push(info),
      }),
      (err: Error) => {
        assert.equal(
          err.message,
          `downloading model.safetensors from ${url} failed after 3 attempts; last error: ` +
            `model.safetensors: no data from ${new URL(srv.url).host} for 150 ms`,
        );
        return true;
      },
    );
    assert.ok(performance.now() - t < 3000);
    assert.deepEqual(
      retries.map((r) => [r.file, r.url, r.attempt, r.attempts, r.delayMs]),
      [
        ['model.safetensors', url, 1, 3, 10],
        ['model.safetensors', url, 2, 3, 20],
      ],
    );
    for (const r of retries) assert.match(r.reason, /no data from 127\.0\.0\.1:\d+ for 150 ms/);
  } finally {
    await srv.stop();
  }
});

// --- The command line: `gptkit download` prints retries and the endpoint error (spawned, so async).

const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
async function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, GPTKIT_CACHE: join(work, 'cli-cache'), ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, stdout, stderr };
}

test('gptkit download prints each retry and its reason to stderr', async () => {
  hub.reset({ dropAfter: 3_000_000 }); // one dropped connection: one retry after the default 1 s backoff
  const dir = freshDir();
  const r = await runCli(['download', 'gpt2', '--dir', dir], { HF_ENDPOINT: hub.url });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^model\.safetensors: attempt 1 of 6 failed \(connection lost after \d+ bytes \(aborted\)\); retrying in 1 s$/m,
  );
  await assertSameAsSource(dir);
});

test('gptkit download with a bad HF_ENDPOINT says so', async () => {
  const r = await runCli(['download', 'gpt2', '--dir', freshDir()], { HF_ENDPOINT: 'not-a-url' });
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    "gptkit: HF_ENDPOINT 'not-a-url' is not a valid URL (expected e.g. https://huggingface.co)\n",
  );
});
