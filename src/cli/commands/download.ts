// `gptkit download <model> [--dir DIR]`: fetch a GPT-2 checkpoint from the Hugging Face hub into the cache.
// Only the command line: resuming, verification and caching live in src/io/hub.ts.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { downloadModel, KNOWN_MODELS, type ProgressCallback } from '../../index.js';
import type { RetryInfo } from '../../io/hub.js';

const mb = (n: number): string => (n / 1e6).toFixed(1);
const human = (n: number): string =>
  n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : n < 1e9 ? `${mb(n)} MB` : `${(n / 1e9).toFixed(2)} GB`;

const retryLine = (r: RetryInfo): string =>
  `${r.file}: attempt ${r.attempt} of ${r.attempts} failed (${r.reason.replace(`${r.file}: `, '')}); ` +
  `retrying in ${r.delayMs >= 1000 ? `${Math.round(r.delayMs / 1000)} s` : `${r.delayMs} ms`}\n`;

/**
 * A cli-progress bar per file on a terminal; otherwise a plain line every 10% or 15 s, for logs and CI.
 * Retries are always printed, each on its own line (a terminal's bar restarts below it).
 */
function progressReporter(): {
  onProgress: ProgressCallback;
  onRetry: (r: RetryInfo) => void;
  stop: () => void;
} {
  if (process.stderr.isTTY) {
    let bar: cliProgress.SingleBar | undefined;
    let current = '';
    return {
      onProgress(received, total, file) {
        if (file !== current) {
          bar?.stop();
          current = file;
          bar = new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: `${file.padEnd(18)} [{bar}] {percentage}% | {done}/{all} MB | {eta_formatted}`,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total ?? 0, received, { done: mb(received), all: total === undefined ? '?' : mb(total) });
        }
        bar!.update(received, { done: mb(received) });
      },
      onRetry(r) {
        bar?.stop();
        bar = undefined;
        current = ''; // the next progress call draws a new bar under the message
        process.stderr.write(retryLine(r));
      },
      stop: () => bar?.stop(),
    };
  }
  let current = '';
  let lastPct = -1;
  let lastAt = 0;
  return {
    onProgress(received, total, file) {
      const pct = total ? Math.floor((received / total) * 10) * 10 : -1;
      const now = Date.now();
      if (file === current && pct === lastPct && now - lastAt < 15_000) return;
      current = file;
      lastPct = pct;
      lastAt = now;
      const of = total === undefined ? '' : ` / ${mb(total)} MB (${pct}%)`;
      process.stderr.write(`${file}: ${mb(received)} MB${of}\n`);
    },
    onRetry: (r) => process.stderr.write(retryLine(r)),
    stop: () => undefined,
  };
}

export function register(program: Command): void {
  program
    .command('download')
    .description(`download a GPT-2 checkpoint from the Hugging Face hub (${KNOWN_MODELS.join(', ')})`)
    .argument('<model>', KNOWN_MODELS.join(' | '))
    .option(
      '--dir <dir>',
      'download into this directory instead of the cache (GPTKIT_CACHE, ~/.cache/gptkit)',
    )
    .addHelpText('after', '\nHF_ENDPOINT selects a mirror; HF_HUB_OFFLINE=1 uses only verified local files.')
    .action(async (model: string, opts: { dir?: string }) => {
      const progress = progressReporter();
      let result;
      try {
        result = await downloadModel(model, {
          dir: opts.dir,
          onProgress: progress.onProgress,
          onRetry: progress.onRetry,
        });
      } finally {
        progress.stop();
      }
      console.log(`${result.name} is in ${result.dir}`);
      for (const f of result.files) {
        console.log(
          `  ${f.file.padEnd(18)} ${human(f.size).padStart(9)}  ${f.fromCache ? 'already verified' : 'downloaded'}`,
        );
      }
    });
}
