// Property-based tests (fast-check) for the safetensors reader: random damage to valid files (bit flips,
// truncation, a changed header length, bytes inserted into the JSON header, random JSON for dtype / shape /
// data_offsets / whole entries, appended bytes) never makes readSafetensorsHeader, readSafetensors or
// loadSafetensors throw anything but a plain Error naming the file, never hangs, and never yields a tensor
// whose bytes lie outside the data section or whose shape disagrees with its size. Runs are seeded
// (FC_SEED / FC_NUM_RUNS override), so a failure reproduces from the seed and path fast-check prints.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { bf16BitsToFloat, f16BitsToFloat } from './half.js';
import {
  encodeSafetensorsHeader,
  loadSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  LOADABLE_DTYPES,
  type HeaderEntry,
  type SafetensorsDtype,
  type SafetensorsHeader,
} from './safetensors.js';

const params = (numRuns: number): fc.Parameters<unknown> => ({
  seed: Number(process.env.FC_SEED ?? 42),
  numRuns: Number(process.env.FC_NUM_RUNS ?? numRuns),
  includeErrorInReport: true,
  // A read that never settles fails the run instead of hanging the suite.
  plugins: [fc.timeout(5000)],
});

// prettier-ignore
const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

let dir: string;
/** Valid files to damage: one written by saveSafetensors (F32), one with other dtypes assembled by hand. */
const seeds: Uint8Array[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gptkit-st-prop-'));
  const seedPath = join(dir, 'seed.safetensors');
  const values = (n: number, k: number): Float32Array =>
    Float32Array.from({ length: n }, (_, i) => i * k - 1.5);
  await saveSafetensors(
    seedPath,
    [
      { name: 'wte', shape: [2, 3], data: values(6, 0.5) },
      { name: 'bias', shape: [4], data: values(4, -2) },
      { name: 'scale', shape: [], data: values(1, 1) },
      { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
    ],
    { format: 'pt' },
  );
  seeds.push(new Uint8Array(await readFile(seedPath)));

  const entries: HeaderEntry[] = [
    { name: 'half', dtype: 'F16', shape: [3] },
    { name: 'brain', dtype: 'BF16', shape: [2, 2] },
    { name: 'ints', dtype: 'I32', shape: [2] },
    { name: 'bytes', dtype: 'U8', shape: [3] },
    { name: 'wide', dtype: 'F64', shape: [1] },
  ];
  const header = encodeSafetensorsHeader(entries);
  const dataBytes = entries.reduce(
    (a, e) => a + e.shape.reduce((x, y) => x * y, 1) * DTYPE_BYTES[e.dtype],
    0,
  );
  const file = new Uint8Array(header.byteLength + dataBytes);
  file.set(header);
  for (let i = 0; i < dataBytes; i++) file[header.byteLength + i] = (i * 37 + 11) & 0xff;
  seeds.push(file);
  // The seeds themselves must load, or every property below is vacuous.
  for (const [i, s] of seeds.entries()) {
    await writeFile(join(dir, `seed${i}.safetensors`), s);
    await readSafetensorsHeader(join(dir, `seed${i}.safetensors`));
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---- damage ------------------------------------------------------------------------------------

const headerLength = (b: Uint8Array): number =>
  b.byteLength >= 8 ? Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)) : 0;

function setHeaderLength(b: Uint8Array, n: bigint): Uint8Array {
  if (b.byteLength < 8) return b;
  const out = b.slice();
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, n), true);
  return out;
}

/** Raw JSON text for a value: anything JSON.stringify makes, plus texts no JS value stringifies to. */
const rawJson = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
  {
    weight: 4,
    arbitrary: fc
      .constantFrom(...Object.keys(DTYPE_BYTES), 'f32', 'F32 ', 'BOOL8', '', '__proto__')
      .map((d) => JSON.stringify(d)),
  },
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.oneof(
          { weight: 6, arbitrary: fc.nat(8) },
          fc.constantFrom(-1, 1.5, -0, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 1e300, 12, 24, 48),
        ),
        { maxLength: 4 },
      )
      .map((a) => JSON.stringify(a)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('1e400', '-1e400', '1.0', '9007199254740993', '-0', '[0,1e400]', '[]'),
  },
  // Deep nesting: JSON.parse copes, and the reader must too when it reports the value.
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)) },
);

