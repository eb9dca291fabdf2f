// Pretraining data as chapter 5 sets it up: a text file split into the first 90% of its characters for
// training and the rest for validation (or a separate validation file), tokenized, and the book's loaders.
// A folder of text files goes through src/data's token-file corpus cache instead and is split by tokens.
// Windows, batching and shuffling themselves come from src/data.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureCorpusCache } from '../data/corpus.js';
import { DataLoader, type Batch } from '../data/loader.js';
import { TokenFile } from '../data/token-file.js';
import { ArrayTokenSource, SlidingWindowDataset, type TokenSource } from '../data/windows.js';

/** What pretraining needs of a tokenizer (Gpt2Tokenizer fits). */
export interface PretrainTokenizer {
  encode(text: string, options?: { allowedSpecial?: 'all' | ReadonlySet<string> }): number[];
  decode(ids: readonly number[]): string;
  readonly vocabSize: number;
  readonly name?: string;
}

/** File endings a corpus folder contributes. */
export const CORPUS_EXTENSIONS = ['.txt', '.md'];

/** Tokens [start, start + length) of another source. */
class TokenRange implements TokenSource {
  constructor(
    private readonly source: TokenSource,
    private readonly start: number,
    readonly length: number,
  ) {}

  read(start: number, count: number, out: Int32Array, offset: number): void {
    this.source.read(this.start + start, count, out, offset);
  }
}

function checkExists(path: string, what: string): 'file' | 'folder' {
  if (!existsSync(path)) throw new Error(`${what} ${path}: no such file or directory`);
  const st = statSync(path);
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'folder';
  throw new Error(`${what} ${path}: not a file or a folder`);
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
  /** Training text, or where to read it (a file, or a folder of text files); `text` wins when both are given. */
  text?: string;
  path?: string;
  valText?: string;
  valPath?: string;
  /** Share used for training when there is no separate validation data (characters; tokens for folders). Default 0.9. */
  trainRatio?: number;
  tokenizer: PretrainTokenizer;
  contextLength: number;
  batchSize: number;
  seed: number;
  /** Where folder corpora keep their token files (reused while the folder is unchanged). Required for folders. */
  cacheDir?: string;
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
  /** Token files opened for folder corpora; close() releases them. */
  close(): void;
}

const n = (x: number) => x.toLocaleString('en-US');

interface Tokens {
  source: TokenSource;
  hash: string;
}

function memoryTokens(ids: number[], vocabSize: number, what: string): Tokens {
  const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
  if (bad !== undefined)
    throw new Error(
      `the ${what} text has token id ${bad}, outside the tokenizer's vocabulary of ${vocabSize}`,
    );
  return { source: new ArrayTokenSource(ids), hash: tokenHash(ids) };
}

