// decodeStep against the model run one sequence at a time: logits of every step equal a full uncached
// forward pass over that sequence alone, and greedy tokens equal generate(), with sequences of different
// lengths joining and leaving the batch between steps. On every backend.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as ops from '../../ops/index.js';
import { noGrad } from '../../tensor/autograd.js';
import { tidy } from '../../tensor/tensor.js';
import { availableBackends, getBackend, setBackend } from '../../backend/index.js';
import { decodeStep } from './batch-decode.js';
import { generate } from './generate.js';
import { loadGPT2 } from './gpt2-weights.js';
import { KVCache } from './kv-cache.js';
import type { GPTModel } from './gpt.js';

const fixtureDir = fileURLToPath(new URL('../../../../test/fixtures/gpt2-tiny/model', import.meta.url));

/** Logits (V) of the last position of ids, by a plain forward pass without a cache. */
function referenceLastLogits(model: GPTModel, ids: number[]): Float32Array {
  return tidy(() =>
    noGrad(() => {
      const logits = model.forward(ops.fromArray(ids, [1, ids.length], 'int32')); // (1, T, V)
      const V = logits.shape[2];
      return Float32Array.from(
        ops
          .narrow(logits, 1, ids.length - 1, 1)
          .toArray()
          .slice(0, V),
      );
    }),
  );
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// Prompts of different lengths (arbitrary token ids inside the vocabulary). Five, so that decoding
// steps have more rows than one small-step Linear call takes (batch-decode.ts's SMALL_STEP_ROWS).
const PROMPTS = [
  [6109, 3626, 6100, 345],
  [464],
  [40, 1101, 257, 1310, 1110, 11, 290, 340, 373],
  [50256],
  [11, 11],
];

for (const backendName of availableBackends()) {
  describe(`decodeStep (${backendName} backend)`, () => {
    let model: GPTModel;
    const previous = getBackend().name as 'js' | 'native';
    before(async () => {
      setBackend(backendName);
      model = (await loadGPT2(fixtureDir)).eval();
    });
    after(() => setBackend(previous));

    it('prefill of several prompts in one pass, then joint steps: logits equal a lone uncached forward', () => {
      const seqs = PROMPTS.map((p) => ({ all: [...p], cache: new KVCache(model.cfg.nLayers, 40), next: p }));
      for (let step = 0; step < 8; step++) {
        const logits = decodeStep(
          model,
          seqs.map((s) => ({ cache: s.cache, ids: s.next })),
        );
        for (const [i, s] of seqs.entries()) {
          const ref = referenceLastLogits(model, s.all);
          const diff = maxAbsDiff(logits[i], ref);
          assert.ok(diff < 1e-4, `step ${step}, sequence ${i}: max |diff| ${diff}`);
          const id = argmax(logits[i]);
          s.all.push(id);
          s.next = [id];
          assert.equal(s.cache.length, s.all.length - 1);
        }
      }
      for (const s of seqs) s.cache.dispose();
    });

    it('sequences joining and leaving between steps give the same greedy tokens as generate()', () => {
      const want = PROMPTS.map((p) => generate(model, p, { maxNewTokens: 8 }));
      // Sequence i joins at step 3 * i and leaves after its 8 tokens.
      const active: { i: number; cache: KVCache; next: number[]; out: number[] }[] = [];
      const got: number[][] = PROMPTS.map(() => []);
      for (let step = 0; active.length > 0 || step <= 3 * (PROMPTS.length - 1); step++) {
        if (step % 3 === 0 && step / 3 < PROMPTS.length) {
          const i = step / 3;
          active.push({ i, cache: new KVCache(model.cfg.nLayers, 20), next: PROMPTS[i], out: got[i] });
        }
        if (active.length === 0) continue;
        const logits = decodeStep(
          model,
          active.map((s) => ({ cache: s.cache, ids: s.next })),
        );
        for (const [j, s] of active.entries()) {
          const id = argmax(logits[j]);
          s.out.push(id);
          s.next = [id];
        }
        for (const s of active.filter((x) => x.out.length === 8)) {
          s.cache.dispose();
          active.splice(active.indexOf(s), 1);
        }
      }
      assert.deepEqual(got, want);
    });

    it('refuses to run past a cache or the context length, naming the slot', () => {
      const cache = new KVCache(model.cfg.nLayers, 3);
      assert.throws(
        () => decodeStep(model, [{ cache, ids: [1, 2, 3, 4] }]),
        /slot 0 would reach 4 positions/,
      );
      assert.throws(() => decodeStep(model, [{ cache, ids: [] }]), /slot 0 has no new tokens/);
      assert.throws(() => decodeStep(model, [{ cache, ids: [60000] }]), /outside the vocabulary/);
      cache.dispose();
    });
  });
}
