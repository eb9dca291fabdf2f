// Minimal HTTP(S) client on node:http/node:https for hub downloads: one request, redirects, idle timeouts.
// Not a general client: no cookies, no proxies, no body uploads, no decompression (we ask for identity).
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** Socket idle timeout: no bytes for this long aborts the request (also while the body streams). */
  timeoutMs?: number;
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that produced this response (after any redirects followed). */
  url: string;
  body: IncomingMessage;
}

const USER_AGENT = `gptkit/0.1.0; node/${process.versions.node}`;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** An error from the network rather than from the server's answer: worth retrying, or a sign we are offline. */
export class NetworkError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'NetworkError';
    this.code = code;
  }
}

/** Send one request; resolves when the response headers arrive. The caller must consume or destroy `body`. */
export function requestOnce(url: string, options: RequestOptions = {}): Promise<Response> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
  if (!lib) return Promise.reject(new Error(`unsupported URL protocol in ${url}`));
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const req = lib.request(u, {
      method: options.method ?? 'GET',
      // identity: Content-Length and byte ranges must describe the file itself, not a gzip of it.
      headers: { 'User-Agent': USER_AGENT, 'Accept-Encoding': 'identity', ...options.headers },
    });
    let response: IncomingMessage | undefined;
    req.setTimeout(timeoutMs, () => {
      const err = new NetworkError(`no data from ${u.host} for ${timeoutMs} ms`, 'ETIMEDOUT');
      // A stall mid-body: fail the body stream with this reason (else its reader sees only 'aborted').
      if (response && !response.complete) response.destroy(err);
      req.destroy(err);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err instanceof NetworkError ? err : new NetworkError(`${u.host}: ${err.message}`, err.code, err),
      );
    });
    req.on('response', (res) => {
      response = res;
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
    });
    req.end();
  });
}

function redirectTarget(res: Response): string | undefined {
  const loc = res.headers.location;
  if (!REDIRECTS.has(res.status) || !loc) return undefined;
  return new URL(loc, res.url).toString();
}

/**
 * Follow redirects (absolute or relative Location). With `relativeOnly`, stop at a redirect to another origin,
 * as huggingface_hub does for its metadata HEAD (the CDN redirect carries the X-Linked-* headers we want).
 */
export async function request(
  url: string,
  options: RequestOptions & { relativeOnly?: boolean } = {},
): Promise<Response> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await requestOnce(current, options);
    const next = redirectTarget(res);
    if (!next || (options.relativeOnly && new URL(next).origin !== new URL(current).origin)) return res;
    if (options.relativeOnly && res.headers['x-linked-etag']) return res;
    res.body.resume(); // drain the redirect's body so the socket can be reused
    current = next;
  }
  throw new Error(`too many redirects starting at ${url}`);
}
