// assignInto: a copy into a strided view (KV-cache appends, narrow's backward, cat), checked element by element
// against index arithmetic, for rows long enough to be copied whole and for short ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ops from './index.js';

for (const D of [3, 8, 64]) {
  test(`assignInto a narrowed, permuted destination (last dimension ${D})`, () => {
    const [B, H, T] = [2, 3, 7];
    const dst = ops.zeros([B, H, T, D]);
    const src = ops.fromArray(
      Array.from({ length: B * H * 2 * D }, (_, i) => i + 1),
      [B, H, 2, D],
    );
    ops.assignInto(ops.narrow(dst, 2, 4, 2), src); // positions 4 and 5 of T
    const got = dst.toArray();
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let t = 0; t < T; t++)
          for (let d = 0; d < D; d++) {
            const want = t === 4 || t === 5 ? 1 + ((b * H + h) * 2 + (t - 4)) * D + d : 0;
            assert.equal(got[((b * H + h) * T + t) * D + d], want, `[${b}, ${h}, ${t}, ${d}]`);
          }
  });
}

test('assignInto from a transposed source into a transposed destination', () => {
  const dst = ops.zeros([10, 12]);
  const src = ops.fromArray(
    Array.from({ length: 120 }, (_, i) => i),
    [10, 12],
  );
  ops.assignInto(ops.transpose(dst, 0, 1), ops.transpose(src, 0, 1)); // the same element positions
  assert.deepEqual(dst.toArray(), src.toArray());
  const d2 = ops.zeros([12, 10]);
  ops.assignInto(d2, ops.transpose(src, 0, 1)); // rows of 10 from a strided source
  for (let i = 0; i < 12; i++)
    for (let j = 0; j < 10; j++) assert.equal(d2.toArray()[i * 10 + j], j * 12 + i);
  assert.throws(() => ops.assignInto(d2, src), /does not match destination/);
});

test('contiguous() of large permuted views (the native strided copy) matches index arithmetic', () => {
  const [B, T, H, D] = [2, 40, 3, 64];
  const x = ops.fromArray(
    Array.from({ length: B * T * H * D }, (_, i) => i),
    [B, T, H, D],
  );
  // heads split: (B, T, H, D) -> (B, H, T, D); rows of D contiguous in the source
  const split = ops.contiguous(ops.permute(x, [0, 2, 1, 3])).toArray();
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++)
        for (let d = 0; d < D; d++)
          assert.equal(split[((b * H + h) * T + t) * D + d], ((b * T + t) * H + h) * D + d);
  // the last two dimensions swapped: a strided inner loop
  const swapped = ops.contiguous(ops.transpose(x, 2, 3)).toArray();
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let d = 0; d < D; d++)
        for (let h = 0; h < H; h++)
          assert.equal(swapped[((b * T + t) * D + d) * H + h], ((b * T + t) * H + h) * D + d);
  // a narrowed view: a nonzero offset
  const part = ops.contiguous(ops.narrow(ops.permute(x, [0, 2, 1, 3]), 2, 5, 30)).toArray();
  assert.equal(part[0], (5 * H + 0) * D);
  assert.equal(part.length, B * H * 30 * D);
});
