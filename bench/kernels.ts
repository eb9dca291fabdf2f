// Fused-kernel benchmark: time per call of the native kernels (1 and 2 threads, GB/s or GFLOP/s) against the js
// backend on GPT-2 (124M) activation sizes, as a markdown table. Not a correctness test.
// Usage: node dist/bench/kernels.js [--threads 1,2] [--min-time 0.3] [--no-js]
import { pathToFileURL } from 'node:url';
import type { Backend } from '../src/backend/backend.js';
import { jsBackend } from '../src/backend/js/index.js';
import { loadNativeAddon, loadNativeBackend } from '../src/backend/native/index.js';
import { option, timeCalls } from './gemm.js';
import { printMachine } from './reference.js';

interface Kernel {
  label: string;
  /** bytes moved (memory-bound kernels, reported as GB/s) or flops (reported as GFLOP/s) per call */
  bytes?: number;
  flops?: number;
  /** builds the inputs once and returns the call to time */
  setup: () => (bk: Backend) => void;
}

function randomF32(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() - 0.5) * scale;
  return a;
}

const F = 4; // bytes per float
const T = 1024;
const C = 768;
const H = 12;
const D = 64;
const V = 50257;

function kernels(): Kernel[] {
  const rowsLN = 8 * T; // a batch of 8 sequences
  const nGelu = 8 * T * 4 * C;
  const rowsSM = H * T; // attention-probability sized rows
  const nAdam = 16 * 1024 * 1024;
  const attnFlops = 4 * H * T * ((T + 1) / 2) * D;
  return [
    {
      label: `softmax ${rowsSM}x${T}`,
      bytes: 2 * rowsSM * T * F,
      setup: () => {
        const x = randomF32(rowsSM * T, 8);
        const y = new Float32Array(x.length);
        return (bk) => bk.softmax(x, y, rowsSM, T);
      },
    },
    {
      label: `softmaxBackward ${rowsSM}x${T}`,
      bytes: 3 * rowsSM * T * F,
      setup: () => {
        const y = randomF32(rowsSM * T).map(Math.abs);
        const dy = randomF32(y.length);
        const dx = new Float32Array(y.length);
        return (bk) => bk.softmaxBackward(y, dy, dx, rowsSM, T);
      },
    },
    {
      label: `layerNorm ${rowsLN}x${C}`,
      bytes: 2 * rowsLN * C * F,
      setup: () => {
        const x = randomF32(rowsLN * C);
        const [w, b] = [randomF32(C), randomF32(C)];
        const y = new Float32Array(x.length);
        const [mean, rstd] = [new Float32Array(rowsLN), new Float32Array(rowsLN)];
        return (bk) => bk.layerNorm(x, w, b, y, mean, rstd, rowsLN, C, 1e-5);
      },
    },
    {
      label: `layerNormBackward ${rowsLN}x${C}`,
      bytes: 3 * rowsLN * C * F,
      setup: () => {
        const [x, dy] = [randomF32(rowsLN * C), randomF32(rowsLN * C)];
        const [w, dw, db] = [randomF32(C), new Float32Array(C), new Float32Array(C)];
        const [mean, rstd] = [randomF32(rowsLN), randomF32(rowsLN).map((v) => 1 + Math.abs(v))];
        const dx = new Float32Array(x.length);
        return (bk) => bk.layerNormBackward(dy, x, w, mean, rstd, dx, dw, db, rowsLN, C);
      },
    },
    {
      label: `gelu ${nGelu}`,
      bytes: 2 * nGelu * F,
      setup: () => {
        const x = randomF32(nGelu, 6);
        const y = new Float32Array(nGelu);
        return (bk) => bk.gelu(x, y, nGelu);
      },
    },
    {
      label: `geluBackward ${nGelu}`,
      bytes: 3 * nGelu * F,
      setup: () => {
        const [x, dy] = [randomF32(nGelu, 6), randomF32(nGelu)];
        const dx = new Float32Array(nGelu);
        return (bk) => bk.geluBackward(x, dy, dx, nGelu);
      },
    },
    {
      label: `crossEntropy ${T}x${V}`,
      bytes: T * V * F,
      setup: () => {
        const logits = randomF32(T * V, 10);
        const targets = Int32Array.from({ length: T }, () => Math.floor(Math.random() * V));
        const [loss, lse] = [new Float32Array(T), new Float32Array(T)];
        return (bk) => bk.crossEntropy(logits, targets, loss, lse, T, V, -100);
      },
    },
    {
      label: `crossEntropyBackward ${T}x${V}`,
      bytes: 2 * T * V * F,
      setup: () => {
        const logits = randomF32(T * V, 10);
        const targets = Int32Array.from({ length: T }, () => Math.floor(Math.random() * V));
        const lse = new Float32Array(T).fill(12);
        const d = new Float32Array(T * V);
        return (bk) => bk.crossEntropyBackward(logits, targets, lse, d, T, V, -100, 1 / T);
      },
    },
    {
      label: `attention ${H}x${T}x${D} causal`,
      flops: attnFlops,
      setup: () => {
        const [q, k, v] = [randomF32(H * T * D), randomF32(H * T * D), randomF32(H * T * D)];
        const [out, lse] = [new Float32Array(H * T * D), new Float32Array(H * T)];
        return (bk) => bk.attention({ BH: H, Tq: T, Tk: T, D, qStart: 0, scale: 0.125, q, k, v, out, lse });
      },
    },
    {
      label: `attentionBackward ${H}x${T}x${D}`,
      flops: 2.5 * attnFlops,
      setup: () => {
        const [q, k, v, dout] = [0, 0, 0, 0].map(() => randomF32(H * T * D));
        const [out, lse] = [new Float32Array(H * T * D), new Float32Array(H * T)];
        nativeBackend!.attention({ BH: H, Tq: T, Tk: T, D, qStart: 0, scale: 0.125, q, k, v, out, lse });
        const [dq, dk, dv] = [0, 0, 0].map(() => new Float32Array(H * T * D));
        const args = { BH: H, Tq: T, Tk: T, D, qStart: 0, scale: 0.125, q, k, v, out, lse, dout, dq, dk, dv };
        return (bk) => bk.attentionBackward(args);
      },
    },
    {
      label: `attention decode ${H}x1x${T} (KV cache)`,
      flops: 4 * H * T * D,
      setup: () => {
        const [q, k, v] = [randomF32(H * D), randomF32(H * T * D), randomF32(H * T * D)];
        const [out, lse] = [new Float32Array(H * D), new Float32Array(H)];
        return (bk) =>
          bk.attention({ BH: H, Tq: 1, Tk: T, D, qStart: T - 1, scale: 0.125, q, k, v, out, lse });
      },
    },
    {
      label: `adamw ${nAdam}`,
      bytes: 7 * nAdam * F,
      setup: () => {
        const [param, grad, m] = [randomF32(nAdam), randomF32(nAdam), randomF32(nAdam)];
        const v = randomF32(nAdam).map(Math.abs);
        const args = {
          param,
          grad,
          m,
          v,
          n: nAdam,
          lr: 1e-4,
          beta1: 0.9,
          beta2: 0.95,
          eps: 1e-8,
          weightDecay: 0.1,
          step: 3,
        };
        return (bk) => bk.adamw(args);
      },
    },
  ];
}

