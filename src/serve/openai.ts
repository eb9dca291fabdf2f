// The OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions, as the `openai`
// client, llama.cpp's server and Ollama's compatibility layer agree on. Unknown fields are ignored.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { chatPrompt, type ChatMessage, type ChatTemplate } from './chat.js';
import { ApiError, type Engine, type StartedGeneration } from './engine.js';
import { cancelOnDisconnect, collectText, sendEventStream, textEvents } from './stream.js';
import type { TextResult } from './text.js';

const nullable = (type: string | string[], extra: Record<string, unknown> = {}) => ({
  type: [...(Array.isArray(type) ? type : [type]), 'null'],
  ...extra,
});

/** Fields both generation endpoints accept. */
const SAMPLING_FIELDS = {
  model: { type: 'string' },
  max_tokens: nullable('integer', { minimum: 0 }),
  temperature: nullable('number', { minimum: 0, maximum: 2 }),
  top_p: nullable('number', { exclusiveMinimum: 0, maximum: 1 }),
  top_k: nullable('integer', { minimum: 0 }),
  seed: nullable('integer'),
  stop: {
    anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 16 }, { type: 'null' }],
  },
  stream: nullable('boolean'),
  stream_options: nullable('object', { properties: { include_usage: { type: 'boolean' } } }),
  n: nullable('integer'),
} as const;

interface SamplingBody {
  model?: string;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  n?: number | null;
}

interface CompletionBody extends SamplingBody {
  prompt: string | string[];
}

interface ChatBody extends SamplingBody {
  messages: { role: string; content: string | { type: string; text?: string }[] | null }[];
}

function startFrom(engine: Engine, prompt: string, body: SamplingBody, maxTokensField: string) {
  if (body.n !== undefined && body.n !== null && body.n !== 1)
    throw new ApiError(400, `n must be 1: gptkit returns one choice per request (got ${body.n})`, 'n');
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  return engine.start(prompt, {
    maxTokens: body.max_tokens ?? body.max_completion_tokens ?? undefined,
    temperature: body.temperature ?? 1, // OpenAI's default
    topK: body.top_k ?? undefined,
    topP: body.top_p ?? undefined,
    seed: body.seed ?? undefined,
    stop,
    fields: { maxTokens: maxTokensField, prompt: maxTokensField === 'max_tokens' ? 'prompt' : 'messages' },
  });
}

const usage = (started: StartedGeneration, r: TextResult) => ({
  prompt_tokens: started.promptTokens,
  completion_tokens: r.completionTokens,
  total_tokens: started.promptTokens + r.completionTokens,
});

const sse = (event: unknown) => `data: ${JSON.stringify(event)}\n\n`;
const SSE_DONE = 'data: [DONE]\n\n';

export function registerOpenAIRoutes(
  app: FastifyInstance,
  engine: Engine,
  template: ChatTemplate | undefined,
  created: number,
  extraModels: string[],
): void {
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [engine.modelId, ...extraModels].map((id) => ({
      id,
      object: 'model',
      created,
      owned_by: 'gptkit',
    })),
  }));

  app.post<{ Body: CompletionBody }>(
    '/v1/completions',
    {
      schema: {
        body: {
          type: 'object',
          required: ['prompt'],
          properties: {
            ...SAMPLING_FIELDS,
            prompt: {
              anyOf: [
                { type: 'string' },
                { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 1 },
              ],
            },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const prompt = typeof body.prompt === 'string' ? body.prompt : body.prompt[0];
      const started = startFrom(engine, prompt, body, 'max_tokens');
      cancelOnDisconnect(reply, started);
      const base = {
        id: `cmpl-${randomUUID()}`,
        object: 'text_completion',
        created: now(),
        model: engine.modelId,
      };
      const withUsage = body.stream_options?.include_usage === true;
      if (!body.stream) {
        const r = await collectText(engine, started);
        return {
          ...base,
          choices: [{ index: 0, text: r.text, logprobs: null, finish_reason: r.finishReason }],
          usage: usage(started, r),
        };
      }
      const choice = (text: string, finish: string | null) => ({
        ...base,
        choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
        ...(withUsage ? { usage: null } : {}),
      });
      const events = textEvents(
        engine,
        started,
        {
          piece: (text) => choice(text, null),
          end: (r) => [
            choice('', r.finishReason),
            ...(withUsage ? [{ ...base, choices: [], usage: usage(started, r) }] : []),
            SSE_DONE,
          ],
        },
        (e) => (e === SSE_DONE ? SSE_DONE : sse(e)),
      );
      return sendEventStream(reply, 'text/event-stream; charset=utf-8', events);
    },
  );

  app.post<{ Body: ChatBody }>(
    '/v1/chat/completions',
    {
      schema: {
        body: {
          type: 'object',
          required: ['messages'],
          properties: {
            ...SAMPLING_FIELDS,
            max_completion_tokens: nullable('integer', { minimum: 0 }),
            messages: {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                required: ['role'],
                properties: {
                  role: { type: 'string' },
                  content: {
                    anyOf: [
                      { type: 'string' },
                      { type: 'array', items: { type: 'object', properties: { text: { type: 'string' } } } },
                      { type: 'null' },
                    ],
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const prompt = promptOfMessages(body.messages, template);
      const field =
        body.max_completion_tokens != null && body.max_tokens == null
          ? 'max_completion_tokens'
          : 'max_tokens';
      const started = startFrom(engine, prompt, body, field);
      cancelOnDisconnect(reply, started);
      const base = {
        id: `chatcmpl-${randomUUID()}`,
        object: 'chat.completion',
        created: now(),
        model: engine.modelId,
      };
      const withUsage = body.stream_options?.include_usage === true;
      if (!body.stream) {
        const r = await collectText(engine, started);
        return {
          ...base,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: r.text },
              logprobs: null,
              finish_reason: r.finishReason,
            },
          ],
          usage: usage(started, r),
        };
      }
      const chunk = (delta: Record<string, string>, finish: string | null) => ({
        ...base,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...(withUsage ? { usage: null } : {}),
      });
      const events = textEvents(
        engine,
        started,
        {
          first: () => [chunk({ role: 'assistant', content: '' }, null)],
          piece: (content) => chunk({ content }, null),
          end: (r) => [
            chunk({}, r.finishReason),
            ...(withUsage
              ? [{ ...base, object: 'chat.completion.chunk', choices: [], usage: usage(started, r) }]
              : []),
            SSE_DONE,
          ],
        },
        (e) => (e === SSE_DONE ? SSE_DONE : sse(e)),
      );
      return sendEventStream(reply, 'text/event-stream; charset=utf-8', events);
    },
  );
}

const now = () => Math.floor(Date.now() / 1000);

/** Message contents may be strings or lists of parts ({type: 'text', text}); only text is read. */
export function promptOfMessages(
  messages: { role: string; content: string | { type: string; text?: string }[] | null }[],
  template: ChatTemplate | undefined,
): string {
  const plain: ChatMessage[] = messages.map((m) => ({
    role: m.role,
    content:
      typeof m.content === 'string'
        ? m.content
        : (m.content ?? []).map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join(''),
  }));
  try {
    return chatPrompt(plain, template);
  } catch (err) {
    throw new ApiError(400, (err as Error).message, 'messages');
  }
}
