// `gptkit serve` as a library: a Fastify app with the OpenAI- and Ollama-compatible APIs over one
// language model (continuous batching), optional classification, health, metrics and the web page.
// It decides nothing about files or flags: the caller loads the model (the CLI does, from --model).
import { timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import {
  classifyTexts,
  loadGpt2Tokenizer,
  type Classifier,
  type GPTModel,
  type Gpt2Tokenizer,
} from '../index.js';
import type { ChatTemplate } from './chat.js';
import { ApiError, Engine } from './engine.js';
import { Metrics } from './metrics.js';
import { registerOllamaRoutes } from './ollama.js';
import { registerOpenAIRoutes } from './openai.js';
import { PAGE_HTML } from './page.js';
import { BatchScheduler } from './scheduler.js';

export interface ServeOptions {
  /** The language model to serve (any mode; it is switched to eval). */
  model: GPTModel;
  /** Its name in /v1/models, /api/tags and every response. */
  modelId: string;
  /** The instruction template the model was fine-tuned with; undefined for a base model. */
  template?: ChatTemplate;
  tokenizer?: Gpt2Tokenizer;
  /** A classifier for POST /v1/classify, and its name. */
  classifier?: Classifier;
  classifierId?: string;
  /** Sequences decoded together (default 8). */
  maxBatch?: number;
  /** Requests that may wait for a slot; more get 503 (default 64). */
  maxQueue?: number;
  /** When set, every route but /health and the page needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Access-Control-Allow-Origin for browsers on other origins (e.g. '*'). */
  corsOrigin?: string;
  /** Largest request body in bytes (default 1 MiB); larger ones get 413. */
  bodyLimit?: number;
}

export interface GptkitServer {
  app: FastifyInstance;
  scheduler: BatchScheduler;
  /**
   * Stop accepting connections, let replies in flight finish for up to graceMs (then end them with
   * the text they have), close. For SIGTERM.
   */
  shutdown(graceMs?: number): Promise<void>;
}

export const SERVE_DEFAULTS = { maxBatch: 8, maxQueue: 64, bodyLimit: 1 << 20 } as const;

/** Routes open without an API key: the load balancer's health check and the page (it asks for the key). */
const PUBLIC_PATHS = new Set(['/', '/health', '/favicon.ico']);

export function createServer(o: ServeOptions): GptkitServer {
  if (o.model.cfg.numClasses !== undefined)
    throw new Error(
      `${o.modelId} is a classifier; serve a language model and pass the classifier separately`,
    );
  const scheduler = new BatchScheduler(o.model, {
    maxBatch: o.maxBatch ?? SERVE_DEFAULTS.maxBatch,
    maxQueue: o.maxQueue ?? SERVE_DEFAULTS.maxQueue,
  });
  const engine = new Engine(scheduler, o.tokenizer ?? loadGpt2Tokenizer(), o.modelId);
  const metrics = new Metrics();
  const created = Math.floor(Date.now() / 1000);
  let closing = false;

  const app = Fastify({
    logger: false,
    bodyLimit: o.bodyLimit ?? SERVE_DEFAULTS.bodyLimit,
    // Fastify coerces "5" to 5 by default; an API client sending a string for a number made a mistake.
    ajv: { customOptions: { coerceTypes: false, allErrors: false } },
  });

  // Ollama reads every body as JSON whatever its content type (curl -d sends form encoding); so do we.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      done(Object.assign(err as Error, { statusCode: 400 }), undefined);
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    if (o.corsOrigin) {
      reply.header('access-control-allow-origin', o.corsOrigin);
      reply.header('vary', 'origin');
      if (request.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
        reply.header('access-control-allow-headers', 'authorization, content-type');
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      }
    }
    const path = request.url.split('?')[0];
    if (o.apiKey && !PUBLIC_PATHS.has(path) && !keyMatches(request.headers.authorization, o.apiKey))
      throw new ApiError(
        401,
        'Incorrect or missing API key: send the header "Authorization: Bearer <key>"',
        null,
        'invalid_api_key',
      );
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.countRequest(request.routeOptions.url ?? 'unknown', reply.statusCode);
  });

  app.setNotFoundHandler((request) => {
    throw new ApiError(404, `No route ${request.method} ${request.url.split('?')[0]}`, null, 'not_found');
  });

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    const e = toApiError(err, o.bodyLimit ?? SERVE_DEFAULTS.bodyLimit);
    if (e.retryAfterSeconds !== undefined) reply.header('retry-after', String(e.retryAfterSeconds));
    reply.code(e.status);
    // Ollama's clients read {"error": "message"}; OpenAI's read the object.
    if (request.url.startsWith('/api/')) return { error: e.message };
    return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
  });

  app.get('/', async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(PAGE_HTML),
  );

  app.get('/health', async (_request, reply) => {
    const s = scheduler.stats;
    if (closing) reply.code(503);
    return {
      status: closing ? 'shutting down' : 'ok',
      model: o.modelId,
      classifier: o.classifier ? (o.classifierId ?? 'classifier') : null,
      active: s.active,
      queued: s.queued,
      max_batch: scheduler.options.maxBatch,
      context_length: engine.contextLength,
    };
  });

  app.get('/metrics', async (_request, reply) =>
    reply
      .header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
      .send(metrics.render(scheduler.stats, scheduler.options.maxBatch)),
  );

  const extraModels = o.classifier ? [o.classifierId ?? 'classifier'] : [];
  registerOpenAIRoutes(app, engine, o.template, created, extraModels);
  registerOllamaRoutes(app, engine, o.template, 4 * parameterTotal(o.model));

  app.post<{ Body: { input: string | string[]; model?: string } }>(
    '/v1/classify',
    {
      schema: {
        body: {
          type: 'object',
          required: ['input'],
          properties: {
            model: { type: 'string' },
            input: {
              anyOf: [
                { type: 'string' },
                { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 256 },
              ],
            },
          },
        },
      },
    },
    async (request) => {
      if (!o.classifier)
        throw new ApiError(
          404,
          'No classifier is loaded: start the server with --classifier DIR',
          null,
          'no_classifier',
        );
      const texts = typeof request.body.input === 'string' ? [request.body.input] : request.body.input;
      const results = classifyTexts(o.classifier, texts);
      return {
        object: 'list',
        model: o.classifierId ?? 'classifier',
        labels: o.classifier.labels,
        data: results.map((r, index) => ({ index, label: r.label, probabilities: r.probabilities })),
      };
    },
  );

  return {
    app,
    scheduler,
    async shutdown(graceMs = 10_000) {
      closing = true;
      const closed = app.close(); // stops accepting; waits for replies in flight
      await scheduler.close(graceMs);
      // Every generation has ended, so every reply has or is about to; a connection still open now is
      // one the client left half-closed, which would otherwise hold close() for the keep-alive timeout.
      const flushed = await Promise.race([closed.then(() => true), sleep(1000).then(() => false)]);
      if (!flushed) app.server.closeAllConnections();
      await closed;
    },
  };
}

