// Chat messages -> prompt. The instruction-model case is checked against the book's format_input
// (chapter 7, Alpaca style) written out literally, not against the template's own output.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promptTemplate } from '../data/instruction.js';
import { chatPrompt, responsePrefix, type ChatTemplate } from './chat.js';

// The shape of src/data/instruction.ts's Alpaca template: prompt without the response marker,
// response = marker + output.
const alpaca: ChatTemplate = {
  name: 'alpaca',
  prompt: (e) =>
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.' +
    `\n\n### Instruction:\n${e.instruction}` +
    (e.input ? `\n\n### Input:\n${e.input}` : ''),
  response: (output) => `\n\n### Response:\n${output}`,
};

const BOOK_PREFIX =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.';

describe('chatPrompt', () => {
  it('base model: the contents, one per line', () => {
    assert.equal(chatPrompt([{ role: 'user', content: 'Every effort moves you' }]), 'Every effort moves you');
    assert.equal(
      chatPrompt([
        { role: 'system', content: 'A story.' },
        { role: 'user', content: 'Once upon' },
      ]),
      'A story.\nOnce upon',
    );
  });

  it('instruction model: the book format, ending where the response text begins', () => {
    assert.equal(
      chatPrompt([{ role: 'user', content: 'Convert 45 kilometers to meters.' }], alpaca),
      `${BOOK_PREFIX}\n\n### Instruction:\nConvert 45 kilometers to meters.\n\n### Response:\n`,
    );
  });

  it("the template a model is fine-tuned with (src/data) gives the book's prompt", () => {
    assert.equal(
      chatPrompt([{ role: 'user', content: 'Convert 45 kilometers to meters.' }], promptTemplate('alpaca')),
      `${BOOK_PREFIX}\n\n### Instruction:\nConvert 45 kilometers to meters.\n\n### Response:\n`,
    );
  });

  it('instruction model: system message and earlier turns become the input', () => {
    const prompt = chatPrompt(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Name a color.' },
        { role: 'assistant', content: 'Blue.' },
        { role: 'user', content: 'Another one.' },
      ],
      alpaca,
    );
    assert.equal(
      prompt,
      `${BOOK_PREFIX}\n\n### Instruction:\nAnother one.\n\n### Input:\nSystem: Be brief.\nUser: Name a color.\nAssistant: Blue.\n\n### Response:\n`,
    );
  });

  it('instruction model without a user message is an error', () => {
    assert.throws(() => chatPrompt([{ role: 'system', content: 'x' }], alpaca), /role "user"/);
    assert.throws(() => chatPrompt([]), /at least one message/);
  });

  it('responsePrefix is what the template puts before the output', () => {
    assert.equal(responsePrefix(alpaca), '\n\n### Response:\n');
  });
});
