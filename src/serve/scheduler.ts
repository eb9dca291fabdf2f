// Continuous batching for the server: requests wait in a bounded queue; up to maxBatch sequences decode
// together, one decodeStep per step for all of them, joining and leaving between steps. Works on token
// ids; text, stop strings and HTTP live in the layers above.
import { decodeStep, KVCache, Rng, sampleNext, type GPTModel } from '../index.js';

export interface Sampling {
  /** 0 = greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
}

export interface DecodeRequest {
  promptIds: readonly number[];
  /** Tokens to generate at most; promptIds.length + maxTokens must fit the context (checked by the caller). */
  maxTokens: number;
  sampling: Sampling;
  /** Token ids that end the generation without being emitted (<|endoftext|>). */
  stopTokens: readonly number[];
}

/** 'stop': a stop token (or the caller's stop string); 'length': maxTokens; 'cancelled': cancel(). */
export type FinishReason = 'stop' | 'length' | 'cancelled';

/** No room for another request: the queue is full (or the scheduler is closing). */
export class QueueFullError extends Error {
  constructor(
    readonly queued: number,
    readonly retryAfterSeconds: number,
    message = `the server is busy: ${queued} requests are already waiting; retry in ${retryAfterSeconds} s`,
  ) {
    super(message);
  }
}

/**
 * The token ids of one request, as an async iterable that ends when generation does. Leaving a
 * `for await` early (break, throw) or calling cancel() frees the sequence's slot before the next step.
 */
export class Generation implements AsyncIterable<number> {
  finishReason?: FinishReason;
  error?: Error;
  /** Tokens produced so far (all of them, also those a consumer has not read yet). */
  produced = 0;
  private buffer: number[] = [];
  private wake: (() => void) | null = null;

  constructor(
    readonly request: DecodeRequest,
    private readonly onCancel: (g: Generation) => void,
  ) {}

  get done(): boolean {
    return this.finishReason !== undefined || this.error !== undefined;
  }

  cancel(): void {
    if (this.done) return;
    this.finish('cancelled');
    this.onCancel(this);
  }

  /** Called by the scheduler. */
  push(id: number): void {
    this.produced++;
    this.buffer.push(id);
    this.notify();
  }