const SENTINEL = '\u0001raw\u0001';

/** A structural edit of the header JSON (kept well-formed JSON unless the raw text is not), length fixed. */
const jsonEdit = fc.record({
  kind: fc.constantFrom(
    ...(['field', 'field', 'field', 'entry', 'rename', 'delete', 'add', 'metadata', 'offsets'] as const),
    // Edits that keep the file valid, so the success checks run too.
    ...(['repad', 'reshape', 'retype'] as const),
  ),
  shapeOrder: fc.nat(3),
  tensor: fc.nat(),
  field: fc.constantFrom('dtype', 'shape', 'data_offsets', 'extra'),
  raw: rawJson,
  name: fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.constantFrom('__metadata__', '__proto__', 'wte', 'constructor'),
  ),
  delta: fc.tuple(fc.integer({ min: -9, max: 9 }), fc.integer({ min: -9, max: 9 })),
  pad: fc.nat(8),
});

type JsonEdit = typeof jsonEdit extends fc.Arbitrary<infer T> ? T : never;

function describeEdit(e: JsonEdit): string {
  const raw = e.raw.length > 80 ? `${e.raw.slice(0, 40)}...(${e.raw.length} chars)` : e.raw;
  return JSON.stringify({ ...e, raw });
}

function applyJsonEdit(b: Uint8Array, e: JsonEdit): Uint8Array {
  const n = headerLength(b);
  if (b.byteLength < 8 + n) return b;
  let obj: Record<string, Record<string, unknown>>;
  try {
    obj = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n)));
  } catch {
    return b;
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return b;
  const names = Object.keys(obj).filter((k) => k !== '__metadata__');
  const name = names.length ? names[e.tensor % names.length] : e.name;
  const entry = obj[name];
  const isEntry = entry && typeof entry === 'object' && !Array.isArray(entry);
  switch (e.kind) {
    case 'field':
      if (isEntry) entry[e.field] = SENTINEL;
      else obj[name] = { dtype: 'F32', shape: [], data_offsets: [0, 4], [e.field]: SENTINEL };
      break;
    case 'entry':
    case 'add':
      Object.defineProperty(obj, e.kind === 'add' ? e.name : name, {
        value: SENTINEL,
        enumerable: true,
        configurable: true,
        writable: true,
      });
      break;
    case 'rename':
      delete obj[name];
      Object.defineProperty(obj, e.name, {
        value: entry,
        enumerable: true,
        configurable: true,
        writable: true,
      });
      break;
    case 'delete':
      delete obj[name];
      break;
    case 'metadata':
      Object.defineProperty(obj, '__metadata__', {
        value: SENTINEL,
        enumerable: true,
        configurable: true,
        writable: true,
      });
      break;
    case 'offsets':
      // Shift data_offsets a little: near misses of the tiling rules (overlaps, holes, off the end).
      if (isEntry && Array.isArray(entry.data_offsets)) {
        const [b0, b1] = entry.data_offsets as number[];
        entry.data_offsets = [b0 + e.delta[0], b1 + e.delta[1]];
      }
      break;
    case 'repad':
      break;
    case 'reshape':
      // The same number of elements in another shape.
      if (isEntry && Array.isArray(entry.shape)) {
        const dims = entry.shape as number[];
        const numel = dims.reduce((a, d) => a * d, 1);
        entry.shape = [[numel], [...dims].reverse(), [1, ...dims], [...dims, 1]][e.shapeOrder];
      }
      break;
    case 'retype': {
      // Another dtype of the same width (F32 <-> I32, F16 <-> BF16, ...).
      const same = Object.keys(DTYPE_BYTES).filter(
        (d) => isEntry && DTYPE_BYTES[d as SafetensorsDtype] === DTYPE_BYTES[entry.dtype as SafetensorsDtype],
      );
      if (same.length) entry.dtype = same[e.tensor % same.length];
      break;
    }
  }
  let text: string;
  try {
    text = JSON.stringify(obj).replace(JSON.stringify(SENTINEL), e.raw);
  } catch {
    return b; // an earlier edit nested a value too deep to stringify again
  }
  const json = new TextEncoder().encode(text + ' '.repeat(e.pad));
  const out = new Uint8Array(8 + json.byteLength + (b.byteLength - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(b.subarray(8 + n), 8 + json.byteLength);
  return out;
}

type Damage = (b: Uint8Array) => Uint8Array;

/** A damage function that fast-check prints as `label` in a counterexample. */
function labeled(label: string, fn: Damage): Damage {
  return Object.assign(fn, { [fc.toStringMethod]: () => label });
}

const damage: fc.Arbitrary<Damage> = fc.oneof(
  // Bit flips in the data section only: the file stays valid and the values must follow the flips.
  fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 4 }).map((flips) =>
    labeled(`flipDataBits(${JSON.stringify(flips)})`, (b) => {
      const start = 8 + headerLength(b);
      const out = b.slice();
      if (start < out.length)
        for (const [p, bit] of flips) out[start + (p % (out.length - start))] ^= 1 << bit;
      return out;
    }),
  ),
  // Bit flips anywhere, mostly in the 8-byte length and the header.
  fc
    .array(fc.tuple(fc.oneof(fc.nat(7), fc.nat(200), fc.nat()), fc.nat(7)), { minLength: 1, maxLength: 4 })
    .map((flips) =>
      labeled(`flipBits(${JSON.stringify(flips)})`, (b) => {
        const out = b.slice();
        for (const [p, bit] of flips) if (out.length) out[p % out.length] ^= 1 << bit;
        return out;
      }),
    ),
  // Truncation at any length.
  fc.nat().map((k) => labeled(`truncate(${k} mod (length + 1))`, (b) => b.slice(0, k % (b.length + 1)))),
  // A new header length: close to the real one, or anything in 64 bits.
  fc
    .oneof(
      fc.integer({ min: -16, max: 16 }).map((d) => ({ d, abs: undefined as bigint | undefined })),
      fc
        .oneof(
          fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          fc.constantFrom(0n, 1n, 7n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 99_999_999n, 100_000_001n),
        )
        .map((abs) => ({ d: 0, abs: abs as bigint | undefined })),
    )
    .map(({ d, abs }) =>
      labeled(abs !== undefined ? `setHeaderLength(${abs}n)` : `headerLength += ${d}`, (b) =>
        setHeaderLength(b, abs ?? BigInt(headerLength(b) + d)),
      ),
    ),
  // Bytes inserted into the JSON header, with the length field updated or not.
  fc
    .tuple(
      fc.nat(),
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 6 }),
        fc
          .constantFrom(
            ',',
            '{',
            '}',
            '"',
            ':',
            '[',
            ']',
            '\\',
            'null',
            '1e999',
            '-',
            ' ',
            '"x":',
            '\u00e9',
            '\ud83e\udd16',
          )
          .map((s) => new TextEncoder().encode(s)),
        fc
          .constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf], [0])
          .map((a) => Uint8Array.from(a)),
      ),
      fc.boolean(),
    )
    .map(([at, bytes, fixLength]) =>
      labeled(`insertIntoHeader(at ${at}, [${bytes.join(', ')}], fixLength ${fixLength})`, (b) => {
        const n = headerLength(b);
        if (b.byteLength < 8 + n || n === 0) return b;
        const pos = 8 + (at % (n + 1));
        const out = new Uint8Array(b.byteLength + bytes.byteLength);
        out.set(b.subarray(0, pos));
        out.set(bytes, pos);
        out.set(b.subarray(pos), pos + bytes.byteLength);
        return fixLength ? setHeaderLength(out, BigInt(n + bytes.byteLength)) : out;
      }),
    ),
  // Bytes appended after the data.
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((extra) =>
    labeled(`append([${extra.join(', ')}])`, (b) => {
      const out = new Uint8Array(b.byteLength + extra.byteLength);
      out.set(b);
      out.set(extra, b.byteLength);
      return out;
    }),
  ),
  // Random JSON for a field, an entry, a name or the metadata (weighted: the richest source of edge cases).
  jsonEdit.map((e) => labeled(`jsonEdit(${describeEdit(e)})`, (b) => applyJsonEdit(b, e))),
  jsonEdit.map((e) => labeled(`jsonEdit(${describeEdit(e)})`, (b) => applyJsonEdit(b, e))),
  jsonEdit.map((e) => labeled(`jsonEdit(${describeEdit(e)})`, (b) => applyJsonEdit(b, e))),
);

