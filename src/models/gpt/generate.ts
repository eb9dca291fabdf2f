// Text generation (book 4.7 and 5.3): greedy decoding, temperature, top-k, top-p, seeded sampling,
// stop tokens, context cropping, streaming callbacks, and a KV cache. Works on token ids, not text.
import { noGrad } from '../../tensor/autograd.js';
import { Rng } from '../../tensor/rng.js';
import { fromArray } from '../../ops/creation.js';
import { tidy, type Tensor } from '../../tensor/tensor.js';
import type { GPTModel } from './gpt.js';
import { KVCache } from './kv-cache.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default) = greedy argmax; > 0 samples from softmax(logits / temperature). */
  temperature?: number;
  /** Keep only the k most likely tokens before sampling. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (nucleus sampling). */
  topP?: number;
  /** Seed for sampling (a fresh generator per call, so the same seed gives the same text). */
  seed?: number;
  /** Stop (without emitting it) when one of these ids is produced, like the book's eos_id. */
  stopTokens?: readonly number[];
  /** Attend to at most this many most recent tokens (default and maximum: the model's context length). */
  contextSize?: number;
  /** Use the KV cache (default true). Results are identical either way; only the speed differs. */
  useCache?: boolean;
  /** Called with each new token id as soon as it is chosen (streaming). */
  onToken?: (id: number) => void;
}

/**
 * Check sampling options before any work (the CLI calls it before loading a model; generate() at its start).
 * Messages name the option and its flag.
 */
export function checkGenerateOptions(opts: Partial<GenerateOptions>): void {
  const bad = (what: string, need: string, v: unknown) =>
    new Error(`generate: ${what} must be ${need}, got ${String(v)}`);
  const { maxNewTokens: n, temperature: t, topK: k, topP: p, seed, contextSize: c } = opts;
  if (n !== undefined && !(Number.isInteger(n) && n >= 0))
    throw bad('maxNewTokens (--max-new-tokens)', 'an integer >= 0', n);
  if (t !== undefined && !(Number.isFinite(t) && t >= 0))
    throw bad('temperature (--temperature)', 'a number >= 0', t);
  if (k !== undefined && !(Number.isInteger(k) && k >= 1))
    throw bad('topK (--top-k)', 'a positive integer', k);
  if (p !== undefined && !(p > 0 && p <= 1)) throw bad('topP (--top-p)', 'in (0, 1]', p);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0))
    throw bad('seed (--seed)', 'an integer >= 0', seed);
  if (c !== undefined && !(Number.isInteger(c) && c >= 1)) throw bad('contextSize', 'a positive integer', c);
}

