// Model benchmarks on the GPT-2 124M architecture with random weights:
//   forward:  one no-grad forward pass over 1 x 1024 tokens (PyTorch here: 1.77 s tuned, 8.59 s as installed)
//   generate: greedy tokens/s with the KV cache, 4-token prompt + 200 new tokens (PyTorch: 7.1 tokens/s)
import { GPTModel } from '../src/models/gpt/gpt.js';
import { presetConfig } from '../src/models/gpt/config.js';
import { generate } from '../src/models/gpt/generate.js';
import { fromArray } from '../src/ops/creation.js';
import { noGrad } from '../src/tensor/autograd.js';
import { Rng } from '../src/tensor/rng.js';
import { tidy } from '../src/tensor/tensor.js';
import { pool } from '../src/tensor/pool.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function run(args: string[], name = 'forward'): Promise<void> {
  const reps = Number(args.find((a) => a.startsWith('--reps='))?.slice(7) ?? 3);
  const cfg = presetConfig('gpt2-small', { dropRate: 0, qkvBias: true, tiedHead: true });
  const model = new GPTModel(cfg, new Rng(123)).eval();
  if (name === 'forward') {
    const ids = fromArray(
      Array.from({ length: 1024 }, (_, i) => (i * 7919) % cfg.vocabSize),
      [1, 1024],
      'int32',
    );
    const once = () => {
      const t0 = performance.now();
      tidy(() => noGrad(() => model.forward(ids).size));
      return (performance.now() - t0) / 1000;
    };
    once(); // warm-up: fills the pool
    const f0 = process.resourceUsage().minorPageFault;
    const times = Array.from({ length: reps }, once);
    const faults = (process.resourceUsage().minorPageFault - f0) / reps;
    const t = median(times);
    console.log('| workload | gptkit | PyTorch tuned | PyTorch as installed | speed-up vs tuned |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(
      `| forward 1 x 1024, no grad (s, median of ${reps}) | ${t.toFixed(3)} | 1.77 | 8.59 | ${(1.77 / t).toFixed(2)}x |`,
    );
    console.log(
      `\nminor page faults per pass after warm-up: ${faults.toFixed(0)}; pool: ${JSON.stringify(pool.stats)}`,
    );
  } else {
    const prompt = [6109, 3626, 6100, 345]; // "Every effort moves you"
    generate(model, prompt, { maxNewTokens: 5 }); // warm-up
    const rates: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const out = generate(model, prompt, { maxNewTokens: 200 });
      rates.push(out.length / ((performance.now() - t0) / 1000));
    }
    const noCacheT0 = performance.now();
    const nc = generate(model, prompt, { maxNewTokens: 50, useCache: false });
    const noCache = nc.length / ((performance.now() - noCacheT0) / 1000);
    const rate = median(rates);
    console.log('| workload | gptkit | PyTorch (book KV cache) | ratio |');
    console.log('|---|---:|---:|---:|');
    console.log(
      `| greedy, 4-token prompt + 200 new, KV cache (tokens/s, median of ${reps}) | ${rate.toFixed(1)} | 7.1 | ${(rate / 7.1).toFixed(1)}x |`,
    );
    console.log(
      `| same without KV cache, 50 new tokens (tokens/s) | ${noCache.toFixed(1)} | 1.48 | ${(noCache / 1.48).toFixed(1)}x |`,
    );
  }
  console.log(`\nreproduce: npm run bench -- ${name}`);
}
