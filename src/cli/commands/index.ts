// Registry of subcommands: each module exports `register(program)`.
import type { Command } from 'commander';
import { register as selfCheck } from './self-check.js';
import { register as generate } from './generate.js';
import { register as download } from './download.js';

export function registerCommands(program: Command): void {
  download(program);
  generate(program);
  selfCheck(program);
}
