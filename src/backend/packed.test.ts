// Packed-weight kernels (bf16 / int8 inference storage): the native packWeights must match the js reference bit
// for bit, and packedLinear must match the float64 oracle over shapes, strides, beta and thread counts, on every
// native path (AVX512_BF16 dot products, AVX-512 and AVX2 conversions, portable C: child runs force each).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bf16ToF32, f32ToBf16, quantizeRowInt8, type PackedMatrix } from './backend.js';
import { jsBackend } from './js/index.js';
import { loadNativeAddon, loadNativeBackend } from './native/index.js';

const { backend: native, error: loadError } = loadNativeBackend();
const skip = native ? false : `native addon not available: ${loadError}`;

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
const rand = rng(777);
const randomF32 = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rand() * scale);

test('bf16 and int8 scalar conversions: rounding, ties, NaN, zero rows', () => {
  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: to even (1); 1 + 3 * 2^-8 rounds up to the even 1 + 2^-6.
  assert.equal(bf16ToF32(f32ToBf16(1 + 2 ** -8)), 1);
  assert.equal(bf16ToF32(f32ToBf16(1 + 3 * 2 ** -8)), 1 + 2 ** -6);
  assert.equal(bf16ToF32(f32ToBf16(-2.5)), -2.5);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
  assert.equal(bf16ToF32(f32ToBf16(Infinity)), Infinity);
  const q = new Int8Array(4);
  // amax 127 -> scale 1, so q = round half to even of the values themselves.
  const s = quantizeRowInt8(Float32Array.from([127, -2.5, 3.5, 0.5]), 0, 1, 4, q, 0);
  assert.equal(s, 1);
  assert.deepEqual([...q], [127, -2, 4, 0]);
  assert.equal(quantizeRowInt8(new Float32Array(3), 0, 1, 3, q, 0), 0);
  assert.deepEqual([...q.subarray(0, 3)], [0, 0, 0]);
});

type Dst = 'f32' | 'bf16' | 'int8';
function makeDst(kind: Dst, n: number): Float32Array | Uint16Array | Int8Array {
  return kind === 'f32' ? new Float32Array(n) : kind === 'bf16' ? new Uint16Array(n) : new Int8Array(n);
}

test(
  'packWeights: native matches the js reference bit for bit (contiguous, transposed, strided)',
  { skip },
  () => {
    for (const kind of ['f32', 'bf16', 'int8'] as const)
      for (const [rows, cols] of [
        [1, 1],
        [5, 3],
        [17, 65],
        [33, 100],
        [130, 47],
      ])
        for (const layout of ['n', 't', 's'] as const) {
          const off = 7;
          const [rs, cs] = layout === 'n' ? [cols, 1] : layout === 't' ? [1, rows] : [2 * cols + 1, 2];
          const src = randomF32(off + (rows - 1) * rs + (cols - 1) * cs + 1 + 3, 3);
          if (rows > 3) src.fill(0, off, off + 1); // some exact zeros
          const args = (dst: Float32Array | Uint16Array | Int8Array, scales: Float32Array) => ({
            rows,
            cols,
            src,
            srcOffset: off,
            srcRowStride: rs,
            srcColStride: cs,
            dst,
            scales,
          });
          const want = makeDst(kind, rows * cols);
          const wantScales = new Float32Array(rows);
          jsBackend.packWeights(args(want, wantScales));
          for (const threads of [1, 2]) {
            native!.setThreads(threads);
            const got = makeDst(kind, rows * cols);
            const gotScales = new Float32Array(rows);
            native!.packWeights(args(got, gotScales));
            const what = `${kind} ${rows}x${cols} ${layout} threads=${threads}`;
            assert.deepEqual(got, want, what);
            if (kind === 'int8') assert.deepEqual(gotScales, wantScales, `${what} scales`);
          }
        }
  },
);

test('packWeights (js): int8 rows dequantize to within half a step of the original', () => {
  const rows = 9;
  const cols = 40;
  const src = randomF32(rows * cols, 2);
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  jsBackend.packWeights({
    rows,
    cols,
    src,
    srcOffset: 0,
    srcRowStride: cols,
    srcColStride: 1,
    dst: q,
    scales,
  });
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++)
      assert.ok(Math.abs(q[i * cols + j] * scales[i] - src[i * cols + j]) <= scales[i] * 0.5 + 1e-7);
});

function pack(kind: 'bf16' | 'int8', rows: number, cols: number, src: Float32Array): PackedMatrix {
  const data = kind === 'bf16' ? new Uint16Array(rows * cols) : new Int8Array(rows * cols);
  const scales = kind === 'int8' ? new Float32Array(rows) : null;
  jsBackend.packWeights({
    rows,
    cols,
    src,
    srcOffset: 0,
    srcRowStride: cols,
    srcColStride: 1,
    dst: data,
    scales: scales ?? undefined,
  });
  return { dtype: kind, rows, cols, data, scales };
}

