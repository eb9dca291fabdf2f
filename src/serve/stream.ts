// Sending a generation over HTTP, shared by the OpenAI and Ollama routes: whole replies, or a stream of
// events (SSE or NDJSON) that ends the generation as soon as the client goes away.
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { Engine, StartedGeneration } from './engine.js';
import { generationText, type TextResult } from './text.js';

/** A disconnected client frees its decoding slot at once, whether it was streaming or waiting. */
export function cancelOnDisconnect(reply: FastifyReply, started: StartedGeneration): void {
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) started.generation.cancel();
  });
}

/** The whole text of a generation. */
export async function collectText(
  engine: Engine,
  started: StartedGeneration,
): Promise<{ text: string; firstTokenAt: number } & TextResult> {
  const pieces = generationText(started.generation, engine.tokenizer, started.stop);
  let text = '';
  let firstTokenAt = 0;
  for (;;) {
    const r = await pieces.next();
    if (r.done) return { text, firstTokenAt, ...r.value };
    firstTokenAt ||= performance.now();
    text += r.value;
  }
}

/** Send already formatted messages as a streamed reply; Fastify ends (destroys) it if the client leaves. */
export function sendEventStream(
  reply: FastifyReply,
  contentType: string,
  events: AsyncGenerator<string>,
): FastifyReply {
  reply.header('content-type', contentType);
  reply.header('cache-control', 'no-cache');
  reply.header('x-accel-buffering', 'no'); // proxies: do not buffer the stream
  return reply.send(Readable.from(events, { objectMode: false }));
}

/**
 * A generation as formatted messages: first() before any text, piece(text) for each piece, end(result)
 * after the last; format turns each event into the bytes of one message (SSE's "data: ...\n\n" or an
 * NDJSON line).
 */
export async function* textEvents(
  engine: Engine,
  started: StartedGeneration,
  on: {
    first?: () => unknown[];
    piece: (text: string) => unknown;
    end: (result: TextResult) => unknown[];
  },
  format: (event: unknown) => string,
): AsyncGenerator<string> {
  for (const e of on.first?.() ?? []) yield format(e);
  const pieces = generationText(started.generation, engine.tokenizer, started.stop);
  try {
    for (;;) {
      const r = await pieces.next();
      if (r.done) {
        for (const e of on.end(r.value)) yield format(e);
        return;
      }
      yield format(on.piece(r.value));
    }
  } finally {
    started.generation.cancel(); // no-op when it finished; frees the slot when the stream was destroyed
  }
}
