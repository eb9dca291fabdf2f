// `gptkit serve`: load a language model (and optionally a classifier) and serve the OpenAI- and
// Ollama-compatible HTTP API and the web page until SIGTERM / Ctrl-C.
import type { Command } from 'commander';
import { basename, dirname, resolve } from 'node:path';
import { DTYPE_HELP, MAP_HELP, parseDtypeArg, parseIntArg } from '../args.js';
import {
  type WeightDtype,
  createServer,
  loadClassifier,
  resolveModel,
  SERVE_DEFAULTS,
  type ChatTemplate,
} from '../../index.js';

interface ServeCliOptions {
  model: string;
  classifier?: string;
  host: string;
  port: number;
  apiKey?: string;
  maxBatch: number;
  maxQueue: number;
  corsOrigin?: string;
  dtype: WeightDtype;
  map?: boolean;
}

/** How clients name the model: a released name as given, a directory by its folder name (DIR/model: DIR's). */
function modelId(spec: string): string {
  if (!/[/\\]/.test(spec) && !spec.startsWith('.')) return spec;
  const dir = resolve(spec);
  return basename(dir) === 'model' ? basename(dirname(dir)) : basename(dir);
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a model over an OpenAI- and Ollama-compatible HTTP API, with a chat page at /')
    .requiredOption('--model <name|dir>', 'gpt2, gpt2-medium, ... (downloaded), or a model directory')
    .option('--classifier <dir>', 'a classifier (from finetune-classifier) for POST /v1/classify')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', parseIntArg('--port', 0), 8000)
    .option('--api-key <key>', 'require "Authorization: Bearer KEY" (default: env GPTKIT_API_KEY, else none)')
    .option(
      '--max-batch <n>',
      'sequences decoded together',
      parseIntArg('--max-batch', 1),
      SERVE_DEFAULTS.maxBatch,
    )
    .option(
      '--max-queue <n>',
      'requests waiting for a slot before 503',
      parseIntArg('--max-queue', 0),
      SERVE_DEFAULTS.maxQueue,
    )
    .option('--cors-origin <origin>', 'allow browsers on this origin (or *) to call the API')
    .option('--dtype <f32|bf16|int8>', DTYPE_HELP, parseDtypeArg, 'f32')
    .option('--map', MAP_HELP)
    .action(async (o: ServeCliOptions) => {
      const src = await resolveModel(o.model);
      if (src.kind === 'fresh')
        throw new Error(
          `--model ${o.model}: serve needs trained weights (a model directory or a downloaded name)`,
        );
      if (src.config.numClasses !== undefined)
        throw new Error(
          `--model ${o.model} is a classifier; serve a language model and pass --classifier ${o.model}`,
        );
      // A fine-tuned instruction model carries its template.
      const template: ChatTemplate | undefined = src.template;
      const classifier =
        o.classifier === undefined ? undefined : await loadClassifier(o.classifier, { dtype: o.dtype });
      const model = await src.build({ dtype: o.dtype, map: o.map === true });
      const server = createServer({
        model,
        modelId: modelId(o.model),
        template,
        classifier,
        classifierId: o.classifier === undefined ? undefined : modelId(o.classifier),
        maxBatch: o.maxBatch,
        maxQueue: o.maxQueue,
        apiKey: o.apiKey ?? process.env.GPTKIT_API_KEY,
        corsOrigin: o.corsOrigin,
      });
      const address = await server.app.listen({ host: o.host, port: o.port });
      const kind = template ? `instruction template ${template.name}` : 'base model';
      process.stdout.write(
        `gptkit serve: ${modelId(o.model)} (context ${src.config.contextLength}, ${kind})` +
          `${classifier ? `, classifier ${modelId(o.classifier!)} (${classifier.labels.join(', ')})` : ''}\n` +
          `listening on ${address}  (max batch ${o.maxBatch}, queue ${o.maxQueue}${(o.apiKey ?? process.env.GPTKIT_API_KEY) ? ', API key required' : ''})\n`,
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(1); // a second Ctrl-C quits at once
        stopping = true;
        const s = server.scheduler.stats;
        process.stdout.write(
          `${signal}: no new requests; finishing ${s.active + s.queued} in flight (up to 10 s)\n`,
        );
        server.shutdown(10_000).then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`gptkit: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
