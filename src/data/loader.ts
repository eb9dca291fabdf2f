// Batches of windows in seeded-shuffled or sequential order, resumable mid-epoch from a saved state.
// Yields plain Int32Arrays in row-major [B, T]; turning them into tensors is the trainer's job.

import { deriveSeed, seededPermutation } from './rng.js';
import { textWindowDataset, type TextTokenizer, type WindowDataset } from './windows.js';

/** One batch: `inputs` and `targets` are row-major [batchSize, seqLen]. */
export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  batchSize: number;
  seqLen: number;
}

export interface DataLoaderOptions {
  batchSize: number;
  /** Shuffle the windows, in a new order each epoch. Default false. */
  shuffle?: boolean;
  /** Drop the last batch when it would be smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Base seed of the shuffles. Default 0. */
  seed?: number;
}

/**
 * Where a loader stands. Saved with a training checkpoint, it lets `restore` continue exactly where
 * training stopped: the same epoch order, from the next unconsumed batch.
 */
export interface LoaderState {
  epoch: number;
  /** Batches already handed out in this epoch. */
  batchIndex: number;
  /** Base seed; each epoch's permutation seed is derived from it. */
  seed: number;
  /** The seed of this epoch's permutation. */
  epochSeed: number;
  /** Checked on restore, so a state is not applied to a different dataset or batching. */
  windows: number;
  batchSize: number;
}

/**
 * The bookkeeping every loader shares: a seeded order of the dataset's items per epoch (identity when not
 * shuffling), batches of batchSize items in that order, where it stands (state) and exact resume
 * (restore). A subclass only turns a batch's item indices into its batch (makeBatch).
 */
export abstract class BatchLoader<B> implements Iterable<B> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  private seed: number;
  private epoch = 0;
  private batchIndex = 0;
  private order: Int32Array | null = null;
  private orderEpoch = -1;

  constructor(
    /** Number of items (windows, examples) in the dataset. */
    private readonly items: () => number,
    /** What an item is, for messages: 'windows', 'examples'. */
    private readonly unit: string,
    options: DataLoaderOptions,
  ) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`${this.constructor.name}: batchSize must be a positive integer, got ${batchSize}`);
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    this.seed = (options.seed ?? 0) >>> 0;
  }

  /** The batch of these item indices (in batch order). */
  protected abstract makeBatch(rows: Int32Array): B;

  /** Batches per epoch. */
  get length(): number {
    const n = this.items();
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  state(): LoaderState {
    return {
      epoch: this.epoch,
      batchIndex: this.batchIndex,
      seed: this.seed,
      epochSeed: deriveSeed(this.seed, this.epoch),
      windows: this.items(),
      batchSize: this.batchSize,
    };
  }

  /** Continues from a state returned by state(); throws when it belongs to another dataset or batching. */
  restore(state: LoaderState): void {
    const where = `${this.constructor.name}.restore`;
    if (state.windows !== this.items())
      throw new Error(
        `${where}: the state is for ${state.windows} ${this.unit}, this dataset has ${this.items()}`,
      );
    if (state.batchSize !== this.batchSize)
      throw new Error(
        `${where}: the state is for batch size ${state.batchSize}, this loader uses ${this.batchSize}`,
      );
    if (!Number.isInteger(state.epoch) || state.epoch < 0)
      throw new Error(`${where}: bad epoch ${state.epoch}`);
    if (!Number.isInteger(state.batchIndex) || state.batchIndex < 0 || state.batchIndex > this.length) {
      throw new Error(`${where}: batchIndex ${state.batchIndex} is outside 0..${this.length}`);
    }
    if (deriveSeed(state.seed >>> 0, state.epoch) !== state.epochSeed) {
      throw new Error(
        `${where}: epochSeed ${state.epochSeed} does not follow from seed ${state.seed} and epoch ${state.epoch}; the state is corrupt`,
      );
    }
    this.seed = state.seed >>> 0;
    this.epoch = state.epoch;
    this.batchIndex = state.batchIndex;
    this.order = null;
  }

  /** The item order of an epoch (identity when not shuffling). */
  epochOrder(epoch: number): Int32Array {
    if (this.order && this.orderEpoch === epoch) return this.order;
    const n = this.items();
    let order: Int32Array;
    if (this.shuffle) order = seededPermutation(n, deriveSeed(this.seed, epoch));
    else {
      order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
    }
    this.order = order;
    this.orderEpoch = epoch;
    return order;
  }

  /** Batch `index` of the current epoch's order, without moving the loader. */
  batchAt(index: number): B {
    const order = this.epochOrder(this.epoch);
    const first = index * this.batchSize;
    const B = Math.min(this.batchSize, order.length - first);
    if (!(index >= 0 && index < this.length && B > 0))
      throw new Error(`batchAt: batch ${index} is out of range (an epoch has ${this.length})`);
    return this.makeBatch(order.slice(first, first + B));
  }

  /**
   * Yields the rest of the current epoch (all of it unless restored mid-epoch), then moves to the next
   * epoch. A finished epoch rolls over first, so `for (const b of loader)` once per epoch just works.
   */
  *[Symbol.iterator](): Iterator<B> {
    if (this.batchIndex >= this.length) {
      this.epoch++;
      this.batchIndex = 0;
    }
    while (this.batchIndex < this.length) {
      const batch = this.batchAt(this.batchIndex);
      this.batchIndex++;
      yield batch;
    }
    this.epoch++;
    this.batchIndex = 0;
  }
}

/** Batches of sliding windows: inputs and next-token targets. */
export class DataLoader extends BatchLoader<Batch> {
  constructor(
    readonly dataset: WindowDataset,
    options: DataLoaderOptions,
  ) {
    super(() => dataset.length, 'windows', options);
  }

  protected makeBatch(rows: Int32Array): Batch {
    const T = this.dataset.seqLen;
    const B = rows.length;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) this.dataset.readWindow(rows[b], inputs, targets, b * T);
    return { inputs, targets, batchSize: B, seqLen: T };
  }
}

export interface BookLoaderOptions {
  batchSize?: number;
  maxLength?: number;
  stride?: number;
  shuffle?: boolean;
  dropLast?: boolean;
  seed?: number;
}

/** The book's create_dataloader_v1: defaults batch 4, max_length 256, stride 128, shuffle, drop_last. */
export function createDataLoaderV1(
  text: string,
  tokenizer: TextTokenizer,
  options: BookLoaderOptions = {},
): DataLoader {
  const dataset = textWindowDataset(text, tokenizer, {
    maxLength: options.maxLength ?? 256,
    stride: options.stride ?? 128,
  });
  return new DataLoader(dataset, {
    batchSize: options.batchSize ?? 4,
    shuffle: options.shuffle ?? true,
    dropLast: options.dropLast ?? true,
    seed: options.seed,
  });
}
