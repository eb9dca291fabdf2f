// Backend comparison: every native kernel against the js oracle (run in float64 on the same inputs) over
// shapes, strides, aliasing and thread counts. Skipped, with the reason, where the addon is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Backend, FloatArray, GemmArgs } from './backend.js';
import { jsBackend } from './js/index.js';
import { loadNativeAddon, loadNativeBackend } from './native/index.js';

const { backend: native, error: loadError } = loadNativeBackend();
const skip = native ? false : `native addon not available: ${loadError}`;
const THREADS = [1, 2];

/** Deterministic uniform [-1, 1) floats (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  };
}
const rand = rng(12345);

function randomF32(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand() * scale;
  return a;
}

const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

/**
 * Elementwise |actual - expected| <= atol + rtol * |expected|, with atol relative to the magnitude of the
 * expected values (accumulation order differs between fp32 native code and the float64 oracle).
 * NaN must match NaN; Infinity must match exactly.
 */
function assertClose(
  actual: FloatArray,
  expected: FloatArray,
  what: string,
  rtol = 1e-5,
  atolRel = 1e-5,
  atolAbs = 0,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let mag = 0;
  for (const v of expected) if (Number.isFinite(v)) mag = Math.max(mag, Math.abs(v));
  const atol = atolRel * mag + atolAbs;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      assert.ok(
        Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)),
        `${what}[${i}]: got ${a}, expected ${e}`,
      );
      continue;
    }
    const err = Math.abs(a - e);
    if (!(err <= atol + rtol * Math.abs(e))) {
      assert.fail(
        `${what}[${i}]: got ${a}, expected ${e} (|err| ${err.toExponential(2)}, tol ${(atol + rtol * Math.abs(e)).toExponential(2)})`,
      );
    }
  }
}

function withThreads(nb: Backend, fn: (threads: number) => void): void {
  const saved = nb.threads();
  try {
    for (const t of THREADS) {
      nb.setThreads(t);
      fn(t);
    }
  } finally {
    nb.setThreads(saved);
  }
}

// ---------------------------------------------------------------- GEMM

type Layout = 'n' | 't' | 's'; // row-major, transposed (column-major), generally strided

interface Operand {
  data: Float32Array;
  offset: number;
  rowStride: number;
  colStride: number;
  batchStride: number;
}

/** A batch of rows x cols matrices stored in the given layout, at an offset, with padding between batches. */
function operand(rows: number, cols: number, layout: Layout, batch: number, sharedBatch = false): Operand {
  const offset = 3;
  let rowStride: number;
  let colStride: number;
  let size: number;
  if (layout === 'n') [rowStride, colStride, size] = [cols, 1, rows * cols];
  else if (layout === 't') [rowStride, colStride, size] = [1, rows, rows * cols];
  else [rowStride, colStride, size] = [2 * cols + 3, 2, rows * (2 * cols + 3)];
  const batchStride = sharedBatch ? 0 : size + 5;
  const data = randomF32(offset + (sharedBatch ? 1 : batch) * (size + 5) + 2);
  return { data, offset, rowStride, colStride, batchStride };
}

interface GemmCase {
  batch: number;
  M: number;
  N: number;
  K: number;
  la: Layout;
  lb: Layout;
  beta: 0 | 1;
  alpha?: number;
  sharedB?: boolean;
  sharedC?: boolean; // cBatchStride 0: the batches overwrite/accumulate into one C, in order
}

