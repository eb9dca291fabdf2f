// Training throughput on the GPT-2 124M architecture, in the book's chapter-5 setting (context 256, batch 2,
// dropout 0.1, untied head, no qkv bias, AdamW lr 4e-4 wd 0.1, real batches of the-verdict.txt) and at 4 x 1024.
// Reports tokens/s, the split of one step (forward, backward, optimizer), minor page faults per step after
// warm-up and the buffer pool's counters. PyTorch runs the book's own step in the book setting in the same
// invocation (dev/model-bench-torch/bench.py train; needs LLMS_FROM_SCRATCH), tuned as
// BENCHMARKS.md describes; the ratio is printed next to it, or why it did not run.
import { pathToFileURL } from 'node:url';
import { getBackend } from '../src/backend/index.js';
import { presetConfig } from '../src/models/gpt/config.js';
import { GPTModel } from '../src/models/gpt/gpt.js';
import { AdamW } from '../src/optim/index.js';
import * as ops from '../src/ops/index.js';
import { backward } from '../src/tensor/autograd.js';
import { pool } from '../src/tensor/pool.js';
import { manualSeed } from '../src/tensor/rng.js';
import { fromTypedArray, tidy } from '../src/tensor/tensor.js';
import { dataPath } from '../src/data/paths.js';
import { readFileSync } from 'node:fs';
import { loadGpt2Tokenizer } from '../src/tokenizer/gpt2.js';
import { printMachine, ratio, runTorchModel } from './reference.js';

const USAGE =
  'usage: npm run bench -- train [--steps=N] [--warmup=N] [--long=BxT] [--long-steps=N] [--only=book|long] [--no-ref]';

interface Setting {
  label: string;
  batch: number;
  context: number;
  steps: number;
  warmup: number;
}

interface Result {
  setting: Setting;
  tokensPerSecond: number;
  stepSeconds: number;
  forward: number;
  backward: number;
  optimizer: number;
  faultsPerStep: number;
  poolAllocationsPerStep: number;
  bytesAllocated: number;
  loss: number;
  /** Largest RSS seen after a phase of a step (GB). */
  peakRssGB: number;
}

