// Tests for safetensors.ts: exact bytes of a saved file, round trips, the committed GPT-2 fixtures (values checked
// against numpy), F16/BF16 decoding of edge values, and the validation errors for damaged files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { f16BitsToFloat } from './half.js';
import {
  loadSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  type TensorInfo,
} from './safetensors.js';

// Compiled to dist/src/io/, so the repo root (with test/fixtures) is three levels up.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = join(repoRoot, 'test', 'fixtures', 'gpt2-tiny');

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gptkit-st-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Hand-assemble a file: 8-byte length, header text (unpadded), data. */
function rawFile(header: string | object, data: Uint8Array, claimedLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(claimedLength ?? json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

const u16Bytes = (bits: number[]): Uint8Array => new Uint8Array(new Uint16Array(bits).buffer);

test('saveSafetensors writes exactly what the reference writer writes', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'x.safetensors');
    await saveSafetensors(p, [
      { name: 'b', shape: [2], data: new Float32Array([1, 2]) },
      { name: 'a', shape: [1], data: new Float32Array([3]) },
    ]);
    const json =
      '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    const expected = rawFile(padded, new Uint8Array(new Float32Array([3, 1, 2]).buffer));
    assert.deepEqual(new Uint8Array(await readFile(p)), expected);
  });
});

test('round trip keeps names, shapes, values and metadata; tensors sorted by name', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'rt.safetensors');
    const w = new Float32Array(12).map((_, i) => i * 0.5 - 3);
    const tensors = [
      { name: 'zeta', shape: [3, 4], data: w },
      { name: 'alpha.bias', shape: [2], data: new Float32Array([-0, Infinity]) },
      { name: 'scalar', shape: [], data: new Float32Array([Math.PI]) },
      { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
    ];
    await saveSafetensors(p, tensors, { format: 'pt', note: 'gptkit' });
    const h = await readSafetensorsHeader(p);
    assert.equal(h.headerBytes % 8, 0);
    assert.deepEqual(h.metadata, { format: 'pt', note: 'gptkit' });
    assert.deepEqual(
      h.tensors.filter((t) => t.byteLength > 0).map((t) => t.name),
      ['alpha.bias', 'scalar', 'zeta'],
    );
    const back = await readSafetensors(p);
    for (const t of tensors) {
      const got = back.get(t.name)!;
      assert.deepEqual(got.shape, t.shape);
      assert.deepEqual(got.data, t.data);
    }
    assert.ok(Object.is(back.get('alpha.bias')!.data[0], -0));
  });
});

test('the gpt2-tiny fixture loads with the expected names, shapes and values', async () => {
  const p = join(fixtures, 'model', 'model.safetensors');
  const h = await readSafetensorsHeader(p);
  assert.equal(h.tensors.length, 30);
  assert.deepEqual(h.byName.get('wte.weight')!.shape, [50257, 48]);
  assert.deepEqual(h.byName.get('wpe.weight')!.shape, [64, 48]);
  assert.deepEqual(h.byName.get('h.0.attn.c_attn.weight')!.shape, [48, 144]);
  assert.deepEqual(h.byName.get('h.1.mlp.c_proj.weight')!.shape, [192, 48]);
  assert.deepEqual(h.metadata, { format: 'pt' });

  const seen: string[] = [];
  const wte = new Float32Array(50257 * 48);
  const cAttn = new Float32Array(48 * 144);
  const { loaded, skipped } = await loadSafetensors(
    p,
    (name) => {
      seen.push(name);
      return name === 'wte.weight' ? wte : name === 'h.0.attn.c_attn.weight' ? cAttn : null;
    },
    { chunkBytes: 1 << 20 }, // several chunks for wte
  );
  assert.deepEqual(loaded, ['wte.weight', 'h.0.attn.c_attn.weight']);
  assert.equal(skipped.length, 28);
  assert.equal(seen.length, 30);
  assert.ok(wte.every(Number.isFinite) && cAttn.every(Number.isFinite));
  // Reference values read with numpy (np.frombuffer(..., '<f4')).
  const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-7, `${a} vs ${b}`);
  close(wte[0]!, -0.026912974193692207);
  close(wte[2]!, 0.28604656457901);
  close(wte[50256 * 48 + 47]!, -0.4519210457801819);
  close(cAttn[144]!, 0.25887858867645264);
  close(cAttn[47 * 144 + 143]!, -0.04711677);
});

