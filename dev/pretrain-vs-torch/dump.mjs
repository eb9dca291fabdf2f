// Dump our initial 124M weights (book names, Linear [out,in]) and the first 3 epochs of training batches.
import { preparePretrainData } from '../../dist/src/train/data.js';
import { manualSeed } from '../../dist/src/tensor/rng.js';
import { GPTModel } from '../../dist/src/models/gpt/gpt.js';
import { presetConfig } from '../../dist/src/models/gpt/config.js';
import { loadGpt2Tokenizer } from '../../dist/src/tokenizer/gpt2.js';
import { saveSafetensors } from '../../dist/src/io/safetensors.js';
import { dataPath } from '../../dist/src/data/paths.js';
import { writeFileSync } from 'node:fs';
const data = preparePretrainData({ path: dataPath('the-verdict.txt'), contextLength: 256, batchSize: 2, seed: 123, tokenizer: loadGpt2Tokenizer() });
manualSeed(123);
const model = new GPTModel(presetConfig('gpt2-small', { contextLength: 256 }));
await saveSafetensors('init.safetensors', model.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape], data: p.data })));
const batches = [];
for (let e = 0; e < 3; e++) for (const b of data.train) batches.push({ inputs: Array.from(b.inputs), targets: Array.from(b.targets) });
writeFileSync('batches.json', JSON.stringify(batches));
console.log(batches.length, 'batches');
