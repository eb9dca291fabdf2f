// Test helper, not library code: a fake Ollama / OpenAI-compatible server on 127.0.0.1 (port 0) that records
// every request and answers as a script says: NDJSON streamed in pieces that split lines (and characters)
// across writes, JSON, an HTTP error, a reset connection, or silence.
import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRootPath } from '../data/paths.js';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when it is not JSON). */
  body: unknown;
  /** The body as sent. */
  raw: string;
}

export type FakeAction =
  /** Ollama's stream: `content` cut into `pieces` message chunks, then a `done` line; written in small slices. */
  | { kind: 'ollama'; content: string; pieces?: number; omitDone?: boolean; errorLine?: string }
  | { kind: 'openai'; content: string }
  | { kind: 'status'; status: number; body: string }
  /** Destroy the socket: before any byte, or after `afterBytes` bytes of an Ollama stream of `content`. */
  | { kind: 'reset'; content?: string; afterBytes?: number }
  /** Send the headers and `afterBytes` bytes of an Ollama stream of `content`, then nothing more. */
  | { kind: 'stall'; content: string; afterBytes: number }
  /** Never answer (until the server closes). */
  | { kind: 'hang' };

export interface FakeJudge {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function ollamaStream(content: string, pieces = 3, model = 'llama3'): string {
  const chars = [...content];
  const size = Math.max(1, Math.ceil(chars.length / pieces));
  const lines: string[] = [];
  for (let i = 0; i < chars.length; i += size) {
    const piece = chars.slice(i, i + size).join('');
    lines.push(
      JSON.stringify({
        model,
        created_at: '2026-12-01T00:00:00Z',
        message: { role: 'assistant', content: piece },
        done: false,
      }),
    );
  }
  lines.push(
    JSON.stringify({
      model,
      created_at: '2026-12-01T00:00:00Z',
      message: { role: 'assistant', content: '' },
      done_reason: 'stop',
      done: true,
    }),
  );
  return lines.join('\n') + '\n';
}

/**
 * Write `bytes` in slices of at most 7 bytes, cut inside every multi-byte UTF-8 character as well, with pauses
 * between them, so that JSON lines and characters straddle the chunks the client reads.
 */
async function writeSliced(res: ServerResponse, bytes: Buffer, limit = bytes.length): Promise<void> {
  res.socket?.setNoDelay(true);
  const cuts: number[] = [];
  for (let off = 0; off < limit; off++) {
    const continuation = (bytes[off] & 0xc0) === 0x80;
    const last = cuts.length ? cuts[cuts.length - 1] : 0;
    // a cut right after a lead byte or between continuation bytes splits the character
    if (off - last >= 7 || (off > 0 && continuation && (bytes[off - 1] & 0xc0) !== 0x80)) cuts.push(off);
  }
  cuts.push(limit);
  let start = 0;
  for (const end of cuts) {
    res.write(bytes.subarray(start, end));
    start = end;
    await delay(2);
  }
}

/** Start the server; `script(request, n)` picks the answer to the n-th request (0-based). */
export async function startFakeJudge(
  script: (req: RecordedRequest, n: number) => FakeAction,
): Promise<FakeJudge> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, raw };
      requests.push(recorded);
      void answer(script(recorded, requests.length - 1), res);
    });
  });
  const answer = async (action: FakeAction, res: ServerResponse): Promise<void> => {
    switch (action.kind) {
      case 'ollama': {
        res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
        let text = ollamaStream(action.content, action.pieces);
        if (action.omitDone) text = text.split('\n').slice(0, -2).join('\n') + '\n';
        if (action.errorLine !== undefined) text = JSON.stringify({ error: action.errorLine }) + '\n';
        await writeSliced(res, Buffer.from(text, 'utf8'));
        res.end();
        return;
      }
      case 'openai': {
        const body = JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          choices: [
            { index: 0, message: { role: 'assistant', content: action.content }, finish_reason: 'stop' },
          ],
        });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
        return;
      }
      case 'status':
        res.writeHead(action.status, { 'Content-Type': 'application/json' });
        res.end(action.body);
        return;
      case 'reset': {
        if (action.afterBytes === undefined) {
          res.socket?.destroy();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
        await writeSliced(res, Buffer.from(ollamaStream(action.content ?? ''), 'utf8'), action.afterBytes);
        await delay(5);
        res.socket?.destroy();
        return;
      }
      case 'stall':
        res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
        await writeSliced(res, Buffer.from(ollamaStream(action.content), 'utf8'), action.afterBytes);
        return;
      case 'hang':
        return;
    }
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL where nothing listens: a port that was just free. */
export async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `gptkit ARGS` from dist as a child, asynchronously: a fake judge in this process must stay able to answer. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const main = join(packageRootPath(), 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