test('the logits fixture holds logits [4, 50257]', async () => {
  const t = (await readSafetensors(join(fixtures, 'logits.safetensors'))).get('logits')!;
  assert.deepEqual(t.shape, [4, 50257]);
  assert.ok(Math.abs(t.data[3 * 50257 + 819]! - 4.4069757) < 1e-6);
  assert.ok(Math.abs(t.data[0]! - -2.0738649368286133) < 1e-6);
});

// [bits, value]: zeros, normals, extremes, subnormals, infinities and NaN.
const F16_CASES: Array<[number, number]> = [
  [0x0000, 0], [0x8000, -0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504],
  [0xfbff, -65504], [0x0400, 2 ** -14], [0x0001, 2 ** -24], [0x8001, -(2 ** -24)], [0x03ff, 1023 * 2 ** -24],
  [0x7c00, Infinity], [0xfc00, -Infinity], [0x7e00, NaN], [0x7c01, NaN], [0xfe00, NaN],
]; // prettier-ignore
const BF16_CASES: Array<[number, number]> = [
  [0x0000, 0], [0x8000, -0], [0x3f80, 1], [0xc000, -2], [0x3eab, 0.333984375], [0x7f7f, 3.3895313892515355e38],
  [0x0080, 2 ** -126], [0x0001, 2 ** -133], [0x807f, -127 * 2 ** -133], [0x7f80, Infinity], [0xff80, -Infinity],
  [0x7fc0, NaN], [0xffc1, NaN],
]; // prettier-ignore

test('F16 and BF16 decode exactly, across chunk boundaries, including subnormals, inf, nan and -0', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'half.safetensors');
    const f16 = u16Bytes(F16_CASES.map((c) => c[0]));
    const bf16 = u16Bytes(BF16_CASES.map((c) => c[0]));
    const header = {
      f16: { dtype: 'F16', shape: [F16_CASES.length], data_offsets: [0, f16.byteLength] },
      bf16: {
        dtype: 'BF16',
        shape: [BF16_CASES.length],
        data_offsets: [f16.byteLength, f16.byteLength + bf16.byteLength],
      },
    };
    const data = new Uint8Array(f16.byteLength + bf16.byteLength);
    data.set(f16);
    data.set(bf16, f16.byteLength);
    await writeFile(p, rawFile(header, data));
    for (const chunkBytes of [8, 24, 1 << 20]) {
      const out = new Map<string, Float32Array>();
      await loadSafetensors(p, (name, info) => out.set(name, new Float32Array(info.numel)).get(name)!, {
        chunkBytes,
      });
      for (const [name, cases] of [
        ['f16', F16_CASES],
        ['bf16', BF16_CASES],
      ] as const) {
        cases.forEach(([bits, want], i) => {
          const got = out.get(name)![i]!;
          assert.ok(
            Object.is(got, Math.fround(want)),
            `${name} 0x${bits.toString(16)}: got ${got}, want ${want}`,
          );
        });
      }
    }
  });
});

test('the F16 decoder agrees with an independent float32 re-encoding for all 65536 patterns', () => {
  // Oracle: every finite F16 value is exactly representable in float32, so float32 -> F16 by rounding must
  // reproduce the bits (except NaN payloads).
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const v = f16BitsToFloat(h);
    if (Number.isNaN(v)) {
      assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
      continue;
    }
    f[0] = v;
    const bits = u[0]!;
    const sign = (bits >>> 16) & 0x8000;
    const exp = ((bits >>> 23) & 0xff) - 127 + 15;
    const mant = bits & 0x7fffff;
    let back: number;
    if ((bits & 0x7fffffff) === 0) back = sign;
    else if (exp >= 31) back = sign | 0x7c00;
    else if (exp <= 0) back = sign | ((mant | 0x800000) >>> (14 - exp));
    else back = sign | (exp << 10) | (mant >>> 13);
    assert.equal(back, h, `0x${h.toString(16)}`);
  }
});

