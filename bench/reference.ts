// What the benchmarks that compare with a reference share: a description of the machine (CPU model, the
// kernel path and GEMM blocking the addon chose, the load from other processes), and the references run in
// the same invocation: PyTorch on the book's own code (dev/model-bench-torch/bench.py) and OpenBLAS's sgemm
// (bench/openblas-gemm.c, compiled here against libopenblas.so.0). A reference that cannot run says why;
// no benchmark prints a remembered figure in its place.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBackend } from '../src/backend/index.js';
import { loadNativeAddon } from '../src/backend/native/index.js';
import { packageRootPath } from '../src/data/paths.js';

/** The addon's bench-only exports (native/binding.c: gemmConfig, stream), not part of the Backend. */
export interface BenchAddon {
  isa(): string;
  threads(): number;
  setThreads(n: number): void;
  gemmConfig(): {
    kernel: string;
    mr: number;
    nr: number;
    kc: number;
    mc: number;
    nc: number;
    l1d: number;
    l2: number;
    l3: number;
    cacheSource: string;
  };
  /** kind 0: returns the sum of b; 1: a = b; 2: a = b + scalar * c, on the pool's threads over a.length. */
  stream(kind: 0 | 1 | 2, a: Float32Array, b: Float32Array, c: Float32Array, scalar: number): number;
}

