// What the HTTP routes share: the model's scheduler and tokenizer, turning a prompt plus request settings
// into a running generation (checked against the context first), and the API's error type.
import { randomInt } from 'node:crypto';
import type { Gpt2Tokenizer } from '../index.js';
import { QueueFullError, type BatchScheduler, type Generation, type Sampling } from './scheduler.js';

export const END_OF_TEXT = 50256;

/** An error the API reports as {"error": {message, type, param, code}} with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  get type(): string {
    if (this.status === 401) return 'authentication_error';
    if (this.status === 404) return 'not_found_error';
    if (this.status === 503) return 'server_busy';
    return this.status < 500 ? 'invalid_request_error' : 'server_error';
  }
}

export interface GenerationSettings {
  /** Undefined: as many as the context leaves. */
  maxTokens?: number;
  temperature: number;
  topK?: number;
  topP?: number;
  /** Undefined or negative: a fresh random seed. */
  seed?: number;
  stop: string[];
  /** Names of the fields in this API, for error messages. */
  fields: { maxTokens: string; prompt: string };
}

export interface StartedGeneration {
  generation: Generation;
  promptTokens: number;
  stop: string[];
  startedAt: number;
}

export class Engine {
  constructor(
    readonly scheduler: BatchScheduler,
    readonly tokenizer: Gpt2Tokenizer,
    readonly modelId: string,
  ) {}

  get contextLength(): number {
    return this.scheduler.model.cfg.contextLength;
  }

  /** Tokenize, check the length against the context, and queue. Throws ApiError (400, 503). */
  start(prompt: string, s: GenerationSettings): StartedGeneration {
    // GPT-2 reads "<|endoftext|>" in a prompt as its document separator, as OpenAI's API did.
    let promptIds = this.tokenizer.encode(prompt, { allowedSpecial: 'all' });
    // An empty prompt starts a new document, as GPT-2 was trained (Hugging Face does the same).
    if (promptIds.length === 0) promptIds = [END_OF_TEXT];
    const C = this.contextLength;
    const P = promptIds.length;
    if (s.maxTokens !== undefined && P + s.maxTokens > C)
      throw new ApiError(
        400,
        `This model's context length is ${C} tokens; the prompt has ${P} tokens and ${s.fields.maxTokens} is ${s.maxTokens} (${P + s.maxTokens} in all). Shorten the prompt or lower ${s.fields.maxTokens}.`,
        s.fields.maxTokens,
        'context_length_exceeded',
      );
    if (s.maxTokens === undefined && P >= C)
      throw new ApiError(
        400,
        `This model's context length is ${C} tokens; the prompt has ${P} tokens, which leaves no room to generate. Shorten the prompt.`,
        s.fields.prompt,
        'context_length_exceeded',
      );
    const sampling: Sampling = {
      temperature: s.temperature,
      topK: s.topK || undefined, // 0 = off, as in llama.cpp and Ollama
      topP: s.topP !== undefined && s.topP < 1 ? s.topP : undefined,
      seed: s.seed !== undefined && s.seed >= 0 ? s.seed : randomInt(2 ** 31),
    };
    try {
      const generation = this.scheduler.submit({
        promptIds,
        maxTokens: s.maxTokens ?? C - P,
        sampling,
        stopTokens: [END_OF_TEXT],
      });
      return { generation, promptTokens: P, stop: s.stop, startedAt: performance.now() };
    } catch (err) {
      if (err instanceof QueueFullError)
        throw new ApiError(503, err.message, null, 'queue_full', err.retryAfterSeconds);
      throw err;
    }
  }
}