function runGemmCase(nb: Backend, cs: GemmCase, threads: number): void {
  const { batch, M, N, K, la, lb, beta } = cs;
  const A = operand(M, K, la, batch);
  const B = operand(K, N, lb, batch, cs.sharedB);
  const cRowStride = N + 3;
  const cBatchStride = cs.sharedC ? 0 : M * cRowStride + 7;
  const cLen = 5 + (cs.sharedC ? 1 : batch) * (M * cRowStride + 7);
  // beta 0 must ignore old contents: prefill NaN everywhere (padding too, which must stay NaN).
  const c = beta === 0 ? new Float32Array(cLen).fill(NaN) : randomF32(cLen);
  const args = (a: FloatArray, b: FloatArray, cc: FloatArray): GemmArgs => ({
    batch,
    M,
    N,
    K,
    a,
    aOffset: A.offset,
    aRowStride: A.rowStride,
    aColStride: A.colStride,
    aBatchStride: A.batchStride,
    b,
    bOffset: B.offset,
    bRowStride: B.rowStride,
    bColStride: B.colStride,
    bBatchStride: B.batchStride,
    c: cc,
    cOffset: 5,
    cRowStride,
    cBatchStride,
    alpha: cs.alpha ?? 1,
    beta,
  });
  const expected = f64(c);
  jsBackend.gemm(args(f64(A.data), f64(B.data), expected));
  nb.gemm(args(A.data, B.data, c));
  assertClose(c, expected, `gemm ${JSON.stringify(cs)} threads=${threads}`, 1e-4, 1e-5);
}

test('gemm: shapes x layouts x beta, against the js oracle', { skip }, () => {
  const sizes = [1, 7, 17, 65];
  const layouts: Array<[Layout, Layout]> = [
    ['n', 'n'],
    ['t', 'n'],
    ['n', 't'],
    ['t', 't'],
    ['s', 's'],
    ['s', 'n'],
    ['n', 's'],
  ];
  withThreads(native!, (threads) => {
    for (const M of sizes)
      for (const N of sizes)
        for (const K of sizes)
          for (const [la, lb] of layouts)
            for (const beta of [0, 1] as const)
              runGemmCase(native!, { batch: 1, M, N, K, la, lb, beta }, threads);
  });
});

test('gemm: block edges, multi-block K, GEMV shapes, alpha', { skip }, () => {
  const cases: GemmCase[] = [];
  const layouts: Array<[Layout, Layout]> = [
    ['n', 'n'],
    ['t', 'n'],
    ['n', 't'],
    ['t', 't'],
    ['s', 's'],
  ];
  for (const [la, lb] of layouts) {
    for (const beta of [0, 1] as const) {
      // past KC = 256 (the second K block accumulates onto the first), MC = 252, and edge tiles in M and N
      cases.push({ batch: 1, M: 127, N: 33, K: 300, la, lb, beta });
      cases.push({ batch: 1, M: 260, N: 70, K: 33, la, lb, beta });
      cases.push({ batch: 1, M: 130, N: 129, K: 257, la, lb, beta, alpha: 0.125 });
      // past NC = 4096 columns
      cases.push({ batch: 1, M: 7, N: 4100, K: 5, la, lb, beta });
      // GEMV paths (M <= 4): N across the 512-wide accumulator strip, K tails of the vector loops
      for (const M of [1, 2, 3, 4, 5]) cases.push({ batch: 1, M, N: 1000, K: 77, la, lb, beta });
      cases.push({ batch: 1, M: 1, N: 65, K: 1, la, lb, beta });
      cases.push({ batch: 1, M: 1, N: 3, K: 500, la, lb, beta, alpha: -2 });
      // K = 1
      cases.push({ batch: 1, M: 33, N: 65, K: 1, la, lb, beta });
      // big enough (> 4 MFLOP) to be split between two threads: GEMV over N, grids over M or N
      cases.push({ batch: 1, M: 1, N: 9001, K: 300, la, lb, beta });
      cases.push({ batch: 1, M: 3, N: 5003, K: 300, la, lb, beta });
      cases.push({ batch: 1, M: 301, N: 67, K: 150, la, lb, beta });
      cases.push({ batch: 1, M: 61, N: 333, K: 150, la, lb, beta });
      // row-major B (lb 'n') up to 4096 wide: two threads split K and add their partial sums
      cases.push({ batch: 1, M: 1, N: 700, K: 1001, la, lb, beta });
      cases.push({ batch: 1, M: 3, N: 513, K: 2003, la, lb, beta, alpha: 0.5 });
      cases.push({ batch: 1, M: 1, N: 4096, K: 130, la, lb, beta });
    }
  }
  withThreads(native!, (threads) => {
    for (const cs of cases) runGemmCase(native!, cs, threads);
  });
});

