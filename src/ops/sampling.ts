// Selection and sampling for generation: topk and multinomial (seeded). No gradients.
import { globalRng, type Rng } from '../tensor/rng.js';
import { empty, shapeStr, type Tensor } from '../tensor/tensor.js';
import { contiguous } from './view.js';

/** The k largest entries along the last axis, sorted descending (ties: lower index first). */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  const n = x.shape[x.ndim - 1];
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new Error(`topk: k=${k} out of range for last dim ${n} of ${shapeStr(x.shape)}`);
  const rows = n === 0 ? 0 : x.size / n;
  const xc = contiguous(x);
  const shape = [...x.shape.slice(0, -1), k];
  const values = empty(shape, x.dtype);
  const indices = empty(shape, 'int32');
  const order = new Int32Array(n);
  for (let r = 0; r < rows; r++) {
    const base = xc.offset + r * n;
    const d = xc.data;
    for (let i = 0; i < n; i++) order[i] = i;
    // NaN sorts first, as torch.topk treats it as the largest value.
    const key = (i: number) => (Number.isNaN(d[base + i]) ? Infinity : d[base + i]);
    const sorted = Array.from(order).sort((a, b) => key(b) - key(a) || a - b);
    for (let j = 0; j < k; j++) {
      values.data[r * k + j] = d[base + sorted[j]];
      indices.data[r * k + j] = sorted[j];
    }
  }
  return { values, indices };
}

/** One sample per row from the (unnormalised, non-negative) weights along the last axis: int32 [..., 1]. */
export function multinomial(probs: Tensor, rng: Rng = globalRng): Tensor {
  const n = probs.shape[probs.ndim - 1];
  const rows = n === 0 ? 0 : probs.size / n;
  const pc = contiguous(probs);
  const out = empty([...probs.shape.slice(0, -1), 1], 'int32');
  for (let r = 0; r < rows; r++) {
    const base = pc.offset + r * n;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const p = pc.data[base + i];
      if (!(p >= 0) || p === Infinity)
        throw new Error(`multinomial: invalid probability ${p} at row ${r}, index ${i}`);
      total += p;
    }
    if (total <= 0) throw new Error(`multinomial: row ${r} has no positive probability`);
    let u = rng.uniform() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      u -= pc.data[base + i];
      if (u < 0) {
        pick = i;
        break;
      }
    }
    // Never pick a zero-probability tail entry through rounding.
    while (pc.data[base + pick] === 0 && pick > 0) pick--;
    out.data[r] = pick;
  }
  return out;
}
