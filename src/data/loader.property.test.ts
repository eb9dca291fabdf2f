// Property-based tests (fast-check) for DataLoader resume: for random dataset sizes, windows, batch sizes,
// shuffle/dropLast, seeds and stop positions, state() -> JSON -> restore() into a fresh loader continues
// with exactly the batches the uninterrupted loader hands out, for the rest of the epoch and two more.
// Runs are seeded (FC_SEED / FC_NUM_RUNS override), so failures reproduce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DataLoader, type DataLoaderOptions, type LoaderState } from './loader.js';
import { SlidingWindowDataset } from './windows.js';

const params = (numRuns: number): fc.Parameters<unknown> => ({
  seed: Number(process.env.FC_SEED ?? 42),
  numRuns: Number(process.env.FC_NUM_RUNS ?? numRuns),
  includeErrorInReport: true,
});

/** One handed-out batch, with the epoch the loader says it belongs to. */
interface Seen {
  epoch: number;
  batchSize: number;
  inputs: number[];
  targets: number[];
}

/**
 * Runs `epochs` passes of `for (const b of loader)`, as a training loop does. With `stopAfter`, breaks out of
 * the pass after that many batches (the last pass is then a partial one).
 */
function consume(loader: DataLoader, epochs: number, stopAfter?: number): Seen[] {
  const out: Seen[] = [];
  for (let e = 0; e < epochs; e++) {
    const last = e === epochs - 1 && stopAfter !== undefined;
    if (last && stopAfter === 0) break;
    let n = 0;
    for (const b of loader) {
      out.push({
        epoch: loader.state().epoch,
        batchSize: b.batchSize,
        inputs: [...b.inputs],
        targets: [...b.targets],
      });
      if (last && ++n === stopAfter) break;
    }
  }
  return out;
}

const setup = fc.record({
  tokens: fc.integer({ min: 0, max: 120 }),
  maxLength: fc.integer({ min: 1, max: 6 }),
  stride: fc.integer({ min: 1, max: 5 }),
  batchSize: fc.integer({ min: 1, max: 12 }),
  shuffle: fc.boolean(),
  dropLast: fc.boolean(),
  seed: fc.oneof(fc.nat(1000), fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 })),
  // The resumed loader is built with another seed: restore() must take the saved one.
  otherSeed: fc.nat(),
  stopEpoch: fc.integer({ min: 0, max: 2 }),
  // Where in the epoch to stop, as a fraction of its batches (0 and 1 included).
  stopFraction: fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true })),
});

test('DataLoader: state -> JSON -> restore continues exactly like the uninterrupted loader', () => {
  let nonTrivial = 0;
  fc.assert(
    fc.property(setup, (s) => {
      // Distinct token values, so every batch says which windows it holds.
      const ids = Array.from({ length: s.tokens }, (_, i) => 1000 + i);
      const dataset = SlidingWindowDataset.fromIds(ids, { maxLength: s.maxLength, stride: s.stride });
      const options: DataLoaderOptions = {
        batchSize: s.batchSize,
        shuffle: s.shuffle,
        dropLast: s.dropLast,
        seed: s.seed,
      };
      const perEpoch = new DataLoader(dataset, options).length;
      const stopBatch = Math.round(s.stopFraction * perEpoch);
      const epochs = s.stopEpoch + 4;

      const reference = consume(new DataLoader(dataset, options), epochs);
      assert.equal(reference.length, epochs * perEpoch);

      const first = new DataLoader(dataset, options);
      const before = consume(first, s.stopEpoch + 1, stopBatch);
      const consumed = s.stopEpoch * perEpoch + stopBatch;
      assert.equal(before.length, consumed);
      const saved = JSON.parse(JSON.stringify(first.state())) as LoaderState;

      const resumed = new DataLoader(dataset, { ...options, seed: s.otherSeed });
      resumed.restore(saved);
      // The rest of the interrupted epoch (one pass of for-of), then two whole epochs.
      const after = consume(resumed, 3);
      assert.deepEqual([...before, ...after], reference.slice(0, before.length + after.length));
      // Resuming at the very end of an epoch rolls over into the next, so the three passes then cover three
      // whole epochs; otherwise the partial one and two more.
      const expected = stopBatch === perEpoch ? 3 * perEpoch : 3 * perEpoch - stopBatch;
      assert.equal(after.length, expected);
      if (after.length > 0) nonTrivial++;

      // The epoch counter advanced once per epoch. (Not checked for an empty epoch: every for-of over a loader
      // with no batches counts two epochs, a finished one rolled over and the empty one; nothing is handed out.)
      if (perEpoch > 0) assert.equal(resumed.state().epoch, s.stopEpoch + (stopBatch === perEpoch ? 4 : 3));
    }),
    params(250),
  );
  assert.ok(nonTrivial > 100, `only ${nonTrivial} runs had batches after the resume`);
});

test('DataLoader: every epoch hands out each window once (at most batchSize - 1 dropped with dropLast)', () => {
  fc.assert(
    fc.property(setup, (s) => {
      const ids = Array.from({ length: s.tokens }, (_, i) => 1000 + i);
      const dataset = SlidingWindowDataset.fromIds(ids, { maxLength: s.maxLength, stride: s.stride });
      const loader = new DataLoader(dataset, { ...s });
      for (let epoch = 0; epoch < 2; epoch++) {
        const starts: number[] = [];
        for (const b of loader) {
          assert.ok(b.batchSize >= 1 && b.batchSize <= s.batchSize);
          if (s.dropLast) assert.equal(b.batchSize, s.batchSize);
          for (let r = 0; r < b.batchSize; r++) {
            const start = b.inputs[r * b.seqLen] - 1000;
            assert.equal(start % s.stride, 0);
            starts.push(start / s.stride);
            // Targets are the inputs shifted by one token.
            for (let t = 0; t < b.seqLen; t++)
              assert.equal(b.targets[r * b.seqLen + t], 1000 + start + t + 1);
          }
        }
        assert.equal(new Set(starts).size, starts.length, 'a window came twice in one epoch');
        assert.ok(starts.every((w) => w >= 0 && w < dataset.length));
        const dropped = dataset.length - starts.length;
        assert.ok(dropped >= 0 && dropped < (s.dropLast ? s.batchSize : 1), `${dropped} windows dropped`);
        if (!s.shuffle)
          assert.deepEqual(
            starts,
            [...starts].sort((a, b) => a - b),
          );
      }
    }),
    params(200),
  );
});
