// Seconds per optimizer step of chapter-6 classifier fine-tuning on the GPT-2 124M architecture (random
// weights, qkv bias, dropout 0), batch 8 x 120 tokens of the book's spam training split, AdamW lr 5e-5:
// the book's setting (last block + final norm + head) computed in full each step and with the frozen
// blocks' output reused (what finetuneClassifier does), and LoRA rank 16 on every Linear. When PyTorch is
// installed, dev/finetune-classifier-torch/bench.py runs the book's code on the same batch in the same run.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { getBackend } from '../src/backend/index.js';
import { ClassificationDataset, readLabeledTexts } from '../src/data/classification.js';
import { dataPath, packageRootPath } from '../src/data/paths.js';
import { presetConfig } from '../src/models/gpt/config.js';
import { GPTModel } from '../src/models/gpt/gpt.js';
import { applyLoRA } from '../src/nn/lora.js';
import * as ops from '../src/ops/index.js';
import { AdamW } from '../src/optim/index.js';
import { backward, noGrad } from '../src/tensor/autograd.js';
import { manualSeed } from '../src/tensor/rng.js';
import { fromTypedArray, keep, tidy, type Tensor } from '../src/tensor/tensor.js';
import { loadGpt2Tokenizer } from '../src/tokenizer/gpt2.js';
import { selectToken, setTrainable } from '../src/train/classifier.js';

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

export async function run(args: string[]): Promise<void> {
  const steps = Number(args.find((a) => a.startsWith('--steps='))?.slice(8) ?? 5);
  const texts = readLabeledTexts(dataPath('sms-spam-book-split', 'train.csv'));
  const data = ClassificationDataset.fromTexts(
    texts.texts.slice(0, 8),
    [0, 0, 0, 0, 1, 1, 1, 1],
    loadGpt2Tokenizer(),
    {
      contextLength: 1024,
      maxLength: 120,
    },
  );
  const inputs = fromTypedArray(data.ids, [8, 120]);
  const labels = fromTypedArray(Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]), [8]);
  const lengths = data.lengths;
  manualSeed(123);
  const cfg = presetConfig('gpt2-small', { qkvBias: true, dropRate: 0 });
  const fresh = () => new GPTModel(cfg).useClassifierHead(2).train();
  const stepWith = (model: GPTModel, logits: () => Tensor) => {
    const opt = new AdamW(model.parameters(), { lr: 5e-5, weightDecay: 0.1 });
    return () =>
      tidy(() => {
        opt.zeroGrad();
        const loss = ops.crossEntropy(selectToken(logits(), 'last', lengths), labels);
        backward(loss);
        opt.step();
      });
  };
  console.log(
    `CPU: ${cpus()[0]?.model ?? '?'}; backend ${getBackend().name}, ${getBackend().threads()} threads`,
  );

  const book = fresh();
  setTrainable(book, 'last-block');
  const full = timeSteps(
    stepWith(book, () => book.forward(inputs)),
    2,
    steps,
  );
  const hidden = keep(noGrad(() => book.hidden(inputs, 11)));
  const reused = timeSteps(
    stepWith(book, () => book.forwardFrom(hidden, 11)),
    2,
    steps,
  );
  const lora = fresh();
  for (const p of lora.parameters()) p.requiresGrad = false;
  applyLoRA(lora, { rank: 16, alpha: 16 });
  const loraStep = timeSteps(
    stepWith(lora, () => lora.forward(inputs)),
    2,
    steps,
  );

  let torch: {
    last_block_s_per_step?: number;
    lora_s_per_step?: number;
    torch?: string;
    blas?: string;
  } | null = null;
  const script = join(packageRootPath(), 'dev', 'finetune-classifier-torch', 'bench.py');
  const bookCode = process.env.LLMS_FROM_SCRATCH;
  if (!bookCode)
    console.log(
      "PyTorch reference not run: set LLMS_FROM_SCRATCH to a checkout (or bare git dir) of the book's code",
    );
  else {
    // The fastest PyTorch setup we know on these machines (the reference gets every advantage).
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // This environment may preset OPENBLAS_CORETYPE=Haswell (AVX2); the reference gets its AVX-512 kernels.
      OPENBLAS_CORETYPE: 'SkylakeX',
      // On 2 cores torch's spinning OpenMP threads starve OpenBLAS's: passive waiting makes torch 1.5-2x faster.
      OMP_WAIT_POLICY: 'PASSIVE',
      GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=17179869184',
    };
    delete env.OPENBLAS_L2_SIZE;
    const r = spawnSync('/usr/bin/python3', [script, '--book', bookCode, '--json', `--steps=${steps}`], {
      encoding: 'utf8',
      env,
    });
    const last = r.stdout?.trim().split('\n').pop();
    try {
      torch = r.status === 0 && last ? JSON.parse(last) : null;
    } catch {
      torch = null;
    }
    if (!torch)
      console.log(
        `PyTorch reference did not run: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`,
      );
    else console.log(`PyTorch ${torch.torch}, BLAS: ${torch.blas}`);
  }
  const ratio = (ref: number | undefined, ours: number) =>
    ref ? ` | PyTorch ${ref.toFixed(3)} s | ${(ref / ours).toFixed(2)}x` : '';
  console.log(
    `book setting (last block), full forward: ${full.toFixed(3)} s/step${ratio(torch?.last_block_s_per_step, full)}`,
  );
  console.log(
    `book setting, frozen blocks reused:      ${reused.toFixed(3)} s/step${ratio(torch?.last_block_s_per_step, reused)}`,
  );
  console.log(
    `LoRA r16 on every Linear:                ${loraStep.toFixed(3)} s/step${ratio(torch?.lora_s_per_step, loraStep)}`,
  );
  console.log(
    `(torch ${torch?.torch ?? 'not run'}; median of ${steps} steps after 2 warm-up; reproduce: npm run bench -- finetune-classifier)`,
  );
}
