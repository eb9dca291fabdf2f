#!/usr/bin/env node
// The `gptkit` command line: one subcommand per file in ./commands, each built on the public API.
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

const program = new Command();
program
  .name('gptkit')
  .description('Build, pretrain, load, fine-tune and run GPT-style language models in TypeScript.')
  .version('0.1.0')
  .showHelpAfterError('(add --help for usage)');

registerCommands(program);

// A closed stdout (`gptkit tokenize ... | head`) ends the command quietly, as other command-line tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

program.parseAsync(process.argv).catch((err: unknown) => {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`gptkit: ${msg}\n`);
  if (process.env.GPTKIT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