/** Read, split, tokenize and batch the data; errors say how many tokens there are and how many are needed. */
export function preparePretrainData(o: PretrainDataOptions): PretrainData {
  const ratio = o.trainRatio ?? 0.9;
  if (!(ratio > 0 && ratio < 1)) throw new Error(`trainRatio must be in (0, 1), got ${ratio}`);
  const opened: TokenFile[] = [];
  const encode = (s: string) => o.tokenizer.encode(s, { allowedSpecial: 'all' });
  const separateVal = o.valText !== undefined || o.valPath !== undefined;
  const pct = Math.round(ratio * 100);

  /** A folder through the corpus cache: a token file on disk. */
  const corpus = (dir: string, name: string): { file: TokenFile; hash: string; files: number } => {
    if (!o.cacheDir) throw new Error(`${dir} is a folder: a cache directory for its tokens is needed`);
    const info = ensureCorpusCache({
      sourceDir: dir,
      cachePath: join(o.cacheDir, `${name}.tokens`),
      tokenizer: o.tokenizer,
      extensions: CORPUS_EXTENSIONS,
    });
    const file = TokenFile.open(info.path);
    opened.push(file);
    return { file, hash: info.sourceHash.slice(0, 16), files: info.files };
  };

  let train: Tokens;
  let val: Tokens;
  let description: string;
  let trainWhat: string;
  let valWhat: string;
  try {
    if (o.text === undefined && !o.path) throw new Error('no training data: give a text or a path');
    const kind = o.text !== undefined ? 'text' : checkExists(o.path!, '--data');
    if (kind === 'folder') {
      const c = corpus(o.path!, 'train');
      description = `${o.path} (${c.files} files, ${n(c.file.length)} tokens)`;
      if (separateVal) {
        train = { source: c.file, hash: c.hash };
        trainWhat = o.path!;
      } else {
        // Split by tokens: the folder's text is never held in memory, so characters cannot be counted.
        const split = Math.floor(ratio * c.file.length);
        train = { source: new TokenRange(c.file, 0, split), hash: `${c.hash}:0-${split}` };
        val = { source: new TokenRange(c.file, split, c.file.length - split), hash: `${c.hash}:${split}-` };
        trainWhat = `the training part (first ${pct}% of the tokens) of ${o.path}`;
        valWhat = `the last ${100 - pct}% of the tokens of ${o.path}`;
      }
    } else {
      const text = o.text ?? readFileSync(o.path!, 'utf8');
      const source = o.text !== undefined ? 'the given text' : o.path!;
      description = `${source} (${n(text.length)} characters)`;
      if (separateVal) {
        train = memoryTokens(encode(text), o.tokenizer.vocabSize, 'training');
        trainWhat = source;
      } else {
        const split = Math.floor(ratio * text.length); // the book: split_idx = int(train_ratio * len(text_data))
        train = memoryTokens(encode(text.slice(0, split)), o.tokenizer.vocabSize, 'training');
        val = memoryTokens(encode(text.slice(split)), o.tokenizer.vocabSize, 'validation');
        trainWhat = `the training part (first ${pct}% of the characters) of ${source}`;
        valWhat = `the last ${100 - pct}% of ${source}`;
      }
    }
    if (separateVal) {
      if (o.valText !== undefined) {
        val = memoryTokens(encode(o.valText), o.tokenizer.vocabSize, 'validation');
        valWhat = 'the given validation text';
      } else if (checkExists(o.valPath!, '--val-data') === 'folder') {
        const c = corpus(o.valPath!, 'val');
        val = { source: c.file, hash: c.hash };
        valWhat = o.valPath!;
      } else {
        val = memoryTokens(encode(readFileSync(o.valPath!, 'utf8')), o.tokenizer.vocabSize, 'validation');
        valWhat = o.valPath!;
      }
    }
    const T = o.contextLength;
    const need = T + 1;
    if (train.source.length < need) {
      throw new Error(
        `${trainWhat} has ${n(train.source.length)} tokens; training with a context length of ${T} needs at least ${n(need)} ` +
          `(one window of ${T} + 1 target). Use a longer text or a smaller --context-length.`,
      );
    }
    if (val!.source.length < need) {
      throw new Error(
        `the validation text (${valWhat!}) has ${n(val!.source.length)} tokens; a context length of ${T} needs at least ${n(need)}. ` +
          `Give a longer text, a separate --val-data file, or a smaller --context-length.`,
      );
    }
    // The book's chapter-5 loaders: max_length = stride = context length; train shuffles and drops the last batch.
    const window = { maxLength: T, stride: T };
    const trainSet = new SlidingWindowDataset(train.source, window);
    const valSet = new SlidingWindowDataset(val!.source, window);
    const trainLoader = new DataLoader(trainSet, {
      batchSize: o.batchSize,
      shuffle: true,
      dropLast: true,
      seed: o.seed,
    });
    if (trainLoader.length === 0) {
      throw new Error(
        `the training text has ${n(train.source.length)} tokens: ${trainSet.length} window(s) of ${T}, fewer than one batch of ${o.batchSize} ` +
          `(the training loader drops incomplete batches). Needed: at least ${n(o.batchSize * T + 1)} tokens, or a smaller --batch-size.`,
      );
    }
    return {
      train: trainLoader,
      trainEval: new DataLoader(trainSet, { batchSize: o.batchSize, shuffle: false, dropLast: true }),
      val: new DataLoader(valSet, { batchSize: o.batchSize, shuffle: false, dropLast: false }),
      trainTokens: train.source.length,
      valTokens: val!.source.length,
      trainHash: train.hash,
      valHash: val!.hash,
      description,
      close: () => opened.forEach((f) => f.close()),
    };
  } catch (e) {
    opened.forEach((f) => f.close());
    throw e;
  }
}

/** The first `count` batches of a loader's current order, without moving the loader. */
export function* firstBatches(loader: DataLoader, count: number): Generator<Batch> {
  for (let i = 0; i < Math.min(count, loader.length); i++) yield loader.batchAt(i);
}
