// GPT-2's weight initialisation (the paper / nanoGPT): N(0, 0.02) for linear and embedding weights, zero
// biases, and N(0, 0.02 / sqrt(2 * nLayers)) for the two projections that write into the residual stream.
// The book's models keep PyTorch's default init instead (what GPTModel's constructor does).
import { globalRng, type Rng } from '../../tensor/rng.js';
import type { GPTModel } from './gpt.js';

const RESIDUAL_PROJECTION = /(^|\.)(att\.out_proj|ff\.layers\.2)\.weight$/;

/** Re-initialise model's parameters in place as GPT-2 does; LayerNorm scale/shift stay 1/0. */
export function initGPT2Weights(model: GPTModel, rng: Rng = globalRng): void {
  const std = 0.02;
  const residualStd = std / Math.sqrt(2 * model.cfg.nLayers);
  for (const [name, p] of model.namedParameters()) {
    const d = p.data;
    const end = p.offset + p.size;
    if (name.endsWith('.scale') || name.endsWith('.shift')) continue;
    if (name.endsWith('.bias')) {
      d.fill(0, p.offset, end);
      continue;
    }
    const s = RESIDUAL_PROJECTION.test(name) ? residualStd : std;
    for (let i = p.offset; i < end; i++) d[i] = s * rng.normal();
  }
}