function keyMatches(header: string | undefined, key: string): boolean {
  const given = Buffer.from(header ?? '');
  const want = Buffer.from(`Bearer ${key}`);
  return given.length === want.length && timingSafeEqual(given, want);
}

function parameterTotal(model: GPTModel): number {
  return model.parameters().reduce((s, p) => s + p.size, 0);
}

/** Fastify's own errors (validation, body parsing, size) in the API's terms. */
function toApiError(err: FastifyError | ApiError, bodyLimit: number): ApiError {
  if (err instanceof ApiError) return err;
  if (err.validation && err.validation.length > 0) {
    const v = err.validation[0];
    const missing = (v.params as { missingProperty?: string }).missingProperty;
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const param = missing ? (path ? `${path}.${missing}` : missing) : path || null;
    const message = missing
      ? `${param} is required`
      : `${param ?? 'body'} ${(v.message ?? 'is invalid').replace(/,null$/, ' (or null)')}`;
    return new ApiError(400, `Invalid request: ${message}`, param);
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new ApiError(
      413,
      `Request body is too large: the limit is ${bodyLimit} bytes`,
      null,
      'body_too_large',
    );
  if (err.statusCode === 400 || err.code?.startsWith('FST_ERR_CTP'))
    return new ApiError(err.statusCode ?? 400, `Invalid request body: ${err.message}`, null, 'invalid_body');
  if (err.statusCode && err.statusCode < 500) return new ApiError(err.statusCode, err.message);
  return new ApiError(500, `Internal error: ${err.message}`, null, 'internal_error');
}
