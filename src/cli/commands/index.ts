// Registry of subcommands: each module exports `register(program)`.
import type { Command } from 'commander';
import { register as selfCheck } from './self-check.js';
import { register as generate } from './generate.js';

export function registerCommands(program: Command): void {
  generate(program);
  selfCheck(program);
}
