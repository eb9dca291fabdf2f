// A model mapped from its file (loadGPT2 { map: true }): the weights are the file's own pages (Conv1D weights as
// transposed views), and everything a model does for inference gives what the copied model gives.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { encodeSafetensorsHeader, readSafetensors } from '../../io/safetensors.js';
import * as ops from '../../ops/index.js';
import { noGrad } from '../../tensor/autograd.js';
import { getBackend, setBackend } from '../../backend/index.js';
import { AdamW } from '../../optim/index.js';
import { generate } from './generate.js';
import { loadGPT2, saveGPT2 } from './gpt2-weights.js';
import { quantizeModel } from './quantize.js';
import { resolveModel } from './source.js';
import type { GPTModel } from './gpt.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const fixtureDir = join(root, 'test', 'fixtures', 'gpt2-tiny');
const modelDir = join(fixtureDir, 'model');
const expected = JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')) as {
  prompt_ids: number[];
  greedy_20: number[];
};

function logits(model: GPTModel, ids = expected.prompt_ids): Float32Array {
  return noGrad(() => {
    const out = model.eval().forward(ops.fromArray(ids, [1, ids.length], 'int32'));
    return Float32Array.from(out.data as Float32Array);
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('a GPT-2 mapped from its file (native backend)', () => {
  let mapped: GPTModel;
  let copied: GPTModel;
  before(async () => {
    // The native backend is built with the package (npm install): it is the one that maps files.
    setBackend('native');
    assert.ok(getBackend().mapFile, 'the native backend maps files');
    mapped = await loadGPT2(modelDir, { map: true });
    copied = await loadGPT2(modelDir);
  });

  it('holds the Conv1D weights as transposed views of the file, frozen, the head still tied', () => {
    const att = mapped.trf_blocks[0].att;
    for (const w of [att.W_query.weight, att.W_key.weight, att.W_value.weight]) {
      assert.deepEqual(w.shape, [48, 48]);
      assert.deepEqual(w.strides, [1, 3 * 48], 'c_attn [48, 144] read as q, k, v side by side');
      assert.equal(w.isContiguous(), false);
    }
    assert.deepEqual(att.W_key.weight.offset - att.W_query.weight.offset, 48);
    assert.equal(att.W_query.weight.storage, att.W_value.weight.storage, 'one storage: the file tensor');
    assert.deepEqual(mapped.trf_blocks[1].ff.layers[0].weight.strides, [1, 192]);
    assert.equal(mapped.out_head.weight, mapped.tok_emb.weight);
    assert.ok(mapped.parameters().every((p) => !p.requiresGrad));
    assert.equal(mapped.numParameters(), copied.numParameters());
    assert.equal(mapped.trf_blocks[0].att.W_query.weight.name, 'trf_blocks.0.att.W_query.weight');
  });

  it('matches the PyTorch fixture: logits within 1e-4 of the copied model, the same 20 greedy tokens', () => {
    setBackend('native');
    assert.ok(maxAbsDiff(logits(mapped), logits(copied)) <= 1e-4);
    assert.deepEqual(generate(mapped, expected.prompt_ids, { maxNewTokens: 20 }), expected.greedy_20);
    assert.deepEqual(
      generate(mapped, expected.prompt_ids, { maxNewTokens: 20, useCache: false }),
      expected.greedy_20,
    );
  });

  it('a long prompt (the GEMM path, not GEMV) gives the copied model logits', () => {
    setBackend('native');
    const ids = Array.from({ length: 64 }, (_, i) => (i * 7919) % 50257);
    assert.ok(maxAbsDiff(logits(mapped, ids), logits(copied, ids)) <= 1e-4);
  });

  it('saves to the same file it was loaded from, and quantizes as the copied model does', async () => {
    setBackend('native');
    const dir = await mkdtemp(join(tmpdir(), 'gptkit-mapped-'));
    try {
      await saveGPT2(mapped, join(dir, 'a'));
      await saveGPT2(copied, join(dir, 'b'));
      assert.ok(
        (await readFile(join(dir, 'a', 'model.safetensors'))).equals(
          await readFile(join(dir, 'b', 'model.safetensors')),
        ),
      );
      for (const dtype of ['bf16', 'int8'] as const) {
        const q1 = quantizeModel(await loadGPT2(modelDir, { map: true }), dtype);
        const q2 = quantizeModel(await loadGPT2(modelDir), dtype);
        assert.deepEqual(logits(q1), logits(q2), dtype);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to train a strided weight, by name', () => {
    const w = mapped.trf_blocks[0].att.W_query.weight;
    w.requiresGrad = true;
    try {
      assert.throws(
        () => new AdamW(mapped.parameters()),
        /'trf_blocks\.0\.att\.W_query\.weight' is a strided view .* load it without map to train/,
      );
    } finally {
      w.requiresGrad = false;
    }
  });

  it('reads files it cannot map in place (16-bit data, a misaligned data section) into copies', async () => {
    setBackend('native');
    const dir = await mkdtemp(join(tmpdir(), 'gptkit-unmappable-'));
    try {
      const tensors = [...(await readSafetensors(join(modelDir, 'model.safetensors'))).values()];
      // A header padded to 8k + 2 bytes: every f32 tensor starts 2 bytes off alignment.
      const header = encodeSafetensorsHeader(
        tensors.map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape })),
      );
      const len = Number(new DataView(header.buffer, header.byteOffset).getBigUint64(0, true));
      const shifted = Buffer.concat([header, Buffer.from('  ')]);
      new DataView(shifted.buffer, shifted.byteOffset).setBigUint64(0, BigInt(len + 2), true);
      const body = tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      await writeFile(join(dir, 'model.safetensors'), Buffer.concat([shifted, ...body]));
      await writeFile(join(dir, 'config.json'), readFileSync(join(modelDir, 'config.json')));
      const model = await loadGPT2(dir, { map: true });
      assert.ok(model.parameters().every((p) => p.isContiguous()));
      assert.deepEqual(logits(model), logits(copied));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resolveModel().build({ map }) maps; gptkit generate maps by default and copies with --no-map', async () => {
    setBackend('native');
    const src = await resolveModel(modelDir);
    assert.equal((await src.build({ map: true })).trf_blocks[0].att.W_query.weight.isContiguous(), false);
    assert.equal((await src.build()).trf_blocks[0].att.W_query.weight.isContiguous(), true);
    const main = join(root, 'dist', 'src', 'cli', 'main.js');
    const args = [main, 'generate', '--model', modelDir, '--prompt', 'Every effort moves you', '--json'];
    for (const extra of [[], ['--no-map']]) {
      const r = spawnSync(process.execPath, [...args, '--max-new-tokens', '20', ...extra], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        (JSON.parse(r.stdout) as { new_ids: number[] }).new_ids,
        expected.greedy_20,
        extra.join(' '),
      );
    }
  });

  it('refuses a non-finite weight by name, as the copying load does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gptkit-nan-'));
    try {
      const tensors = [...(await readSafetensors(join(modelDir, 'model.safetensors'))).values()];
      const header = encodeSafetensorsHeader(
        tensors.map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape })),
      );
      const body = tensors.map((t) => {
        const d = Float32Array.from(t.data);
        if (t.name === 'h.1.mlp.c_fc.weight') d[5] = NaN;
        return new Uint8Array(d.buffer);
      });
      await writeFile(join(dir, 'model.safetensors'), Buffer.concat([header, ...body]));
      await writeFile(join(dir, 'config.json'), readFileSync(join(modelDir, 'config.json')));
      await assert.rejects(
        loadGPT2(dir, { map: true }),
        /tensor 'h\.1\.mlp\.c_fc\.weight' holds a non-finite value/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