  /** Called by the scheduler. */
  finish(reason: FinishReason, error?: Error): void {
    if (this.done) return;
    this.finishReason = reason;
    this.error = error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<number> {
    try {
      for (;;) {
        if (this.buffer.length > 0) yield this.buffer.shift()!;
        else if (this.error) throw this.error;
        else if (this.done) return;
        else await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      this.cancel(); // a consumer that stops reading frees its slot; no-op when already finished
    }
  }
}

export interface SchedulerOptions {
  /** Sequences decoded together per step. */
  maxBatch: number;
  /** Requests allowed to wait for a slot; one more is refused with QueueFullError. */
  maxQueue: number;
}

export interface SchedulerStats {
  active: number;
  queued: number;
  /** Tokens generated since start. */
  generatedTokens: number;
  /** Prompt tokens processed since start. */
  promptTokens: number;
  steps: number;
  /** Generated tokens per second over the last few seconds (0 when idle). */
  tokensPerSecond: number;
}

interface Sequence {
  generation: Generation;
  cache: KVCache;
  rng: Rng;
  /** Tokens to feed in the next step: the prompt first, then the last sampled token. */
  next: readonly number[];
  stopTokens: Set<number>;
}

const RATE_WINDOW_MS = 5000;

export class BatchScheduler {
  private queue: Generation[] = [];
  private active: Sequence[] = [];
  private running = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private recent: { t: number; tokens: number }[] = [];
  private totals = { generatedTokens: 0, promptTokens: 0, steps: 0 };

  constructor(
    readonly model: GPTModel,
    readonly options: SchedulerOptions,
  ) {
    if (!(Number.isInteger(options.maxBatch) && options.maxBatch >= 1))
      throw new Error(`maxBatch (--max-batch) must be an integer >= 1, got ${options.maxBatch}`);
    if (!(Number.isInteger(options.maxQueue) && options.maxQueue >= 0))
      throw new Error(`maxQueue (--max-queue) must be an integer >= 0, got ${options.maxQueue}`);
    model.eval();
  }

  /** Queue a request. Throws QueueFullError at once (before any reply is sent) when the queue is full. */
  submit(request: DecodeRequest): Generation {
    if (this.closed) throw new QueueFullError(this.queue.length, 0, 'the server is shutting down');
    const free = this.options.maxBatch - this.active.length;
    if (this.queue.length - Math.max(0, free) >= this.options.maxQueue)
      throw new QueueFullError(this.queue.length, this.retryAfterSeconds());
    const generation = new Generation(request, (g) => this.forget(g));
    if (request.maxTokens <= 0) {
      generation.finish('length');
      return generation;
    }
    this.queue.push(generation);
    this.totals.promptTokens += request.promptIds.length;
    if (!this.running) void this.loop();
    return generation;
  }

  get stats(): SchedulerStats {
    const now = performance.now();
    this.recent = this.recent.filter((r) => now - r.t <= RATE_WINDOW_MS);
    const tokens = this.recent.reduce((s, r) => s + r.tokens, 0);
    const span = this.recent.length > 1 ? (now - this.recent[0].t) / 1000 : 0;
    return {
      active: this.active.length,
      queued: this.queue.length,
      ...this.totals,
      tokensPerSecond: span > 0 ? tokens / span : 0,
    };
  }

  /** Resolves when nothing is queued or decoding. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stop accepting requests; let running and queued ones finish for up to graceMs, then cancel the
   * rest (their streams end cleanly with what they have).
   */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([this.idle(), timeout]);
    clearTimeout(timer);
    for (const g of [...this.queue, ...this.active.map((s) => s.generation)]) g.cancel();
    await this.idle();
  }

  /** Rough wait for a slot: the queue ahead, divided by the batch, times a typical reply's duration. */
  private retryAfterSeconds(): number {
    const rate = this.stats.tokensPerSecond / Math.max(1, this.active.length);
    const replySeconds = rate > 0 ? 64 / rate : 1;
    return Math.max(1, Math.ceil(((this.queue.length + 1) / this.options.maxBatch) * replySeconds));
  }

  /** A cancelled generation leaves the queue at once, and its slot before the next step. */
  private forget(g: Generation): void {
    const q = this.queue.indexOf(g);
    if (q >= 0) this.queue.splice(q, 1);
  }

  private admit(): void {
    while (this.active.length < this.options.maxBatch && this.queue.length > 0) {
      const generation = this.queue.shift()!;
      const { promptIds, maxTokens, sampling, stopTokens } = generation.request;
      this.active.push({
        generation,
        // Sized to what this request can reach, not the whole context: memory grows with real use.
        cache: new KVCache(this.model.cfg.nLayers, promptIds.length + maxTokens),
        rng: new Rng(sampling.seed),
        next: promptIds,
        stopTokens: new Set(stopTokens),
      });
    }
  }

  private retire(): void {
    for (const s of this.active.filter((x) => x.generation.done)) s.cache.dispose();
    this.active = this.active.filter((x) => !x.generation.done);
  }

  private step(): void {
    let logits: Float32Array[];
    try {
      logits = decodeStep(
        this.model,
        this.active.map((s) => ({ cache: s.cache, ids: s.next })),
      );
    } catch (err) {
      for (const s of this.active) s.generation.finish('cancelled', err as Error);
      return;
    }
    let produced = 0;
    for (const [i, s] of this.active.entries()) {
      const { request } = s.generation;
      const opts = { maxNewTokens: request.maxTokens, ...request.sampling };
      const id = sampleNext(logits[i], opts, s.rng);
      if (s.stopTokens.has(id)) {
        s.generation.finish('stop');
        continue;
      }
      s.next = [id];
      s.generation.push(id);
      produced++;
      if (s.generation.produced >= request.maxTokens) s.generation.finish('length');
    }
    this.totals.generatedTokens += produced;
    this.totals.steps++;
    this.recent.push({ t: performance.now(), tokens: produced });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      // Start on the next turn of the event loop: requests that arrive together join the first step.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (;;) {
        this.retire();
        this.admit();
        if (this.active.length === 0) break;
        this.step();
        this.retire();
        // Between steps the event loop answers health checks, new requests and disconnects.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
