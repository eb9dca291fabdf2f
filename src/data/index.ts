// Public surface of the data tower: what src/index.ts re-exports.
export { dataPath, packageRootPath } from './paths.js';
export { mulberry32, deriveSeed, seededPermutation } from './rng.js';
export {
  countWindows,
  ArrayTokenSource,
  SlidingWindowDataset,
  textWindowDataset,
  type TokenSource,
  type WindowDataset,
  type WindowOptions,
  type TextTokenizer,
} from './windows.js';
export {
  DataLoader,
  BatchLoader,
  createDataLoaderV1,
  type Batch,
  type DataLoaderOptions,
  type LoaderState,
  type BookLoaderOptions,
} from './loader.js';
export {
  TokenFile,
  TokenFileWriter,
  writeTokenFile,
  readTokenFileHeader,
  TOKEN_FILE_VERSION,
  TOKEN_FILE_HEADER_BYTES,
  type TokenFileHeader,
} from './token-file.js';
export {
  ensureCorpusCache,
  openCorpus,
  listCorpusFiles,
  corpusFingerprint,
  type CorpusOptions,
  type CorpusFile,
  type CorpusCacheInfo,
  type CorpusProgress,
} from './corpus.js';
export {
  parseDelimited,
  delimiterForPath,
  readLabeledTexts,
  labelVocabulary,
  balanceClasses,
  randomSplit,
  balanceAndSplit,
  ClassificationDataset,
  ClassificationLoader,
  type DelimitedTable,
  type ReadLabeledTextsOptions,
  type LabeledTexts,
  type LabelVocabulary,
  type SplitOptions,
  type DatasetSplits,
  type ClassificationTokenizer,
  type ClassificationDatasetOptions,
  type ClassificationRow,
  type ClassificationBatch,
} from './classification.js';
