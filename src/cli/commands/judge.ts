// `gptkit judge`: score model responses with an LLM judge (Ollama, or an OpenAI-compatible server), the book's
// chapter 7.8. Also the shared judge-server options and progress bar of `gptkit make-preferences`.
import { Option, type Command } from 'commander';
import { SingleBar } from 'cli-progress';
import {
  DEFAULT_CHAT_RETRIES,
  DEFAULT_CHAT_TIMEOUT_MS,
  DEFAULT_JUDGE_MODEL,
  DEFAULT_OLLAMA_URL,
  DEFAULT_RESPONSE_KEY,
  checkResponses,
  formatAverage,
  ollamaChat,
  openAIChat,
  scoreResponses,
  readInstructionEntries,
  type ChatClient,
  type ChatRetryInfo,
} from '../../index.js';
import { parseFloatArg, parseIntArg } from '../args.js';

/** A bar on stderr (terminals only) over a count of entries; printed lines go above it. */
export class EntryProgress {
  private bar: SingleBar | null = null;

  constructor(
    private readonly enabled: boolean,
    /** Where printed lines go (stdout, or stderr when stdout carries JSON). */
    private readonly text: NodeJS.WriteStream = process.stdout,
  ) {}

  start(total: number, label: string): void {
    if (!this.enabled || process.stderr.isTTY !== true) return;
    this.bar = new SingleBar({
      stream: process.stderr,
      format: `${label} |{bar}| {value}/{total} entries | ETA {eta_formatted}`,
      hideCursor: false,
      barsize: 24,
      clearOnComplete: true,
    });
    this.bar.start(total, 0);
  }

  /** Print a line (to the text stream) above the bar. */
  readonly log = (line: string): void => this.print(this.text, line);

  /** Print a diagnostic (always stderr) above the bar. */
  readonly warn = (line: string): void => this.print(process.stderr, line);

  private print(stream: NodeJS.WriteStream, line: string): void {
    if (!this.bar) {
      stream.write(line + '\n');
      return;
    }
    if (stream === process.stderr || process.stdout.isTTY) process.stderr.write('\r\x1b[2K');
    stream.write(line + '\n');
    // cli-progress's stop() restores the cursor it saved at start() and clears that line: save it again
    // here, on the bar's new line, or the summary would overwrite the first printed lines.
    process.stderr.write('\x1b7');
    this.bar.render();
  }

  increment(): void {
    this.bar?.increment();
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

export interface ServerOptions {
  judgeModel: string;
  ollamaUrl?: string;
  openaiUrl?: string;
  timeout: number;
  retries: number;
}

/** --judge-model, --ollama-url / --openai-url, --timeout, --retries: declared once for judge and make-preferences. */
export function addServerOptions(cmd: Command, defaultModel: string): Command {
  return cmd
    .option('--judge-model <name>', 'the judge model', defaultModel)
    .addOption(
      new Option(
        '--ollama-url <url>',
        `Ollama server (POST <url>/api/chat) [default: ${DEFAULT_OLLAMA_URL}]`,
      ),
    )
    .addOption(
      new Option(
        '--openai-url <url>',
        'use an OpenAI-compatible server instead (POST <url>/v1/chat/completions; OPENAI_API_KEY is sent if set)',
      ).conflicts('ollamaUrl'),
    )
    .option(
      '--timeout <seconds>',
      'fail when the server sends nothing for this long',
      parseFloatArg('--timeout', 0.001),
      DEFAULT_CHAT_TIMEOUT_MS / 1000,
    )
    .option(
      '--retries <n>',
      'retries after a dropped connection or an HTTP 5xx (backoff 1 s, 2 s, 4 s, ...)',
      parseIntArg('--retries', 0),
      DEFAULT_CHAT_RETRIES,
    );
}

/** The client the options name; `ollamaOptions` replaces the judge's default Ollama `options`. */
export function chatClient(
  o: ServerOptions,
  /** Where retry notices go. */
  log: (line: string) => void,
  ollamaOptions?: Record<string, number>,
): ChatClient {
  const common = {
    model: o.judgeModel,
    timeoutMs: o.timeout * 1000,
    retries: o.retries,
    onRetry: (r: ChatRetryInfo) =>
      log(`retry ${r.attempt}/${r.retries} in ${r.delayMs / 1000} s: ${r.reason}`),
  };
  if (o.openaiUrl !== undefined)
    return openAIChat({ ...common, url: o.openaiUrl, apiKey: process.env.OPENAI_API_KEY || undefined });
  return ollamaChat({ ...common, url: o.ollamaUrl ?? DEFAULT_OLLAMA_URL, modelOptions: ollamaOptions });
}

/** The reply as one readable line: the book prints it raw, which can span many lines. */
export function oneLine(text: string, max = 200): string {
  const s = JSON.stringify(text);
  return s.length > max ? `${s.slice(0, max)}..."` : s;
}

interface JudgeCliOptions extends ServerOptions {
  data: string;
  key: string;
  json?: boolean;
  progress: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('judge')
    .description(
      'score model responses 0-100 with an LLM judge on Ollama (or an OpenAI-compatible server), as the book does',
    )
    .requiredOption('--data <file>', 'instruction data with responses: a JSON list or JSON lines')
    .option('--key <name>', 'the key holding the response to score', DEFAULT_RESPONSE_KEY);
  addServerOptions(cmd, DEFAULT_JUDGE_MODEL)
    .option(
      '--json',
      'the last line of stdout is {"scores", "average", "scored", "total"}; the rest goes to stderr',
    )
    .option('--no-progress', 'no progress bar (it is drawn only on a terminal anyway)')
    .addHelpText(
      'after',
      '\nStart the judge first: `ollama serve`, then `ollama pull llama3` once.' +
        '\nEach request is the book\'s: options {"seed": 123, "temperature": 0, "num_ctx": 2048}.',
    )
    .action(async (o: JudgeCliOptions) => {
      const text = o.json ? process.stderr : process.stdout;
      const entries = readInstructionEntries(o.data);
      checkResponses(entries, o.key, o.data);
      const progress = new EntryProgress(o.progress, text);
      const client = chatClient(o, progress.warn);
      const total = entries.length;
      text.write(`Scoring ${total} responses ("${o.key}" in ${o.data}) with ${client.description}\n`);
      progress.start(total, 'Scoring entries');
      let result;
      try {
        result = await scoreResponses(entries, {
          client,
          responseKey: o.key,
          onScore: (s) => {
            const what = s.score === null ? `Could not convert score: ${oneLine(s.reply)}` : String(s.score);
            progress.log(`[${s.index + 1}/${total}] ${what}`);
            progress.increment();
          },
        });
      } finally {
        progress.stop();
      }
      text.write(`Number of scores: ${result.scored} of ${result.total}\n`);
      text.write(
        `Average score: ${result.average === null ? 'none (no integer scores)' : formatAverage(result.average)}\n`,
      );
      if (o.json) {
        const { scores, average, scored } = result;
        process.stdout.write(JSON.stringify({ scores, average, scored, total: result.total }) + '\n');
      }
    });
}
