// Property-based tests (fast-check) for parseModelConfig: on any JSON value, and on objects made of random
// subsets of the accepted, ignored, fixed, gptkit_* and unknown keys with random values, it either returns a
// config that validateConfig accepts or throws a plain Error whose message starts with `where`; never a
// TypeError or anything else. Runs are seeded (FC_SEED / FC_NUM_RUNS override), so failures reproduce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseModelConfig, validateConfig, type ModelConfigFile } from './config.js';

const params = (numRuns: number): fc.Parameters<unknown> => ({
  seed: Number(process.env.FC_SEED ?? 42),
  numRuns: Number(process.env.FC_NUM_RUNS ?? numRuns),
  includeErrorInReport: true,
});

const WHERE = 'models/x/config.json';

/**
 * The value as a config file yields it (readJson is JSON.parse). fast-check's jsonValue may build objects
 * with a null prototype, which JSON.parse never returns (and on which String()/Number() throw TypeError).
 */
const asParsed = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** Either a valid config or a plain Error starting with `where`; anything else fails the property. */
function check(obj: unknown, where: string): ModelConfigFile | undefined {
  let out: ModelConfigFile;
  try {
    out = parseModelConfig(obj, where);
  } catch (e) {
    assert.ok(e instanceof Error, `threw a non-Error: ${String(e)}`);
    assert.equal(e.constructor, Error, `threw ${e.name}, not a plain Error: ${e.message}`);
    assert.ok(e.message.startsWith(`${where}: `), `message does not start with where: ${e.message}`);
    assert.ok(e.message.length > where.length + 2, 'empty message after where');
    return undefined;
  }
  const { config, labels, gptkit } = out;
  assert.doesNotThrow(() => validateConfig({ ...config }));
  if (labels !== undefined) {
    assert.equal(labels.length, config.numClasses, 'labels and numClasses disagree');
    for (let i = 0; i < labels.length; i++)
      assert.equal(typeof labels[i], 'string', `label ${i} is ${String(labels[i])}, not a name`);
  }
  assert.ok(gptkit !== null && typeof gptkit === 'object');
  // Every gptkit_* key of the input comes back as an own key (without the prefix) holding the same value.
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) {
      if (!k.startsWith('gptkit_') || k === 'gptkit_qkv_bias' || k === 'gptkit_tied_head') continue;
      const name = k.slice('gptkit_'.length);
      assert.ok(Object.hasOwn(gptkit, name), `gptkit lost '${name}'`);
      assert.equal(gptkit[name], v);
    }
  }
  return out;
}

test('parseModelConfig on any JSON value: a valid config or an Error naming where', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 12 }), (v, where) => {
      check(asParsed(v), WHERE);
      check(asParsed(v), where);
    }),
    params(300),
  );
});

// ---- structured objects ------------------------------------------------------------------------

const SIZE_KEYS = [
  'vocabSize',
  'vocab_size',
  'contextLength',
  'context_length',
  'n_positions',
  'n_ctx',
  'embDim',
  'emb_dim',
  'n_embd',
  'nHeads',
  'n_heads',
  'n_head',
  'nLayers',
  'n_layers',
  'n_layer',
];
const OTHER_FIELD_KEYS = [
  'dropRate',
  'drop_rate',
  'resid_pdrop',
  'embd_pdrop',
  'attn_pdrop',
  'qkvBias',
  'qkv_bias',
  'gptkit_qkv_bias',
  'tiedHead',
  'tied_head',
  'tie_word_embeddings',
  'gptkit_tied_head',
  'numClasses',
  'num_classes',
  'num_labels',
];
const HF_KEYS = [
  'model_type',
  'architectures',
  'id2label',
  'label2id',
  'use_cache',
  'bos_token_id',
  'torch_dtype',
  'activation_function',
  'layer_norm_epsilon',
  'n_inner',
  'scale_attn_weights',
  'scale_attn_by_inverse_layer_idx',
];
// Keys that name Object.prototype members, where `key in obj` and obj[key] see inherited properties.
const PROTO_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'gptkit___proto__',
  'gptkit_constructor',
];
const OTHER_KEYS = ['gptkit_classify_token', 'gptkit_max_length', 'gptkit_', 'unknown_key', 'n_embd '];

