// One prompt in, the judge's reply out: Ollama's /api/chat (streamed NDJSON, exactly what the book's
// `query_model` sends, chapter 7) or any OpenAI-compatible /v1/chat/completions. Retries, timeouts and
// errors a user can act on live here. Not a chat SDK: one user message, no history, tools or images.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { NetworkError } from '../io/http.js';

export const DEFAULT_OLLAMA_URL = 'http://localhost:11434';
/** Default idle timeout: a 70B judge can spend a minute loading before its first byte (the book uses 30 s). */
export const DEFAULT_CHAT_TIMEOUT_MS = 120_000;
export const DEFAULT_CHAT_RETRIES = 3;

export interface ChatRetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  retries: number;
  delayMs: number;
  reason: string;
}

export interface ChatClientOptions {
  /** The judge model, e.g. "llama3" (Ollama) or "gpt-4-turbo" (OpenAI). */
  model: string;
  /** Server URL; the API path (/api/chat, /v1/chat/completions) is added unless the URL already ends with it. */
  url?: string;
  /** Idle timeout: no bytes from the server for this long fails the request (not retried). Default 120 s. */
  timeoutMs?: number;
  /** Retries after a connection reset, a truncated reply or an HTTP 5xx; never after a 4xx. Default 3. */
  retries?: number;
  /** First backoff delay; doubles each retry. Default 1000 ms. */
  retryDelayMs?: number;
  onRetry?: (info: ChatRetryInfo) => void;
}

export interface OllamaChatOptions extends ChatClientOptions {
  /** Ollama's `options` object. Default: the book's judge settings {seed: 123, temperature: 0, num_ctx: 2048}. */
  modelOptions?: Record<string, number>;
}

export interface OpenAIChatOptions extends ChatClientOptions {
  /** Sent as `Authorization: Bearer ...` when given (e.g. from OPENAI_API_KEY). */
  apiKey?: string;
  /** Top-level sampling fields. Default: the book's OpenAI judge settings {temperature: 0, seed: 123}. */
  sampling?: Record<string, number>;
}

/** A judge server: `complete` sends one user message and resolves with the whole reply. */
export interface ChatClient {
  /** For messages: "llama3 on Ollama at http://localhost:11434". */
  readonly description: string;
  complete(prompt: string): Promise<string>;
}

export type ChatErrorKind = 'unreachable' | 'model-missing' | 'timeout' | 'http' | 'protocol';

/** A failure the user must act on (start the server, pull the model, raise the timeout); `message` says how. */
export class ChatError extends Error {
  constructor(
    message: string,
    readonly kind: ChatErrorKind,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChatError';
  }
}

/** The book's Ollama judge options (ch07 `query_model`): deterministic replies. */
export const BOOK_JUDGE_OPTIONS: Readonly<Record<string, number>> = {
  seed: 123,
  temperature: 0,
  num_ctx: 2048,
};

interface Endpoint {
  /** What the user named (shown in messages). */
  base: string;
  /** Where the POST goes. */
  url: URL;
}

function endpoint(url: string, apiPath: string, altSuffix?: [string, string]): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: '${url}' (expected e.g. ${DEFAULT_OLLAMA_URL})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error(`unsupported URL protocol in ${url} (use http:// or https://)`);
  const path = parsed.pathname.replace(/\/+$/, '');
  if (path.endsWith(apiPath)) {
    parsed.pathname = path;
    return { base: url, url: parsed };
  }
  parsed.pathname = altSuffix && path.endsWith(altSuffix[0]) ? path + altSuffix[1] : path + apiPath;
  return { base: url.replace(/\/+$/, ''), url: parsed };
}

/** Our own idle timeout, told apart from the OS's connect ETIMEDOUT (an unreachable host). */
const IDLE_TIMEOUT = 'EIDLETIMEOUT';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** POST a JSON body; resolves at the response headers. `timeoutMs` is a socket idle timeout, body included. */
function postJson(
  url: URL,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<IncomingMessage> {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': String(payload.byteLength),
        'User-Agent': `gptkit/0.1.0; node/${process.versions.node}`,
        ...headers,
      },
    });
    let response: IncomingMessage | undefined;
    req.setTimeout(timeoutMs, () => {
      const err = new NetworkError(`no data for ${timeoutMs / 1000} s`, IDLE_TIMEOUT);
      if (response && !response.complete) response.destroy(err);
      req.destroy(err);
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err instanceof NetworkError ? err : new NetworkError(err.message, err.code, err)),
    );
    req.on('response', (res) => {
      response = res;
      res.setEncoding('utf8'); // a multi-byte character split across chunks decodes whole
      resolve(res);
    });
    req.end(payload);
  });
}

