// Command-line flags derived from a task's option declarations (src/train/options.ts): one flag per
// option with its help and default, parsed to the declared type and checked by the same rule the library
// uses. Only flags given on the command line are passed on, so the library applies its defaults and, on
// --resume, the run's own values.
import { InvalidArgumentError, type Command } from 'commander';
import { checkOption, describeOption, flagOf, type OptionSpec, type OptionSpecs } from '../index.js';

function parser(key: string, spec: OptionSpec): (value: string) => unknown {
  return (value: string) => {
    const v =
      spec.type === 'int' || spec.type === 'number' ? (value.trim() === '' ? NaN : Number(value)) : value;
    try {
      checkOption(key, spec, v);
    } catch {
      throw new InvalidArgumentError(`${flagOf(key, spec)} must be ${describeOption(spec)}, got '${value}'`);
    }
    return v;
  };
}

/** Add a flag for every option of specs (except API-only ones and those in `skip`). */
export function addOptions(cmd: Command, specs: OptionSpecs, skip: readonly string[] = []): Command {
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.apiOnly || skip.includes(key)) continue;
    const flag = flagOf(key, spec);
    const dflt =
      spec.default !== undefined && spec.type !== 'boolean'
        ? ` (default: ${JSON.stringify(spec.default)})`
        : '';
    if (spec.type === 'boolean') cmd.option(flag, spec.help + dflt);
    else cmd.option(`${flag} <${spec.arg ?? spec.type}>`, spec.help + dflt, parser(key, spec));
  }
  return cmd;
}

/** Commander's name for a flag's value: '--drop-out' -> 'dropOut'. */
const attributeOf = (key: string, spec: OptionSpec) =>
  flagOf(key, spec)
    .slice(2)
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The options of specs that were given on this command line, by option key (the rest stay undefined). */
export function givenOptions(cmd: Command, specs: OptionSpecs): Record<string, unknown> {
  const values = cmd.opts();
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const attr = attributeOf(key, spec);
    if (cmd.getOptionValueSource(attr) === 'cli') out[key] = values[attr];
  }
  return out;
}
