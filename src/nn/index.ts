// nn: modules and layers.
export { Module, parameter, isParameter } from './module.js';
export { Linear, Embedding, LayerNorm, Dropout, GELU, withoutInit } from './layers.js';
export { LoRALayer, LoRALinear, applyLoRA, mergeLoRA, loraParameters, type LoRAOptions } from './lora.js';
