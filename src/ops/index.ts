// The op library: everything the models build on. Each op records its own backward.
export * from './creation.js';
export * from './view.js';
export { add, sub, mul, div, neg, exp, log, sqrt, tanh, pow, where, maskedFill } from './elementwise.js';
export { sum, mean, variance, max, argmax, type ReduceOptions } from './reduce.js';
export { matmul } from './matmul.js';
export { linear } from './linear.js';
export { softmax, logSoftmax } from './softmax.js';
export { layerNorm, gelu, crossEntropy, dropout, type CrossEntropyOptions } from './nn-fused.js';
export { embedding, concat, split, indexSelect } from './index-ops.js';
export { topk, multinomial } from './sampling.js';
export { causalAttention, canFuseAttentionDropout, type AttentionOptions } from './attention.js';
