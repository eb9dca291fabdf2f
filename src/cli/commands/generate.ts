// `gptkit generate`: load a GPT-2 model (by name from the cache, or a directory) and stream a continuation.
import type { Command } from 'commander';
import { DTYPE_HELP, NO_MAP_HELP, parseDtypeArg, parseIntArg, parseFloatArg } from '../args.js';
import {
  checkGenerateOptions,
  resolveModel,
  generate,
  loadGpt2Tokenizer,
  type WeightDtype,
} from '../../index.js';

const END_OF_TEXT = 50256;

interface GenerateCliOptions {
  model: string;
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  json?: boolean;
  cache: boolean;
  allowSpecial?: boolean;
  dtype: WeightDtype;
  map: boolean;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('continue a prompt with a GPT-2 model, streaming the text as it is generated')
    .requiredOption(
      '--model <name|dir>',
      'gpt2, gpt2-medium, gpt2-large, gpt2-xl (downloaded), or a model directory',
    )
    .requiredOption('--prompt <text>', 'the text to continue')
    .option('--max-new-tokens <n>', 'tokens to generate', parseIntArg('--max-new-tokens', 0), 50)
    .option('--temperature <t>', '0 = greedy; > 0 samples', parseFloatArg('--temperature', 0), 0)
    .option('--top-k <k>', 'sample only among the k most likely tokens', parseIntArg('--top-k', 1))
    .option(
      '--top-p <p>',
      'nucleus sampling: smallest set of tokens with probability >= p',
      parseFloatArg('--top-p', 0),
    )
    .option('--seed <n>', 'seed for sampling', parseIntArg('--seed', 0), 123)
    .option('--no-cache', 'disable the KV cache (same output, slower)')
    .option('--dtype <f32|bf16|int8>', DTYPE_HELP, parseDtypeArg, 'f32')
    .option('--no-map', NO_MAP_HELP)
    .option('--allow-special', 'encode <|endoftext|> in the prompt as its token id (50256)')
    .option('--json', 'print {"prompt_ids", "new_ids", "text"} as JSON at the end instead of streaming')
    .action(async (o: GenerateCliOptions) => {
      checkGenerateOptions({ temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed });
      if (o.temperature === 0 && (o.topK !== undefined || o.topP !== undefined))
        process.stderr.write(
          'gptkit: --top-k and --top-p only apply when sampling (--temperature > 0); decoding greedily\n',
        );
      // The prompt is checked before the model loads: a bad prompt should not cost a model load.
      const tokenizer = loadGpt2Tokenizer();
      let promptIds: number[];
      try {
        promptIds = tokenizer.encode(o.prompt, o.allowSpecial ? { allowedSpecial: 'all' } : {});
      } catch (err) {
        // The library's message names API options; on the command line the switch is --allow-special.
        const msg = (err as Error).message;
        if (!/special token/.test(msg)) throw err;
        throw new Error(
          `${msg.split('. To encode')[0]}. Pass --allow-special to encode it as its token id.`,
          {
            cause: err,
          },
        );
      }
      if (promptIds.length === 0) throw new Error('the prompt is empty');
      const src = await resolveModel(o.model);
      if (src.kind === 'fresh')
        throw new Error(
          `--model ${o.model}: generate needs trained weights (a model directory or a downloaded name), not a fresh configuration`,
        );
      if (src.config.numClasses !== undefined)
        throw new Error(`--model ${o.model} is a classifier; use \`gptkit classify --model ${o.model}\``);
      const model = (await src.build({ dtype: o.dtype, map: o.map })).eval();
      const decoder = tokenizer.streamingDecoder();
      if (!o.json) process.stdout.write(o.prompt);
      const newIds = generate(model, promptIds, {
        maxNewTokens: o.maxNewTokens,
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
        seed: o.seed,
        stopTokens: [END_OF_TEXT],
        useCache: o.cache,
        onToken: o.json ? undefined : (id) => process.stdout.write(decoder.push(id)),
      });
      if (o.json) {
        const text = tokenizer.decode(newIds);
        process.stdout.write(JSON.stringify({ prompt_ids: promptIds, new_ids: newIds, text }) + '\n');
      } else {
        process.stdout.write(decoder.flush() + '\n');
      }
    });
}