test('gemm: GEMV with up to 16 rows when asked (setGemvRows, batched decoding)', { skip }, () => {
  const cases: GemmCase[] = [];
  for (const [la, lb] of [
    ['n', 'n'],
    ['n', 't'],
    ['t', 't'],
    ['s', 's'],
  ] as Array<[Layout, Layout]>) {
    for (const beta of [0, 1] as const) {
      // above 4 rows: groups of 4 over blocks of B^T (K = 3000: 20 rows of B^T per block, N ends mid-block)
      for (const M of [1, 5, 7, 8, 13, 16, 17]) cases.push({ batch: 1, M, N: 1000, K: 77, la, lb, beta });
      for (const M of [6, 16]) cases.push({ batch: 1, M, N: 45, K: 3000, la, lb, beta });
      cases.push({ batch: 1, M: 9, N: 9001, K: 300, la, lb, beta }); // split between threads
    }
  }
  const previous = native!.setGemvRows!(16);
  try {
    assert.equal(previous, 4, 'the default limit');
    withThreads(native!, (threads) => {
      for (const cs of cases) runGemmCase(native!, cs, threads);
    });
  } finally {
    native!.setGemvRows!(previous);
  }
  assert.throws(() => native!.setGemvRows!(17), /rows must be an integer in 1\.\.16/);
});

test(
  'gemm: a row of a small-M product with row-major B is the same alone and in a batch (K split too)',
  { skip },
  () => {
    // A server decodes one sequence alone or with others: its logits must not depend on the company it keeps.
    const previous = native!.setGemvRows!(16);
    try {
      withThreads(native!, (threads) => {
        for (const [N, K] of [
          [700, 1001], // big enough for two threads to split K
          [200, 600], // alone: too small to split; 9 rows would be big enough, and must not split K either
          [64, 100], // one thread
        ]) {
          const M = 9;
          const a = randomF32(M * K);
          const b = randomF32(K * N);
          const run = (rows: number, aOffset: number): Float32Array => {
            const c = new Float32Array(rows * N);
            native!.gemm({
              batch: 1,
              M: rows,
              N,
              K,
              alpha: 1,
              beta: 0,
              a,
              aOffset,
              aRowStride: K,
              aColStride: 1,
              aBatchStride: 0,
              b,
              bOffset: 0,
              bRowStride: N,
              bColStride: 1,
              bBatchStride: 0,
              c,
              cOffset: 0,
              cRowStride: N,
              cBatchStride: 0,
            });
            return c;
          };
          const all = run(M, 0);
          for (const r of [0, 4, 8])
            assert.deepEqual(
              run(1, r * K),
              all.subarray(r * N, (r + 1) * N),
              `row ${r}, N ${N}, K ${K}, threads ${threads}`,
            );
        }
      });
    } finally {
      native!.setGemvRows!(previous);
    }
  },
);

test('gemm: batched, shared B, overlapping C batches', { skip }, () => {
  const cases: GemmCase[] = [];
  for (const [la, lb] of [
    ['n', 'n'],
    ['n', 't'],
    ['t', 'n'],
    ['s', 's'],
  ] as Array<[Layout, Layout]>) {
    for (const beta of [0, 1] as const) {
      for (const batch of [2, 3, 12]) cases.push({ batch, M: 33, N: 17, K: 20, la, lb, beta });
      // threaded: whole batch entries per thread (4), or a grid inside each entry (3)
      cases.push({ batch: 4, M: 100, N: 64, K: 100, la, lb, beta });
      cases.push({ batch: 3, M: 150, N: 100, K: 80, la, lb, beta });
      cases.push({ batch: 3, M: 70, N: 64, K: 64, la, lb, beta, sharedB: true });
      cases.push({ batch: 3, M: 1, N: 300, K: 40, la, lb, beta });
      cases.push({ batch: 4, M: 20, N: 20, K: 9, la, lb, beta, sharedC: true });
    }
  }
  withThreads(native!, (threads) => {
    for (const cs of cases) runGemmCase(native!, cs, threads);
  });
});

