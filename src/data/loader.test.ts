// Sliding windows and the loader: the book's chapter-2 stride examples, window counts against the
// book's loop, seeded shuffling, and exact mid-epoch resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import { createDataLoaderV1, DataLoader } from './loader.js';
import { dataPath } from './paths.js';
import { countWindows, SlidingWindowDataset, textWindowDataset } from './windows.js';

const verdict = readFileSync(dataPath('the-verdict.txt'), 'utf8');

function rows(a: Int32Array, T: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < a.length; i += T) out.push([...a.subarray(i, i + T)]);
  return out;
}

test('window count follows the book loop range(0, N - maxLength, stride)', () => {
  for (let n = 0; n < 40; n++) {
    for (const maxLength of [1, 3, 4, 8]) {
      for (const stride of [1, 2, 3, 4, 5]) {
        let loop = 0;
        for (let i = 0; i < n - maxLength; i += stride) loop++;
        assert.equal(
          countWindows(n, maxLength, stride),
          loop,
          `n=${n} maxLength=${maxLength} stride=${stride}`,
        );
      }
    }
  }
});

test('book: maxLength 4, stride 1, batch 1: the first two batches of the-verdict', () => {
  const loader = createDataLoaderV1(verdict, loadGpt2Tokenizer(), {
    batchSize: 1,
    maxLength: 4,
    stride: 1,
    shuffle: false,
  });
  const it = loader[Symbol.iterator]();
  const first = it.next().value as {
    inputs: Int32Array;
    targets: Int32Array;
    batchSize: number;
    seqLen: number;
  };
  assert.deepEqual(rows(first.inputs, 4), [[40, 367, 2885, 1464]]);
  assert.deepEqual(rows(first.targets, 4), [[367, 2885, 1464, 1807]]);
  assert.equal(first.batchSize, 1);
  assert.equal(first.seqLen, 4);
  const second = it.next().value as { inputs: Int32Array };
  assert.deepEqual(rows(second.inputs, 4), [[367, 2885, 1464, 1807]]);
});

test('book: maxLength 4, stride 4, batch 8: inputs and targets of the first batch', () => {
  const loader = createDataLoaderV1(verdict, loadGpt2Tokenizer(), {
    batchSize: 8,
    maxLength: 4,
    stride: 4,
    shuffle: false,
  });
  const [batch] = loader;
  assert.deepEqual(rows(batch.inputs, 4), [
    [40, 367, 2885, 1464],
    [1807, 3619, 402, 271],
    [10899, 2138, 257, 7026],
    [15632, 438, 2016, 257],
    [922, 5891, 1576, 438],
    [568, 340, 373, 645],
    [1049, 5975, 284, 502],
    [284, 3285, 326, 11],
  ]);
  assert.deepEqual(rows(batch.targets, 4), [
    [367, 2885, 1464, 1807],
    [3619, 402, 271, 10899],
    [2138, 257, 7026, 15632],
    [438, 2016, 257, 922],
    [5891, 1576, 438, 568],
    [340, 373, 645, 1049],
    [5975, 284, 502, 284],
    [3285, 326, 11, 287],
  ]);
});

test('the-verdict with the book defaults (256/128): 39 windows, 9 batches of 4 with dropLast', () => {
  const ds = textWindowDataset(verdict, loadGpt2Tokenizer(), { maxLength: 256, stride: 128 });
  assert.equal(ds.length, Math.ceil((5145 - 256) / 128));
  const loader = new DataLoader(ds, { batchSize: 4, dropLast: true });
  assert.equal(loader.length, 9);
  assert.equal([...loader].length, 9);
  assert.equal(new DataLoader(ds, { batchSize: 4 }).length, 10);
  const last = [...new DataLoader(ds, { batchSize: 4 })].at(-1)!;
  assert.equal(last.batchSize, 3);
  assert.equal(last.inputs.length, 3 * 256);
});

const ids = Array.from({ length: 103 }, (_, i) => 1000 + i);