/** Pick the next token from one row of logits, following the options. */
export function sampleNext(logits: Float32Array, opts: GenerateOptions, rng: Rng): number {
  checkGenerateOptions(opts);
  const V = logits.length;
  const temperature = opts.temperature ?? 0;
  let candidates: number[] | null = null;
  if (opts.topK !== undefined) {
    const k = Math.min(opts.topK, V);
    candidates = topIndices(logits, k);
  }
  if (temperature === 0) {
    // Greedy: the book applies top-k before argmax too, which cannot change the argmax.
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  if (!candidates && opts.topP === undefined) return sampleWholeVocabulary(logits, temperature, rng);
  const ids = candidates ?? Array.from({ length: V }, (_, i) => i);
  let max = -Infinity;
  for (const i of ids) if (logits[i] > max) max = logits[i];
  let probs = ids.map((i) => Math.exp((logits[i] - max) / temperature));
  let order = ids;
  if (opts.topP !== undefined) {
    const total = probs.reduce((a, b) => a + b, 0);
    const sorted = probs.map((p, j) => [p / total, j] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    let cum = 0;
    const kept: number[] = [];
    for (const [p, j] of sorted) {
      kept.push(j);
      cum += p;
      if (cum >= opts.topP) break;
    }
    order = kept.map((j) => ids[j]);
    probs = kept.map((j) => probs[j]);
  }
  const total = probs.reduce((a, b) => a + b, 0);
  let u = rng.uniform() * total;
  for (let j = 0; j < probs.length; j++) {
    u -= probs[j];
    if (u < 0) return order[j];
  }
  return order[order.length - 1];
}

/**
 * sampleNext without top-k / top-p: the same arithmetic (same max, same exp, same left-to-right sum and
 * walk), so the same token, on typed arrays instead of 50257-element index and probability lists. The
 * server samples once per token per sequence; the list version took ~20 ms a call on a busy 2-core host.
 */
function sampleWholeVocabulary(logits: Float32Array, temperature: number, rng: Rng): number {
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  const probs = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) total += probs[i] = Math.exp((logits[i] - max) / temperature);
  let u = rng.uniform() * total;
  for (let i = 0; i < V; i++) {
    u -= probs[i];
    if (u < 0) return i;
  }
  return V - 1;
}

/** Indices of the k largest logits, largest first (ties: lower index first), via a size-k min-heap. */
function topIndices(logits: Float32Array, k: number): number[] {
  const heap: number[] = [];
  // "a ranks below b": smaller logit, or equal logit and higher index.
  const below = (a: number, b: number) => logits[a] < logits[b] || (logits[a] === logits[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && below(heap[l], heap[m])) m = l;
      if (r < heap.length && below(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = 0; i < logits.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0;) {
        const p = (c - 1) >> 1;
        if (!below(heap[c], heap[p])) break;
        [heap[c], heap[p]] = [heap[p], heap[c]];
        c = p;
      }
    } else if (below(heap[0], i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (below(a, b) ? 1 : below(b, a) ? -1 : 0));
}

/** Copy the logits of the last position of (1, T, V) into row (reused across steps: no fresh pages per token). */
function lastRow(logits: Tensor, row: Float32Array): Float32Array {
  const V = logits.shape[2];
  const T = logits.shape[1];
  const start = logits.offset + (T - 1) * V;
  row.set(logits.data.subarray(start, start + V));
  return row;
}

/** Generate up to maxNewTokens ids after the prompt ids; returns only the new ids. */
export function generate(model: GPTModel, promptIds: readonly number[], opts: GenerateOptions): number[] {
  checkGenerateOptions(opts);
  const ctx = Math.min(opts.contextSize ?? model.cfg.contextLength, model.cfg.contextLength);
  if (promptIds.length === 0) throw new Error('generate: the prompt is empty; give at least one token id');
  for (const [i, id] of promptIds.entries()) {
    if (!Number.isInteger(id) || id < 0 || id >= model.cfg.vocabSize) {
      throw new Error(
        `generate: token id ${id} at position ${i} is outside the vocabulary [0, ${model.cfg.vocabSize})`,
      );
    }
  }
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
    throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
  }
  const rng = new Rng(opts.seed ?? 0);
  const stops = new Set(opts.stopTokens ?? []);
  const wasTraining = model.training;
  model.eval();
  const all = [...promptIds];
  const row = new Float32Array(model.cfg.vocabSize);
  const out: number[] = [];
  const cache = opts.useCache === false ? null : new KVCache(model.cfg.nLayers, ctx);
  try {
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const logits = tidy(() =>
        noGrad(() => {
          let input: number[];
          let useCache = cache;
          if (cache && cache.length > 0 && cache.length < ctx) {
            input = all.slice(cache.length); // only the tokens the cache has not seen
          } else {
            // First step, no cache, or the window is full: positions shift, so recompute the window.
            input = all.slice(-ctx);
            if (cache && all.length > ctx) {
              useCache = null;
            } else cache?.reset();
          }
          const ids = fromArray(input, [1, input.length], 'int32');
          return lastRow(model.forward(ids, useCache ?? undefined), row);
        }),
      );
      for (let i = 0; i < logits.length; i++)
        if (!Number.isFinite(logits[i]))
          throw new Error(
            `generate: the model produced a non-finite logit (${logits[i]}) for token ${i} at new token ${step + 1}; its weights are damaged or it diverged`,
          );
      const next = sampleNext(logits, opts, rng);
      if (stops.has(next)) break;
      all.push(next);
      out.push(next);
      opts.onToken?.(next);
    }
  } finally {
    cache?.dispose();
    model.train(wasTraining);
  }
  return out;
}