test('gemm: zero-size dimensions', { skip }, () => {
  withThreads(native!, (threads) => {
    for (const [M, N, K] of [
      [0, 5, 5],
      [5, 0, 5],
      [5, 5, 0],
      [0, 0, 0],
      [1, 7, 0],
      [70, 70, 0],
    ]) {
      for (const beta of [0, 1] as const) {
        for (const batch of [0, 1, 2])
          runGemmCase(native!, { batch, M, N, K, la: 'n', lb: 'n', beta }, threads);
      }
    }
  });
});

test('gemm: rejects float64 and out-of-range operands', { skip }, () => {
  const base: GemmArgs = {
    batch: 1,
    M: 2,
    N: 2,
    K: 2,
    a: new Float32Array(4),
    aOffset: 0,
    aRowStride: 2,
    aColStride: 1,
    aBatchStride: 0,
    b: new Float32Array(4),
    bOffset: 0,
    bRowStride: 2,
    bColStride: 1,
    bBatchStride: 0,
    c: new Float32Array(4),
    cOffset: 0,
    cRowStride: 2,
    cBatchStride: 0,
    alpha: 1,
    beta: 0,
  };
  assert.throws(() => native!.gemm({ ...base, a: new Float64Array(4) }), /float64/);
  assert.throws(() => native!.gemm({ ...base, aOffset: 1 }), RangeError);
  assert.throws(() => native!.gemm({ ...base, c: new Float32Array(3) }), RangeError);
  assert.throws(() => native!.gemm({ ...base, bRowStride: -2 }), RangeError);
  assert.throws(() => native!.softmax(new Float32Array(3), new Float32Array(4), 2, 2), RangeError);
});

// ---------------------------------------------------------------- fused row kernels

test('softmax and softmaxBackward, incl. +-1000 magnitudes, -inf rows, in-place', { skip }, () => {
  const shapes = [
    [1, 1],
    [3, 7],
    [5, 17],
    [4, 65],
    [33, 127],
    [2, 1000],
    [64, 768],
    [3, 50257],
  ];
  withThreads(native!, (threads) => {
    for (const [rows, cols] of shapes) {
      for (const scale of [1, 1000]) {
        const what = `softmax ${rows}x${cols} scale=${scale} threads=${threads}`;
        const x = randomF32(rows * cols, scale);
        if (cols > 3) x.fill(-Infinity, cols - 2, cols); // a partly masked row
        if (rows > 2) x.fill(-Infinity, cols, 2 * cols); // a fully masked row
        const y = new Float32Array(rows * cols).fill(NaN);
        const yRef = new Float64Array(rows * cols);
        jsBackend.softmax(f64(x), yRef, rows, cols);
        native!.softmax(x, y, rows, cols);
        assertClose(y, yRef, what, 1e-5, 1e-6);
        const inPlace = x.slice();
        native!.softmax(inPlace, inPlace, rows, cols);
        assertClose(inPlace, yRef, `${what} in place`, 1e-5, 1e-6);

        const dy = randomF32(rows * cols);
        const dxRef = new Float64Array(rows * cols);
        jsBackend.softmaxBackward(f64(y), f64(dy), dxRef, rows, cols);
        const dx = new Float32Array(rows * cols).fill(NaN);
        native!.softmaxBackward(y, dy, dx, rows, cols);
        // dy - sum(dy*y) cancels where y is one-hot: the error scales with |dy| ~ 1, not with the result.
        assertClose(dx, dxRef, `${what} backward`, 1e-4, 1e-5, 1e-6);
        native!.softmaxBackward(y, dy, dy, rows, cols); // dx aliases dy
        assertClose(dy, dxRef, `${what} backward in place`, 1e-4, 1e-5, 1e-6);
      }
    }
  });
});