let nativeBackend: Backend | null = null;

function fmtTime(s: number): string {
  return s >= 1e-1
    ? `${(s * 1e3).toFixed(0)} ms`
    : s >= 1e-3
      ? `${(s * 1e3).toFixed(2)} ms`
      : `${(s * 1e6).toFixed(1)} µs`;
}

function rate(k: Kernel, s: number): string {
  if (k.bytes) return `${(k.bytes / s / 1e9).toFixed(1)} GB/s`;
  return `${(k.flops! / s / 1e9).toFixed(1)} GFLOP/s`;
}

export async function run(args: string[]): Promise<void> {
  const { backend, error } = loadNativeBackend();
  if (!backend) {
    console.log(`kernels benchmark: native backend unavailable (${error}); build it with 'npm run install'.`);
    return;
  }
  nativeBackend = backend;
  const threadCounts = option(args, '--threads', '1,2').split(',').map(Number);
  const minTime = Number(option(args, '--min-time', '0.3'));
  const withJs = !args.includes('--no-js');
  const saved = backend.threads();
  const header = threadCounts.map((t) => `native ${t}T`);
  printMachine();
  console.log(
    `fused kernels, fp32, native (${loadNativeAddon()?.isa()}) vs js; median time per call and its rate\n`,
  );
  console.log(`| kernel | ${header.join(' | ')} | js | speedup (${threadCounts.at(-1)}T vs js) |`);
  console.log(`|---|${header.map(() => '---:|').join('')}---:|---:|`);
  try {
    for (const k of kernels()) {
      const call = k.setup();
      const cells: string[] = [];
      let last = 0;
      for (const t of threadCounts) {
        backend.setThreads(t);
        last = timeCalls(() => call(backend), minTime).median;
        cells.push(`${fmtTime(last)} (${rate(k, last)})`);
      }
      let jsCell = '-';
      let speedup = '-';
      if (withJs) {
        const js = timeCalls(() => call(jsBackend), 0, 1, 1).median; // slow: one warm-up, one timed call
        jsCell = fmtTime(js);
        speedup = `${(js / last).toFixed(0)}x`;
      }
      console.log(`| ${k.label} | ${cells.join(' | ')} | ${jsCell} | ${speedup} |`);
    }
  } finally {
    backend.setThreads(saved);
  }
  console.log(
    '\nreproduce: npm run bench -- kernels [--threads 1,2] [--min-time 0.3] [--no-js]  (or: node dist/bench/kernels.js)',
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
