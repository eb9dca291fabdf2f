// Chat messages -> one prompt string, the way the served model expects its input: through the
// instruction template it was fine-tuned with (stored with the model), or plain text for base models.

export interface ChatMessage {
  role: string;
  content: string;
}

/** The part of an instruction template the server needs (src/data/instruction.ts's PromptTemplate). */
export interface ChatTemplate {
  name: string;
  /** The prompt of an entry, up to (not including) the response marker. */
  prompt(entry: { instruction: string; input?: string }): string;
  /** The text after the prompt in a training example: response marker, then the output. */
  response(output: string): string;
}

/**
 * Base model (no template): the contents one after another, separated by a newline; a base model
 * simply continues the text. Instruction model: the last user message is the instruction; system
 * messages and earlier turns go into the template's input as a transcript ("System: ...", "User: ...",
 * "Assistant: ..."), the one place the book's Alpaca format has for context. The prompt ends exactly
 * where the response text begins (after the response marker), as in training.
 */
export function chatPrompt(messages: readonly ChatMessage[], template?: ChatTemplate): string {
  if (messages.length === 0) throw new Error('messages: give at least one message');
  if (!template) return messages.map((m) => m.content).join('\n');
  let last = -1;
  for (let i = messages.length - 1; i >= 0 && last < 0; i--) if (messages[i].role === 'user') last = i;
  if (last < 0) throw new Error('messages: an instruction model needs a message with role "user"');
  const context = messages
    .filter((_, i) => i !== last)
    .map((m) => `${m.role[0].toUpperCase()}${m.role.slice(1)}: ${m.content}`)
    .join('\n');
  const instruction = messages[last].content;
  return (
    template.prompt(context ? { instruction, input: context } : { instruction }) + responsePrefix(template)
  );
}

/** What the template puts between the prompt and the output (the response marker and its whitespace). */
export function responsePrefix(template: ChatTemplate): string {
  const mark = '\u0000output\u0000';
  const r = template.response(mark);
  const at = r.indexOf(mark);
  return at >= 0 ? r.slice(0, at) : r;
}