test(
  'packedLinear: native matches the float64 oracle (M x N x K, offsets, strides, beta, threads)',
  { skip },
  () => {
    const path = loadNativeAddon()!.packedPath();
    for (const kind of ['bf16', 'int8'] as const)
      for (const M of [1, 2, 3, 4, 5, 16, 17, 40])
        for (const [N, K] of [
          [1, 1],
          [7, 33],
          [65, 16],
          [130, 100],
          [70, 300],
        ])
          for (const beta of [0, 1] as const) {
            const w = pack(kind, N, K, randomF32(N * K));
            const xOffset = 3;
            const xRowStride = K + 5;
            const x = randomF32(xOffset + M * xRowStride);
            const yOffset = 2;
            const yRowStride = N + 3;
            const y0 = beta
              ? randomF32(yOffset + M * yRowStride + 1)
              : new Float32Array(yOffset + M * yRowStride + 1).fill(NaN);
            const args = (yy: Float32Array) => ({
              M,
              N,
              K,
              x,
              xOffset,
              xRowStride,
              w,
              y: yy,
              yOffset,
              yRowStride,
              beta,
            });
            const want = Float64Array.from(y0);
            jsBackend.packedLinear({ ...args(new Float32Array(0)), y: want as unknown as Float32Array });
            // Error bound per output: a fraction of sum_p |x_p W_jp| (the oracle on |x|, |W|). f32 accumulation:
            // 1e-6 of it; the AVX512_BF16 path (M <= 16) also rounds x to bf16: 2^-8 of it.
            const absW: PackedMatrix =
              kind === 'bf16'
                ? { ...w, data: (w.data as Uint16Array).map((h) => h & 0x7fff) }
                : { ...w, data: (w.data as Int8Array).map((q) => Math.abs(q)) };
            const bound = new Float64Array(want.length);
            jsBackend.packedLinear({
              ...args(new Float32Array(0)),
              x: x.map(Math.abs),
              w: absW,
              y: bound as unknown as Float32Array,
              beta: 0,
            });
            const rel = kind === 'bf16' && path === 'avx512bf16' && M <= 16 ? 2 ** -8 : 1e-6;
            for (const threads of [1, 2]) {
              native!.setThreads(threads);
              const y = Float32Array.from(y0);
              native!.packedLinear(args(y));
              for (let i = 0; i < y.length; i++) {
                const inside = i >= yOffset && (i - yOffset) % yRowStride < N && i < yOffset + M * yRowStride;
                const e = want[i];
                if (!inside) {
                  assert.ok(
                    Object.is(y[i], y0[i]) || (Number.isNaN(y[i]) && Number.isNaN(y0[i])),
                    `padding ${i} touched`,
                  );
                  continue;
                }
                const tol = rel * bound[i] + 1e-6;
                assert.ok(
                  Math.abs(y[i] - e) <= tol,
                  `${kind} M=${M} N=${N} K=${K} beta=${beta} threads=${threads} path=${path}: y[${i}] = ${y[i]}, want ${e}`,
                );
              }
            }
          }
  },
);

test('packedLinear: argument checks name the problem', { skip }, () => {
  const w = pack('int8', 4, 8, randomF32(32));
  const base = {
    M: 2,
    N: 4,
    K: 8,
    x: new Float32Array(16),
    xOffset: 0,
    xRowStride: 8,
    w,
    y: new Float32Array(8),
    yOffset: 0,
    yRowStride: 4,
    beta: 0 as const,
  };
  assert.throws(() => native!.packedLinear({ ...base, x: new Float32Array(15) }), /x: index range/);
  assert.throws(() => native!.packedLinear({ ...base, w: { ...w, scales: new Float32Array(3) } }), /scales/);
  assert.throws(() => native!.packedLinear({ ...base, y: new Float32Array(7) }), /y: index range/);
});

// Every path this CPU has below its best runs the same tests in a child (GPTKIT_ISA caps the level; the
// AVX512_BF16 dot product is left out under any GPTKIT_ISA or GPTKIT_NO_BF16_DOT=1).
test(
  'packed kernels: the narrower native paths pass the same tests',
  {
    skip: skip || (process.env.GPTKIT_ISA || process.env.GPTKIT_NO_BF16_DOT ? 'already a child run' : false),
  },
  () => {
    const path = loadNativeAddon()!.packedPath();
    const runs: Array<Record<string, string>> = [];
    if (path === 'avx512bf16') runs.push({ GPTKIT_NO_BF16_DOT: '1' });
    if (path === 'avx512bf16' || path === 'avx512') runs.push({ GPTKIT_ISA: 'avx2' });
    if (path !== 'portable') runs.push({ GPTKIT_ISA: 'portable' });
    for (const extra of runs) {
      const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
      delete env.NODE_TEST_CONTEXT;
      const r = spawnSync(
        process.execPath,
        ['--test', '--test-reporter=dot', fileURLToPath(import.meta.url)],
        {
          env,
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, `${JSON.stringify(extra)} run failed:\n${r.stdout}\n${r.stderr}`);
      const want = extra.GPTKIT_ISA ?? 'avx512';
      const child = spawnSync(
        process.execPath,
        [
          '-e',
          `import(${JSON.stringify(new URL('./native/index.js', import.meta.url).href)}).then(m => console.log(m.loadNativeAddon().packedPath()))`,
        ],
        { env, encoding: 'utf8' },
      );
      assert.equal(child.stdout.trim(), want, `${JSON.stringify(extra)}: packed path`);
    }
  },
);
