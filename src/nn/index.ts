// nn: modules and layers.
export { Module, parameter, isParameter } from './module.js';
export { Linear, Embedding, LayerNorm, Dropout, GELU } from './layers.js';