/** Read a whole (small) body; an error reply is text or {"error": ...}. */
async function readText(res: IncomingMessage, limit = 1 << 20): Promise<string> {
  let text = '';
  for await (const chunk of res) {
    if (text.length < limit) text += chunk as string;
  }
  return text;
}

function serverMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    const e = parsed.error;
    if (typeof e === 'string') return e;
    if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string')
      return (e as { message: string }).message;
  } catch {
    // not JSON: show the text
  }
  const oneLine = body.replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine || '(empty body)';
}

const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETRUNCATED']);

function isRetryable(err: unknown): boolean {
  if (!(err instanceof NetworkError) || err.code === undefined) return false;
  return RETRYABLE.has(err.code) || /^HTTP5\d\d$/.test(err.code);
}

interface ServerInfo {
  /** "Ollama" or "the OpenAI-compatible server". */
  name: string;
  base: string;
  model: string;
  /** How to get a server running, for a refused connection. */
  startHint: string;
  timeoutMs: number;
}

/** The attempt loop shared by both servers: backoff on transient failures, then one actionable message. */
async function withRetries<T>(
  server: ServerInfo,
  options: ChatClientOptions,
  attemptOnce: () => Promise<T>,
): Promise<T> {
  const retries = options.retries ?? DEFAULT_CHAT_RETRIES;
  const delay0 = options.retryDelayMs ?? 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptOnce();
    } catch (err) {
      if (isRetryable(err) && attempt < retries) {
        const delayMs = delay0 * 2 ** attempt;
        options.onRetry?.({ attempt: attempt + 1, retries, delayMs, reason: (err as Error).message });
        await sleep(delayMs);
        continue;
      }
      throw explain(err, server, attempt);
    }
  }
}

function explain(err: unknown, server: ServerInfo, retried: number): Error {
  if (!(err instanceof NetworkError)) return err as Error;
  const at = `${server.name} at ${server.base}`;
  const code = err.code ?? '';
  const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'];
  if (unreachable.includes(code))
    return new ChatError(`cannot reach ${at} (${err.message}): ${server.startHint}`, 'unreachable', {
      cause: err,
    });
  if (code === IDLE_TIMEOUT)
    return new ChatError(
      `${at} sent nothing for ${server.timeoutMs / 1000} s while answering with ${server.model}` +
        ' (a large model may still be loading: raise the timeout, --timeout SECONDS)',
      'timeout',
      { cause: err },
    );
  const after = retried > 0 ? ` (gave up after ${retried} ${retried === 1 ? 'retry' : 'retries'})` : '';
  return new ChatError(`${at}: ${err.message}${after}`, code.startsWith('HTTP') ? 'http' : 'unreachable', {
    cause: err,
  });
}

/** Turn a non-2xx status into the error to throw: 5xx retryable, 404 "pull the model", other 4xx final. */
async function statusError(res: IncomingMessage, server: ServerInfo, pullHint: boolean): Promise<Error> {
  const status = res.statusCode ?? 0;
  const msg = serverMessage(await readText(res));
  if (status >= 500) return new NetworkError(`server error ${status}: ${msg}`, `HTTP${status}`);
  const at = `${server.name} at ${server.base}`;
  if (status === 404 && pullHint)
    return new ChatError(
      `${at} has no model "${server.model}" (HTTP 404: ${msg}); fetch it with: ollama pull ${server.model}`,
      'model-missing',
    );
  if (status === 404)
    return new ChatError(
      `${at} answered HTTP 404 (${msg}): check the model name "${server.model}" and the URL`,
      'model-missing',
    );
  return new ChatError(`${at} answered HTTP ${status}: ${msg}`, 'http');
}

/**
 * Ollama's /api/chat, streamed: one JSON object per line, each with a piece of `message.content`, the last
 * with `"done": true`. A stream that ends before `done` counts as a dropped connection (retried).
 */
