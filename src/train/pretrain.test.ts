// Pretraining loop: reproducibility, resume equals an uninterrupted run (also after a SIGKILL in the middle
// of a checkpoint save), divergence stops without harming the last checkpoint, and clear bad-input errors.
// All on a tiny byte-level model (tiny-run.fixture.ts) so the whole file runs in seconds.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadGPT2 } from '../models/gpt/gpt2-weights.js';
import { Rng } from '../tensor/rng.js';
import { latestCheckpoint, loadCheckpoint, readTrainingState, type MetricRecord } from './checkpoint.js';
import { packageRootPath } from '../data/paths.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import { pretrain, type PretrainOptions, type PretrainResult } from './pretrain.js';
import { TrainingDivergedError } from './trainer.js';
import { tinyConfig, tinyOptions, tinyText, byteTokenizer } from './tiny-run.fixture.js';

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gptkit-pretrain-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
const freshDir = () => join(tmp, `run-${counter++}`);

function weightsOf(r: PretrainResult): number[] {
  return r.model.parameters().flatMap((p) => Array.from(p.data.subarray(p.offset, p.offset + p.size)));
}

function assertSameHistory(got: MetricRecord[], want: MetricRecord[]): void {
  assert.equal(got.length, want.length, 'number of evaluations');
  got.forEach((g, i) => {
    const w = want[i];
    assert.equal(g.step, w.step);
    assert.equal(g.tokensSeen, w.tokensSeen);
    assert.equal(g.epochProgress, w.epochProgress);
    // exact equality: a resumed run must reproduce every logged loss bit for bit
    assert.equal(g.trainLoss, w.trainLoss, `train loss at step ${g.step}`);
    assert.equal(g.valLoss, w.valLoss, `val loss at step ${g.step}`);
    assert.equal(g.lr, w.lr);
  });
}

// The uninterrupted reference run (2 epochs x 25 steps, eval every 5 steps, checkpoint every 5 steps).
let reference: PretrainResult;
before(async () => {
  reference = await pretrain(tinyOptions(freshDir(), { saveEvery: 5 }));
});

