// The Ollama-compatible routes, so the book's query_model (chapter 7) and the `ollama` client work:
// /api/generate and /api/chat (NDJSON streaming, the default), /api/tags. Errors are {"error": "..."},
// as Ollama sends them.
import type { FastifyInstance } from 'fastify';
import type { ChatTemplate } from './chat.js';
import type { Engine, StartedGeneration } from './engine.js';
import { promptOfMessages } from './openai.js';
import { cancelOnDisconnect, collectText, sendEventStream, textEvents } from './stream.js';
import type { TextResult } from './text.js';

interface OllamaOptions {
  temperature?: number;
  top_k?: number;
  top_p?: number;
  seed?: number;
  num_predict?: number;
  stop?: string[];
}

const OPTIONS_SCHEMA = {
  type: 'object',
  properties: {
    temperature: { type: 'number', minimum: 0 },
    top_k: { type: 'integer', minimum: 0 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    seed: { type: 'integer' },
    num_predict: { type: 'integer', minimum: -2 },
    stop: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** Ollama's defaults when an option is absent (its Modelfile defaults). */
const OLLAMA_DEFAULTS = { temperature: 0.8, top_k: 40, top_p: 0.9 };

function start(engine: Engine, prompt: string, o: OllamaOptions = {}): StartedGeneration {
  // num_predict: -1 (Ollama's default) and -2 (fill the context) both mean "as many as fit".
  const n = o.num_predict;
  return engine.start(prompt, {
    maxTokens: n === undefined || n < 0 ? undefined : n,
    temperature: o.temperature ?? OLLAMA_DEFAULTS.temperature,
    topK: o.top_k ?? OLLAMA_DEFAULTS.top_k,
    topP: o.top_p ?? OLLAMA_DEFAULTS.top_p,
    seed: o.seed,
    stop: o.stop ?? [],
    fields: { maxTokens: 'options.num_predict', prompt: 'prompt' },
  });
}

const ns = (ms: number) => Math.round(ms * 1e6);

/** The statistics Ollama puts in its last object. */
function finalFields(started: StartedGeneration, r: TextResult, firstTokenAt: number) {
  const end = performance.now();
  const first = firstTokenAt || end;
  return {
    done: true,
    done_reason: r.finishReason,
    total_duration: ns(end - started.startedAt),
    load_duration: 0,
    prompt_eval_count: started.promptTokens,
    prompt_eval_duration: ns(first - started.startedAt),
    eval_count: r.completionTokens,
    eval_duration: ns(end - first),
  };
}

const ndjson = (event: unknown) => JSON.stringify(event) + '\n';

export function registerOllamaRoutes(
  app: FastifyInstance,
  engine: Engine,
  template: ChatTemplate | undefined,
  modelSize: number,
): void {
  const stamp = () => ({ model: engine.modelId, created_at: new Date().toISOString() });

  /** Shared by generate and chat: `wrap` puts a text piece where that endpoint has it. */
  async function respond(
    started: StartedGeneration,
    stream: boolean,
    wrap: (text: string) => Record<string, unknown>,
    reply: Parameters<typeof sendEventStream>[0],
  ) {
    cancelOnDisconnect(reply, started);
    let firstTokenAt = 0;
    if (!stream) {
      const r = await collectText(engine, started);
      return { ...stamp(), ...wrap(r.text), ...finalFields(started, r, r.firstTokenAt) };
    }
    const events = textEvents(
      engine,
      started,
      {
        piece: (text) => {
          firstTokenAt ||= performance.now();
          return { ...stamp(), ...wrap(text), done: false };
        },
        end: (r) => [{ ...stamp(), ...wrap(''), ...finalFields(started, r, firstTokenAt) }],
      },
      ndjson,
    );
    return sendEventStream(reply, 'application/x-ndjson', events);
  }

  app.post<{
    Body: {
      model?: string;
      prompt?: string;
      system?: string;
      stream?: boolean;
      raw?: boolean;
      options?: OllamaOptions;
    };
  }>(
    '/api/generate',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            prompt: { type: 'string' },
            system: { type: 'string' },
            stream: { type: 'boolean' },
            raw: { type: 'boolean' },
            options: OPTIONS_SCHEMA,
          },
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      // Ollama answers an empty prompt by loading the model and saying so.
      if (!b.prompt) return { ...stamp(), response: '', done: true, done_reason: 'load' };
      const messages = [
        ...(b.system ? [{ role: 'system', content: b.system }] : []),
        { role: 'user', content: b.prompt },
      ];
      const prompt = b.raw ? b.prompt : promptOfMessages(messages, template);
      const started = start(engine, prompt, b.options);
      return respond(started, b.stream ?? true, (response) => ({ response }), reply);
    },
  );

  app.post<{
    Body: {
      model?: string;
      messages?: { role: string; content: string }[];
      stream?: boolean;
      options?: OllamaOptions;
    };
  }>(
    '/api/chat',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            model: { type: 'string' },
            messages: {
              type: 'array',
              items: {
                type: 'object',
                required: ['role', 'content'],
                properties: { role: { type: 'string' }, content: { type: 'string' } },
              },
            },
            stream: { type: 'boolean' },
            options: OPTIONS_SCHEMA,
          },
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      if (!b.messages || b.messages.length === 0)
        return { ...stamp(), message: { role: 'assistant', content: '' }, done: true, done_reason: 'load' };
      const started = start(engine, promptOfMessages(b.messages, template), b.options);
      return respond(
        started,
        b.stream ?? true,
        (content) => ({ message: { role: 'assistant', content } }),
        reply,
      );
    },
  );

  app.get('/api/tags', async () => ({
    models: [
      {
        name: engine.modelId,
        model: engine.modelId,
        modified_at: new Date().toISOString(),
        size: modelSize,
        digest: '',
        details: {
          parent_model: '',
          format: 'safetensors',
          family: 'gpt2',
          families: ['gpt2'],
          parameter_size: `${(modelSize / 4 / 1e6).toFixed(1)}M`,
          quantization_level: 'F32',
        },
      },
    ],
  }));
}
