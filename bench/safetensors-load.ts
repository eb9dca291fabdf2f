// Benchmark: stream-load a synthetic gpt2-xl-sized safetensors file (6.4 GB in F32) into fresh Float32Arrays and
// report time, GB/s and peak RSS against the model's size. Not a correctness test (see src/io/safetensors.test.ts).
import { loadGPT2 } from '../src/models/gpt/gpt2-weights.js';
import { modelWeightBytes, parseWeightDtype } from '../src/models/gpt/quantize.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { openAtomicWrite } from '../src/io/atomic.js';
import { bf16BitsToFloat, f16BitsToFloat } from '../src/io/half.js';
import {
  encodeSafetensorsHeader,
  loadSafetensors,
  type HeaderEntry,
  type SafetensorsDtype,
} from '../src/io/safetensors.js';

const USAGE = `usage: node dist/bench/safetensors-load.js [--dtype F32|F16|BF16] [--layers N] [--chunk-mib N] [--concurrency N]
                                           [--dir DIR] [--drop-caches] [--model] [--as f32|bf16|int8] [--map] [--keep DIR]
  --model: load through loadGPT2 into a GPTModel (with a gpt2-xl config.json) instead of into bare arrays
  --as: with --model, the weights' dtype in memory (converted while loading; default f32)
  --map: with --model --as f32, map the file and use its pages in place (what generate / serve do)
  --keep DIR: write the file to DIR (reused if it is already there) and leave it for the next run`;

