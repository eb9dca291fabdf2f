// Optimizers over parameter groups: AdamW (PyTorch semantics: decoupled weight decay, bias correction)
// and SGD with momentum. Updates run in place under noGrad; AdamW's update is one fused backend kernel.
import { getBackend, jsBackend } from '../backend/index.js';
import { empty, keep, type Tensor } from '../tensor/tensor.js';

export interface ParamGroup {
  params: Tensor[];
  lr?: number;
  weightDecay?: number;
}

interface ResolvedGroup {
  params: Tensor[];
  lr: number;
  weightDecay: number;
}

export abstract class Optimizer {
  readonly groups: ResolvedGroup[];
  /** Completed optimizer steps. */
  stepCount = 0;

  constructor(params: Tensor[] | ParamGroup[], defaults: { lr: number; weightDecay: number }) {
    if (!(defaults.lr >= 0)) throw new Error(`optimizer: learning rate must be >= 0, got ${defaults.lr}`);
    const groups: ParamGroup[] =
      params.length && !('params' in params[0]) ? [{ params: params as Tensor[] }] : (params as ParamGroup[]);
    for (const g of groups)
      for (const p of g.params)
        if (p.requiresGrad && !p.isContiguous())
          throw new Error(
            `optimizer: parameter${p.name ? ` '${p.name}'` : ''} is a strided view (a model mapped from its file for inference); load it without map to train`,
          );
    this.groups = groups.map((g) => ({
      params: g.params.filter((p) => p.requiresGrad),
      lr: g.lr ?? defaults.lr,
      weightDecay: g.weightDecay ?? defaults.weightDecay,
    }));
  }

  /** Set the learning rate of every group (schedules call this before each step). */
  setLr(lr: number): void {
    for (const g of this.groups) g.lr = lr;
  }

  /** Drop the gradients (PyTorch's set_to_none): the next backward writes fresh ones, no zero-fill pass. */
  zeroGrad(): void {
    for (const g of this.groups)
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
  }

  abstract step(): void;
  /** Serialisable state (moments as named float arrays) for checkpoints. */
  abstract stateArrays(): Map<string, Float32Array>;
  abstract loadStateArrays(state: Map<string, Float32Array>): void;
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class AdamW extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private m = new Map<Tensor, Tensor>();
  private v = new Map<Tensor, Tensor>();

  /** Defaults as torch.optim.AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
  constructor(params: Tensor[] | ParamGroup[], opts: AdamWOptions = {}) {
    super(params, { lr: opts.lr ?? 1e-3, weightDecay: opts.weightDecay ?? 0.01 });
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
  }

  private moments(p: Tensor): [Tensor, Tensor] {
    let m = this.m.get(p);
    let v = this.v.get(p);
    if (!m || !v) {
      m = keep(empty(p.shape, p.dtype, true));
      v = keep(empty(p.shape, p.dtype, true));
      this.m.set(p, m);
      this.v.set(p, v);
    }
    return [m, v];
  }

  step(): void {
    this.stepCount++;
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (!p.isContiguous() || !p.grad.isContiguous())
          throw new Error(`AdamW: parameter ${p.name || p} must be contiguous`);
        const [m, v] = this.moments(p);
        const bk = p.dtype === 'float64' ? jsBackend : getBackend();
        bk.adamw({
          param: p.data.subarray(p.offset, p.offset + p.size) as Float32Array,
          grad: p.grad.data as Float32Array,
          m: m.data as Float32Array,
          v: v.data as Float32Array,
          n: p.size,
          lr: g.lr,
          beta1: this.beta1,
          beta2: this.beta2,
          eps: this.eps,
          weightDecay: g.weightDecay,
          step: this.stepCount,
        });
      }
    }
  }

  stateArrays(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    this.groups.forEach((g, gi) =>
      g.params.forEach((p, pi) => {
        const [m, v] = this.moments(p);
        out.set(`${gi}.${pi}.m`, m.data as Float32Array);
        out.set(`${gi}.${pi}.v`, v.data as Float32Array);
      }),
    );
    return out;
  }

  loadStateArrays(state: Map<string, Float32Array>): void {
    this.groups.forEach((g, gi) =>
      g.params.forEach((p, pi) => {
        const [m, v] = this.moments(p);
        for (const [key, dst] of [
          [`${gi}.${pi}.m`, m],
          [`${gi}.${pi}.v`, v],
        ] as const) {
          const src = state.get(key);
          if (!src || src.length !== p.size) {
            throw new Error(
              `AdamW state: '${key}' is missing or has ${src?.length} elements, expected ${p.size}`,
            );
          }
          dst.data.set(src);
        }
      }),
    );
  }
}

export class SGD extends Optimizer {
  private velocity = new Map<Tensor, Float32Array | Float64Array>();

  constructor(
    params: Tensor[] | ParamGroup[],
    opts: { lr: number; momentum?: number; weightDecay?: number },
    readonly momentum = opts.momentum ?? 0,
  ) {
    super(params, { lr: opts.lr, weightDecay: opts.weightDecay ?? 0 });
  }

  /** torch.optim.SGD: g += wd * p; buf = momentum * buf + g; p -= lr * buf. */
  step(): void {
    this.stepCount++;
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        const pd = p.data;
        const gd = p.grad.data;
        let buf = this.velocity.get(p);
        if (this.momentum && !buf)
          this.velocity.set(
            p,
            (buf = p.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size)),
          );
        for (let i = 0; i < p.size; i++) {
          let d = gd[i] + g.weightDecay * pd[p.offset + i];
          if (buf) d = buf[i] = this.stepCount === 1 ? d : this.momentum * buf[i] + d;
          pd[p.offset + i] -= g.lr * d;
        }
      }
    }
  }

  stateArrays(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    this.groups.forEach((g, gi) =>
      g.params.forEach((p, pi) => {
        const b = this.velocity.get(p);
        if (b) out.set(`${gi}.${pi}.momentum`, Float32Array.from(b));
      }),
    );
    return out;
  }

  loadStateArrays(state: Map<string, Float32Array>): void {
    this.groups.forEach((g, gi) =>
      g.params.forEach((p, pi) => {
        const b = state.get(`${gi}.${pi}.momentum`);
        if (b) this.velocity.set(p, Float32Array.from(b));
      }),
    );
  }
}

/** Scale all gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) {
    if (!p.grad) continue;
    const d = p.grad.data;
    for (let i = 0; i < p.size; i++) sq += d[i] * d[i];
  }
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const p of params) {
      if (!p.grad) continue;
      const d = p.grad.data;
      for (let i = 0; i < p.size; i++) d[i] *= coef;
    }
  }
  return norm;
}

/** Parameter groups with no weight decay on biases and norm parameters (1-d tensors), as nanoGPT does. */
export function decayGroups(named: Array<[string, Tensor]>, weightDecay: number): ParamGroup[] {
  const decay = named.filter(([, p]) => p.ndim >= 2).map(([, p]) => p);
  const noDecay = named.filter(([, p]) => p.ndim < 2).map(([, p]) => p);
  return [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
}
