// GEMM benchmark of the native backend: GFLOP/s on GPT-2 (124M) shapes at 1 and 2 threads, as a markdown table,
// next to OpenBLAS's cblas_sgemm on the same shape, measured in the same invocation and interleaved with ours
// (bench/openblas-gemm.c, AVX-512 kernels forced where the CPU has them). Not a correctness test
// (src/backend/backend.test.ts is).
// Usage: node dist/bench/gemm.js [--threads 1,2] [--min-time 0.6] [--rounds 3] [--only 50257] [--no-ref]
import { pathToFileURL } from 'node:url';
import type { Backend, GemmArgs } from '../src/backend/backend.js';
import { loadNativeBackend } from '../src/backend/native/index.js';
import { median, openBlasGemm, printMachine, ratio } from './reference.js';

interface Shape {
  label: string;
  batch: number;
  M: number;
  K: number;
  N: number;
  aT?: boolean; // A stored transposed (A^T B, as weight gradients use)
  bT?: boolean; // B stored transposed (x @ W^T, as input gradients and the tied LM head use)
}

const SHAPES: Shape[] = [
  { label: '1024x768x768', batch: 1, M: 1024, K: 768, N: 768 },
  { label: '1024x768x3072', batch: 1, M: 1024, K: 768, N: 3072 },
  { label: '1024x3072x768', batch: 1, M: 1024, K: 3072, N: 768 },
  { label: '12 x (1024x64x1024)', batch: 12, M: 1024, K: 64, N: 1024 },
  { label: '1x768x50257 (x @ W)', batch: 1, M: 1, K: 768, N: 50257 },
  { label: '1x768x50257 (x @ W^T)', batch: 1, M: 1, K: 768, N: 50257, bT: true },
  { label: '768x1024x768 (A^T B)', batch: 1, M: 768, K: 1024, N: 768, aT: true },
  { label: '1024x768x768 (A B^T)', batch: 1, M: 1024, K: 768, N: 768, bT: true },
  { label: '1024x3072x768 (A B^T)', batch: 1, M: 1024, K: 3072, N: 768, bT: true },
  { label: '1x768x2304 (decode)', batch: 1, M: 1, K: 768, N: 2304 },
];

function randomF32(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

function gemmArgs(s: Shape): GemmArgs {
  const { batch, M, K, N } = s;
  return {
    batch,
    M,
    N,
    K,
    a: randomF32(batch * M * K),
    aOffset: 0,
    aRowStride: s.aT ? 1 : K,
    aColStride: s.aT ? M : 1,
    aBatchStride: M * K,
    b: randomF32(batch * K * N),
    bOffset: 0,
    bRowStride: s.bT ? 1 : N,
    bColStride: s.bT ? K : 1,
    bBatchStride: K * N,
    c: new Float32Array(batch * M * N),
    cOffset: 0,
    cRowStride: N,
    cBatchStride: M * N,
    alpha: 1,
    beta: 0,
  };
}

/** Seconds per call: median and best of runs after warm-up, running for at least minTime seconds. */
export function timeCalls(
  fn: () => void,
  minTime: number,
  minRuns = 7,
  warmup = 3,
): { median: number; best: number } {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || (performance.now() - start) / 1000 < minTime) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
    if (times.length >= 10000) break;
  }
  times.sort((x, y) => x - y);
  return { median: times[Math.floor(times.length / 2)], best: times[0] };
}

export function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

export async function run(args: string[]): Promise<void> {
  const { backend, error } = loadNativeBackend();
  if (!backend) {
    console.log(`gemm benchmark: native backend unavailable (${error}); build it with 'npm run install'.`);
    return;
  }
  const native: Backend = backend;
  const threadCounts = option(args, '--threads', '1,2').split(',').map(Number);
  const minTime = Number(option(args, '--min-time', '0.6'));
  const rounds = Math.max(1, Number(option(args, '--rounds', '3')));
  const only = option(args, '--only', ''); // run the shapes whose label contains this text
  const saved = native.threads();
  printMachine();
  const blas = args.includes('--no-ref')
    ? ({ ok: false, reason: '--no-ref given' } as const)
    : openBlasGemm();
  let blasCore = '';
  console.log(
    `fp32 GEMM, GFLOP/s = 2*M*N*K*batch / s. Each cell: ${rounds} rounds, each timing gptkit then OpenBLAS for ` +
      `${(minTime / rounds).toFixed(2)} s; median over rounds of each round's median (best single call in brackets)`,
  );
  if (!blas.ok) console.log(`OpenBLAS reference not run: ${blas.reason}`);
  console.log('');
  console.log(
    '| M x K x N | threads | gptkit | OpenBLAS sgemm | gptkit / OpenBLAS (medians) | (bests: less sensitive to load) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  try {
    for (const s of SHAPES.filter((sh) => sh.label.includes(only))) {
      const g = gemmArgs(s);
      const flops = 2 * s.batch * s.M * s.N * s.K;
      for (const t of threadCounts) {
        const ours: number[] = [];
        const ref: number[] = [];
        let best = 0;
        let refBest = 0;
        for (let r = 0; r < rounds; r++) {
          native.setThreads(t);
          const m = timeCalls(() => native.gemm(g), minTime / rounds);
          ours.push(flops / m.median / 1e9);
          best = Math.max(best, flops / m.best / 1e9);
          if (blas.ok) {
            const o = blas.value(s, t, minTime / rounds);
            ref.push(o.median);
            refBest = Math.max(refBest, o.best);
            blasCore = `${o.config}, core ${o.core}`;
          }
        }
        const gf = median(ours);
        const rf = ref.length ? median(ref) : undefined;
        const refText = rf !== undefined ? `${rf.toFixed(1)} (${refBest.toFixed(1)})` : 'not run';
        console.log(
          `| ${s.label} | ${t} | ${gf.toFixed(1)} (${best.toFixed(1)}) | ${refText} | ${ratio(gf, rf)} | ` +
            `${ratio(best, ref.length ? refBest : undefined)} |`,
        );
      }
    }
  } finally {
    native.setThreads(saved);
  }
  if (blasCore) console.log(`\nOpenBLAS: ${blasCore}`);
  console.log(
    '\nreproduce: npm run bench -- gemm [--threads 1,2] [--min-time 0.6] [--rounds 3] [--only TEXT] [--no-ref]',
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