test('layerNorm forward and backward (dweight/dbias accumulate)', { skip }, () => {
  const shapes = [
    [1, 1],
    [3, 7],
    [17, 33],
    [64, 768],
    [5, 1000],
    [100, 65],
  ];
  withThreads(native!, (threads) => {
    for (const [rows, cols] of shapes) {
      const what = `layerNorm ${rows}x${cols} threads=${threads}`;
      const x = randomF32(rows * cols, 3);
      for (let i = 0; i < x.length; i++) x[i] += 5; // a nonzero mean
      const w = randomF32(cols);
      const b = randomF32(cols);
      const y = new Float32Array(rows * cols);
      const mean = new Float32Array(rows);
      const rstd = new Float32Array(rows);
      const yRef = new Float64Array(rows * cols);
      const meanRef = new Float64Array(rows);
      const rstdRef = new Float64Array(rows);
      jsBackend.layerNorm(f64(x), f64(w), f64(b), yRef, meanRef, rstdRef, rows, cols, 1e-5);
      native!.layerNorm(x, w, b, y, mean, rstd, rows, cols, 1e-5);
      assertClose(y, yRef, `${what} y`, 1e-4, 1e-5);
      assertClose(mean, meanRef, `${what} mean`, 1e-5, 1e-6);
      assertClose(rstd, rstdRef, `${what} rstd`, 1e-4, 1e-6);

      const dy = randomF32(rows * cols);
      const dw = randomF32(cols);
      const db = randomF32(cols);
      const dx = new Float32Array(rows * cols).fill(NaN);
      const dxRef = new Float64Array(rows * cols);
      const dwRef = f64(dw);
      const dbRef = f64(db);
      jsBackend.layerNormBackward(
        f64(dy),
        f64(x),
        f64(w),
        f64(mean),
        f64(rstd),
        dxRef,
        dwRef,
        dbRef,
        rows,
        cols,
      );
      native!.layerNormBackward(dy, x, w, mean, rstd, dx, dw, db, rows, cols);
      // g - mean(g) cancels exactly in float64 for one column: allow fp32 rounding of rstd * |dy * w|.
      assertClose(dx, dxRef, `${what} dx`, 1e-4, 1e-5, 1e-5);
      assertClose(dw, dwRef, `${what} dweight`, 1e-4, 1e-5);
      assertClose(db, dbRef, `${what} dbias`, 1e-4, 1e-5);
    }
  });
});

test('add, dropout and sumRows: bit for bit the js kernels (float32), in place too', { skip }, () => {
  withThreads(native!, (threads) => {
    for (const n of [0, 1, 63, 65, 1000, 300007]) {
      const what = `n=${n} threads=${threads}`;
      const a = randomF32(n, 3);
      const b = randomF32(n, 3);
      a[0] = n > 0 ? -2.5 : a[0]; // dropout of a negative element: -0, as 0 * x gives
      const ref = new Float32Array(n);
      jsBackend.add(a, b, ref, n);
      for (let i = 0; i < Math.min(n, 50); i++)
        assert.equal(ref[i], Math.fround(a[i] + b[i]), 'the oracle adds');
      const out = new Float32Array(n);
      native!.add(a, b, out, n);
      assert.deepEqual(out, ref, `add ${what}`);
      const inPlace = a.slice();
      native!.add(inPlace, b, inPlace, n);
      assert.deepEqual(inPlace, ref, `add in place ${what}`);

      for (const [p, seed] of [
        [0.1, 12345],
        [0.5, 4294967295],
        [1, 7],
      ] as const) {
        const threshold = Math.ceil(p * 16777216);
        const scale = p === 1 ? 0 : 1 / (1 - p);
        const dRef = new Float32Array(n);
        jsBackend.dropout(a, dRef, n, seed, threshold, scale);
        const d = new Float32Array(n);
        native!.dropout(a, d, n, seed, threshold, scale);
        assert.deepEqual(d, dRef, `dropout p=${p} ${what}`);
        const kept = dRef.reduce((k, v) => k + (v !== 0 ? 1 : 0), 0);
        if (n >= 1000) assert.ok(Math.abs(kept / n - (1 - p)) < 0.02, `dropout p=${p} keeps ${kept} of ${n}`);
        const dIn = a.slice();
        native!.dropout(dIn, dIn, n, seed, threshold, scale);
        assert.deepEqual(dIn, dRef, `dropout in place ${what}`);
      }
    }
    for (const [rows, cols] of [
      [1, 1],
      [3, 70],
      [512, 768],
      [7, 3000],
      [0, 5],
    ]) {
      const g = randomF32(rows * cols);
      for (const beta of [0, 1] as const) {
        const init = randomF32(cols);
        const ref = init.slice();
        jsBackend.sumRows(g, rows, cols, ref, beta);
        const dst = init.slice();
        native!.sumRows(g, rows, cols, dst, beta);
        assert.deepEqual(dst, ref, `sumRows ${rows}x${cols} beta=${beta} threads=${threads}`);
        const exact = new Float64Array(cols);
        for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) exact[j] += g[r * cols + j];
        if (beta) for (let j = 0; j < cols; j++) exact[j] += init[j];
        assertClose(dst, exact, `sumRows vs float64 ${rows}x${cols}`, 1e-4, 1e-5);
      }
    }
  });
});

