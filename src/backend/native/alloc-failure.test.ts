// Allocation failures in the native addon: a kernel that cannot get its scratch memory throws a JavaScript
// Error (code ENOMEM) naming the kernel and the size, and the process carries on; kernels with a fallback that
// needs no memory take it. GPTKIT_TEST_ALLOC_FAIL=N (read by the addon at load) makes every allocation of N
// bytes or more fail, so this file reruns itself in child processes with it set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Backend, GemmArgs } from '../backend.js';
import { loadNativeBackend } from './index.js';

const { backend: native, error: loadError } = loadNativeBackend();
const failFrom = process.env.GPTKIT_TEST_ALLOC_FAIL;
const skip = native ? false : `native addon not available: ${loadError}`;
const MiB = 1 << 20;

function filled(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin(seed + i * 0.37);
  return a;
}

/** Row-major A (M x K) @ B (K x N), B either row-major or stored transposed (N x K), into a new C. */
function gemmCase(M: number, N: number, K: number, opts: { aT?: boolean; bT?: boolean } = {}) {
  const a = filled(M * K, 1);
  const b = filled(K * N, 2);
  const args: GemmArgs<Float32Array> = {
    batch: 1,
    M,
    N,
    K,
    a,
    aOffset: 0,
    aRowStride: opts.aT ? 1 : K,
    aColStride: opts.aT ? M : 1,
    aBatchStride: 0,
    b,
    bOffset: 0,
    bRowStride: opts.bT ? 1 : N,
    bColStride: opts.bT ? K : 1,
    bBatchStride: 0,
    c: new Float32Array(M * N).fill(NaN),
    cOffset: 0,
    cRowStride: N,
    cBatchStride: 0,
    alpha: 1,
    beta: 0,
  };
  const expected = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++)
        s += a[i * args.aRowStride + p * args.aColStride] * b[p * args.bRowStride + j * args.bColStride];
      expected[i * N + j] = s;
    }
  return { args, expected };
}

function assertGemmRight(
  be: Backend,
  M: number,
  N: number,
  K: number,
  opts: { aT?: boolean; bT?: boolean } = {},
) {
  const { args, expected } = gemmCase(M, N, K, opts);
  be.gemm(args);
  for (let i = 0; i < expected.length; i++)
    assert.ok(
      Math.abs(args.c[i] - expected[i]) <= 1e-4 * (1 + Math.abs(expected[i])),
      `C[${i}] of ${M}x${N}x${K}`,
    );
}

function attentionArgs(BH: number, T: number, D: number) {
  const n = BH * T * D;
  return {
    BH,
    Tq: T,
    Tk: T,
    D,
    qStart: 0,
    scale: 1 / Math.sqrt(D),
    q: filled(n, 3),
    k: filled(n, 4),
    v: filled(n, 5),
    out: new Float32Array(n),
    lse: new Float32Array(BH * T),
    dout: filled(n, 6),
    dq: new Float32Array(n),
    dk: new Float32Array(n),
    dv: new Float32Array(n),
  };
}

const outOfMemory =
  (kernel: string, bytes = '\\d+') =>
  (e: unknown) => {
    assert.ok(e instanceof Error, 'an Error');
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOMEM');
    assert.match(e.message, new RegExp(`^gptkit native ${kernel}: out of memory allocating ${bytes} bytes$`));
    return true;
  };

// ---------------------------------------------------------------- parent: rerun with allocations failing

test(
  'allocation failures throw instead of aborting (child processes)',
  { skip: skip || (failFrom ? 'a child run' : false) },
  () => {
    for (const limit of ['1', String(MiB)]) {
      const env: NodeJS.ProcessEnv = { ...process.env, GPTKIT_TEST_ALLOC_FAIL: limit };
      delete env.NODE_TEST_CONTEXT; // a standalone run, not a subtest stream of this runner
      const r = spawnSync(
        process.execPath,
        ['--test', '--test-reporter=dot', fileURLToPath(import.meta.url)],
        {
          env,
          encoding: 'utf8',
        },
      );
      assert.equal(
        r.status,
        0,
        `GPTKIT_TEST_ALLOC_FAIL=${limit} run failed (signal ${r.signal}):\n${r.stdout}\n${r.stderr}`,
      );
    }
  },
);

// ---------------------------------------------------------------- child: every allocation fails

test(
  'no memory at all: packing kernels throw ENOMEM, the others fall back',
  { skip: skip || (failFrom === '1' ? false : 'not the GPTKIT_TEST_ALLOC_FAIL=1 child') },
  () => {
    const be = native!;
    be.setThreads(2);
    // Packed GEMM (M > 4) needs its packing buffers.
    assert.throws(() => be.gemm(gemmCase(64, 48, 40).args), outOfMemory('gemm'));
    // Attention tiles go through the packed GEMM too; the backward also needs its score tiles.
    const at = attentionArgs(2, 64, 16);
    assert.throws(() => be.attention(at), outOfMemory('attention'));
    assert.throws(() => be.attentionBackward(at), outOfMemory('attentionBackward'));
    // GEMV shapes allocate nothing, or (strided x @ W^T) fall back to reading x in place.
    assertGemmRight(be, 1, 300, 70);
    assertGemmRight(be, 3, 130, 70, { aT: true, bT: true });
    // Layer-norm backward without memory for per-thread partial sums runs on one thread: the same bits.
    const rows = 64,
      cols = 1024;
    const run = (threads: number) => {
      be.setThreads(threads);
      const [dx, dw, db] = [rows * cols, cols, cols].map((n) => new Float32Array(n));
      const mean = filled(rows, 7).map((x) => x * 0.1);
      const rstd = filled(rows, 8).map((x) => 1 + 0.5 * x);
      be.layerNormBackward(
        filled(rows * cols, 9),
        filled(rows * cols, 10),
        filled(cols, 11),
        mean,
        rstd,
        dx,
        dw,
        db,
        rows,
        cols,
      );
      return [dx, dw, db];
    };
    assert.deepEqual(run(4), run(1));
  },
);

// ---------------------------------------------------------------- child: large allocations fail

test(
  'a failed large allocation leaves the addon usable',
  { skip: skip || (failFrom === String(MiB) ? false : `not the GPTKIT_TEST_ALLOC_FAIL=${MiB} child`) },
  () => {
    const be = native!;
    // One thread packs one KC x NC block of B: 4 MiB whatever blocking the cache sizes gave (native/gemm.c).
    be.setThreads(1);
    // M = 32: above the GEMV path (M <= 16), which packs nothing.
    assert.throws(() => be.gemm(gemmCase(32, 8192, 512).args), outOfMemory('gemm', String(4 * MiB)));
    assertGemmRight(be, 64, 48, 40);
    assertGemmRight(be, 70, 100, 300, { aT: true, bT: true });
    const at = attentionArgs(2, 64, 16);
    be.attention(at);
    be.attentionBackward(at);
    for (const x of [at.out, at.lse, at.dq, at.dk, at.dv]) assert.ok(x.every(Number.isFinite));
  },
);
