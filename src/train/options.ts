// Task options declared once: type, default, range, help and whether a resumed run restores it. The
// library validates and fills defaults from the declaration; the CLI derives its flags from the same one.
// Not an argument parser: commander parses, this only says what each option is.

interface Common {
  help: string;
  /** Placeholder in --help (default: the type). */
  arg?: string;
  /** Restored from the checkpoint on --resume unless given again (default true). */
  resume?: boolean;
  /** Not a command-line flag (set through the API only). */
  apiOnly?: boolean;
  /** The command-line flag when it is not the key in kebab case (`dropRate` is `--dropout`). */
  flag?: string;
}
export type OptionSpec = Common &
  (
    | { type: 'int'; default?: number; min?: number; max?: number }
    | { type: 'number'; default?: number; min?: number; max?: number; above?: number; below?: number }
    | { type: 'string'; default?: string; choices?: readonly string[]; nonEmpty?: boolean }
    | { type: 'boolean'; default?: boolean }
  );
export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: 'int' | 'number' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { choices: readonly (infer C)[] }
      ? C
      : string;
/** Resolved values: options with a default are always set. */
export type OptionValues<S extends OptionSpecs> = {
  [K in keyof S as S[K] extends { default: unknown } ? K : never]: ValueOf<S[K]>;
} & {
  [K in keyof S as S[K] extends { default: unknown } ? never : K]?: ValueOf<S[K]>;
};
/** What a caller may pass: any subset. */
export type OptionInput<S extends OptionSpecs> = { [K in keyof S]?: ValueOf<S[K]> };

/** '--batch-size' for 'batchSize' (or the declared flag). */
export function flagOf(key: string, spec?: OptionSpec): string {
  return spec?.flag ?? '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** 'a positive integer', 'one of book, gpt2', ...: what a valid value is. */
export function describeOption(spec: OptionSpec): string {
  switch (spec.type) {
    case 'int':
      return spec.min === 1 ? 'a positive integer' : spec.min === 0 ? 'an integer >= 0' : 'an integer';
    case 'number': {
      const parts = [];
      if (spec.above !== undefined) parts.push(`> ${spec.above}`);
      if (spec.min !== undefined) parts.push(`>= ${spec.min}`);
      if (spec.below !== undefined) parts.push(`< ${spec.below}`);
      if (spec.max !== undefined) parts.push(`<= ${spec.max}`);
      return `a number${parts.length ? ' ' + parts.join(' and ') : ''}`;
    }
    case 'string':
      return spec.choices ? `one of ${spec.choices.join(', ')}` : 'a non-empty text';
    case 'boolean':
      return 'true or false';
  }
}

/** The error for a bad value, naming the API key and the flag. */
function invalid(key: string, spec: OptionSpec, value: unknown): Error {
  const name = spec.apiOnly ? key : `${key} (${flagOf(key, spec)})`;
  const shown = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  return new Error(`${name} must be ${describeOption(spec)}, got ${shown}`);
}

export function checkOption(key: string, spec: OptionSpec, v: unknown): void {
  const ok = (() => {
    switch (spec.type) {
      case 'int':
        return (
          typeof v === 'number' &&
          Number.isInteger(v) &&
          v >= (spec.min ?? -Infinity) &&
          v <= (spec.max ?? Infinity)
        );
      case 'number':
        return (
          typeof v === 'number' &&
          Number.isFinite(v) &&
          v >= (spec.min ?? -Infinity) &&
          v <= (spec.max ?? Infinity) &&
          (spec.above === undefined || v > spec.above) &&
          (spec.below === undefined || v < spec.below)
        );
      case 'string':
        return (
          typeof v === 'string' &&
          (!spec.choices || spec.choices.includes(v)) &&
          (!spec.nonEmpty || v.length > 0)
        );
      case 'boolean':
        return typeof v === 'boolean';
    }
  })();
  if (!ok) throw invalid(key, spec, v);
}

/**
 * Fill and validate options: a given value wins, then (on resume) the value the run was started with,
 * then the declared default. Unknown keys are an error, so a typo is never silently ignored.
 */
export function resolveOptions<S extends OptionSpecs>(
  specs: S,
  given: Record<string, unknown>,
  saved: Record<string, unknown> = {},
  what = 'option',
): OptionValues<S> {
  for (const k of Object.keys(given))
    if (!(k in specs) && given[k] !== undefined)
      throw new Error(`unknown ${what} '${k}'; known: ${Object.keys(specs).join(', ')}`);
  const out: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(specs)) {
    let v = given[k];
    if (v === undefined && spec.resume !== false && saved[k] !== undefined && saved[k] !== null) v = saved[k];
    if (v === undefined) v = spec.default;
    if (v !== undefined) checkOption(k, spec, v);
    out[k] = v;
  }
  return out as OptionValues<S>;
}

/** The JSON values of the options a checkpoint records (those restored on resume). */
export function recordedOptions(
  specs: OptionSpecs,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(specs)) if (spec.resume !== false) out[k] = values[k] ?? null;
  return out;
}