describe('pretrain: the loop', () => {
  it("reports where the time went, and the final model shares the last checkpoint's files", () => {
    const t = reference.timing;
    for (const [k, v] of Object.entries(t)) assert.ok(Number.isFinite(v) && v >= 0, `timing.${k} = ${v}`);
    assert.ok(t.steps > 0 && t.evaluation > 0 && t.endOfEpoch > 0 && t.checkpoints > 0, JSON.stringify(t));
    const parts = t.steps + t.evaluation + t.endOfEpoch + t.checkpoints + t.setup + t.finalWrites;
    assert.ok(parts <= t.total + 1e-6, `the parts (${parts} s) fit in the total (${t.total} s)`);
    assert.deepEqual(
      readFileSync(join(reference.modelDir!, 'model.safetensors')),
      readFileSync(join(reference.checkpointDir!, 'model.safetensors')),
    );
  });

  it('follows train_model_simple: evaluations at steps 0, 5, ..., tokens seen, one sample per epoch', async () => {
    const lines: string[] = [];
    const samples: number[] = [];
    const r = await pretrain(
      tinyOptions(freshDir(), { log: (l) => lines.push(l), onSample: (e) => samples.push(e) }),
    );
    assert.equal(r.steps, 50);
    assert.equal(r.tokensSeen, 50 * 2 * 16);
    assert.deepEqual(
      r.history.map((h) => h.step),
      [0, 5, 10, 15, 20, 25, 30, 35, 40, 45],
    );
    assert.deepEqual(samples, [1, 2]);
    assert.match(lines[0], /^Ep 1 \(Step 000000\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}$/);
    assert.ok(lines.some((l) => l.startsWith('Ep 2 (Step 000025)')));
    assert.equal(
      lines.filter((l) => l.startsWith('Every effort moves you')).length,
      2,
      'a greedy sample after each epoch',
    );
    assert.ok(r.history[r.history.length - 1].trainLoss < r.history[0].trainLoss - 1, 'the loss goes down');
    // metrics.jsonl: one JSON object per evaluation
    const rows = readFileSync(r.metricsPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as MetricRecord);
    assert.equal(rows.length, r.history.length);
    assert.deepEqual(Object.keys(rows[0]).sort(), [
      'elapsed',
      'epoch',
      'epochProgress',
      'lr',
      'step',
      'tokensSeen',
      'trainLoss',
      'valLoss',
    ]);
    assert.equal(rows[3].trainLoss, r.history[3].trainLoss);
    // final model, plot, checkpoints (two kept)
    const ckpt = await loadCheckpoint(r.checkpointDir!);
    assert.deepEqual(ckpt.model.cfg, tinyConfig);
    assert.ok(readFileSync(r.plotPath, 'utf8').includes('class="valLoss"'));
    // Only the newest checkpoint is kept by default; the epoch-1 one was deleted once step 50 was durable.
    assert.deepEqual(readdirSync(join(r.outDir, 'checkpoints')).sort(), ['latest.json', 'step-000050']);
  });

  it('a run that fails before its first checkpoint leaves no run directory behind', async () => {
    const dir = join(freshDir(), 'new-run');
    await assert.rejects(pretrain(tinyOptions(dir, { lr: 1e9, clipGrad: undefined })), /diverged/);
    assert.equal(existsSync(dir), false);
  });

  it('is reproducible: the same seed gives the same losses and weights; another seed does not', async () => {
    const again = await pretrain(tinyOptions(freshDir()));
    assertSameHistory(again.history, reference.history);
    assert.deepEqual(weightsOf(again), weightsOf(reference));
    const other = await pretrain(tinyOptions(freshDir(), { seed: 7, epochs: 1 }));
    assert.notEqual(other.history[0].trainLoss, reference.history[0].trainLoss);
  });

  it('applies the appendix-D schedule: warmup from initialLr, cosine down to minLr', async () => {
    const lrs: number[] = [];
    const r = await pretrain(
      tinyOptions(freshDir(), {
        warmupSteps: 10,
        initialLr: 1e-5,
        minLr: 1e-4,
        clipGrad: 1,
        onStep: (p) => lrs.push(p.lr),
      }),
    );
    assert.equal(lrs.length, 50);
    assert.equal(lrs[0], 1e-5);
    assert.ok(Math.abs(lrs[10] - 1e-3) < 1e-12, `peak ${lrs[10]}`);
    assert.ok(lrs[49] < 1.1e-4 && lrs[49] >= 1e-4, `end ${lrs[49]}`);
    assert.ok(Number.isFinite(r.history[r.history.length - 1].trainLoss));
  });

  it('--init gpt2 draws N(0, 0.02) weights with scaled residual projections', async () => {
    const r = await pretrain(tinyOptions(freshDir(), { init: 'gpt2', epochs: 0, sampleTokens: 0 }));
    assert.equal(r.steps, 0);
    const std = (name: string) => {
      const p = r.model.namedParameters().find(([k]) => k === name)![1];
      const d = Array.from(p.data);
      return Math.sqrt(d.reduce((s, x) => s + x * x, 0) / d.length);
    };
    assert.ok(Math.abs(std('tok_emb.weight') - 0.02) < 0.002);
    assert.ok(Math.abs(std('trf_blocks.0.ff.layers.2.weight') - 0.02 / 2) < 0.002);
    assert.equal(std('trf_blocks.0.ff.layers.0.bias'), 0);
  });
});

