import { GPTModel, presetConfig, Rng, AdamW } from '../../dist/src/index.js';
import { saveCheckpoint, modelStructure } from '../../dist/src/train/checkpoint.js';
import { rmSync } from 'node:fs';
const cfg = presetConfig('gpt2-small', { dropRate: 0, qkvBias: false, tiedHead: true });
const model = new GPTModel(cfg, new Rng(1));
const opt = new AdamW(model.parameters(), { lr: 1e-4 });
// moments as a step would leave them
const st = opt.stateArrays(); console.log('moment arrays', st.size);
for (const p of model.parameters()) { p.grad = null; }
rmSync('/tmp/ckroot', { recursive: true, force: true });
for (let i = 0; i < 3; i++) {
  let t = performance.now(); const t0 = t; const log = [];
  await saveCheckpoint('/tmp/ckroot', model, opt, {
    task: 'x', structure: modelStructure(model), step: i + 1, epoch: 0, batchInEpoch: 0, loader: null, rng: [],
    tokensSeen: 0, elapsedSeconds: 0, options: {}, data: {}, history: [], epochs: [] },
    { onPhase: (ph) => { const n = performance.now(); log.push(`${ph} ${((n - t) / 1000).toFixed(2)}`); t = n; } });
  console.log(log.join(', '), `total ${((performance.now() - t0) / 1000).toFixed(2)} s`, 'rss', (process.memoryUsage().rss / 1e9).toFixed(2));
}
