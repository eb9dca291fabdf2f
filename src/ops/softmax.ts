// softmax and logSoftmax over one axis. softmax is a fused backend kernel over the last axis;
// other axes are moved last (a copy) and back.
import { noGrad, record } from '../tensor/autograd.js';
import { empty, Tensor } from '../tensor/tensor.js';
import { _binaryNoGrad, exp, log, sub } from './elementwise.js';
import { max, sum } from './reduce.js';
import { assertFloat, backendFor, normAxis } from './util.js';
import { contiguous, transpose } from './view.js';

export function softmax(x: Tensor, axis = -1): Tensor {
  assertFloat('softmax', x);
  const a = normAxis('softmax', axis, x.ndim);
  if (a !== x.ndim - 1) return transpose(softmax(transpose(x, a, -1), -1), a, -1);
  const xc = contiguous(x);
  const cols = x.shape[x.ndim - 1];
  const rows = cols === 0 ? 0 : x.size / cols;
  const out = empty(x.shape, x.dtype);
  const bk = backendFor(x);
  bk.softmax(
    xc.data.subarray(xc.offset, xc.offset + x.size) as Float32Array,
    out.data as Float32Array,
    rows,
    cols,
  );
  return record(out, 'softmax', [x], (g) => {
    const gc = contiguous(g);
    const gx = empty(x.shape, x.dtype);
    bk.softmaxBackward(
      out.data as Float32Array,
      gc.data.subarray(gc.offset, gc.offset + g.size) as Float32Array,
      gx.data as Float32Array,
      rows,
      cols,
    );
    return [gx];
  });
}

/** log(softmax(x)) computed stably as x - logsumexp(x). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  assertFloat('logSoftmax', x);
  const a = normAxis('logSoftmax', axis, x.ndim);
  const out = noGrad(() => {
    const m = max(x, a, { keepdim: true }).values;
    const shifted = sub(x, m);
    return sub(shifted, log(sum(exp(shifted), a, { keepdim: true })));
  });
  return record(out, 'logSoftmax', [x], (g) => {
    // d/dx: g - softmax(x) * sum(g)
    const p = exp(out);
    return [sub(g, _binaryNoGrad(2, p, sum(g, a, { keepdim: true })))];
  });
}