function arg(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  if (!a) return dflt;
  const v = Number(a.slice(name.length + 3));
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer\n${USAGE}`);
  return v;
}

function measure(s: Setting, tokens: number[]): Result {
  manualSeed(123);
  const cfg = presetConfig('gpt2-small', {
    contextLength: s.context,
    dropRate: 0.1,
    qkvBias: false,
    tiedHead: false,
  });
  const model = new GPTModel(cfg).train();
  const opt = new AdamW(model.parameters(), { lr: 4e-4, weightDecay: 0.1 });
  const T = s.context;
  const B = s.batch;
  // Consecutive windows of the story (wrapping around), as the book's loader would hand them out.
  let cursor = 0;
  const nextBatch = () => {
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      if (cursor + T + 1 > tokens.length) cursor = 0;
      for (let t = 0; t < T; t++) {
        inputs[b * T + t] = tokens[cursor + t];
        targets[b * T + t] = tokens[cursor + t + 1];
      }
      cursor += T;
    }
    return { inputs: fromTypedArray(inputs, [B, T]), targets: fromTypedArray(targets, [B, T]) };
  };
  const times = { forward: 0, backward: 0, optimizer: 0 };
  let loss = NaN;
  let peakRss = 0;
  const rss = () => (peakRss = Math.max(peakRss, process.memoryUsage.rss()));
  const step = (record: boolean) =>
    tidy(() => {
      const { inputs, targets } = nextBatch();
      const t0 = performance.now();
      opt.zeroGrad();
      const l = ops.crossEntropy(model.forward(inputs), targets);
      loss = l.item();
      const t1 = performance.now();
      rss();
      backward(l);
      const t2 = performance.now();
      opt.step();
      const t3 = performance.now();
      rss();
      if (record) {
        times.forward += t1 - t0;
        times.backward += t2 - t1;
        times.optimizer += t3 - t2;
      }
    });
  for (let i = 0; i < s.warmup; i++) step(false);
  const f0 = process.resourceUsage().minorPageFault;
  const a0 = pool.stats.allocations;
  const start = performance.now();
  for (let i = 0; i < s.steps; i++) step(true);
  const seconds = (performance.now() - start) / 1000;
  const n = Math.max(s.steps, 1);
  return {
    setting: s,
    tokensPerSecond: (s.steps * B * T) / seconds,
    stepSeconds: seconds / n,
    forward: times.forward / 1000 / n,
    backward: times.backward / 1000 / n,
    optimizer: times.optimizer / 1000 / n,
    faultsPerStep: (process.resourceUsage().minorPageFault - f0) / n,
    poolAllocationsPerStep: (pool.stats.allocations - a0) / n,
    bytesAllocated: pool.stats.bytesAllocated,
    loss,
    peakRssGB: peakRss / 2 ** 30,
  };
}

/** The mean of two measurements of one setting (peak RSS: the larger; loss: the later). */
function averaged(a: Result, b: Result): Result {
  const mean = (k: 'tokensPerSecond' | 'stepSeconds' | 'forward' | 'backward' | 'optimizer') =>
    (a[k] + b[k]) / 2;
  return {
    ...b,
    setting: { ...a.setting, steps: a.setting.steps + b.setting.steps },
    tokensPerSecond: mean('tokensPerSecond'),
    stepSeconds: mean('stepSeconds'),
    forward: mean('forward'),
    backward: mean('backward'),
    optimizer: mean('optimizer'),
    faultsPerStep: (a.faultsPerStep + b.faultsPerStep) / 2,
    poolAllocationsPerStep: (a.poolAllocationsPerStep + b.poolAllocationsPerStep) / 2,
    peakRssGB: Math.max(a.peakRssGB, b.peakRssGB),
  };
}

export async function run(args: string[]): Promise<void> {
  const steps = arg(args, 'steps', 5);
  const warmup = arg(args, 'warmup', 2);
  const longSteps = arg(args, 'long-steps', 2);
  const only = args.find((a) => a.startsWith('--only='))?.slice(7);
  const tokens = loadGpt2Tokenizer().encode(readFileSync(dataPath('the-verdict.txt'), 'utf8'));
  const settings: Setting[] = [];
  if (only !== 'long')
    settings.push({
      label: 'book ch. 5: 124M, 2 x 256, dropout 0.1, AdamW',
      batch: 2,
      context: 256,
      steps,
      warmup,
    });
  const long = /^(\d+)x(\d+)$/.exec(args.find((a) => a.startsWith('--long='))?.slice(7) ?? '4x1024');
  if (!long || Number(long[2]) > 1024 || Number(long[1]) < 1)
    throw new Error(`--long needs BxT with T <= 1024\n${USAGE}`);
  const [lb, lt] = [Number(long[1]), Number(long[2])];
  if (only !== 'book')
    settings.push({
      label: `124M, ${lb} x ${lt}, dropout 0.1, AdamW`,
      batch: lb,
      context: lt,
      steps: longSteps,
      warmup: 1,
    });
  const bk = getBackend();
  printMachine();
  console.log(
    `backend ${bk.name} (${bk.threads()} threads); GPTKIT_BACKEND=${process.env.GPTKIT_BACKEND ?? '(unset)'}\n`,
  );
  const results: Result[] = [];
  let torch: ReturnType<
    typeof runTorchModel<{ tokens_per_s: number; step_s: number; torch: string; blas: string }>
  > = {
    ok: false,
    reason: args.includes('--no-ref') ? '--no-ref given' : 'the book setting was not run (--only=long)',
  };
  const f = (x: number, d = 2) => x.toFixed(d);
  console.log(
    '| setting | steps (after warm-up) | tokens/s | s/step | forward | backward | optimizer | minor faults/step | new pool buffers/step | peak RSS | vs PyTorch (book setting) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  // Each row is printed as soon as it is measured: the long setting needs ~12 GiB and may not survive a
  // machine that other jobs share.
  for (const s of settings) {
    let r = measure(s, tokens);
    pool.trim(); // the next setting's model starts from a clean pool
    const book = r.setting.batch === 2 && r.setting.context === 256;
    // gptkit, PyTorch, gptkit again: both see about the same stretch of machine load.
    if (book && !args.includes('--no-ref')) {
      torch = runTorchModel('train', Math.max(steps, 1), bk.threads());
      const again = measure(s, tokens);
      pool.trim();
      console.log(
        `(gptkit book setting before / after PyTorch: ${f(r.tokensPerSecond, 1)} / ${f(again.tokensPerSecond, 1)} tokens/s; the row averages the two)`,
      );
      r = averaged(r, again);
    }
    results.push(r);
    const pct = (x: number) => `${f(x)} s (${Math.round((100 * x) / r.stepSeconds)}%)`;
    const vs = book ? ratio(r.tokensPerSecond, torch.ok ? torch.value.tokens_per_s : undefined) : '-';
    console.log(
      `| ${r.setting.label} | ${r.setting.steps} (${r.setting.warmup}) | ${f(r.tokensPerSecond, 1)} | ${f(r.stepSeconds)} | ${pct(r.forward)} | ${pct(r.backward)} | ` +
        `${pct(r.optimizer)} | ${f(r.faultsPerStep, 0)} | ${f(r.poolAllocationsPerStep, 1)} | ${f(r.peakRssGB, 1)} GiB | ${vs} |`,
    );
  }
  console.log(
    `\npool after the last setting: ${JSON.stringify(pool.stats)}; last losses: ${results.map((r) => f(r.loss, 3)).join(', ')}`,
  );
  if (torch.ok)
    console.log(
      `PyTorch ${torch.value.torch} (book's code, same setting, ${bk.threads()} threads, median of ${Math.max(steps, 1)} steps after 2 warm-up): ` +
        `${f(torch.value.tokens_per_s, 1)} tokens/s, ${f(torch.value.step_s)} s/step; BLAS: ${torch.value.blas}`,
    );
  else console.log(`PyTorch reference not run: ${torch.reason}`);
  console.log(`\nreproduce: npm run bench -- train${args.length ? ' ' + args.join(' ') : ''}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