test('gelu forward and backward, incl. large |x| and in-place', { skip }, () => {
  withThreads(native!, (threads) => {
    for (const n of [0, 1, 7, 17, 1000, 100003]) {
      const what = `gelu n=${n} threads=${threads}`;
      const x = randomF32(n, 6);
      const specials = [0, -0, 1e-6, -1e-6, 20, -20, 100, -100, 1e4, -1e4, -5, -8, 5];
      for (let i = 0; i < Math.min(n, specials.length); i++) x[i] = specials[i];
      const y = new Float32Array(n);
      const yRef = new Float64Array(n);
      jsBackend.gelu(f64(x), yRef, n);
      native!.gelu(x, y, n);
      // Relative accuracy, also where gelu(x) is tiny (negative x): 1e-6 for |x| <= 3; beyond, the fp32 rounding
      // of z is amplified by exp(-2z) (|2z| ~ 16 at x = -5), so 1e-5. The oracle itself loses 1 + tanh(z) to
      // double cancellation below about 1e-16 |x| (it returns 0 for x = -8, where fp32 still has -3.1e-21).
      for (let i = 0; i < n; i++) {
        const tol = (Math.abs(x[i]) <= 3 ? 1e-6 : 1e-5) * Math.abs(yRef[i]) + 1e-14;
        assert.ok(
          Math.abs(y[i] - yRef[i]) <= tol,
          `${what}[${i}]: gelu(${x[i]}) = ${y[i]}, expected ${yRef[i]}`,
        );
      }
      const dy = randomF32(n);
      const dxRef = new Float64Array(n);
      jsBackend.geluBackward(f64(x), f64(dy), dxRef, n);
      const dx = new Float32Array(n);
      native!.geluBackward(x, dy, dx, n);
      assertClose(dx, dxRef, `${what} backward`, 1e-5, 1e-7, 1e-14);
      native!.geluBackward(x, dy, dy, n);
      assertClose(dy, dxRef, `${what} backward in place`, 1e-5, 1e-7, 1e-14);
    }
  });
});

test('crossEntropy forward and backward, incl. +-1000 logits and ignored targets', { skip }, () => {
  const ignore = -100;
  withThreads(native!, (threads) => {
    for (const [rows, V] of [
      [1, 1],
      [3, 7],
      [17, 1000],
      [4, 50257],
      [2, 33],
    ]) {
      for (const scale of [1, 1000]) {
        const what = `crossEntropy ${rows}x${V} scale=${scale} threads=${threads}`;
        const logits = randomF32(rows * V, scale);
        const targets = new Int32Array(rows);
        for (let r = 0; r < rows; r++)
          targets[r] = r % 3 === 1 ? ignore : Math.floor(((rand() + 1) / 2) * V) % V;
        const loss = new Float32Array(rows).fill(NaN);
        const lse = new Float32Array(rows).fill(NaN);
        const lossRef = new Float64Array(rows);
        const lseRef = new Float64Array(rows);
        jsBackend.crossEntropy(f64(logits), targets, lossRef, lseRef, rows, V, ignore);
        native!.crossEntropy(logits, targets, loss, lse, rows, V, ignore);
        // fp32 logits of magnitude 1000 carry absolute error ~1e-4: compare relative to that magnitude.
        assertClose(lse, lseRef, `${what} lse`, 1e-6, 1e-6);
        for (let r = 0; r < rows; r++) {
          assert.ok(
            Math.abs(loss[r] - lossRef[r]) <= 2e-6 * scale * Math.max(1, Math.log(V)) + 1e-6,
            `${what} loss[${r}]: ${loss[r]} vs ${lossRef[r]}`,
          );
        }
        const gscale = 1 / rows;
        const d = new Float32Array(rows * V).fill(NaN);
        const dRef = new Float64Array(rows * V);
        jsBackend.crossEntropyBackward(f64(logits), targets, f64(lse), dRef, rows, V, ignore, gscale);
        native!.crossEntropyBackward(logits, targets, lse, d, rows, V, ignore, gscale);
        assertClose(d, dRef, `${what} backward`, 1e-4, 1e-5);
      }
    }
  });
});