// ---- checks ------------------------------------------------------------------------------------

function checkError(e: unknown, path: string, what: string): void {
  assert.ok(e instanceof Error, `${what} threw a non-Error: ${String(e)}`);
  assert.equal(e.constructor, Error, `${what} threw ${e.name}, not a plain Error: ${e.message}`);
  assert.ok(e.message.length > 0, `${what}: empty message`);
  assert.ok(
    e.message.startsWith(path),
    `${what}: message does not name the file: ${e.message.slice(0, 200)}`,
  );
}

/** A header the reader accepted must describe tensors that tile the data section of this very file. */
function checkHeader(h: SafetensorsHeader, file: Uint8Array): void {
  assert.equal(h.headerBytes, headerLength(file));
  assert.equal(h.dataStart, 8 + h.headerBytes);
  assert.equal(h.dataStart + h.dataBytes, file.byteLength);
  assert.ok(h.dataBytes >= 0);
  assert.equal(h.byName.size, h.tensors.length);
  for (const v of Object.values(h.metadata)) assert.equal(typeof v, 'string');
  let covered = 0;
  for (const t of h.tensors) {
    assert.ok(Object.hasOwn(DTYPE_BYTES, t.dtype), `dtype ${t.dtype}`);
    assert.ok(
      t.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
      `shape ${t.shape}`,
    );
    assert.equal(
      t.numel,
      t.shape.reduce((a, b) => a * b, 1),
    );
    const [begin, end] = t.dataOffsets;
    assert.ok(Number.isSafeInteger(begin) && Number.isSafeInteger(end));
    assert.ok(
      0 <= begin && begin <= end && end <= h.dataBytes,
      `'${t.name}' bytes ${begin}..${end} of ${h.dataBytes}`,
    );
    assert.equal(t.byteLength, end - begin);
    assert.equal(t.byteLength, t.numel * DTYPE_BYTES[t.dtype]);
    assert.equal(begin, covered, `'${t.name}' does not start where the previous tensor ends`);
    covered = end;
    assert.equal(h.byName.get(t.name), t);
  }
  assert.equal(covered, h.dataBytes);
}