test('integer tensors parse, can be skipped, and refuse to load as float', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'ints.safetensors');
    const header = {
      ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] },
      mask: { dtype: 'I32', shape: [1], data_offsets: [16, 20] },
    };
    await writeFile(p, rawFile(header, new Uint8Array(20)));
    const h = await readSafetensorsHeader(p);
    assert.deepEqual(
      h.tensors.map((t: TensorInfo) => [t.name, t.dtype, t.byteLength]),
      [['ids', 'I64', 16], ['mask', 'I32', 4]], // prettier-ignore
    );
    assert.deepEqual((await loadSafetensors(p, () => null)).skipped, ['ids', 'mask']);
    await assert.rejects(
      loadSafetensors(p, (_n, info) => new Float32Array(info.numel)),
      /ints\.safetensors: tensor 'ids': dtype I64 cannot be loaded as float32/,
    );
  });
});

test('a destination of the wrong length is an error naming the tensor', async () => {
  const p = join(fixtures, 'model', 'model.safetensors');
  await assert.rejects(
    loadSafetensors(p, (name) => (name === 'wpe.weight' ? new Float32Array(10) : null)),
    /model\.safetensors: tensor 'wpe\.weight': destination is length 10, expected 3072 floats \(shape \[64, 48\]\)/,
  );
});

const f32 = (n: number): object => ({ dtype: 'F32', shape: [n], data_offsets: [0, 4 * n] });
const BAD_FILES: Array<[string, () => Uint8Array, RegExp]> = [
  ['too short for the length prefix', () => new Uint8Array(5), /bad\.safetensors: file has 5 bytes, too short/],
  ['header longer than the file', () => rawFile({ w: f32(1) }, new Uint8Array(4), 500), /header claims 500 bytes but the file has only/],
  ['absurd header length', () => rawFile('{}', new Uint8Array(0), 2 ** 40), /header length 1099511627776 is over/],
  ['invalid JSON', () => rawFile('{"w": {"dtype": "F32",', new Uint8Array(0)), /bad\.safetensors: header is not valid UTF-8 JSON/],
  ['header not an object', () => rawFile('[1, 2]', new Uint8Array(0)), /bad\.safetensors: header is not a JSON object/],
  ['unknown dtype', () => rawFile({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'w': unknown dtype "F17"/],
  ['bad shape', () => rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'w': shape must be an array of non-negative integers/],
  ['shape/offset mismatch', () => rawFile({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, new Uint8Array(20)), /tensor 'w': dtype F32 with shape \[2, 3\] needs 24 bytes but data_offsets 0\.\.20 span 20/],
  ['truncated data', () => rawFile({ 'h.0.attn.c_attn.weight': f32(250) }, new Uint8Array(800)), /bad\.safetensors: tensor 'h\.0\.attn\.c_attn\.weight' claims bytes 0\.\.1000 but the file has only 800 data bytes/],
  ['overlapping tensors', () => rawFile({ a: f32(4), b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, new Uint8Array(24)), /tensors 'a' \(bytes 0\.\.16\) and 'b' \(bytes 8\.\.24\) overlap/],
  ['a hole', () => rawFile({ a: f32(1), b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, new Uint8Array(12)), /data bytes 4\.\.8 after 'a' belong to no tensor \(hole before 'b'\)/],
  ['trailing bytes', () => rawFile({ a: f32(1) }, new Uint8Array(9)), /data section has 9 bytes but the tensors cover only 4/],
  ['bad metadata', () => rawFile({ __metadata__: { n: 1 } }, new Uint8Array(0)), /__metadata__ must map strings to strings/],
]; // prettier-ignore

for (const [what, make, message] of BAD_FILES) {
  test(`a damaged file is refused with a clear error: ${what}`, async () => {
    await withTempDir(async (dir) => {
      const p = join(dir, 'bad.safetensors');
      await writeFile(p, make());
      await assert.rejects(readSafetensorsHeader(p), message);
      await assert.rejects(
        loadSafetensors(p, () => null),
        message,
      );
    });
  });
}

test('saveSafetensors refuses mismatched data and duplicate names, leaving no file', async () => {
  await withTempDir(async (dir) => {
    const p = join(dir, 'x.safetensors');
    await assert.rejects(
      saveSafetensors(p, [{ name: 'w', shape: [2, 2], data: new Float32Array(3) }]),
      /x\.safetensors: tensor 'w' has 3 values but shape \[2, 2\] needs 4/,
    );
    const t = { name: 'w', shape: [1], data: new Float32Array(1) };
    await assert.rejects(saveSafetensors(p, [t, t]), /x\.safetensors: duplicate or reserved tensor name 'w'/);
    await assert.rejects(readFile(p), { code: 'ENOENT' });
  });
});
