// Test helper, not library code: a tiny pretraining setup (byte-level tokenizer, 2-layer width-32 GPT,
// context 16) that trains in well under a second, shared by the tests and their forked child process.
import { readFileSync } from 'node:fs';
import { dataPath } from '../data/paths.js';
import type { GPTConfig } from '../models/gpt/config.js';
import type { PretrainTokenizer } from './data.js';
import type { PretrainOptions } from './pretrain.js';

/** Bytes as tokens (vocabulary 256): no BPE files needed and a tiny output layer. */
export const byteTokenizer: PretrainTokenizer = {
  vocabSize: 256,
  encode: (text) => [...Buffer.from(text, 'utf8')],
  decode: (ids) => Buffer.from(ids).toString('latin1'),
};

export const tinyConfig: GPTConfig = {
  vocabSize: 256,
  contextLength: 16,
  embDim: 32,
  nHeads: 2,
  nLayers: 2,
  dropRate: 0.1,
  qkvBias: false,
  tiedHead: false,
};

/** 900 characters of the story: 810 training bytes (25 batches of 2 x 16), 90 validation bytes (3 batches). */
export const tinyText = readFileSync(dataPath('the-verdict.txt'), 'utf8').slice(0, 900);

export function tinyOptions(outDir: string, extra: Partial<PretrainOptions> = {}): PretrainOptions {
  return {
    text: tinyText,
    tokenizer: byteTokenizer,
    model: tinyConfig,
    epochs: 2,
    lr: 1e-3,
    evalFreq: 5,
    evalIter: 2,
    sampleTokens: 8,
    checkpointMinutes: 0,
    outDir,
    log: () => {},
    ...extra,
  };
}