export function benchAddon(): BenchAddon | null {
  const addon = loadNativeAddon() as unknown as Partial<BenchAddon> | null;
  return addon && typeof addon.gemmConfig === 'function' && typeof addon.stream === 'function'
    ? (addon as BenchAddon)
    : null;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** "AMD EPYC (AuthenticAMD family 26 model 2 stepping 1)", from /proc/cpuinfo where there is one. */
export function cpuModel(): string {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
  const ids = [field('vendor_id'), field('cpu family') && `family ${field('cpu family')}`]
    .concat(field('model') && `model ${field('model')}`, field('stepping') && `stepping ${field('stepping')}`)
    .filter(Boolean);
  return `${field('model name') ?? cpus()[0]?.model ?? 'unknown CPU'}${ids.length ? ` (${ids.join(' ')})` : ''}`;
}

const kb = (bytes: number) => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MB` : `${bytes / 1024} KB`);

/** One line on the kernels this machine gets: instruction set, micro-kernel, blocking and its source. */
export function kernelPath(): string {
  const addon = benchAddon();
  if (!addon) {
    const isa = loadNativeAddon()?.isa();
    return isa
      ? `native ${isa} kernels (addon without gemmConfig)`
      : `backend ${getBackend().name} (no native addon)`;
  }
  const g = addon.gemmConfig();
  const caches = g.l2
    ? `L1d ${kb(g.l1d)}, L2 ${kb(g.l2)}, L3 ${g.l3 ? kb(g.l3) : '?'} from ${g.cacheSource}`
    : g.cacheSource;
  return `native ${addon.isa()} kernels, GEMM micro-kernel ${g.kernel}, blocking KC ${g.kc} MC ${g.mc} NC ${g.nc} (caches: ${caches})`;
}

/** The lines every comparing benchmark starts with. */
export function printMachine(): void {
  const [l1] = loadavg();
  console.log(`CPU: ${cpuModel()}, ${cpus().length} logical CPUs`);
  console.log(`kernels: ${kernelPath()}`);
  console.log(
    `load average ${l1.toFixed(2)} at start: other processes may be running; gptkit and the references run ` +
      'in this one invocation (interleaved where possible), so compare the ratios, not absolute figures across runs\n',
  );
}

/** The fastest PyTorch/OpenBLAS setup we know on these machines (BENCHMARKS.md says how it is set up): the
 * reference gets every advantage. */
export function referenceEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Debian's OpenBLAS 0.3.21 misdetects Zen 4/5 and picks AVX2 kernels; this environment may also preset
    // OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE. SkylakeX = its AVX-512 kernels, on any AVX-512 CPU.
    OPENBLAS_CORETYPE: cpuHasAvx512() ? 'SkylakeX' : (process.env.OPENBLAS_CORETYPE ?? ''),
    OPENBLAS_NUM_THREADS: String(threads),
    // On 2 cores torch's spinning OpenMP threads starve OpenBLAS's: passive waiting is 1.5-2x faster.
    OMP_WAIT_POLICY: 'PASSIVE',
    // Reuse freed memory instead of returning it (first-touch page faults cost ~15 us per 4 KiB page here).
    GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=17179869184',
  };
  delete env.OPENBLAS_L2_SIZE;
  if (!env.OPENBLAS_CORETYPE) delete env.OPENBLAS_CORETYPE;
  return env;
}

function cpuHasAvx512(): boolean {
  try {
    return /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

export type RefResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Runs dev/model-bench-torch/bench.py MODE (the book's code on PyTorch) and parses its JSON line. */
export function runTorchModel<T>(
  mode: 'forward' | 'generate' | 'train',
  reps: number,
  threads = 2,
): RefResult<T> {
  const book = process.env.LLMS_FROM_SCRATCH;
  if (!book)
    return {
      ok: false,
      reason:
        "LLMS_FROM_SCRATCH is not set (a checkout or bare git dir of the book's code, rasbt/LLMs-from-scratch)",
    };
  const script = join(packageRootPath(), 'dev', 'model-bench-torch', 'bench.py');
  const r = spawnSync(PYTHON, [script, mode, '--book', book, `--reps=${reps}`, `--threads=${threads}`], {
    encoding: 'utf8',
    env: referenceEnv(threads),
    maxBuffer: 1 << 24,
  });
  const last = r.stdout?.trim().split('\n').pop();
  if (r.status === 0 && last) {
    try {
      return { ok: true, value: JSON.parse(last) as T };
    } catch {
      // fall through to the error below
    }
  }
  const why = (r.stderr || r.error?.message || `exit status ${r.status}`).trim().split('\n').pop();
  return { ok: false, reason: `PyTorch reference failed: ${why}` };
}

export interface OpenBlasShape {
  batch: number;
  M: number;
  K: number;
  N: number;
  aT?: boolean;
  bT?: boolean;
}

export interface OpenBlasTiming {
  median: number;
  best: number;
  runs: number;
  core: string;
  config: string;
}

/** The OpenBLAS sgemm reference: a function timing one shape (GFLOP/s), or why there is none. */
export function openBlasGemm(): RefResult<
  (s: OpenBlasShape, threads: number, minTime: number) => OpenBlasTiming
> {
  const src = join(packageRootPath(), 'bench', 'openblas-gemm.c');
  if (!existsSync(src)) return { ok: false, reason: `${src} is missing` };
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'gptkit-bench');
  const exe = join(dir, `openblas-gemm-${hash}`);
  if (!existsSync(exe)) {
    mkdirSync(dir, { recursive: true });
    const cc = spawnSync('cc', ['-O2', '-o', exe, src, '-l:libopenblas.so.0'], { encoding: 'utf8' });
    if (cc.status !== 0)
      return {
        ok: false,
        reason:
          `cannot build the OpenBLAS reference (needs a C compiler and libopenblas.so.0: Debian package ` +
          `libopenblas0-pthread): ${(cc.stderr || cc.error?.message || '').trim().split('\n')[0]}`,
      };
  }
  return {
    ok: true,
    value: (s, threads, minTime) => {
      const args = [threads, minTime, s.batch, s.M, s.K, s.N, s.aT ? 1 : 0, s.bT ? 1 : 0].map(String);
      const r = spawnSync(exe, args, { encoding: 'utf8', env: referenceEnv(threads) });
      if (r.status !== 0) throw new Error(`${exe} failed: ${(r.stderr || r.error?.message || '').trim()}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as OpenBlasTiming;
    },
  };
}

/** "1.23x" (ours / reference, or reference / ours for times), or "-" without a reference. */
export function ratio(ours: number, ref: number | undefined, lowerIsBetter = false): string {
  if (ref === undefined || !Number.isFinite(ref) || ref <= 0) return '-';
  return `${(lowerIsBetter ? ref / ours : ours / ref).toFixed(2)}x`;
}