test('adamw matches the js update', { skip }, () => {
  withThreads(native!, (threads) => {
    for (const n of [1, 7, 1000, 100003]) {
      for (const [step, weightDecay] of [
        [1, 0],
        [10, 0.1],
      ]) {
        const param = randomF32(n);
        const grad = randomF32(n, 0.1);
        const m = randomF32(n, 0.01);
        const v = randomF32(n, 0.001).map(Math.abs);
        const ref = { param: f64(param), m: f64(m), v: f64(v) };
        const hp = { n, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step };
        // The js version only types Float32Array but its arithmetic is generic: run it in float64 as oracle.
        jsBackend.adamw({
          ...hp,
          param: ref.param,
          grad: f64(grad),
          m: ref.m,
          v: ref.v,
        } as unknown as Parameters<Backend['adamw']>[0]);
        native!.adamw({ ...hp, param, grad, m, v });
        const what = `adamw n=${n} step=${step} threads=${threads}`;
        assertClose(param, ref.param, `${what} param`, 1e-6, 1e-6);
        assertClose(m, ref.m, `${what} m`, 1e-6, 1e-7);
        assertClose(v, ref.v, `${what} v`, 1e-5, 1e-7);
      }
    }
  });
});

// ---------------------------------------------------------------- attention

function runAttention(
  BH: number,
  Tq: number,
  Tk: number,
  D: number,
  qStart: number,
  threads: number,
  dropoutP = 0,
): void {
  const what = `attention BH=${BH} Tq=${Tq} Tk=${Tk} D=${D} qStart=${qStart} threads=${threads} dropout=${dropoutP}`;
  const drop = { dropoutP, dropoutSeed: 0x5eed1234 + BH * 31 + Tq };
  const scale = 1 / Math.sqrt(Math.max(D, 1));
  const q = randomF32(BH * Tq * D, 2);
  const k = randomF32(BH * Tk * D, 2);
  const v = randomF32(BH * Tk * D);
  const out = new Float32Array(BH * Tq * D).fill(NaN);
  const lse = new Float32Array(BH * Tq).fill(NaN);
  const outRef = new Float64Array(BH * Tq * D);
  const lseRef = new Float64Array(BH * Tq);
  jsBackend.attention({
    BH,
    Tq,
    Tk,
    D,
    qStart,
    scale,
    q: f64(q),
    k: f64(k),
    v: f64(v),
    out: outRef,
    lse: lseRef,
    ...drop,
  });
  native!.attention({ BH, Tq, Tk, D, qStart, scale, q, k, v, out, lse, ...drop });
  assertClose(out, outRef, `${what} out`, 1e-4, 1e-5);
  assertClose(lse, lseRef, `${what} lse`, 1e-5, 1e-6);

  const dout = randomF32(BH * Tq * D);
  const grads = () => [BH * Tq * D, BH * Tk * D, BH * Tk * D].map((n) => new Float32Array(n).fill(NaN));
  const [dq, dk, dv] = grads();
  const [dqRef, dkRef, dvRef] = [BH * Tq * D, BH * Tk * D, BH * Tk * D].map((n) => new Float64Array(n));
  jsBackend.attentionBackward({
    BH,
    Tq,
    Tk,
    D,
    qStart,
    scale,
    q: f64(q),
    k: f64(k),
    v: f64(v),
    out: f64(out),
    lse: f64(lse),
    dout: f64(dout),
    dq: dqRef,
    dk: dkRef,
    dv: dvRef,
    ...drop,
  });
  native!.attentionBackward({ BH, Tq, Tk, D, qStart, scale, q, k, v, out, lse, dout, dq, dk, dv, ...drop });
  assertClose(dq, dqRef, `${what} dq`, 1e-3, 1e-4);
  assertClose(dk, dkRef, `${what} dk`, 1e-3, 1e-4);
  assertClose(dv, dvRef, `${what} dv`, 1e-3, 1e-4);
}

