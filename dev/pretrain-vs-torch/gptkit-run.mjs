// gptkit side of the comparison: train from init.safetensors on batches.json, print loss and gradient norm per step.
// Usage: node gptkit-run.mjs [dropout=0.1] [steps=22] [all|attn-only|resid-only]
import { GPTModel } from '../../dist/src/models/gpt/gpt.js';
import { presetConfig } from '../../dist/src/models/gpt/config.js';
import * as ops from '../../dist/src/ops/index.js';
import { backward } from '../../dist/src/tensor/autograd.js';
import { manualSeed } from '../../dist/src/tensor/rng.js';
import { tidy } from '../../dist/src/tensor/tensor.js';
import { AdamW } from '../../dist/src/optim/index.js';
import { readSafetensors } from '../../dist/src/io/safetensors.js';
import { readFileSync } from 'node:fs';
const drop = Number(process.argv[2] ?? 0.1);
manualSeed(5);
const model = new GPTModel(presetConfig('gpt2-small', { contextLength: 256, dropRate: drop }));
const init = await readSafetensors('init.safetensors');
for (const [name, p] of model.namedParameters()) p.data.set(init.get(name).data);
model.train();
const mode = process.argv[4] ?? 'all';
for (const b of model.trf_blocks) { if (mode === 'attn-only') b.drop_shortcut.p = 0; if (mode === 'resid-only') b.att.dropout.p = 0; }
if (mode === 'attn-only') model.drop_emb.p = 0;
const opt = new AdamW(model.parameters(), { lr: 4e-4, weightDecay: 0.1 });
const B = JSON.parse(readFileSync('batches.json', 'utf8'));
for (let s = 0; s < Number(process.argv[3] ?? 22); s++) {
  const x = ops.fromArray(B[s].inputs, [2, 256], 'int32'), y = ops.fromArray(B[s].targets, [2, 256], 'int32');
  const [l, gn] = tidy(() => { opt.zeroGrad(); const loss = ops.crossEntropy(model.forward(x), y); backward(loss);
    let sq = 0; for (const p of model.parameters()) if (p.grad) for (let i = 0; i < p.size; i++) sq += p.grad.data[i] ** 2;
    opt.step(); return [loss.item(), Math.sqrt(sq)]; });
  console.log(s, l.toFixed(4), 'gradnorm', gn.toFixed(3));
}
