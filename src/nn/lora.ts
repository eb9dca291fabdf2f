// LoRA adapters (the book's appendix E; Hu et al. 2021, arXiv:2106.09685): low-rank updates beside
// frozen Linear layers, and merging them back. Not a fine-tuning loop; it only changes the module tree.
import * as ops from '../ops/index.js';
import { noGrad } from '../tensor/autograd.js';
import { globalRng, type Rng } from '../tensor/rng.js';
import { tidy, type DType, type Tensor } from '../tensor/tensor.js';
import { Linear, withoutInit } from './layers.js';
import { Module, parameter } from './module.js';

export interface LoRAOptions {
  /** Inner dimension r of the update A (in, r) @ B (r, out); a positive integer. */
  rank: number;
  /** Strength of the update; finite and > 0. */
  alpha: number;
  /**
   * 'alpha-over-rank' (default): the update is scaled by alpha / rank, as in appendix E and the paper.
   * 'alpha': scaled by alpha alone, as the book's older chapter-6 bonus code did.
   */
  scaling?: 'alpha-over-rank' | 'alpha';
  /** Source of A's initial values (default globalRng). */
  rng?: Rng;
}

/** Check opts and return the factor that multiplies (x @ A) @ B. */
function loraScaling(opts: LoRAOptions): number {
  const { rank, alpha, scaling = 'alpha-over-rank' } = opts;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank <= 0)
    throw new Error(`LoRA rank must be a positive integer, got ${String(rank)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0)
    throw new Error(`LoRA alpha must be a finite number > 0, got ${String(alpha)}`);
  if (scaling === 'alpha-over-rank') return alpha / rank;
  if (scaling === 'alpha') return alpha;
  throw new Error(`LoRA scaling must be 'alpha-over-rank' or 'alpha', got ${String(scaling)}`);
}

/** The low-rank update alone: x (..., in) -> scaling * (x @ A) @ B (..., out). */
export class LoRALayer extends Module {
  /** (in, rank) */
  A: Tensor;
  /** (rank, out); zeros at first, so a fresh adapter leaves its layer's output unchanged. */
  B: Tensor;
  readonly rank: number;
  readonly alpha: number;
  readonly scaling: number;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LoRAOptions & { dtype?: DType },
  ) {
    super();
    this.scaling = loraScaling(opts);
    this.rank = opts.rank;
    this.alpha = opts.alpha;
    // The book's torch.nn.init.kaiming_uniform_(A, a=sqrt(5)) on an (in, rank) tensor: PyTorch takes
    // fan_in = size(1) = rank, so the bound is gain * sqrt(3 / fan_in) = sqrt(1/3) * sqrt(3 / rank).
    const bound = 1 / Math.sqrt(opts.rank);
    const dtype = opts.dtype ?? 'float32';
    this.A = parameter(
      ops.rand([inFeatures, opts.rank], { low: -bound, high: bound, rng: opts.rng ?? globalRng, dtype }),
    );
    this.B = parameter(ops.zeros([opts.rank, outFeatures], dtype));
  }

  forward(x: Tensor): Tensor {
    // matmul wants ndim >= 2; a single vector (in) goes through as (1, in).
    const x2 = x.ndim === 1 ? ops.unsqueeze(x, 0) : x;
    // Scaling the (..., rank) product rather than the (..., out) result saves a full-size pass (and its backward).
    const h = ops.matmul(ops.mul(ops.matmul(x2, this.A), this.scaling), this.B); // (..., out)
    return x.ndim === 1 ? ops.squeeze(h, 0) : h;
  }
}

/**
 * A Linear with a LoRA adapter: y = x @ W^T + b + scaling * (x @ A) @ B. It holds the wrapped layer's
 * own weight and bias tensors (not copies), so parameter names stay `<name>.weight` / `<name>.bias`
 * and the adapter adds `<name>.lora.A` / `<name>.lora.B`, the book's names. The wrapped Linear itself
 * is not kept as a field: it would be a second child holding the same tensors.
 */
export class LoRALinear extends Linear {
  // Redeclared so this constructor may set them after super(0, 0) (see there).
  override readonly inFeatures: number;
  override readonly outFeatures: number;
  lora: LoRALayer;

  constructor(linear: Linear, opts: LoRAOptions) {
    if (linear instanceof LoRALinear)
      throw new Error('LoRALinear: this layer already has a LoRA adapter; merge it first (mergeLoRA)');
    loraScaling(opts); // fail before touching anything
    // Linear(0, 0) allocates an empty (0, 0) weight and draws no random numbers; the wrapped layer's
    // shape and tensors replace it. (Linear(in, out) would allocate, and outside withoutInit draw, a
    // full weight only to throw it away.)
    super(0, 0, { bias: false });
    this.inFeatures = linear.inFeatures;
    this.outFeatures = linear.outFeatures;
    this.weight = linear.weight;
    this.bias = linear.bias;
    this.training = linear.training;
    this.lora = new LoRALayer(linear.inFeatures, linear.outFeatures, { ...opts, dtype: linear.weight.dtype });
    this.lora.training = linear.training;
  }

  /** x (..., in) -> (..., out) */
  override forward(x: Tensor): Tensor {
    return ops.add(ops.linear(x, this.weight, this.bias), this.lora.forward(x));
  }

  /**
   * A plain Linear with W' = W + scaling * (A @ B)^T (out, in), a new tensor that requires grad as W
   * did, and the same bias tensor. This layer is left as it was.
   */
  merged(): Linear {
    const { A, B, scaling } = this.lora;
    const W = this.weight;
    const merged = noGrad(() => tidy(() => ops.add(W, ops.mul(ops.transpose(ops.matmul(A, B)), scaling)))); // (out, in)
    // withoutInit: the placeholder weight is allocated but not filled, and goes back to the pool.
    const out = withoutInit(() => new Linear(this.inFeatures, this.outFeatures, { bias: false }));
    out.weight.dispose();
    out.weight = parameter(merged);
    out.weight.requiresGrad = W.requiresGrad;
    out.weight.name = W.name;
    out.bias = this.bias;
    out.training = this.training;
    return out;
  }
}

/**
 * Replace modules in the tree below root, depth first in the order Module.namedChildren walks (own
 * fields, arrays of modules by index). replace(child) returns the substitute, or null to descend into
 * the child instead. A module reached twice (shared) is visited once; the same child object gets the
 * same substitute everywhere.
 */
function replaceModules(root: Module, replace: (child: Module) => Module | null): void {
  const visited = new Set<Module>([root]);
  const substitutes = new Map<Module, Module>();
  const substitute = (child: Module): Module => {
    const known = substitutes.get(child);
    if (known) return known;
    const sub = replace(child);
    if (sub) {
      substitutes.set(child, sub);
      return sub;
    }
    if (!visited.has(child)) {
      visited.add(child);
      walk(child);
    }
    return child;
  };
  const walk = (m: Module): void => {
    const fields = m as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(m)) {
      if (value instanceof Module) fields[key] = substitute(value);
      else if (Array.isArray(value) && value.length && value.every((v) => v instanceof Module)) {
        for (let i = 0; i < value.length; i++) value[i] = substitute(value[i] as Module);
      }
    }
  };
  walk(root);
}

/**
 * The book's replace_linear_with_lora after freezing the model (appendix E): every Linear below root
 * becomes a LoRALinear around it (A drawn in module order, so a seeded rng reproduces the run), and
 * every parameter except the adapters' A and B stops requiring grad. Returns the new layers in order.
 */
export function applyLoRA(root: Module, opts: LoRAOptions): LoRALinear[] {
  loraScaling(opts); // fail before the tree changes
  if (root instanceof Linear)
    throw new Error(
      'applyLoRA: root is itself a Linear and cannot be replaced in place; use new LoRALinear(layer, opts)',
    );
  if (modulesBelow(root).some((m) => m instanceof LoRALayer))
    throw new Error('applyLoRA: the model already has LoRA adapters; merge them first (mergeLoRA)');
  const wrapped: LoRALinear[] = [];
  replaceModules(root, (child) => {
    if (!(child instanceof Linear)) return null;
    const layer = new LoRALinear(child, opts);
    wrapped.push(layer);
    return layer;
  });
  const adapters = new Set(wrapped.flatMap((l) => [l.lora.A, l.lora.B]));
  for (const p of root.parameters()) p.requiresGrad = adapters.has(p);
  return wrapped;
}

/**
 * Fold every LoRALinear below root back into a plain Linear (W' = W + scaling * (A @ B)^T), for
 * inference or export without adapters. Returns how many were merged. Note that a head tied to the
 * token embedding is untied by this: its merged weight is a new tensor.
 */
export function mergeLoRA(root: Module): number {
  if (root instanceof LoRALinear)
    throw new Error(
      'mergeLoRA: root is itself a LoRALinear and cannot be replaced in place; use layer.merged()',
    );
  let count = 0;
  replaceModules(root, (child) => {
    if (!(child instanceof LoRALinear)) return null;
    count++;
    return child.merged();
  });
  return count;
}

/** root and every module below it, each once, parents before children. */
function modulesBelow(root: Module): Module[] {
  const seen = new Set<Module>();
  const visit = (m: Module): void => {
    if (seen.has(m)) return;
    seen.add(m);
    for (const [, child] of m.namedChildren()) visit(child);
  };
  visit(root);
  return [...seen];
}

/** The adapters' A and B with their names below root (e.g. trf_blocks.0.att.W_query.lora.A), to save them alone. */
export function loraParameters(root: Module): Array<[string, Tensor]> {
  const adapters = new Set<Tensor>();
  for (const m of modulesBelow(root)) if (m instanceof LoRALayer) adapters.add(m.A).add(m.B);
  return root.namedParameters().filter(([, t]) => adapters.has(t));
}
