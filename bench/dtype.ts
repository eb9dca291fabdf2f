// bf16 / int8 inference weights against f32, in one process so the ratios share the machine's state:
//   generation: greedy tokens/s, gpt2-small architecture (random weights, tied head), 4-token prompt + 200 new,
//               KV cache; the three models take turns, median of --reps runs each
//   batched:    decodeStep over 16 sequences at once (the server's batch), tokens/s over 50 steps
//   --model DIR: perplexity of a trained model on the-verdict.txt as f32, bf16 and int8 (quality)
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadNativeAddon } from '../src/backend/native/index.js';
import { getBackend } from '../src/backend/index.js';
import { presetConfig } from '../src/models/gpt/config.js';
import { GPTModel } from '../src/models/gpt/gpt.js';
import { generate } from '../src/models/gpt/generate.js';
import { decodeStep, type DecodeSlot } from '../src/models/gpt/batch-decode.js';
import { KVCache } from '../src/models/gpt/kv-cache.js';
import { loadGPT2 } from '../src/models/gpt/gpt2-weights.js';
import { modelWeightBytes, quantizeModel, type WeightDtype } from '../src/models/gpt/quantize.js';
import * as ops from '../src/ops/index.js';
import { noGrad } from '../src/tensor/autograd.js';
import { Rng } from '../src/tensor/rng.js';
import { tidy } from '../src/tensor/tensor.js';
import { loadGpt2Tokenizer } from '../src/tokenizer/gpt2.js';

const DTYPES: WeightDtype[] = ['f32', 'bf16', 'int8'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

function randomModel(dtype: WeightDtype): GPTModel {
  const cfg = presetConfig('gpt2-small', { dropRate: 0, qkvBias: true, tiedHead: true });
  return quantizeModel(new GPTModel(cfg, new Rng(123)).eval(), dtype);
}

function generationRate(model: GPTModel, tokens: number): number {
  const prompt = [6109, 3626, 6100, 345]; // "Every effort moves you"
  const t0 = performance.now();
  const out = generate(model, prompt, { maxNewTokens: tokens });
  return out.length / ((performance.now() - t0) / 1000);
}

function batchedRate(model: GPTModel, sequences: number, steps: number): number {
  const slots: DecodeSlot[] = Array.from({ length: sequences }, (_, s) => ({
    cache: new KVCache(model.cfg.nLayers, 4 + steps + 1),
    ids: [6109 + s, 3626, 6100, 345],
  }));
  decodeStep(model, slots); // the prompts
  for (const s of slots) s.ids = [11];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const logits = decodeStep(model, slots);
    slots.forEach((s, k) => (s.ids = [logits[k].indexOf(Math.max(...logits[k].subarray(0, 1000)))]));
  }
  return (sequences * steps) / ((performance.now() - t0) / 1000);
}

/** exp(mean next-token loss) over consecutive windows of the text. */
function perplexity(model: GPTModel, ids: number[], window: number): number {
  let sum = 0;
  let count = 0;
  for (let start = 0; start + 1 < ids.length; start += window) {
    const n = Math.min(window, ids.length - 1 - start);
    const loss = tidy(() =>
      noGrad(() => {
        const x = ops.fromArray(ids.slice(start, start + n), [1, n], 'int32');
        const y = ops.fromArray(ids.slice(start + 1, start + n + 1), [1, n], 'int32');
        return ops.crossEntropy(model.forward(x), y).item();
      }),
    );
    sum += loss * n;
    count += n;
  }
  return Math.exp(sum / count);
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      reps: { type: 'string', default: '3' },
      tokens: { type: 'string', default: '200' },
      model: { type: 'string' },
    },
  });
  const reps = Number(values.reps);
  const isa = loadNativeAddon()?.packedPath() ?? 'js';
  console.log(`packed-weight kernels: ${getBackend().name === 'native' ? isa : 'js'}`);
  if (values.model) {
    const text = readFileSync(new URL('../../data/the-verdict.txt', import.meta.url), 'utf8');
    const tokenizer = loadGpt2Tokenizer();
    const ids = tokenizer.encode(text);
    // The last 10% of the characters: the validation split `gptkit pretrain` holds out by default.
    const val = tokenizer.encode(text.slice(Math.floor(text.length * 0.9)));
    console.log(
      `| dtype | weights in memory | perplexity, whole text (${ids.length} tokens) | vs f32 | held-out last 10% (${val.length} tokens) | vs f32 |`,
    );
    console.log('|---|---:|---:|---:|---:|---:|');
    const base: number[] = [];
    for (const dtype of DTYPES) {
      const model = await loadGPT2(values.model, { dtype });
      const ppl = [
        perplexity(model, ids, model.cfg.contextLength),
        perplexity(model, val, model.cfg.contextLength),
      ];
      if (dtype === 'f32') base.push(...ppl);
      const delta = (i: number) =>
        dtype === 'f32' ? '-' : `${(((ppl[i] - base[i]) / base[i]) * 100).toFixed(3)}%`;
      console.log(
        `| ${dtype} | ${mb(modelWeightBytes(model))} | ${ppl[0].toFixed(4)} | ${delta(0)} | ${ppl[1].toFixed(3)} | ${delta(1)} |`,
      );
    }
    console.log(`\nreproduce: npm run bench -- dtype --model ${values.model}`);
    return;
  }
  const models = DTYPES.map(randomModel);
  models.forEach((m) => generate(m, [1, 2, 3, 4], { maxNewTokens: 5 })); // warm-up
  const rates: number[][] = DTYPES.map(() => []);
  for (let r = 0; r < reps; r++)
    models.forEach((m, i) => rates[i].push(generationRate(m, Number(values.tokens))));
  const batched = models.map((m) => batchedRate(m, 16, 50));
  const gen = rates.map(median);
  console.log(
    `| dtype | weights in memory | greedy tokens/s (median of ${reps}) | vs f32 | 16 sequences, decodeStep tokens/s | vs f32 |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  DTYPES.forEach((d, i) =>
    console.log(
      `| ${d} | ${mb(modelWeightBytes(models[i]))} | ${gen[i].toFixed(1)} | ${(gen[i] / gen[0]).toFixed(2)}x | ` +
        `${batched[i].toFixed(1)} | ${(batched[i] / batched[0]).toFixed(2)}x |`,
    ),
  );
  console.log(
    `\nall runs (tokens/s): ${DTYPES.map((d, i) => `${d} ${rates[i].map((x) => x.toFixed(1)).join(' ')}`).join('; ')}`,
  );
  console.log(`reproduce: npm run bench -- dtype${args.length ? ` ${args.join(' ')}` : ''}`);
}
