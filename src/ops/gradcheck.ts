// Finite-difference gradient checking in float64: the independent oracle for every op's backward.
import { backward, noGrad } from '../tensor/autograd.js';
import { Rng } from '../tensor/rng.js';
import { shapeStr, type Tensor } from '../tensor/tensor.js';
import { randn } from './creation.js';
import { mul } from './elementwise.js';
import { sum } from './reduce.js';

export interface GradcheckResult {
  maxAbsError: number;
  maxRelError: number;
}

/**
 * Compare autograd gradients of sum(fn(inputs) * w) (w fixed random weights) with central differences.
 * Inputs must be float64 tensors with requiresGrad set on those to check. Throws with the first offender.
 */
export function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  { eps = 1e-6, atol = 1e-7, rtol = 1e-5, seed = 1 } = {},
): GradcheckResult {
  for (const x of inputs) {
    if (x.requiresGrad && x.dtype !== 'float64')
      throw new Error(`gradcheck: inputs must be float64, got ${x.dtype}`);
    x.grad = null;
  }
  const out0 = fn(...inputs);
  const w = randn(out0.shape, { dtype: 'float64', rng: new Rng(seed) });
  const objective = () => sum(mul(fn(...inputs), w));
  backward(sum(mul(out0, w)));
  let maxAbsError = 0;
  let maxRelError = 0;
  for (let k = 0; k < inputs.length; k++) {
    const x = inputs[k];
    if (!x.requiresGrad) continue;
    if (!x.isContiguous()) throw new Error('gradcheck: inputs must be contiguous');
    const analytic = x.grad ? x.grad.toArray() : new Array<number>(x.size).fill(0);
    for (let i = 0; i < x.size; i++) {
      const o = x.offset + i;
      const orig = x.data[o];
      x.data[o] = orig + eps;
      const plus = noGrad(() => objective().item());
      x.data[o] = orig - eps;
      const minus = noGrad(() => objective().item());
      x.data[o] = orig;
      const numeric = (plus - minus) / (2 * eps);
      const err = Math.abs(numeric - analytic[i]);
      const rel = err / Math.max(Math.abs(numeric), Math.abs(analytic[i]), 1e-12);
      maxAbsError = Math.max(maxAbsError, err);
      if (err > atol) maxRelError = Math.max(maxRelError, rel);
      if (err > atol + rtol * Math.abs(numeric)) {
        throw new Error(
          `gradcheck: input ${k} ${shapeStr(x.shape)} element ${i}: analytic ${analytic[i]} vs numeric ${numeric} (abs err ${err})`,
        );
      }
    }
  }
  return { maxAbsError, maxRelError };
}
