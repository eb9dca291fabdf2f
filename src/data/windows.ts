// Sliding-window next-token datasets: the book's GPTDatasetV1 (chapter 2) over token ids held in memory
// or read from a token file. Windows are produced on demand; nothing here batches or shuffles.

/** Anything that can hand out a range of token ids: an array in memory or a token file on disk. */
export interface TokenSource {
  readonly length: number;
  /** Writes tokens [start, start + count) into `out` at `offset`. */
  read(start: number, count: number, out: Int32Array, offset: number): void;
}

/** A dataset of fixed-length (input, target) windows. */
export interface WindowDataset {
  /** Number of windows. */
  readonly length: number;
  /** Tokens per window (T). */
  readonly seqLen: number;
  /** Writes window `index`: inputs and targets, seqLen each, at `offset` of the given arrays. */
  readWindow(index: number, inputs: Int32Array, targets: Int32Array, offset: number): void;
}

export interface WindowOptions {
  /** Tokens per window (the book's max_length). */
  maxLength: number;
  /** Distance between window starts (the book's stride). */
  stride: number;
}

/**
 * Windows in the book's loop `for i in range(0, len(token_ids) - max_length, stride)`:
 * ceil((N - maxLength) / stride), or 0 when the text has no more than maxLength tokens.
 */
export function countWindows(tokenCount: number, maxLength: number, stride: number): number {
  if (tokenCount <= maxLength) return 0;
  return Math.ceil((tokenCount - maxLength) / stride);
}

export class ArrayTokenSource implements TokenSource {
  constructor(private readonly ids: ArrayLike<number>) {}

  get length(): number {
    return this.ids.length;
  }

  read(start: number, count: number, out: Int32Array, offset: number): void {
    const ids = this.ids;
    for (let k = 0; k < count; k++) out[offset + k] = ids[start + k];
  }
}

/** The book's GPTDatasetV1: window i is tokens [i*stride, i*stride + maxLength), targets shifted by one. */
export class SlidingWindowDataset implements WindowDataset {
  readonly length: number;
  readonly seqLen: number;
  readonly stride: number;
  private readonly scratch: Int32Array;

  constructor(
    private readonly source: TokenSource,
    options: WindowOptions,
  ) {
    const { maxLength, stride } = options;
    if (!Number.isInteger(maxLength) || maxLength < 1)
      throw new Error(`SlidingWindowDataset: maxLength must be a positive integer, got ${maxLength}`);
    if (!Number.isInteger(stride) || stride < 1)
      throw new Error(`SlidingWindowDataset: stride must be a positive integer, got ${stride}`);
    this.seqLen = maxLength;
    this.stride = stride;
    this.length = countWindows(source.length, maxLength, stride);
    this.scratch = new Int32Array(maxLength + 1);
  }

  /** A dataset over ids held in memory. */
  static fromIds(ids: ArrayLike<number>, options: WindowOptions): SlidingWindowDataset {
    return new SlidingWindowDataset(new ArrayTokenSource(ids), options);
  }

  readWindow(index: number, inputs: Int32Array, targets: Int32Array, offset: number): void {
    if (!(index >= 0 && index < this.length && Number.isInteger(index))) {
      throw new Error(`readWindow: window ${index} is out of range (the dataset has ${this.length} windows)`);
    }
    const T = this.seqLen;
    // One read of T + 1 tokens serves both rows: targets are the inputs shifted by one.
    this.source.read(index * this.stride, T + 1, this.scratch, 0);
    inputs.set(this.scratch.subarray(0, T), offset);
    targets.set(this.scratch.subarray(1, T + 1), offset);
  }
}

/** What the data helpers need of a tokenizer: Gpt2Tokenizer and BpeTokenizerSimple both fit. */
export interface TextTokenizer {
  encode(text: string, options?: { allowedSpecial?: 'all' | ReadonlySet<string> }): number[];
  readonly vocabSize: number;
}

/** The book's dataset from raw text: encode (with <|endoftext|> allowed), then slide windows over it. */
export function textWindowDataset(
  text: string,
  tokenizer: TextTokenizer,
  options: WindowOptions,
): SlidingWindowDataset {
  return SlidingWindowDataset.fromIds(tokenizer.encode(text, { allowedSpecial: 'all' }), options);
}
