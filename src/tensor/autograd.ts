// Reverse-mode autograd over the tape that ops record on their outputs (Tensor.node).
// Ops define their own backward closures (src/ops); this file only orders and accumulates.
import { getBackend, jsBackend, type FloatArray } from '../backend/index.js';
import { empty, forEachIndex, keep, shapeStr, Tensor, type GradNode } from './tensor.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording ops for autograd (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Attach a tape node to out when grad is enabled and some input requires grad. Returns out. */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: (gradOutput: Tensor) => Array<Tensor | null>,
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    const node: GradNode = { op, inputs, backward };
    out.node = node;
  }
  return out;
}

/** A tensor cut from the graph that shares the same memory. */
export function detach(t: Tensor): Tensor {
  return new Tensor(t.storage, t.shape, t.strides, t.offset);
}

/** Contiguous float copy of a + b (same shape), or of a alone. */
function sumInto(a: Tensor, b: Tensor | null): Tensor {
  const out = empty(a.shape, a.dtype);
  const od = out.data;
  const n = out.size;
  if (a.isContiguous() && (!b || b.isContiguous())) {
    // The common case (residual-stream gradients): tight loops instead of the strided walk.
    const ad = a.data;
    const ao = a.offset;
    if (b) {
      const bd = b.data;
      const bo = b.offset;
      const native = od instanceof Float32Array && ad instanceof Float32Array && bd instanceof Float32Array;
      (native ? getBackend() : jsBackend).add(
        ad.subarray(ao, ao + n) as FloatArray,
        bd.subarray(bo, bo + n) as FloatArray,
        od as FloatArray,
        n,
      );
    } else od.set(ad.subarray(ao, ao + n));
    return out;
  }
  let k = 0;
  const ad = a.data;
  forEachIndex(a, (o) => {
    od[k++] = ad[o];
  });
  if (b) {
    const bd = b.data;
    k = 0;
    forEachIndex(b, (o) => {
      od[k++] += bd[o];
    });
  }
  return out;
}

/** Tensors reachable from root through tape nodes, in topological order (inputs before outputs). */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: a deep model's tape would overflow the JS stack with recursion.
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/**
 * Backpropagate from root (a scalar unless gradOutput is given). Leaf tensors that require grad
 * accumulate into .grad (so calling backward twice adds up, as in PyTorch). Intermediate gradients
 * are released as soon as their node has consumed them. The tape is freed afterwards.
 */
export function backward(root: Tensor, gradOutput?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error(
      `backward: ${root} does not require grad (no input requires grad, or it was made under noGrad)`,
    );
  }
  if (!gradOutput && root.size !== 1) {
    throw new Error(`backward: gradient can only be implied for a scalar, got shape ${shapeStr(root.shape)}`);
  }
  let seed = gradOutput;
  if (!seed) {
    seed = empty(root.shape, root.dtype);
    seed.data.fill(1);
  } else if (shapeStr(seed.shape) !== shapeStr(root.shape)) {
    throw new Error(
      `backward: gradOutput shape ${shapeStr(seed.shape)} != output shape ${shapeStr(root.shape)}`,
    );
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const g = grads.get(t);
    if (!g) continue;
    grads.delete(t);
    const node = t.node;
    if (!node) {
      accumulateLeaf(t, g);
      continue;
    }
    // Backward closures read their inputs' memory directly: a disposed input (its tidy() scope ended
    // before backward) would hand them reused buffers, so refuse instead of computing garbage.
    if (node.inputs.some((x) => x.disposed)) {
      throw new Error(
        `backward: an input of ${node.op} was disposed (its tidy() scope ended); call backward inside the same tidy()`,
      );
    }
    const inputGrads = noGrad(() => node.backward(g));
    if (inputGrads.length !== node.inputs.length) {
      throw new Error(
        `backward of ${node.op}: returned ${inputGrads.length} gradients for ${node.inputs.length} inputs`,
      );
    }
    for (let j = 0; j < node.inputs.length; j++) {
      const x = node.inputs[j];
      const gx = inputGrads[j];
      if (!gx || !x.requiresGrad) continue;
      if (shapeStr(gx.shape) !== shapeStr(x.shape)) {
        throw new Error(
          `backward of ${node.op}: gradient shape ${shapeStr(gx.shape)} != input shape ${shapeStr(x.shape)}`,
        );
      }
      const prev = grads.get(x);
      // Out of place: a backward may hand the same tensor to several inputs, so never add into it.
      grads.set(x, prev ? sumInto(prev, gx) : gx);
    }
    // The tape entry is spent: drop it so saved activations can be released.
    t.node = null;
  }
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  if (!t.grad) {
    t.grad = keep(sumInto(g, null));
    return;
  }
  const gd = t.grad.data;
  if (g.isContiguous()) {
    const src = g.data;
    const o = g.offset;
    for (let i = 0; i < g.size; i++) gd[i] += src[o + i];
    return;
  }
  const src = g.data;
  let k = 0;
  forEachIndex(g, (o) => {
    gd[k++] += src[o];
  });
}