/** The value of element i of tensor data starting at file offset `at`, decoded independently of the reader. */
function expected(file: Uint8Array, dtype: SafetensorsDtype, at: number, i: number): number {
  const view = new DataView(file.buffer, file.byteOffset);
  if (dtype === 'F32') return view.getFloat32(at + 4 * i, true);
  const bits = view.getUint16(at + 2 * i, true);
  return dtype === 'F16' ? f16BitsToFloat(bits) : bf16BitsToFloat(bits);
}

function sameFloat(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

let run = 0;
const counts = { header: 0, all: 0, selected: 0, runs: 0 };

async function checkFile(file: Uint8Array, chunkBytes: number, concurrency: number): Promise<void> {
  const path = join(dir, `damaged-${run++ % 4}.safetensors`);
  await writeFile(path, file);
  counts.runs++;

  let header: SafetensorsHeader | undefined;
  try {
    header = await readSafetensorsHeader(path);
  } catch (e) {
    checkError(e, path, 'readSafetensorsHeader');
  }
  if (header) {
    counts.header++;
    checkHeader(header, file);
    // The in-memory parser agrees on the same bytes.
    checkHeader(parseSafetensorsHeader(path, file.subarray(8, header.dataStart), file.byteLength), file);
  }

  try {
    const all = await readSafetensors(path);
    counts.all++;
    assert.ok(header, 'readSafetensors accepted a file whose header readSafetensorsHeader refused');
    assert.deepEqual([...all.keys()].sort(), header.tensors.map((t) => t.name).sort());
    for (const t of header.tensors) {
      assert.ok(LOADABLE_DTYPES.includes(t.dtype));
      const got = all.get(t.name)!;
      assert.deepEqual(got.shape, t.shape);
      assert.equal(got.data.length, t.numel);
      for (let i = 0; i < t.numel; i++) {
        const want = expected(file, t.dtype, header.dataStart + t.dataOffsets[0], i);
        assert.ok(sameFloat(got.data[i], want), `'${t.name}'[${i}] is ${got.data[i]}, the file says ${want}`);
      }
    }
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    checkError(e, path, 'readSafetensors');
  }

  // Only the loadable tensors, in small chunks with several reads in flight.
  try {
    const seen: string[] = [];
    const res = await loadSafetensors(
      path,
      (name, info) => {
        seen.push(name);
        return LOADABLE_DTYPES.includes(info.dtype) ? new Float32Array(info.numel) : null;
      },
      { chunkBytes, concurrency },
    );
    counts.selected++;
    assert.ok(header);
    checkHeader(res.header, file);
    assert.deepEqual(
      seen,
      header.tensors.map((t) => t.name),
    );
    assert.deepEqual([...res.loaded, ...res.skipped].sort(), [...seen].sort());
    assert.equal(
      res.bytesRead,
      header.tensors.filter((t) => res.loaded.includes(t.name)).reduce((a, t) => a + t.byteLength, 0),
    );
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    checkError(e, path, 'loadSafetensors');
  }
}

test('damaged safetensors files: a plain Error naming the file, or tensors that lie inside the data', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.nat(seeds.length - 1),
      fc.array(damage, { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 3 }),
      async (seed, damages, chunkBytes, concurrency) => {
        let file = seeds[seed];
        for (const d of damages) file = d(file);
        await checkFile(file, chunkBytes, concurrency);
      },
    ),
    params(300),
  );
  t.diagnostic(`files read: ${JSON.stringify(counts)}`);
  // Some damage must leave a readable file, or the success checks never ran.
  assert.ok(
    counts.header >= 10 && counts.selected >= 10,
    `too few readable files: ${JSON.stringify(counts)}`,
  );
});