function windowStarts(
  loader: DataLoader,
  batches: Iterable<{ inputs: Int32Array; batchSize: number; seqLen: number }>,
): number[] {
  const out: number[] = [];
  for (const b of batches) for (let r = 0; r < b.batchSize; r++) out.push(b.inputs[r * b.seqLen] - 1000);
  return out;
}

test('shuffle: each epoch is a permutation, reproducible from the seed, different across epochs', () => {
  const ds = SlidingWindowDataset.fromIds(ids, { maxLength: 3, stride: 1 });
  const a = new DataLoader(ds, { batchSize: 7, shuffle: true, seed: 123 });
  const b = new DataLoader(ds, { batchSize: 7, shuffle: true, seed: 123 });
  const e0 = windowStarts(a, a);
  const e1 = windowStarts(a, a);
  assert.deepEqual(
    [...e0].sort((x, y) => x - y),
    Array.from({ length: ds.length }, (_, i) => i),
  );
  assert.notDeepEqual(e0, e1);
  assert.deepEqual(windowStarts(b, b), e0);
  assert.deepEqual(windowStarts(b, b), e1);
  const other = new DataLoader(ds, { batchSize: 7, shuffle: true, seed: 124 });
  assert.notDeepEqual(windowStarts(other, other), e0);
});

test('state/restore resumes exactly mid-epoch, in a fresh loader', () => {
  const ds = SlidingWindowDataset.fromIds(ids, { maxLength: 5, stride: 2 });
  const reference = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 9 });
  const all = [...windowStarts(reference, reference), ...windowStarts(reference, reference)];

  const first = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 9 });
  const seen: number[] = [];
  for (const batch of first) {
    seen.push(...windowStarts(first, [batch]));
    if (first.state().batchIndex === 5) break;
  }
  const saved = JSON.parse(JSON.stringify(first.state())) as ReturnType<DataLoader['state']>;
  assert.equal(saved.epoch, 0);
  assert.equal(saved.batchIndex, 5);

  const resumed = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 0 });
  resumed.restore(saved);
  seen.push(...windowStarts(resumed, resumed), ...windowStarts(resumed, resumed));
  assert.deepEqual(seen, all);
  assert.equal(resumed.state().epoch, 2);
});

test('restore refuses a state from another dataset, batch size or a corrupt seed', () => {
  const ds = SlidingWindowDataset.fromIds(ids, { maxLength: 5, stride: 2 });
  const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 9 });
  const s = loader.state();
  assert.throws(() => new DataLoader(ds, { batchSize: 8 }).restore(s), /batch size 4, this loader uses 8/);
  const small = SlidingWindowDataset.fromIds(ids.slice(0, 50), { maxLength: 5, stride: 2 });
  assert.throws(
    () => new DataLoader(small, { batchSize: 4 }).restore(s),
    /for 49 windows, this dataset has 23/,
  );
  assert.throws(() => loader.restore({ ...s, epochSeed: s.epochSeed ^ 1 }), /corrupt/);
  assert.throws(() => loader.restore({ ...s, batchIndex: 999 }), /batchIndex 999 is outside/);
});

test('bad window options and out-of-range windows are clear errors', () => {
  assert.throws(
    () => SlidingWindowDataset.fromIds(ids, { maxLength: 0, stride: 1 }),
    /maxLength must be a positive integer/,
  );
  assert.throws(
    () => SlidingWindowDataset.fromIds(ids, { maxLength: 4, stride: 0 }),
    /stride must be a positive integer/,
  );
  const ds = SlidingWindowDataset.fromIds(ids, { maxLength: 4, stride: 4 });
  assert.throws(
    () => ds.readWindow(ds.length, new Int32Array(4), new Int32Array(4), 0),
    /window 25 is out of range/,
  );
  assert.equal(SlidingWindowDataset.fromIds([1, 2, 3], { maxLength: 3, stride: 1 }).length, 0);
});
