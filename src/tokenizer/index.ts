// Public surface of the tokenizer tower: what src/index.ts re-exports. Internals (pair tables, the
// merge loop, the piece cache, the merge trainer) stay private to the folder.
export {
  simpleTokenize,
  buildVocab,
  SimpleTokenizerV1,
  SimpleTokenizerV2,
  END_OF_TEXT,
  UNKNOWN,
} from './simple.js';
export {
  Gpt2Tokenizer,
  loadGpt2Tokenizer,
  type Gpt2TokenizerSpec,
  type EncodeOptions,
  type AllowedSpecial,
} from './gpt2.js';
export { StreamingDecoder } from './streaming-decoder.js';
export { GPT2_PATTERN, splitGpt2, InvalidUtf16Error } from './pretokenize.js';
export { findInvalidUtf8, decodeUtf8Input, type InvalidUtf8, type DecodeInputOptions } from './utf8-input.js';
export { BYTE_TO_CHAR, GPT2_BYTE_ORDER, bytesToTokenString, tokenStringToBytes } from './byte-level.js';
export { parseEncoderJson, parseVocabBpe, formatEncoderJson, formatVocabBpe } from './gpt2-files.js';
export {
  BpeTokenizerSimple,
  trainByteLevelBpe,
  byteLevelTokenizer,
  saveByteLevelBpe,
  VocabSizeError,
  type SimpleBpeTrainOptions,
  type SimpleBpeEncodeOptions,
  type SimpleBpeFile,
  type ByteLevelTrainOptions,
  type ByteLevelBpe,
  type TrainProgress,
} from './bpe-train.js';