describe('pretrain: checkpoints and resume', () => {
  it('OUT/model is a Hugging Face GPT-2 directory that loadGPT2 (gptkit generate) reads', async () => {
    const model = await loadGPT2(reference.modelDir!);
    assert.deepEqual({ ...model.cfg, dropRate: 0.1 }, tinyConfig);
    assert.deepEqual(
      model.parameters().flatMap((p) => Array.from(p.data)),
      weightsOf(reference),
    );
  });

  it('a run stopped after a mid-epoch checkpoint resumes to exactly the uninterrupted losses and weights', async () => {
    const dir = freshDir();
    const first = await pretrain(tinyOptions(dir, { saveEvery: 5, stopAfterSteps: 13 }));
    assert.ok(first.stopped);
    assert.equal(first.modelDir, null);
    assert.equal(first.checkpointDir, join(dir, 'checkpoints', 'step-000010'));
    const state = await readTrainingState(first.checkpointDir!);
    assert.equal(state.batchInEpoch, 10);
    assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 3); // steps 0, 5, 10
    const resumed = await pretrain(tinyOptions(dir, { saveEvery: 5, resume: true }));
    assertSameHistory(resumed.history, reference.history);
    assert.deepEqual(weightsOf(resumed), weightsOf(reference));
    const rows = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    assert.equal(rows.length, reference.history.length, 'metrics.jsonl continues without duplicates');
  });

  it("resuming from code restores the run's own options (epochs, lr, schedule) as the CLI does", async () => {
    const dir = freshDir();
    await pretrain(tinyOptions(dir, { saveEvery: 5, stopAfterSteps: 13 }));
    // Only what cannot be recorded (the text and tokenizer objects) is given again.
    const resumed = await pretrain({
      outDir: dir,
      resume: true,
      text: tinyText,
      tokenizer: byteTokenizer,
      log: () => {},
    });
    assertSameHistory(resumed.history, reference.history);
    assert.deepEqual(weightsOf(resumed), weightsOf(reference));
  });

  it('resumes from an end-of-epoch checkpoint the same way', async () => {
    const dir = freshDir();
    await pretrain(tinyOptions(dir, { stopAfterSteps: 30 })); // epoch 1 saved at step 25, stopped in epoch 2
    assert.equal(await latestCheckpoint(join(dir, 'checkpoints')), join(dir, 'checkpoints', 'step-000025'));
    const resumed = await pretrain(tinyOptions(dir, { resume: true }));
    assertSameHistory(resumed.history, reference.history);
    assert.deepEqual(weightsOf(resumed), weightsOf(reference));
  });

  it('refuses to resume with another model configuration, naming the difference', async () => {
    const dir = freshDir();
    await pretrain(tinyOptions(dir, { epochs: 1, sampleTokens: 0 }));
    await assert.rejects(
      pretrain(tinyOptions(dir, { resume: true, model: { ...tinyConfig, embDim: 64, nLayers: 3 } })),
      /another model configuration.*embDim 32 vs 64, nLayers 2 vs 3/,
    );
    await assert.rejects(
      pretrain(tinyOptions(dir, { resume: true, batchSize: 4 })),
      /batch size 2, this run asks for 4/,
    );
    await assert.rejects(
      pretrain(tinyOptions(dir, { resume: true, text: tinyText.slice(0, 800) })),
      /training data differs/,
    );
    await assert.rejects(pretrain(tinyOptions(dir)), /already holds a training run.*--resume/);
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { resume: true })),
      /has no checkpoint to continue/,
    );
  });

  it('checkpoint directories load as plain models and carry the optimizer state', async () => {
    const ckpt = await loadCheckpoint((await latestCheckpoint(join(reference.outDir, 'checkpoints')))!);
    assert.equal(ckpt.state.step, 50);
    assert.equal(ckpt.state.optimizer.stepCount, 50);
    assert.equal(ckpt.optimizerState.size, 2 * ckpt.model.parameters().length);
    assert.deepEqual(
      ckpt.model.parameters().flatMap((p) => Array.from(p.data)),
      weightsOf(reference),
    );
  });
});

const child = fileURLToPath(new URL('./pretrain.crash-child.js', import.meta.url));

/** Fork the crash child; SIGKILL it when it reports the given phase of the given save. */
function runChildUntil(
  outDir: string,
  phase: string,
  saveNumber: number,
  saveEvery: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = fork(child, [outDir, phase, String(saveNumber), String(saveEvery)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('message', (m: { phase?: string; finished?: boolean }) => {
      if (m.phase) {
        p.kill('SIGKILL');
        resolve(m.phase);
      }
      if (m.finished) reject(new Error('the child finished without reaching the kill point'));
    });
    p.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
    });
  });
}

