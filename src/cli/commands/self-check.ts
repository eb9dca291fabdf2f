// `gptkit self-check`: which compute backend runs, and a tiny engine check against known values.
import type { Command } from 'commander';
import { getBackend, ops, backward } from '../../index.js';

export function register(program: Command): void {
  program
    .command('self-check')
    .description('print the compute backend and verify a small matmul, softmax and gradient')
    .action(() => {
      const bk = getBackend();
      const a = ops.tensor([
        [1, 2],
        [3, 4],
      ]);
      a.requiresGrad = true;
      const y = ops.matmul(a, a); // [[7, 10], [15, 22]]
      const p = ops.softmax(ops.tensor([[0, Math.log(3)]])); // [0.25, 0.75]
      backward(ops.sum(y)); // d/dA sum(A A) = 1 A^T + A^T 1
      const checks: Array<[string, boolean]> = [
        ['matmul', y.toArray().join() === '7,10,15,22'],
        ['softmax', Math.abs(p.toArray()[1] - 0.75) < 1e-6],
        ['gradient', a.grad!.toArray().join() === '7,11,9,13'],
      ];
      console.log(`backend: ${bk.name} (${bk.threads()} thread${bk.threads() === 1 ? '' : 's'})`);
      for (const [name, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}`);
      if (checks.some(([, ok]) => !ok)) process.exitCode = 1;
    });
}