/** Header bytes from JSON text, shown in a counterexample as the text (cut short), not as bytes. */
function headerText(text: string): Uint8Array {
  const shown =
    text.length > 120 ? `${text.slice(0, 60)}...(${text.length} chars)...${text.slice(-40)}` : text;
  return Object.assign(new TextEncoder().encode(text), { [fc.toStringMethod]: () => `utf8(${shown})` });
}

test('parseSafetensorsHeader on arbitrary bytes and JSON: a plain Error naming the path, or a sound header', () => {
  const path = 'mem.safetensors';
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 40 }),
        fc.jsonValue({ maxDepth: 3 }).map((v) => headerText(JSON.stringify(v))),
        // An object of raw JSON texts (deep nesting included), assembled as text.
        fc
          .array(fc.tuple(fc.string({ maxLength: 4 }), rawJson), { maxLength: 3 })
          .map((kv) => headerText(`{${kv.map(([k, raw]) => `${JSON.stringify(k)}:${raw}`).join(',')}}`)),
        // One tensor entry whose fields are raw JSON texts.
        fc
          .tuple(rawJson, rawJson, rawJson)
          .map(([d, sh, off]) => headerText(`{"t":{"dtype":${d},"shape":${sh},"data_offsets":${off}}}`)),
      ),
      fc.integer({ min: 0, max: 400 }),
      (json, extra) => {
        const size = 8 + json.byteLength + extra;
        let h: SafetensorsHeader;
        try {
          h = parseSafetensorsHeader(path, json, size);
        } catch (e) {
          checkError(e, path, 'parseSafetensorsHeader');
          return;
        }
        const file = new Uint8Array(size);
        new DataView(file.buffer).setBigUint64(0, BigInt(json.byteLength), true);
        checkHeader(h, file);
      },
    ),
    params(300),
  );
});
