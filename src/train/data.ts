// Pretraining data as chapter 5 sets it up: read a text file (or a folder of them), split the first 90% of
// the characters for training and the rest for validation (or take a separate validation file), tokenize,
// and build the book's loaders. Windows, batching and shuffling themselves come from src/data.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { DataLoader, type Batch } from '../data/loader.js';
import { SlidingWindowDataset } from '../data/windows.js';

/** What pretraining needs of a tokenizer (Gpt2Tokenizer fits). */
export interface PretrainTokenizer {
  encode(text: string, options?: { allowedSpecial?: 'all' | ReadonlySet<string> }): number[];
  decode(ids: readonly number[]): string;
  readonly vocabSize: number;
}

const TEXT_EXTENSIONS = new Set(['.txt', '.md', '.text']);
const DOC_SEPARATOR = '<|endoftext|>';

/** A file's text, or a folder's text files (recursively, sorted by path) joined by <|endoftext|>. */
export function readCorpus(path: string, what = '--data'): { text: string; files: string[] } {
  if (!existsSync(path)) throw new Error(`${what} ${path}: no such file or directory`);
  const st = statSync(path);
  if (st.isFile()) return { text: readFileSync(path, 'utf8'), files: [path] };
  if (!st.isDirectory()) throw new Error(`${what} ${path}: not a file or a folder`);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.isFile() && TEXT_EXTENSIONS.has(extname(name).toLowerCase())) files.push(p);
    }
  };
  walk(path);
  if (files.length === 0) throw new Error(`${what} ${path}: the folder has no text files (${[...TEXT_EXTENSIONS].join(', ')})`);
  files.sort((a, b) => (relative(path, a) < relative(path, b) ? -1 : 1));
  return { text: files.map((f) => readFileSync(f, 'utf8')).join(DOC_SEPARATOR), files };
}

/** FNV-1a over the ids: identifies the training data in checkpoints. */
export function tokenHash(ids: ArrayLike<number>): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) {
    let x = ids[i] >>> 0;
    for (let k = 0; k < 4; k++) {
      h = Math.imul(h ^ (x & 0xff), 0x01000193) >>> 0;
      x >>>= 8;
    }
  }
  return h.toString(16).padStart(8, '0');
}

export interface PretrainDataOptions {
  /** Training text, or where to read it; `text` wins when both are given. */
  text?: string;
  path?: string;
  valText?: string;
  valPath?: string;
  /** Share of the characters used for training when there is no separate validation text. Default 0.9. */
  trainRatio?: number;
  tokenizer: PretrainTokenizer;
  contextLength: number;
  batchSize: number;
  seed: number;
}

export interface PretrainData {
  /** Shuffled, drop_last: the loader training iterates. */
  train: DataLoader;
  /** The same windows in order (drop_last): the first evalIter batches give the training loss. */
  trainEval: DataLoader;
  /** In order, keeps the last partial batch. */
  val: DataLoader;
  trainTokens: number;
  valTokens: number;
  trainHash: string;
  valHash: string;
  /** e.g. "the-verdict.txt (20,479 characters)". */
  description: string;
}

const n = (x: number) => x.toLocaleString('en-US');

/** Read, split, tokenize and batch the data; errors say how many tokens there are and how many are needed. */
export function preparePretrainData(o: PretrainDataOptions): PretrainData {
  const ratio = o.trainRatio ?? 0.9;
  if (!(ratio > 0 && ratio < 1)) throw new Error(`trainRatio must be in (0, 1), got ${ratio}`);
  let text = o.text;
  let source = 'the given text';
  if (text === undefined) {
    if (!o.path) throw new Error('no training data: give a text or a path');
    const c = readCorpus(o.path, '--data');
    text = c.text;
    source = c.files.length === 1 ? o.path : `${o.path} (${c.files.length} files)`;
  }
  let trainText: string;
  let valText: string;
  let valSource: string;
  if (o.valText !== undefined || o.valPath) {
    trainText = text;
    valText = o.valText ?? readCorpus(o.valPath!, '--val-data').text;
    valSource = o.valPath ?? 'the given validation text';
  } else {
    const split = Math.floor(ratio * text.length); // the book: split_idx = int(train_ratio * len(text_data))
    trainText = text.slice(0, split);
    valText = text.slice(split);
    valSource = `the last ${Math.round((1 - ratio) * 100)}% of ${source}`;
  }
  const T = o.contextLength;
  const encode = (s: string) => o.tokenizer.encode(s, { allowedSpecial: 'all' });
  const trainIds = encode(trainText);
  const need = T + 1;
  if (trainIds.length < need) {
    const what = o.valText !== undefined || o.valPath ? source : `the training part (first ${Math.round(ratio * 100)}%) of ${source}`;
    throw new Error(
      `${what} has ${n(trainIds.length)} tokens; training with a context length of ${T} needs at least ${n(need)} ` +
        `(one window of ${T} + 1 target). Use a longer text or a smaller --context-length.`,
    );
  }
  const valIds = encode(valText);
  if (valIds.length < need) {
    throw new Error(
      `the validation text (${valSource}) has ${n(valIds.length)} tokens; a context length of ${T} needs at least ${n(need)}. ` +
        `Give a longer text, a separate --val-data file, or a smaller --context-length.`,
    );
  }
  for (const [ids, what] of [
    [trainIds, 'training'],
    [valIds, 'validation'],
  ] as const) {
    const bad = ids.find((id) => !(id >= 0 && id < o.tokenizer.vocabSize));
    if (bad !== undefined) throw new Error(`the ${what} text has token id ${bad}, outside the tokenizer's vocabulary`);
  }
  // The book's chapter-5 loaders: max_length = stride = context length; train shuffles and drops the last batch.
  const window = { maxLength: T, stride: T };
  const trainSet = SlidingWindowDataset.fromIds(trainIds, window);
  const valSet = SlidingWindowDataset.fromIds(valIds, window);
  const train = new DataLoader(trainSet, { batchSize: o.batchSize, shuffle: true, dropLast: true, seed: o.seed });
  if (train.length === 0) {
    throw new Error(
      `the training text has ${n(trainIds.length)} tokens: ${trainSet.length} window(s) of ${T}, fewer than one batch of ${o.batchSize} ` +
        `(the training loader drops incomplete batches). Needed: at least ${n(o.batchSize * T + 1)} tokens, or a smaller --batch-size.`,
    );
  }
  return {
    train,
    trainEval: new DataLoader(trainSet, { batchSize: o.batchSize, shuffle: false, dropLast: true }),
    val: new DataLoader(valSet, { batchSize: o.batchSize, shuffle: false, dropLast: false }),
    trainTokens: trainIds.length,
    valTokens: valIds.length,
    trainHash: tokenHash(trainIds),
    valHash: tokenHash(valIds),
    description: `${source} (${n(text.length)} characters)`,
  };
}

/** The first `count` batches of a loader's current order, without moving the loader. */
export function* firstBatches(loader: DataLoader, count: number): Generator<Batch> {
  for (let i = 0; i < Math.min(count, loader.length); i++) yield loader.batchAt(i);
}
