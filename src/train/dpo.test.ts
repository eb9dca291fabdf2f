// DPO (the chapter-7 bonus) against PyTorch running the notebook's code on the tiny model
// (test/fixtures/gpt2-tiny/finetune.json: three AdamW steps with loss, rewards and per-example log-probs),
// then the task end to end: ln 2 at the start, reward margins that grow, resume, bad input.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from '../data/paths.js';
import {
  PreferenceDataset,
  PreferenceLoader,
  promptTemplate,
  type PreferenceEntry,
} from '../data/instruction.js';
import { loadGPT2 } from '../models/gpt/gpt2-weights.js';
import { resolveModel } from '../models/gpt/source.js';
import { AdamW } from '../optim/index.js';
import { backward } from '../tensor/autograd.js';
import { tidy } from '../tensor/tensor.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import { dpo, dpoBatchLoss, referenceLogprobs } from './dpo.js';

const fixtureDir = join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny');
const fx = JSON.parse(readFileSync(join(fixtureDir, 'finetune.json'), 'utf8')) as {
  dpo: {
    entries: PreferenceEntry[];
    beta: number;
    steps: Array<{
      loss: number;
      chosen_reward: number;
      rejected_reward: number;
      policy_chosen_logprobs: number[];
      policy_rejected_logprobs: number[];
    }>;
  };
};

const closeRel = (a: number, e: number, rel: number, what: string, abs = 0) =>
  assert.ok(Math.abs(a - e) <= rel * Math.abs(e) + abs, `${what}: ${a} vs ${e}`);

describe('DPO parity with the notebook (PyTorch, tiny model)', () => {
  it('three AdamW steps: loss, rewards and per-example policy log-probabilities', async () => {
    const model = (await loadGPT2(join(fixtureDir, 'model'))).untieHead();
    const entries = fx.dpo.entries.map((e) => ({ ...e, input: e.input ?? '' }));
    const ds = new PreferenceDataset(entries, loadGpt2Tokenizer(), promptTemplate('alpaca'));
    const loader = new PreferenceLoader(ds, { batchSize: 2, allowedMaxLength: 64 });
    const ref = referenceLogprobs(model, loader);
    model.train();
    const optimizer = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
    // Rewards are differences of log-probabilities of about -11: compare them on an absolute scale.
    const lpScale = 11;
    fx.dpo.steps.forEach((want, step) => {
      tidy(() => {
        optimizer.zeroGrad();
        const r = dpoBatchLoss(model, loader.batchAt(0), ref, fx.dpo.beta);
        const what = `step ${step}`;
        closeRel(r.loss.item(), want.loss, 1e-4, `${what} loss`);
        if (step === 0) {
          assert.ok(Math.abs(r.loss.item() - Math.LN2) < 1e-6, 'ln 2 before the first step');
          assert.equal(r.chosenReward, 0);
          assert.equal(r.rejectedReward, 0);
        }
        closeRel(r.chosenReward, want.chosen_reward, 0, `${what} chosen reward`, 1e-4 * lpScale);
        closeRel(r.rejectedReward, want.rejected_reward, 0, `${what} rejected reward`, 1e-4 * lpScale);
        r.policyChosen.forEach((p, i) =>
          closeRel(p, want.policy_chosen_logprobs[i], 1e-4, `${what} chosen[${i}]`),
        );
        r.policyRejected.forEach((p, i) =>
          closeRel(p, want.policy_rejected_logprobs[i], 1e-4, `${what} rejected[${i}]`),
        );
        backward(r.loss);
        optimizer.step();
      });
    });
  });
});

describe('dpo end to end (tiny model)', () => {
  let tmp: string;
  let data: string;
  const PAIRS: PreferenceEntry[] = Array.from({ length: 20 }, (_, i) => ({
    instruction: `Reply to message ${i}.`,
    input: '',
    output: 'Thank you kindly.',
    chosen: 'Thank you kindly.',
    rejected: 'Go away, you fool.',
  }));
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'gptkit-dpo-'));
    data = join(tmp, 'pairs.json');
    writeFileSync(data, JSON.stringify(PAIRS));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const base = () => ({
    model: join(fixtureDir, 'model'),
    data,
    batchSize: 4,
    lr: 1e-3,
    evalFreq: 2,
    evalIter: 1,
    log: () => {},
  });

  it('the log line has reward margins, and they grow; the model is saved with its template', async () => {
    const lines: string[] = [];
    const r = await dpo({ ...base(), epochs: 2, outDir: join(tmp, 'run'), log: (l) => lines.push(l) });
    assert.equal(r.steps, 8); // 17 training pairs -> 4 batches per epoch
    assert.match(
      lines[0],
      /^Ep 1 \(Step 000000\): Train loss 0\.\d{3}, Val loss 0\.\d{3}, Train reward margins -?\d+\.\d{3}, Val reward margins -?\d+\.\d{3}$/,
    );
    assert.ok(r.history[0].valLoss < Math.LN2, 'one step in, below ln 2 (the loss of the reference itself)');
    const last = r.history[r.history.length - 1];
    const margin = (h: typeof last) => h.values!.valChosenReward - h.values!.valRejectedReward;
    assert.ok(
      margin(last) > margin(r.history[0]) + 0.5,
      `margins ${margin(r.history[0])} -> ${margin(last)}`,
    );
    assert.ok(last.valLoss < 0.5);
    const src = await resolveModel(r.outDir);
    assert.equal(src.template?.name, 'alpaca');
    assert.ok(existsSync(join(r.outDir, 'reference-logprobs.json')));
  });

  it('a resumed run equals an uninterrupted one (the reference is read back, not recomputed)', async () => {
    const full = await dpo({ ...base(), epochs: 2, outDir: join(tmp, 'full') });
    await dpo({ ...base(), epochs: 2, outDir: join(tmp, 'cut'), stopAfterSteps: 3, saveEvery: 3 });
    const resumed = await dpo({ outDir: join(tmp, 'cut'), resume: true, log: () => {} });
    assert.equal(resumed.steps, full.steps);
    assert.deepEqual(
      resumed.history.map((h) => [h.trainLoss, h.valLoss, h.values]),
      full.history.map((h) => [h.trainLoss, h.valLoss, h.values]),
    );
  });

  it('bad input: no model, a fresh configuration, pairs without "chosen"', async () => {
    await assert.rejects(
      dpo({ ...base(), model: undefined, outDir: join(tmp, 'b1') }),
      /--model: give the instruction-tuned model/,
    );
    await assert.rejects(
      dpo({ ...base(), model: 'gpt2-small', outDir: join(tmp, 'b2') }),
      /not a fresh configuration/,
    );
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ instruction: 'a', output: 'b', rejected: 'c' }]));
    await assert.rejects(dpo({ ...base(), data: bad, outDir: join(tmp, 'b3') }), /entry 0: missing "chosen"/);
    assert.equal(existsSync(join(tmp, 'b3')), false);
  });
});
