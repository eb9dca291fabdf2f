// `npm run bench -- <name> [args]`: runs one benchmark module from bench/ (each exports run(args)).
import { getBackend } from '../src/backend/index.js';

const BENCHES: Record<string, string> = {
  gemm: './gemm.js',
  bandwidth: './bandwidth.js',
  kernels: './kernels.js',
  tokenizer: './tokenizer.js',
  forward: './model.js',
  generate: './model.js',
  train: './train.js',
  'safetensors-load': './safetensors-load.js',
  'finetune-classifier': './finetune-classifier.js',
  'finetune-instruct': './finetune-instruct.js',
  serve: './serve.js',
  dtype: './dtype.js',
};

const [name, ...args] = process.argv.slice(2);
if (!name || !BENCHES[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [args]`);
  process.exit(2);
}
const mod = (await import(BENCHES[name])) as { run(args: string[], name?: string): Promise<void> };
console.log(
  `# gptkit bench ${name} (backend: ${getBackend().name}, threads: ${getBackend().threads()}, node ${process.version})`,
);
await mod.run(args, name);
