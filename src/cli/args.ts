// Argument parsers for commander options: numbers with range checks and messages that name the flag.
import { InvalidArgumentError } from 'commander';
import { parseWeightDtype, type WeightDtype } from '../index.js';

export function parseIntArg(flag: string, min = -Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} needs an integer >= ${min}, got '${value}'`);
    return n;
  };
}

export function parseFloatArg(flag: string, min = -Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min)
      throw new InvalidArgumentError(`${flag} needs a number >= ${min}, got '${value}'`);
    return n;
  };
}

/** `--dtype f32|bf16|int8`: the library's parseWeightDtype, with commander's error type. */
export function parseDtypeArg(value: string): WeightDtype {
  try {
    return parseWeightDtype(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** --map / --no-map (see LoadGPT2Options.map). */
export const MAP_HELP =
  'map the weights file and use f32 weights in place: loads in seconds and shares pages with other processes; ' +
  'a copy loads slower but decodes large models faster on some machines (gpt2-xl: 7.6 vs 3.5 tokens/s on ours)';
export const NO_MAP_HELP =
  'copy f32 weights into memory instead of mapping the file: loads slower, decodes large models faster on some machines';

export const DTYPE_HELP =
  'weights in memory: f32 (the reference), bf16 (half the memory) or int8 (per-channel, a quarter); ' +
  'computed with f32 accumulation';
