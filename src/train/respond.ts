// Answers of an instruction-tuned model, extracted as the book's chapter 7 does: greedy decoding of the
// prompt, stopping at <|endoftext|>, the text after the prompt with the response marker removed and
// trimmed. Shared by finetune-instruct (the test set's model_response) and `gptkit respond`.
import type { InstructionEntry, PromptTemplate } from '../data/instruction.js';
import { END_OF_TEXT_ID } from '../data/instruction.js';
import { generate } from '../models/gpt/generate.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import type { Gpt2Tokenizer } from '../tokenizer/gpt2.js';

export interface RespondOptions {
  /** The book's max_new_tokens for the test set: 256. */
  maxNewTokens?: number;
  /** Called after each entry with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** The prompt's token ids; an error naming the entry when it leaves no room for an answer. */
export function promptIds(
  model: GPTModel,
  tokenizer: Gpt2Tokenizer,
  template: PromptTemplate,
  entry: { instruction: string; input?: string },
  where = 'the prompt',
): number[] {
  const ids = tokenizer.encode(template.prompt(entry), { disallowedSpecial: 'none' });
  const ctx = model.cfg.contextLength;
  if (ids.length >= ctx)
    throw new Error(
      `${where} has ${ids.length} tokens; the model's context length is ${ctx}, which leaves no room for an answer`,
    );
  return ids;
}

/** One greedy answer, extracted from what the model writes after the prompt. */
export function respondTo(
  model: GPTModel,
  tokenizer: Gpt2Tokenizer,
  template: PromptTemplate,
  entry: { instruction: string; input?: string },
  o: RespondOptions = {},
  where?: string,
): string {
  const ids = promptIds(model, tokenizer, template, entry, where);
  const wasTraining = model.training;
  model.eval();
  try {
    const newIds = generate(model, ids, {
      maxNewTokens: o.maxNewTokens ?? 256,
      stopTokens: [END_OF_TEXT_ID],
      contextSize: model.cfg.contextLength,
    });
    return template.extract(tokenizer.decode(newIds));
  } finally {
    model.train(wasTraining);
  }
}

/**
 * Answers for every entry, as entries with a `model_response` key (the book's
 * instruction-data-with-response.json). Every prompt is checked before the first answer is generated.
 */
export async function respondToEntries(
  model: GPTModel,
  tokenizer: Gpt2Tokenizer,
  template: PromptTemplate,
  entries: readonly InstructionEntry[],
  o: RespondOptions = {},
  key = 'model_response',
): Promise<InstructionEntry[]> {
  entries.forEach((e, i) => promptIds(model, tokenizer, template, e, `entry ${i}: the prompt`));
  const out: InstructionEntry[] = [];
  for (const [i, e] of entries.entries()) {
    out.push({ ...e, [key]: respondTo(model, tokenizer, template, e, o, `entry ${i}: the prompt`) });
    o.onProgress?.(i + 1, entries.length);
    // Between answers the event loop runs: progress bars redraw and Ctrl-C is heard.
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/**
 * The book's generate_and_print_sample after each epoch of chapter 7 (and the DPO notebook): 50 greedy
 * tokens after the prompt of an entry, no stop token, newlines shown as spaces, in eval mode.
 */
export function epochSample(
  model: GPTModel,
  tokenizer: Gpt2Tokenizer,
  template: PromptTemplate,
  entry: { instruction: string; input?: string },
): string {
  const ctx = model.cfg.contextLength;
  const ids = tokenizer.encode(template.prompt(entry), { disallowedSpecial: 'none' });
  const wasTraining = model.training;
  model.eval();
  try {
    const newIds = generate(model, ids.slice(-ctx + 1), { maxNewTokens: Math.min(50, ctx - 1) });
    return tokenizer.decode([...ids, ...newIds]).replace(/\n/g, ' ');
  } finally {
    model.train(wasTraining);
  }
}
