// Backend selection: `native` when the addon loads, else `js`; GPTKIT_BACKEND=js|native forces one.
// GPTKIT_BACKEND and GPTKIT_THREADS are checked when a backend is first chosen: a value that would
// otherwise be ignored (GPTKIT_BACKEND=cuda, GPTKIT_THREADS=abc) is an error naming the variable.
// Float64 work (gradient checks) always runs on `js`, the only backend with float64 kernels.
import type { Backend } from './backend.js';
import { jsBackend } from './js/index.js';
import { loadNativeBackend } from './native/index.js';

export type {
  Backend,
  FloatArray,
  GemmArgs,
  AttentionArgs,
  AttentionBackwardArgs,
  AdamWArgs,
  PackArgs,
  PackedLinearArgs,
  PackedMatrix,
  WeightDtype,
} from './backend.js';
export { WEIGHT_DTYPES } from './backend.js';
export { jsBackend };

let active: Backend | null = null;
let warned = false;

/**
 * GPTKIT_THREADS, when set, must be a thread count the native backend will use: the native loader
 * ignores any other value, so it is an error here rather than a silent fallback to every core.
 */
function checkThreadsEnv(): void {
  const threads = process.env.GPTKIT_THREADS;
  if (threads === undefined || threads.trim() === '') return;
  const n = Number(threads);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(
      `GPTKIT_THREADS must be a positive integer (the native backend's thread count), got ${JSON.stringify(threads)}; ` +
        'unset it to use every core',
    );
}

/** GPTKIT_BACKEND as given (unset or empty: undefined); a name other than js or native is an error. */
function forcedBackend(): 'js' | 'native' | undefined {
  const forced = process.env.GPTKIT_BACKEND;
  if (forced === undefined || forced === '') return undefined;
  if (forced === 'js' || forced === 'native') return forced;
  throw new Error(
    `GPTKIT_BACKEND must be js or native, got ${JSON.stringify(forced)}; unset it to use native when the addon loads, else js`,
  );
}

function choose(): Backend {
  const forced = forcedBackend();
  checkThreadsEnv();
  if (forced === 'js') return jsBackend;
  const native = loadNativeBackend();
  if (native.backend) return native.backend;
  if (forced === 'native') {
    throw new Error(`GPTKIT_BACKEND=native but the native addon did not load: ${native.error}`);
  }
  if (!warned) {
    warned = true;
    process.stderr.write(
      `gptkit: native addon unavailable (${native.error}); running on the slower js backend. ` +
        `Rebuild it with 'npm rebuild gptkit' or set GPTKIT_BACKEND=js to silence this.\n`,
    );
  }
  return jsBackend;
}

/** The backend used for float32 work. */
export function getBackend(): Backend {
  if (!active) active = choose();
  return active;
}

/**
 * Force a backend by name (tests run the same suite on each). Throws if `native` cannot load, or if
 * GPTKIT_THREADS is set to something other than a positive integer.
 */
export function setBackend(name: 'js' | 'native'): Backend {
  checkThreadsEnv();
  if (name === 'js') active = jsBackend;
  else {
    const native = loadNativeBackend();
    if (!native.backend) throw new Error(`native backend unavailable: ${native.error}`);
    active = native.backend;
  }
  return active;
}

/** Names of the backends that can run here, for test suites that iterate over all of them. */
export function availableBackends(): Array<'js' | 'native'> {
  return loadNativeBackend().backend ? ['js', 'native'] : ['js'];
}