test('attention forward and backward: tiles, KV-cache offsets, single queries', { skip }, () => {
  const cases: Array<[number, number, number, number, number]> = [
    [1, 1, 1, 1, 0],
    [2, 7, 7, 5, 0],
    [3, 17, 17, 16, 0],
    [2, 65, 65, 64, 0],
    [4, 130, 130, 64, 0], // several query (48) and key (128) tiles, with a partial diagonal tile
    [1, 300, 300, 32, 0], // one head on two threads: key tiles shared out, dq summed
    [2, 5, 37, 16, 32], // KV cache: 5 new queries at positions 32..36 against 37 keys
    [3, 1, 200, 64, 199], // one new token
    [2, 50, 180, 24, 130],
    [2, 40, 40, 300, 0], // D > 256: too large to pre-pack K^T, the plain GEMM path
    [2, 3, 3, 0, 0], // D = 0
  ];
  withThreads(native!, (threads) => {
    for (const [BH, Tq, Tk, D, qStart] of cases) runAttention(BH, Tq, Tk, D, qStart, threads);
    // Attention-weight dropout: the native mask must be the js reference's mask, bit for bit.
    for (const [BH, Tq, Tk, D, qStart] of cases.slice(1, 9))
      runAttention(BH, Tq, Tk, D, qStart, threads, 0.1);
    runAttention(2, 130, 130, 64, 0, threads, 0.5);
  });
  assert.throws(
    () =>
      native!.attention({
        BH: 1,
        Tq: 4,
        Tk: 4,
        D: 2,
        qStart: 1,
        scale: 1,
        q: new Float32Array(8),
        k: new Float32Array(8),
        v: new Float32Array(8),
        out: new Float32Array(8),
        lse: new Float32Array(4),
      }),
    RangeError,
  );
});

// ---------------------------------------------------------------- fallback code paths

// The suite above exercises the best SIMD path of this CPU. Rerun it in child processes on the narrower paths
// (GPTKIT_ISA can only lower the level), so the AVX2 and portable kernels are checked too.
test(
  'narrower SIMD paths (GPTKIT_ISA=avx2, portable) pass the same suite',
  { skip: skip || (process.env.GPTKIT_ISA ? 'already a fallback run' : false) },
  () => {
    const best = loadNativeAddon()!.isa();
    const levels = best === 'avx512' ? ['avx2', 'portable'] : best === 'avx2' ? ['portable'] : [];
    for (const isa of levels) {
      const env: NodeJS.ProcessEnv = { ...process.env, GPTKIT_ISA: isa };
      delete env.NODE_TEST_CONTEXT; // a standalone run, not a subtest stream of this runner
      const r = spawnSync(
        process.execPath,
        ['--test', '--test-reporter=dot', fileURLToPath(import.meta.url)],
        {
          env,
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, `GPTKIT_ISA=${isa} run failed:\n${r.stdout}\n${r.stderr}`);
    }
  },
);

test(
  'isa reports the path the child runs on',
  { skip: skip || (process.env.GPTKIT_ISA ? false : 'not a fallback run') },
  () => {
    assert.equal(loadNativeAddon()!.isa(), process.env.GPTKIT_ISA);
  },
);
