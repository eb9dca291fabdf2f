// Backend selection: `native` when the addon loads, else `js`; GPTKIT_BACKEND=js|native forces one.
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
} from './backend.js';
export { jsBackend };

let active: Backend | null = null;
let warned = false;

function choose(): Backend {
  const forced = process.env.GPTKIT_BACKEND;
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

/** Force a backend by name (tests run the same suite on each). Throws if `native` cannot load. */
export function setBackend(name: 'js' | 'native'): Backend {
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
