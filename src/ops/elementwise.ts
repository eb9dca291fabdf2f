// Elementwise ops with NumPy broadcasting: add, sub, mul, div, neg, exp, log, sqrt, tanh, pow,
// where, maskedFill. These are memory-bound and run as tight JS loops; fused kernels live elsewhere.
import { record } from '../tensor/autograd.js';
import { empty, shapeStr, Tensor } from '../tensor/tensor.js';
import { assertFloat, backendFor, broadcastShapes, broadcastStrides, sameShape } from './util.js';
import type { FloatArray } from '../backend/index.js';
import { contiguous, sumTo } from './view.js';

type BinaryKind = 0 | 1 | 2 | 3; // add, sub, mul, div
const ADD = 0,
  SUB = 1,
  MUL = 2,
  DIV = 3;
const NAMES = ['add', 'sub', 'mul', 'div'];

/** out = a (op) b over the broadcast shape; a and b are same-dtype float tensors. */
function binaryForward(kind: BinaryKind, a: Tensor, b: Tensor): Tensor {
  const name = NAMES[kind];
  assertFloat(name, a, b);
  const shape = broadcastShapes(name, a.shape, b.shape);
  const out = empty(shape, a.dtype);
  const od = out.data;
  const ad = a.data;
  const bd = b.data;
  const n = out.size;
  if (n === 0) return out;
  if (sameShape(a.shape, shape) && sameShape(b.shape, shape) && a.isContiguous() && b.isContiguous()) {
    const ao = a.offset;
    const bo = b.offset;
    if (kind === ADD)
      backendFor(a).add(
        ad.subarray(ao, ao + n) as FloatArray,
        bd.subarray(bo, bo + n) as FloatArray,
        od as FloatArray,
        n,
      );
    else if (kind === SUB) for (let i = 0; i < n; i++) od[i] = ad[ao + i] - bd[bo + i];
    else if (kind === MUL) for (let i = 0; i < n; i++) od[i] = ad[ao + i] * bd[bo + i];
    else for (let i = 0; i < n; i++) od[i] = ad[ao + i] / bd[bo + i];
    return out;
  }
  // General case: walk the output row-major with an inner loop over the last dimension.
  const nd = shape.length;
  const as = broadcastStrides(a, shape);
  const bs = broadcastStrides(b, shape);
  const inner = shape[nd - 1];
  const ia = as[nd - 1];
  const ib = bs[nd - 1];
  const outer = n / inner;
  const idx = new Array<number>(nd).fill(0);
  let ao = a.offset;
  let bo = b.offset;
  let k = 0;
  for (let r = 0; r < outer; r++) {
    if (kind === ADD) for (let j = 0; j < inner; j++) od[k++] = ad[ao + j * ia] + bd[bo + j * ib];
    else if (kind === SUB) for (let j = 0; j < inner; j++) od[k++] = ad[ao + j * ia] - bd[bo + j * ib];
    else if (kind === MUL) for (let j = 0; j < inner; j++) od[k++] = ad[ao + j * ia] * bd[bo + j * ib];
    else for (let j = 0; j < inner; j++) od[k++] = ad[ao + j * ia] / bd[bo + j * ib];
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      ao += as[d];
      bo += bs[d];
      if (idx[d] < shape[d]) break;
      ao -= as[d] * shape[d];
      bo -= bs[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

function scalarTensor(like: Tensor, v: number): Tensor {
  const t = empty([], like.dtype);
  t.data[0] = v;
  return t;
}

function asTensor(like: Tensor, v: Tensor | number): Tensor {
  return typeof v === 'number' ? scalarTensor(like, v) : v;
}

export function add(a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(a, b);
  const out = binaryForward(ADD, a, bt);
  return record(out, 'add', [a, bt], (g) => [sumTo(g, a.shape), sumTo(g, bt.shape)]);
}

export function sub(a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(a, b);
  const out = binaryForward(SUB, a, bt);
  return record(out, 'sub', [a, bt], (g) => [
    sumTo(g, a.shape),
    bt.requiresGrad ? neg(sumTo(g, bt.shape)) : null,
  ]);
}

export function mul(a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(a, b);
  const out = binaryForward(MUL, a, bt);
  return record(out, 'mul', [a, bt], (g) => [
    a.requiresGrad ? sumTo(binaryForward(MUL, g, bt), a.shape) : null,
    bt.requiresGrad ? sumTo(binaryForward(MUL, g, a), bt.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor | number): Tensor {
  const bt = asTensor(a, b);
  const out = binaryForward(DIV, a, bt);
  return record(out, 'div', [a, bt], (g) => [
    a.requiresGrad ? sumTo(binaryForward(DIV, g, bt), a.shape) : null,
    // d(a/b)/db = -a/b^2 = -out/b
    bt.requiresGrad ? neg(sumTo(binaryForward(MUL, g, binaryForward(DIV, out, bt)), bt.shape)) : null,
  ]);
}

/** Apply f to every element of a float tensor into a new contiguous tensor. */
function unaryMap(name: string, x: Tensor, f: (v: number) => number): Tensor {
  assertFloat(name, x);
  const xc = contiguous(x);
  const out = empty(x.shape, x.dtype);
  const od = out.data;
  const xd = xc.data;
  const o = xc.offset;
  for (let i = 0; i < out.size; i++) od[i] = f(xd[o + i]);
  return out;
}

export function neg(x: Tensor): Tensor {
  const out = unaryMap('neg', x, (v) => -v);
  return record(out, 'neg', [x], (g) => [neg(g)]);
}

export function exp(x: Tensor): Tensor {
  const out = unaryMap('exp', x, Math.exp);
  return record(out, 'exp', [x], (g) => [binaryForward(MUL, g, out)]);
}

export function log(x: Tensor): Tensor {
  const out = unaryMap('log', x, Math.log);
  return record(out, 'log', [x], (g) => [binaryForward(DIV, g, x)]);
}

export function sqrt(x: Tensor): Tensor {
  const out = unaryMap('sqrt', x, Math.sqrt);
  return record(out, 'sqrt', [x], (g) => [
    unaryMap('sqrt_backward', binaryForward(DIV, g, out), (v) => 0.5 * v),
  ]);
}

export function tanh(x: Tensor): Tensor {
  const out = unaryMap('tanh', x, Math.tanh);
  return record(out, 'tanh', [x], (g) => [
    binaryForward(
      MUL,
      g,
      unaryMap('tanh_backward', out, (y) => 1 - y * y),
    ),
  ]);
}

/** x ** p for a constant exponent p. */
export function pow(x: Tensor, p: number): Tensor {
  const out = unaryMap('pow', x, (v) => Math.pow(v, p));
  return record(out, 'pow', [x], (g) => [
    binaryForward(
      MUL,
      g,
      unaryMap('pow_backward', x, (v) => p * Math.pow(v, p - 1)),
    ),
  ]);
}

/** Elementwise select: cond ? a : b, with cond any dtype (nonzero = true) and broadcasting. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const like = typeof a === 'number' ? (typeof b === 'number' ? null : b) : a;
  if (!like) throw new Error('where: at least one of a, b must be a tensor');
  const at = asTensor(like, a);
  const bt = asTensor(like, b);
  assertFloat('where', at, bt);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, at.shape), bt.shape);
  const out = empty(shape, at.dtype);
  const maskOut = empty(shape, 'int32');
  const cs = broadcastStrides(cond, shape);
  const as = broadcastStrides(at, shape);
  const bs = broadcastStrides(bt, shape);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let co = cond.offset;
  let ao = at.offset;
  let bo = bt.offset;
  const cd = cond.data;
  const ad = at.data;
  const bd = bt.data;
  const od = out.data;
  const md = maskOut.data;
  for (let k = 0; k < out.size; k++) {
    const c = cd[co] !== 0;
    md[k] = c ? 1 : 0;
    od[k] = c ? ad[ao] : bd[bo];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      co += cs[d];
      ao += as[d];
      bo += bs[d];
      if (idx[d] < shape[d]) break;
      co -= cs[d] * shape[d];
      ao -= as[d] * shape[d];
      bo -= bs[d] * shape[d];
      idx[d] = 0;
    }
  }
  return record(out, 'where', [at, bt], (g) => {
    const gc = contiguous(g);
    const ga = empty(shape, g.dtype);
    const gb = empty(shape, g.dtype);
    for (let k = 0; k < g.size; k++) {
      const v = gc.data[gc.offset + k];
      ga.data[k] = md[k] ? v : 0;
      gb.data[k] = md[k] ? 0 : v;
    }
    return [sumTo(ga, at.shape), sumTo(gb, bt.shape)];
  });
}

/** Copy of x with value wherever mask (broadcastable, nonzero = true) is set: the causal mask. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (!sameShape(shape, x.shape)) {
    throw new Error(
      `maskedFill: mask ${shapeStr(mask.shape)} must broadcast to the input's shape ${shapeStr(x.shape)}`,
    );
  }
  return where(mask, value, x);
}

export { binaryForward as _binaryNoGrad };
