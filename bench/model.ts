// Model benchmarks on the GPT-2 124M architecture with random weights, each next to PyTorch running the book's
// own code in the same invocation (dev/model-bench-torch/bench.py; needs LLMS_FROM_SCRATCH):
//   forward:  one no-grad forward pass over 1 x 1024 tokens (seconds)
//   generate: greedy tokens/s with the KV cache, 4-token prompt + 200 new tokens, and the bound that memory
//             bandwidth puts on it (weights and KV cache read per token / read bandwidth measured here)
// Usage: npm run bench -- forward|generate [--reps=N] [--no-ref]
import { GPTModel } from '../src/models/gpt/gpt.js';
import { presetConfig, type GPTConfig } from '../src/models/gpt/config.js';
import { generate } from '../src/models/gpt/generate.js';
import { getBackend } from '../src/backend/index.js';
import { fromArray } from '../src/ops/creation.js';
import { noGrad } from '../src/tensor/autograd.js';
import { Rng } from '../src/tensor/rng.js';
import { tidy } from '../src/tensor/tensor.js';
import { pool } from '../src/tensor/pool.js';
import { streamArrays, streamBandwidth, tokensPerSecondBound } from './bandwidth.js';
import { benchAddon, median, printMachine, ratio, runTorchModel, type RefResult } from './reference.js';

/**
 * Bytes one decode step reads, averaged over a generation from `promptTokens` to `promptTokens + newTokens`:
 * every weight once except the embedding tables (one row each; a tied head reads the token table whole as
 * the output layer), plus the KV cache up to the current position. `bytesPerWeight`: 4 for f32; a bf16 or
 * int8 model passes its own (2, or 1 plus its scales).
 */
export function decodeBytesPerToken(
  cfg: GPTConfig,
  parameters: number,
  promptTokens: number,
  newTokens: number,
  bytesPerWeight = 4,
): number {
  const C = cfg.embDim;
  const embeddingTables = cfg.vocabSize * C + cfg.contextLength * C;
  const head = cfg.vocabSize * C; // read as the output layer, tied or not
  const weights = parameters - embeddingTables + (cfg.tiedHead ? head : 0) + 2 * C; // + the two looked-up rows
  const averagePosition = promptTokens + (newTokens - 1) / 2;
  const kvCache = 2 * cfg.nLayers * averagePosition * C * 4; // K and V of every layer, f32
  return weights * bytesPerWeight + kvCache;
}

function refLine<T>(r: RefResult<T>): string {
  return r.ok ? '' : `PyTorch reference not run: ${r.reason}`;
}