const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SIZE_KEYS) },
  { weight: 3, arbitrary: fc.constantFrom(...OTHER_FIELD_KEYS) },
  { weight: 3, arbitrary: fc.constantFrom(...HF_KEYS) },
  { weight: 1, arbitrary: fc.constantFrom(...PROTO_KEYS) },
  { weight: 1, arbitrary: fc.constantFrom(...OTHER_KEYS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

/** id2label-shaped values, with index keys spelled in every way Number() accepts. */
const id2label = fc.dictionary(
  fc.oneof(fc.constantFrom('0', '1', '2', '3', '00', '01', '1.0', ' 1', '', '-0', '0x1', '1e0'), fc.string()),
  fc.oneof({ weight: 5, arbitrary: fc.string({ maxLength: 4 }) }, fc.jsonValue({ maxDepth: 1 })),
  { maxKeys: 4 },
);

const value = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 64 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -1, 1.5, 0.1, 0, 0.5, 1, 1e-5, 1e-6, 2 ** 53, 1e308, -0) },
  { weight: 2, arbitrary: fc.boolean() },
  {
    weight: 1,
    arbitrary: fc.constantFrom('gelu_new', 'gelu', 'gpt2', null, ['GPT2ForSequenceClassification']),
  },
  { weight: 1, arbitrary: id2label },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** An object of random entries; Object.fromEntries makes '__proto__' an own key, as JSON.parse does. */
const configObject = fc
  .array(fc.tuple(key, value), { maxLength: 14 })
  .map((entries) => Object.fromEntries(entries) as Record<string, unknown>);

test('parseModelConfig on objects of random known/unknown keys: a valid config or an Error naming where', () => {
  fc.assert(
    fc.property(configObject, (obj) => {
      // JSON.parse, like Object.fromEntries, makes '__proto__' an own key.
      check(asParsed(obj), WHERE);
    }),
    params(300),
  );
});

/** A valid base in one of the three spellings, then a few random edits. */
const spelled = fc.constantFrom(
  { vocabSize: 50, contextLength: 16, embDim: 8, nHeads: 2, nLayers: 1 },
  { vocab_size: 50, context_length: 16, emb_dim: 8, n_heads: 2, n_layers: 1, drop_rate: 0, qkv_bias: true },
  {
    model_type: 'gpt2',
    vocab_size: 50,
    n_positions: 16,
    n_ctx: 16,
    n_embd: 8,
    n_head: 2,
    n_layer: 1,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
  },
  {
    architectures: ['GPT2ForSequenceClassification'],
    model_type: 'gpt2',
    vocab_size: 50,
    n_positions: 16,
    n_embd: 8,
    n_head: 2,
    n_layer: 1,
    id2label: { '0': 'neg', '1': 'pos' },
  },
);

test('parseModelConfig on valid configs with random edits: a valid config or an Error naming where', () => {
  let accepted = 0;
  fc.assert(
    fc.property(
      spelled,
      fc.array(fc.tuple(key, value), { maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 2 }),
      (base, edits, removals) => {
        const obj: Record<string, unknown> = { ...base };
        const keys = Object.keys(obj);
        for (const r of removals) delete obj[keys[r % keys.length]];
        for (const [k, v] of edits)
          Object.defineProperty(obj, k, { value: asParsed(v), enumerable: true, writable: true });
        if (check(obj, WHERE)) accepted++;
      },
    ),
    params(300),
  );
  // The edits must leave some configs valid, or the success branch was never exercised.
  assert.ok(accepted > 20, `only ${accepted} edited configs were accepted`);
});

test('parseModelConfig with a random id2label: labels, when returned, name every class', () => {
  const base = {
    architectures: ['GPT2ForSequenceClassification'],
    model_type: 'gpt2',
    vocab_size: 50,
    n_positions: 16,
    n_embd: 8,
    n_head: 2,
    n_layer: 1,
  };
  fc.assert(
    fc.property(id2label, fc.option(fc.integer({ min: 0, max: 5 })), (labels, numLabels) => {
      check(
        asParsed({ ...base, id2label: labels, ...(numLabels !== null ? { num_labels: numLabels } : {}) }),
        WHERE,
      );
    }),
    params(300),
  );
});
