// Argument parsers for commander options: numbers with range checks and messages that name the flag.
import { InvalidArgumentError } from 'commander';

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
