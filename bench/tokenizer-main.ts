// Standalone entry for the tokenizer benchmark: node dist/bench/tokenizer-main.js [--size MB] [--runs N].
// Only argument passing; the benchmark itself is bench/tokenizer.ts.
import { run } from './tokenizer.js';

run(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
