// Module: a tree of named parameters and submodules, found by walking own fields (as torch.nn.Module
// registers attributes). Arrays of modules are named by index, like nn.Sequential / nn.ModuleList.
import { keep, shapeStr, type Tensor } from '../tensor/tensor.js';
import { noGrad } from '../tensor/autograd.js';

const parameters = new WeakSet<Tensor>();

/** Mark t as a trainable parameter (requiresGrad on, exempt from tidy scopes). */
export function parameter(t: Tensor): Tensor {
  parameters.add(t);
  t.requiresGrad = true;
  return keep(t);
}

export function isParameter(t: unknown): t is Tensor {
  return typeof t === 'object' && t !== null && parameters.has(t as Tensor);
}

export abstract class Module {
  training = true;

  /** Direct children: fields holding a Module, or an array of Modules (named by index). */
  namedChildren(): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value) && value.length && value.every((v) => v instanceof Module)) {
        value.forEach((m: Module, i) => out.push([`${key}.${i}`, m]));
      }
    }
    return out;
  }

  /** Parameters of this module and its descendants, with dotted names (tok_emb.weight, ...). */
  namedParameters(prefix = ''): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    const seen = new Set<Tensor>();
    const walk = (m: Module, pre: string) => {
      for (const [key, value] of Object.entries(m)) {
        if (isParameter(value) && !seen.has(value)) {
          seen.add(value);
          out.push([pre + key, value]);
        }
      }
      for (const [name, child] of m.namedChildren()) walk(child, `${pre}${name}.`);
    };
    walk(this, prefix);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Total number of parameter elements (shared parameters counted once). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !opts.trainableOnly || p.requiresGrad)
      .reduce((s, p) => s + p.size, 0);
  }

  train(mode = true): this {
    this.training = mode;
    for (const [, c] of this.namedChildren()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Drop the gradients (PyTorch's set_to_none): the next backward writes fresh ones, no zero-fill pass. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Put new tensors in the place of parameters, wherever the module tree holds them (a tied parameter in every
   * place): `by` maps each old tensor to its replacement, which becomes a parameter.
   */
  replaceParameters(by: ReadonlyMap<Tensor, Tensor>): void {
    const walk = (m: Module) => {
      const fields = m as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(m)) {
        const t = isParameter(value) ? by.get(value) : undefined;
        if (t) fields[key] = isParameter(t) ? t : parameter(t);
      }
      for (const [, c] of m.namedChildren()) walk(c);
    };
    walk(this);
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /** Copy values into parameters by name. strict: every parameter must be present and no extra names. */
  loadStateDict(state: Map<string, Tensor>, { strict = true } = {}): void {
    const own = new Map(this.namedParameters());
    if (strict) {
      const missing = [...own.keys()].filter((k) => !state.has(k));
      const unexpected = [...state.keys()].filter((k) => !own.has(k));
      if (missing.length || unexpected.length) {
        throw new Error(
          `loadStateDict: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`,
        );
      }
    }
    for (const [name, src] of state) {
      const dst = own.get(name);
      if (!dst) continue;
      if (shapeStr(dst.shape) !== shapeStr(src.shape)) {
        throw new Error(
          `loadStateDict: '${name}' has shape ${shapeStr(src.shape)}, expected ${shapeStr(dst.shape)}`,
        );
      }
    }
    noGrad(() => {
      for (const [name, src] of state) {
        const dst = own.get(name);
        if (dst) dst.data.set(src.toArray());
      }
    });
  }
}