export async function run(args: string[], name = 'forward'): Promise<void> {
  const reps = Number(args.find((a) => a.startsWith('--reps='))?.slice(7) ?? 3);
  const withRef = !args.includes('--no-ref');
  printMachine();
  const cfg = presetConfig('gpt2-small', { dropRate: 0, qkvBias: true, tiedHead: true });
  const model = new GPTModel(cfg, new Rng(123)).eval();
  const threads = getBackend().threads();
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
    // gptkit, PyTorch, gptkit again: both see the same stretch of machine load.
    const times = Array.from({ length: reps }, once);
    const faults = (process.resourceUsage().minorPageFault - f0) / reps;
    const torch = withRef
      ? runTorchModel<{ forward_s: number; torch: string; blas: string }>('forward', reps, threads)
      : ({ ok: false, reason: '--no-ref given' } as const);
    const before = median(times);
    times.push(...Array.from({ length: reps }, once));
    const after = median(times.slice(reps));
    const t = median(times);
    const ref = torch.ok ? torch.value.forward_s : undefined;
    console.log('| workload | gptkit | PyTorch (book code, tuned) | speed-up |');
    console.log('|---|---:|---:|---:|');
    console.log(
      `| forward 1 x 1024, no grad (s; gptkit median of ${2 * reps}, PyTorch of ${reps}) | ${t.toFixed(3)} | ` +
        `${ref !== undefined ? ref.toFixed(3) : 'not run'} | ${ratio(t, ref, true)} |`,
    );
    console.log(`(gptkit before / after the reference: ${before.toFixed(3)} / ${after.toFixed(3)} s)`);
    if (torch.ok)
      console.log(`\nPyTorch ${torch.value.torch}, ${threads} threads, BLAS: ${torch.value.blas}`);
    else console.log(`\n${refLine(torch)}`);
    console.log(
      `minor page faults per gptkit pass after warm-up: ${faults.toFixed(0)}; pool: ${JSON.stringify(pool.stats)}`,
    );
  } else {
    const prompt = [6109, 3626, 6100, 345]; // "Every effort moves you"
    const newTokens = 200;
    generate(model, prompt, { maxNewTokens: 5 }); // warm-up
    const addon = benchAddon();
    const arrays = addon ? streamArrays(128) : null;
    const bandwidth: number[] = [];
    const rates: number[] = [];
    const measureRound = () => {
      if (addon && arrays) bandwidth.push(streamBandwidth(addon, 'read', threads, arrays, 5).median);
      const t0 = performance.now();
      const out = generate(model, prompt, { maxNewTokens: newTokens });
      rates.push(out.length / ((performance.now() - t0) / 1000));
    };
    for (let r = 0; r < reps; r++) measureRound();
    const torch = withRef
      ? runTorchModel<{ tokens_per_s: number; no_cache_tokens_per_s: number; torch: string; blas: string }>(
          'generate',
          reps,
          threads,
        )
      : ({ ok: false, reason: '--no-ref given' } as const);
    for (let r = 0; r < reps; r++) measureRound();
    const noCacheT0 = performance.now();
    const nc = generate(model, prompt, { maxNewTokens: 50, useCache: false });
    const noCache = nc.length / ((performance.now() - noCacheT0) / 1000);
    const rate = median(rates);
    const ref = torch.ok ? torch.value : undefined;
    console.log('| workload | gptkit | PyTorch (book code, tuned) | gptkit / PyTorch |');
    console.log('|---|---:|---:|---:|');
    console.log(
      `| greedy, 4-token prompt + ${newTokens} new, KV cache (tokens/s; gptkit median of ${2 * reps}, PyTorch of ${reps}) | ` +
        `${rate.toFixed(1)} | ${ref ? ref.tokens_per_s.toFixed(1) : 'not run'} | ${ratio(rate, ref?.tokens_per_s)} |`,
    );
    console.log(
      `| same without KV cache, 50 new tokens (tokens/s, once) | ${noCache.toFixed(1)} | ` +
        `${ref ? ref.no_cache_tokens_per_s.toFixed(2) : 'not run'} | ${ratio(noCache, ref?.no_cache_tokens_per_s)} |`,
    );
    if (torch.ok)
      console.log(`\nPyTorch ${torch.value.torch}, ${threads} threads, BLAS: ${torch.value.blas}`);
    else console.log(`\n${refLine(torch)}`);
    const bytes = decodeBytesPerToken(cfg, model.numParameters(), prompt.length, newTokens, 4);
    if (bandwidth.length) {
      const bw = median(bandwidth);
      const bound = tokensPerSecondBound(bytes, bw);
      console.log(
        `\nbandwidth bound (f32 weights): ${(bytes / 1e6).toFixed(0)} MB read per token (weights + average KV cache) / ` +
          `${bw.toFixed(1)} GB/s read bandwidth (${threads} threads, measured before each gptkit round, median) = ` +
          `${bound.toFixed(1)} tokens/s; gptkit reaches ${((100 * rate) / bound).toFixed(0)}% of it`,
      );
    } else console.log('\nbandwidth bound not measured: the native addon has no stream kernel');
  }
  console.log(`\nreproduce: npm run bench -- ${name} [--reps=${reps}] [--no-ref]`);
}