export function ollamaChat(options: OllamaChatOptions): ChatClient {
  const ep = endpoint(options.url ?? DEFAULT_OLLAMA_URL, '/api/chat');
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHAT_TIMEOUT_MS;
  const modelOptions = options.modelOptions ?? BOOK_JUDGE_OPTIONS;
  const server: ServerInfo = {
    name: 'Ollama',
    base: ep.base,
    model: options.model,
    startHint: `start it with \`ollama serve\` (and fetch the model once with \`ollama pull ${options.model}\`)`,
    timeoutMs,
  };

  const attempt = async (prompt: string): Promise<string> => {
    const body = {
      model: options.model,
      messages: [{ role: 'user', content: prompt }],
      options: modelOptions,
    };
    const res = await postJson(ep.url, body, { Accept: 'application/x-ndjson' }, timeoutMs);
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300)
      throw await statusError(res, server, true);
    let reply = '';
    let pending = '';
    let done = false;
    const takeLine = (line: string): void => {
      if (line.trim() === '') return;
      let obj: { message?: { content?: unknown }; error?: unknown; done?: unknown };
      try {
        obj = JSON.parse(line) as typeof obj;
      } catch {
        throw new ChatError(
          `Ollama at ${ep.base} sent a line that is not JSON: ${line.slice(0, 200)}`,
          'protocol',
        );
      }
      if (obj.error !== undefined)
        throw new ChatError(`Ollama at ${ep.base} reported an error: ${serverMessage(line)}`, 'http');
      if (obj.message && typeof obj.message.content === 'string') reply += obj.message.content;
      if (obj.done === true) done = true;
    };
    try {
      for await (const chunk of res) {
        pending += chunk as string;
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) takeLine(line);
      }
    } catch (err) {
      res.destroy();
      if (err instanceof ChatError || err instanceof NetworkError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new NetworkError(e.message, e.code ?? 'ECONNRESET', err);
    }
    takeLine(pending);
    if (!done) throw new NetworkError('the reply stream ended before "done": true', 'ETRUNCATED');
    return reply;
  };

  return {
    description: `${options.model} on Ollama at ${ep.base}`,
    complete: (prompt) => withRetries(server, options, () => attempt(prompt)),
  };
}

/** The book's OpenAI judge settings (ch07/03_model-evaluation, `run_chatgpt`). */
export const BOOK_OPENAI_SAMPLING: Readonly<Record<string, number>> = { temperature: 0, seed: 123 };

/** Any OpenAI-compatible /v1/chat/completions (vLLM, llama.cpp's server, LM Studio, Ollama's /v1), not streamed. */
export function openAIChat(options: OpenAIChatOptions): ChatClient {
  if (options.url === undefined) throw new Error('openAIChat needs the server URL');
  const ep = endpoint(options.url, '/v1/chat/completions', ['/v1', '/chat/completions']);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHAT_TIMEOUT_MS;
  const server: ServerInfo = {
    name: 'the OpenAI-compatible server',
    base: ep.base,
    model: options.model,
    startHint: 'is the server running, and is the URL right?',
    timeoutMs,
  };
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.apiKey) headers.Authorization = `Bearer ${options.apiKey}`;

  const attempt = async (prompt: string): Promise<string> => {
    const body = {
      model: options.model,
      messages: [{ role: 'user', content: prompt }],
      ...(options.sampling ?? BOOK_OPENAI_SAMPLING),
    };
    const res = await postJson(ep.url, body, headers, timeoutMs);
    if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300)
      throw await statusError(res, server, false);
    let text: string;
    try {
      text = await readText(res, Infinity);
    } catch (err) {
      if (err instanceof NetworkError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new NetworkError(e.message, e.code ?? 'ECONNRESET', err);
    }
    let content: unknown;
    try {
      const parsed = JSON.parse(text) as { choices?: { message?: { content?: unknown } }[] };
      content = parsed.choices?.[0]?.message?.content;
    } catch {
      // reported below
    }
    if (typeof content !== 'string')
      throw new ChatError(
        `${server.name} at ${ep.base} sent no choices[0].message.content: ${serverMessage(text)}`,
        'protocol',
      );
    return content;
  };

  return {
    description: `${options.model} on the OpenAI-compatible server at ${ep.base}`,
    complete: (prompt) => withRetries(server, options, () => attempt(prompt)),
  };
}