/** gpt2-xl as stored on the hub: n_embd 1600, 48 layers, vocab 50257, ctx 1024, causal-mask buffers included. */
function gpt2Tensors(
  nLayer: number,
  nEmbd = 1600,
  vocab = 50257,
  ctx = 1024,
): Array<Omit<HeaderEntry, 'dtype'>> {
  const C = nEmbd;
  const out = [
    { name: 'wte.weight', shape: [vocab, C] },
    { name: 'wpe.weight', shape: [ctx, C] },
    { name: 'ln_f.weight', shape: [C] },
    { name: 'ln_f.bias', shape: [C] },
  ];
  for (let l = 0; l < nLayer; l++) {
    const h = `h.${l}.`;
    out.push(
      { name: `${h}ln_1.weight`, shape: [C] },
      { name: `${h}ln_1.bias`, shape: [C] },
      { name: `${h}attn.bias`, shape: [1, 1, ctx, ctx] },
      { name: `${h}attn.c_attn.weight`, shape: [C, 3 * C] },
      { name: `${h}attn.c_attn.bias`, shape: [3 * C] },
      { name: `${h}attn.c_proj.weight`, shape: [C, C] },
      { name: `${h}attn.c_proj.bias`, shape: [C] },
      { name: `${h}ln_2.weight`, shape: [C] },
      { name: `${h}ln_2.bias`, shape: [C] },
      { name: `${h}mlp.c_fc.weight`, shape: [C, 4 * C] },
      { name: `${h}mlp.c_fc.bias`, shape: [4 * C] },
      { name: `${h}mlp.c_proj.weight`, shape: [4 * C, C] },
      { name: `${h}mlp.c_proj.bias`, shape: [C] },
    );
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

const PATTERN_ELEMS = 1 << 22; // every tensor is this pattern repeated, so the loader's output can be spot-checked

/** Deterministic pattern of finite values in [-1, 1) (F16/BF16: random finite bit patterns, exponent < 15). */
function pattern(dtype: SafetensorsDtype): { bytes: Uint8Array; value: (i: number) => number } {
  let s = 12345;
  const next = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  if (dtype === 'F32') {
    const f = new Float32Array(PATTERN_ELEMS).map(() => next() / 2 ** 31 - 1);
    return { bytes: new Uint8Array(f.buffer), value: (i) => f[i % PATTERN_ELEMS]! };
  }
  // Values come from half.ts's scalar decoders: a sanity check of the bulk path, not an independent oracle.
  const bits = new Uint16Array(PATTERN_ELEMS).map(() => {
    const r = next() >>> 8;
    return dtype === 'F16'
      ? (r & 0x83ff) | (((r >> 11) % 15) << 10)
      : (r & 0x807f) | ((100 + ((r >> 8) % 27)) << 7);
  });
  const decode = dtype === 'F16' ? f16BitsToFloat : bf16BitsToFloat;
  return { bytes: new Uint8Array(bits.buffer), value: (i) => decode(bits[i % PATTERN_ELEMS]!) };
}

async function generate(
  path: string,
  entries: HeaderEntry[],
  bytes: Uint8Array,
  elemBytes: number,
): Promise<void> {
  const out = await openAtomicWrite(path);
  try {
    await out.write(encodeSafetensorsHeader(entries, { format: 'pt', note: 'gptkit synthetic benchmark' }));
    for (const e of entries) {
      let left = e.shape.reduce((a, b) => a * b, 1) * elemBytes;
      while (left > 0) {
        const n = Math.min(left, bytes.byteLength);
        await out.write(bytes.subarray(0, n));
        left -= n;
      }
    }
  } catch (err) {
    await out.abort();
    throw err;
  }
  await out.commit();
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(2)} GB`;
const rssBytes = (): number => process.resourceUsage().maxRSS * 1024;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dtype: { type: 'string', default: 'F32' },
      layers: { type: 'string', default: '48' },
      'chunk-mib': { type: 'string', default: '8' },
      concurrency: { type: 'string', default: '2' },
      dir: { type: 'string' },
      'drop-caches': { type: 'boolean', default: false },
      model: { type: 'boolean', default: false },
      as: { type: 'string', default: 'f32' },
      map: { type: 'boolean', default: false },
      keep: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return void console.log(USAGE);
  const dtype = values.dtype as SafetensorsDtype;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16')
    throw new Error(`--dtype must be F32, F16 or BF16\n${USAGE}`);
  const elemBytes = dtype === 'F32' ? 4 : 2;
  const layers = Number(values.layers);
  const chunkBytes = Number(values['chunk-mib']) * 1024 * 1024;
  const concurrency = Number(values.concurrency);

  const entries = gpt2Tensors(layers).map((t) => ({ ...t, dtype }));
  const numel = entries.reduce((s, e) => s + e.shape.reduce((a, b) => a * b, 1), 0);
  const f32Bytes = numel * 4;
  const rss0 = rssBytes();

  const weightDtype = parseWeightDtype(values.as, '--as');
  const dir = values.keep ?? (await mkdtemp(join(values.dir ?? tmpdir(), 'gptkit-bench-st-')));
  const path = join(dir, 'model.safetensors');
  try {
    const pat = pattern(dtype);
    let t = performance.now();
    if (values.keep && existsSync(path)) {
      console.log(`reusing ${path} (${gb((await stat(path)).size)})`);
    } else {
      await mkdir(dir, { recursive: true });
      await generate(path, entries, pat.bytes, elemBytes);
      const fileBytes = (await stat(path)).size;
      console.log(
        `generated ${path}: ${entries.length} tensors, ${gb(fileBytes)} ${dtype}, ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    if (values['drop-caches']) {
      // Root only (Linux): evict the freshly written file from the page cache to time a cold read.
      await writeFile('/proc/sys/vm/drop_caches', '3\n');
      console.log('dropped the page cache (cold read)');
    }
    const rssBeforeLoad = rssBytes();

    if (values.model) {
      // The whole user path: config.json + model.safetensors -> a GPTModel (Conv1D weights transposed).
      const hf = { n_embd: 1600, n_layer: layers, n_head: 25, n_positions: 1024, vocab_size: 50257 };
      await writeFile(join(dir, 'config.json'), JSON.stringify(hf));
      const fileBytes = (await stat(path)).size;
      t = performance.now();
      const faults0 = process.resourceUsage().minorPageFault;
      const model = await loadGPT2(dir, { dtype: weightDtype, map: values.map });
      const seconds = (performance.now() - t) / 1000;
      const peak = rssBytes();
      const modelBytes = modelWeightBytes(model);
      console.log(
        `loadGPT2 (${weightDtype}${values.map ? ', mapped' : ''}): ${model.numParameters().toLocaleString('en-US')} parameters in ${seconds.toFixed(2)} s, ` +
          `${(fileBytes / 1e9 / seconds).toFixed(2)} GB/s of file data; ${process.resourceUsage().minorPageFault - faults0} minor page faults`,
      );
      console.log(
        `peak RSS: ${gb(peak)} = ${(peak / modelBytes).toFixed(3)} x the model's weights in memory (${gb(modelBytes)}); ` +
          `${gb(rssBeforeLoad)} before loading`,
      );
      return;
    }
    const arrays = new Map<string, Float32Array>();
    t = performance.now();
    const res = await loadSafetensors(path, (name, info) => {
      const a = new Float32Array(info.numel);
      arrays.set(name, a);
      return a;
    }, { chunkBytes, concurrency }); // prettier-ignore
    const seconds = (performance.now() - t) / 1000;
    const peak = rssBytes();

    // Spot-check a few elements of every tensor against the generating pattern.
    for (const e of entries) {
      const a = arrays.get(e.name)!;
      for (const i of [0, 1, a.length >> 1, a.length - 1]) {
        if (a.length > 0 && a[i] !== Math.fround(pat.value(i)))
          throw new Error(`${e.name}[${i}] = ${a[i]}, want ${pat.value(i)}`);
      }
    }

    console.log(
      `loaded ${res.loaded.length} tensors (${gb(res.bytesRead)} read, ${gb(f32Bytes)} as float32) in ${seconds.toFixed(2)} s`,
    );
    console.log(`throughput: ${(res.bytesRead / 1e9 / seconds).toFixed(2)} GB/s of file data`);
    console.log(
      `peak RSS: ${gb(peak)} = ${(peak / f32Bytes).toFixed(3)} x the float32 model (${gb(f32Bytes)}); ` +
        `${gb(rss0)} at start, ${gb(rssBeforeLoad)} before loading`,
    );
  } finally {
    if (!values.keep) await rm(dir, { recursive: true, force: true });
  }
  const cmdArgs = args.length ? ` ${args.join(' ')}` : '';
  console.log(`reproduce: npx tsc -p tsconfig.json && node dist/bench/safetensors-load.js${cmdArgs}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
