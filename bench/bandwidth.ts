// Memory bandwidth, STREAM-like (McCalpin): read (sum of an array: how a GEMV streams weights), copy and triad
// at 1 and 2 threads, on the native addon's thread pool (native/bandwidth.c). Also the helpers the generation
// bench uses to turn bytes read per token into a tokens/s bound.
// Usage: node dist/bench/bandwidth.js [--threads 1,2] [--mb 128] [--reps 9]
import { pathToFileURL } from 'node:url';
import { option } from './gemm.js';
import { benchAddon, median, printMachine, type BenchAddon } from './reference.js';

export type StreamKernel = 'read' | 'copy' | 'triad';
const KIND = { read: 0, copy: 1, triad: 2 } as const;
/** Bytes STREAM counts per element: read b; copy b -> a; triad b, c -> a (write-allocate traffic not counted). */
const BYTES_PER_ELEMENT = { read: 4, copy: 8, triad: 12 } as const;

/** GB/s of one kernel on `threads` threads over arrays of `floats` elements: median of `reps` calls. */
export function streamBandwidth(
  addon: BenchAddon,
  kernel: StreamKernel,
  threads: number,
  arrays: { a: Float32Array; b: Float32Array; c: Float32Array },
  reps = 9,
): { median: number; best: number } {
  const saved = addon.threads();
  addon.setThreads(threads);
  try {
    const { a, b, c } = arrays;
    const bytes = BYTES_PER_ELEMENT[kernel] * a.length;
    addon.stream(KIND[kernel], a, b, c, 3); // warm-up: pages touched, threads awake
    const rates: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      addon.stream(KIND[kernel], a, b, c, 3);
      rates.push(bytes / ((performance.now() - t0) / 1000) / 1e9);
    }
    return { median: median(rates), best: Math.max(...rates) };
  } finally {
    addon.setThreads(saved);
  }
}

/** Arrays for the probe: each `mb` MB, several times the last-level cache so every pass goes to memory. */
export function streamArrays(mb: number): { a: Float32Array; b: Float32Array; c: Float32Array } {
  const n = Math.floor((mb * 1e6) / 4);
  const fill = (x: number) => new Float32Array(n).fill(x);
  return { a: fill(0), b: fill(1), c: fill(2) };
}

/**
 * The decode bound: a generation step must read every weight once (plus the KV cache), so tokens/s cannot
 * exceed bandwidth / bytes read per token. The hook for other weight formats: pass their bytes per token
 * (f32: 4 bytes per weight read; bf16: 2; int8: 1 plus scales).
 */
export function tokensPerSecondBound(bytesPerToken: number, bandwidthGBs: number): number {
  return (bandwidthGBs * 1e9) / bytesPerToken;
}

export async function run(args: string[]): Promise<void> {
  const addon = benchAddon();
  if (!addon) {
    console.log(
      'bandwidth benchmark: needs the native addon with its stream kernel; build it with npm run install',
    );
    return;
  }
  const threadCounts = option(args, '--threads', '1,2').split(',').map(Number);
  const mb = Number(option(args, '--mb', '128'));
  const reps = Number(option(args, '--reps', '9'));
  printMachine();
  const arrays = streamArrays(mb);
  console.log(
    `STREAM-like kernels on the addon's thread pool, arrays of ${mb} MB each; GB/s = bytes STREAM counts / s ` +
      `(read: 4 B/element, copy: 8, triad: 12; write-allocate traffic not counted), median of ${reps} (best)\n`,
  );
  console.log(`| kernel | ${threadCounts.map((t) => `${t} thread${t > 1 ? 's' : ''}`).join(' | ')} |`);
  console.log(`|---|${threadCounts.map(() => '---:|').join('')}`);
  for (const k of ['read', 'copy', 'triad'] as const) {
    const cells = threadCounts.map((t) => {
      const r = streamBandwidth(addon, k, t, arrays, reps);
      return `${r.median.toFixed(1)} (${r.best.toFixed(1)})`;
    });
    console.log(`| ${k} | ${cells.join(' | ')} |`);
  }
  console.log(`\nreproduce: npm run bench -- bandwidth [--threads 1,2] [--mb ${mb}] [--reps ${reps}]`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
