// Seconds per optimizer step of the book's chapter-7 instruction fine-tuning on GPT-2 medium's shape (355M,
// random weights, qkv bias, dropout 0, untied head as the book loads it): batch 8 of the bundled data (the
// book's collate), AdamW lr 5e-5 on every weight; and a DPO step of the chapter-7 notebook (batch 8 pairs).
// gptkit's DPO step runs the policy only: the reference's log-probabilities are computed once per pair
// before training (timed separately, per batch), which is the same work as the notebook's per-step
// reference forward for one epoch. When PyTorch is installed, dev/finetune-instruct-torch/bench.py runs
// the book's code on the same batches in the same invocation.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { getBackend } from '../src/backend/index.js';
import {
  collateInstructions,
  InstructionDataset,
  PreferenceDataset,
  PreferenceLoader,
  promptTemplate,
  readInstructionEntries,
  type PreferenceEntry,
} from '../src/data/instruction.js';
import { dataPath, packageRootPath } from '../src/data/paths.js';
import { presetConfig } from '../src/models/gpt/config.js';
import { GPTModel } from '../src/models/gpt/gpt.js';
import { AdamW } from '../src/optim/index.js';
import { backward } from '../src/tensor/autograd.js';
import { manualSeed } from '../src/tensor/rng.js';
import { tidy } from '../src/tensor/tensor.js';
import { loadGpt2Tokenizer } from '../src/tokenizer/gpt2.js';
import { dpoBatchLoss, referenceLogprobs } from '../src/train/dpo.js';
import { calcLossBatch } from '../src/train/loss.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeSteps(step: () => void, warmup: number, steps: number): number {
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    step();
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

interface TorchResult {
  torch: string;
  sft_s_per_step?: number;
  dpo_s_per_step?: number;
}

function runTorch(steps: number): TorchResult | null {
  const bookCode = process.env.LLMS_FROM_SCRATCH;
  if (!bookCode) {
    console.log(
      "PyTorch reference not run: set LLMS_FROM_SCRATCH to a checkout (or bare git dir) of the book's code",
    );
    return null;
  }
  // The fastest PyTorch setup we know on these machines (see bench/finetune-classifier.ts).
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENBLAS_CORETYPE: 'SkylakeX',
    OMP_WAIT_POLICY: 'PASSIVE',
    GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=17179869184',
  };
  delete env.OPENBLAS_L2_SIZE;
  const script = join(packageRootPath(), 'dev', 'finetune-instruct-torch', 'bench.py');
  const r = spawnSync('/usr/bin/python3', [script, '--book', bookCode, '--json', `--steps=${steps}`], {
    encoding: 'utf8',
    env,
  });
  const last = r.stdout?.trim().split('\n').pop();
  try {
    if (r.status === 0 && last) return JSON.parse(last) as TorchResult;
  } catch {
    // reported below
  }
  console.log(
    `PyTorch reference did not run: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`,
  );
  return null;
}

export async function run(args: string[]): Promise<void> {
  const steps = Number(args.find((a) => a.startsWith('--steps='))?.slice(8) ?? 3);
  console.log(
    `CPU: ${cpus()[0]?.model ?? '?'}; backend ${getBackend().name}, ${getBackend().threads()} threads`,
  );
  // The reference runs first, in its own process: gptkit's model and optimizer state (about 8 GB) and the
  // PyTorch process's must not be in memory at the same time on a 24 GB machine.
  const torch = runTorch(steps);
  const tokenizer = loadGpt2Tokenizer();
  const alpaca = promptTemplate('alpaca');
  manualSeed(123);
  const model = new GPTModel(presetConfig('gpt2-medium', { qkvBias: true, dropRate: 0 })).train();

  const sft = new InstructionDataset(
    readInstructionEntries(dataPath('instruction-data.json')).slice(0, 8),
    tokenizer,
    alpaca,
  );
  const batch = collateInstructions(sft.ids, { allowedMaxLength: 1024 });
  let opt = new AdamW(model.parameters(), { lr: 5e-5, weightDecay: 0.1 });
  const sftStep = timeSteps(
    () =>
      tidy(() => {
        opt.zeroGrad();
        backward(calcLossBatch(model, batch));
        opt.step();
      }),
    1,
    steps,
  );
  const tokens = batch.batchSize * batch.seqLen;

  const pairs = readInstructionEntries(dataPath('instruction-data-with-preference.json'), {
    required: ['chosen', 'rejected'],
  }).slice(0, 8) as PreferenceEntry[];
  const loader = new PreferenceLoader(new PreferenceDataset(pairs, tokenizer, alpaca), {
    batchSize: 8,
    allowedMaxLength: 1024,
  });
  // Timed warm, as for every batch but the first of a real run (the first call also faults in fresh pages).
  referenceLogprobs(model, loader);
  const t0 = performance.now();
  const ref = referenceLogprobs(model, loader);
  const refSeconds = (performance.now() - t0) / 1000;
  model.train();
  opt = new AdamW(model.parameters(), { lr: 5e-6, weightDecay: 0.01 });
  const pb = loader.batchAt(0);
  const dpoStep = timeSteps(
    () =>
      tidy(() => {
        opt.zeroGrad();
        backward(dpoBatchLoss(model, pb, ref, 0.1).loss);
        opt.step();
      }),
    1,
    steps,
  );
  const rss = process.memoryUsage().rss / 2 ** 30;

  const ratio = (ref?: number, ours?: number) =>
    ref && ours ? ` | PyTorch ${ref.toFixed(2)} s | ${(ref / ours).toFixed(2)}x` : '';
  console.log(
    `instruction step (batch ${batch.batchSize} x ${batch.seqLen}, all weights): ${sftStep.toFixed(2)} s/step, ` +
      `${(tokens / sftStep).toFixed(0)} tokens/s${ratio(torch?.sft_s_per_step, sftStep)}`,
  );
  console.log(
    `DPO step (batch ${pb.batchSize} pairs x ${pb.seqLen}): policy ${dpoStep.toFixed(2)} s + reference ${refSeconds.toFixed(2)} s ` +
      `(once per pair, before training) = ${(dpoStep + refSeconds).toFixed(2)} s${ratio(torch?.dpo_s_per_step, dpoStep + refSeconds)}`,
  );
  console.log(
    `RSS after both: ${rss.toFixed(2)} GiB (one model, two optimizers one after the other; the notebook holds a second, frozen model for DPO)`,
  );
  console.log(
    `(torch ${torch?.torch ?? 'not run'}; median of ${steps} steps after 1 warm-up; reproduce: LLMS_FROM_SCRATCH=... npm run bench -- finetune-instruct)`,
  );
}