describe('pretrain: killed while saving a checkpoint', () => {
  // Second save of a run checkpointing every 5 steps = step 10; the previous one is step 5.
  const cases: Array<[string, string]> = [
    ['weights', 'step-000005'],
    ['optimizer', 'step-000005'],
    ['state', 'step-000005'],
    ['renamed', 'step-000005'], // the new directory exists but the pointer has not moved yet
    ['pointer', 'step-000010'],
  ];
  for (const [phase, expected] of cases) {
    it(`SIGKILL after the '${phase}' stage: ${expected} is the latest, loads, and resuming matches the uninterrupted run`, async () => {
      const dir = freshDir();
      assert.equal(await runChildUntil(dir, phase, 2, 5), phase);
      const root = join(dir, 'checkpoints');
      assert.equal(await latestCheckpoint(root), join(root, expected));
      const ckpt = await loadCheckpoint(join(root, expected));
      assert.equal(ckpt.state.step, Number(expected.slice(5)));
      const resumed = await pretrain(tinyOptions(dir, { saveEvery: 5, resume: true }));
      assertSameHistory(resumed.history, reference.history);
      assert.deepEqual(weightsOf(resumed), weightsOf(reference));
      assert.ok(
        !readdirSync(root).some((n) => n.includes('.tmp-')),
        'leftover temp directories are cleaned up',
      );
    });
  }

  it('SIGKILL at random moments of a run that checkpoints every step: always a loadable checkpoint, exact resume', async () => {
    const rng = new Rng(42);
    for (let trial = 0; trial < 3; trial++) {
      const dir = freshDir();
      await new Promise<void>((resolve, reject) => {
        const p = fork(child, [dir, 'none', '0', '1'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
        let timer: NodeJS.Timeout | undefined;
        p.on('message', (m: { saved?: number }) => {
          if (m.saved === 1) timer = setTimeout(() => p.kill('SIGKILL'), 5 + rng.int(200));
        });
        p.on('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        p.on('error', reject);
      });
      const root = join(dir, 'checkpoints');
      const latest = await latestCheckpoint(root);
      assert.ok(latest, 'a checkpoint survives');
      await loadCheckpoint(latest);
      const resumed = await pretrain(tinyOptions(dir, { saveEvery: 7, resume: true }));
      assertSameHistory(resumed.history, reference.history);
    }
  });

  it('a corrupt or missing latest.json falls back to the newest complete step directory', async () => {
    const dir = freshDir();
    await runChildUntil(dir, 'state', 3, 5); // saves at 5 and 10 complete; killed inside the save of step 15
    const root = join(dir, 'checkpoints');
    writeFileSync(join(root, 'latest.json'), '{"dir": "step-0000');
    assert.equal(await latestCheckpoint(root), join(root, 'step-000010'));
    rmSync(join(root, 'latest.json'));
    assert.equal(await latestCheckpoint(root), join(root, 'step-000010'));
    assert.ok(
      readdirSync(root).some((n) => n.includes('.tmp-')),
      'the killed save left its temp directory',
    );
  });
});

describe('pretrain: continuing a Hugging Face GPT-2 directory (tied head, qkv bias)', () => {
  const fixture = join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny', 'model');
  const opts = (outDir: string, extra: Partial<PretrainOptions> = {}) =>
    tinyOptions(outDir, {
      model: fixture,
      tokenizer: loadGpt2Tokenizer(),
      text: tinyText + tinyText,
      contextLength: 16,
      epochs: 1,
      evalFreq: 2,
      ...extra,
    });

  it('trains from the loaded weights and resumes exactly from its checkpoints', async () => {
    const full = await pretrain(opts(freshDir()));
    assert.equal(full.model.cfg.tiedHead, true);
    assert.equal(full.model.cfg.qkvBias, true);
    assert.equal(full.model.cfg.dropRate, 0.1);
    assert.equal(
      full.model.cfg.contextLength,
      64,
      'a pretrained model keeps its position table; windows use 16',
    );
    const dir = freshDir();
    await pretrain(opts(dir, { saveEvery: 3, stopAfterSteps: 4 }));
    const resumed = await pretrain(opts(dir, { saveEvery: 3, resume: true }));
    assertSameHistory(resumed.history, full.history);
    assert.deepEqual(weightsOf(resumed), weightsOf(full));
    // the final model directory is a GPT-2 checkpoint again: tied head (no lm_head), qkv bias
    const reloaded = await loadGPT2(full.modelDir!);
    assert.deepEqual(
      reloaded.parameters().flatMap((p) => Array.from(p.data)),
      weightsOf(full),
    );
  });
});

describe('pretrain: divergence and bad input', () => {
  it('a learning rate that blows up stops with the step named and leaves the last checkpoint intact', async () => {
    const dir = freshDir();
    await pretrain(tinyOptions(dir, { epochs: 1, sampleTokens: 0 }));
    const root = join(dir, 'checkpoints');
    const before = readFileSync(join(root, 'step-000025', 'model.safetensors'));
    const pointer = readFileSync(join(root, 'latest.json'), 'utf8');
    const finalModel = readFileSync(join(dir, 'model', 'model.safetensors'));
    let err: unknown;
    try {
      await pretrain(tinyOptions(dir, { resume: true, lr: 1e30, sampleTokens: 0 }));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof TrainingDivergedError, String(err));
    // Step 25 (the first after the resume) blows the weights up; the evaluation right after it sees NaN.
    assert.equal(err.step, 25);
    assert.match(
      err.message,
      /diverged at step 25 \(epoch 2, learning rate 1e\+30\): the (training loss|evaluation gives).*NaN.*step-000025/,
    );
    assert.deepEqual(readFileSync(join(root, 'step-000025', 'model.safetensors')), before);
    assert.equal(readFileSync(join(root, 'latest.json'), 'utf8'), pointer);
    assert.deepEqual(
      readFileSync(join(dir, 'model', 'model.safetensors')),
      finalModel,
      'the final model of the first run is untouched',
    );
    assert.deepEqual(readdirSync(root).sort(), ['latest.json', 'step-000025']);
  });

  it('too little text: says how many tokens there are and how many are needed', async () => {
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { text: '' })),
      /has 0 tokens; training with a context length of 16 needs at least 17/,
    );
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { text: 'x'.repeat(100) })),
      /validation text .* has 10 tokens; .* needs at least 17/,
    );
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { text: tinyText, valText: 'short' })),
      /validation text \(the given validation text\) has 5 tokens/,
    );
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { text: 'x'.repeat(300), batchSize: 32 })),
      /16 window\(s\) of 16, fewer than one batch of 32/,
    );
  });

  it('context length larger than the model, unknown model, bad numbers', async () => {
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { contextLength: 32 })),
      /context length 32 is larger than the model's 16/,
    );
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { model: 'gpt2-small', contextLength: 2048 })),
      /context length 2048 is larger than the model's 1024/,
    );
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { model: 'gpt9' })),
      /not a preset .* a config file, or a model directory/,
    );
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { lr: NaN })),
      /lr \(--lr\) must be a number >= 0, got NaN/,
    );
    await assert.rejects(
      pretrain(tinyOptions(freshDir(), { data: join(tmp, 'nope.txt'), text: undefined })),
      /--data .*nope\.txt: no such file/,
    );
  });

  it('an unwritable output directory fails up front, before any training', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    let steps = 0;
    await assert.rejects(
      pretrain(tinyOptions(join(file, 'out'), { onStep: () => steps++ })),
      /output directory .*a-file\/out cannot be created/,
    );
    assert.equal(steps, 0);
  });

  it('reads a folder of text files and a separate validation file', async () => {
    const data = join(tmp, 'corpus');
    rmSync(data, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(data, 'sub'), { recursive: true });
    writeFileSync(join(data, 'a.txt'), tinyText.slice(0, 400));
    writeFileSync(join(data, 'sub', 'b.txt'), tinyText.slice(400));
    writeFileSync(join(data, 'ignored.bin'), 'zzz');
    const val = join(tmp, 'val.txt');
    writeFileSync(val, tinyText.slice(0, 200));
    let info = '';
    const r = await pretrain(
      tinyOptions(freshDir(), {
        text: undefined,
        data,
        valData: val,
        epochs: 1,
        sampleTokens: 0,
        onStart: (i) => (info = `${i.trainTokens}/${i.valTokens}`),
      }),
    );
    assert.equal(
      info,
      `${byteTokenizer.encode(tinyText.slice(0, 400) + '<|endoftext|>' + tinyText.slice(400)).length}/200`,
    );
    assert.ok(r.steps > 0);
  });
});
