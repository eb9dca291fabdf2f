// Model configuration files in the book's, gptkit's and Hugging Face's keys; the standard keys written on
// save (an untied head says so, so transformers does not tie it); one resolver for every --model form.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from '../../data/paths.js';
import { configToHF, GPT2_PRESETS, parameterCount, parseModelConfig } from './config.js';
import { GPTModel } from './gpt.js';
import { gpt2Layout, loadGPT2, saveGPT2 } from './gpt2-weights.js';
import { resolveModel } from './source.js';
import { generate } from './generate.js';

const fixtureModel = join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny', 'model');
const tiny = {
  vocabSize: 300,
  contextLength: 16,
  embDim: 16,
  nHeads: 2,
  nLayers: 2,
  dropRate: 0,
  qkvBias: false,
  tiedHead: false,
};

describe('parseModelConfig', () => {
  it("reads the book's GPT_CONFIG_124M keys", () => {
    const book = {
      vocab_size: 50257,
      context_length: 1024,
      emb_dim: 768,
      n_heads: 12,
      n_layers: 12,
      drop_rate: 0.1,
      qkv_bias: false,
    };
    assert.deepEqual(parseModelConfig(book, 'cfg.json').config, GPT2_PRESETS['gpt2-small']);
  });

  it("reads gptkit's keys and Hugging Face's config.json (qkv bias and a tied head by default)", () => {
    assert.deepEqual(parseModelConfig({ ...tiny }, 'x').config, tiny);
    const hf = JSON.parse(readFileSync(join(fixtureModel, 'config.json'), 'utf8')) as Record<string, unknown>;
    const c = parseModelConfig(hf, 'config.json').config;
    assert.equal(c.qkvBias, true);
    assert.equal(c.tiedHead, true);
    assert.equal(c.nLayers, 2);
  });

  it('refuses unknown keys, missing sizes, disagreeing spellings and unsupported Hugging Face settings', () => {
    assert.throws(
      () => parseModelConfig({ ...tiny, nLayer: 2 }, 'cfg.json'),
      /cfg\.json: unknown key 'nLayer'; accepted keys: .*nLayers\|n_layers\|n_layer/,
    );
    const { nLayers: _drop, ...noLayers } = tiny;
    assert.throws(
      () => parseModelConfig(noLayers, 'cfg.json'),
      /missing nLayers or n_layers or n_layer .*preset by name/,
    );
    assert.throws(
      () => parseModelConfig({ ...tiny, n_layer: 3 }, 'c'),
      /'nLayers' \(2\) and 'n_layer' \(3\) disagree/,
    );
    assert.throws(
      () =>
        parseModelConfig(
          {
            model_type: 'gpt2',
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            n_positions: 8,
            vocab_size: 9,
            activation_function: 'relu',
          },
          'c',
        ),
      /activation_function/,
    );
    assert.throws(() => parseModelConfig([1, 2], 'c'), /must be a JSON object/);
    assert.throws(() => parseModelConfig({ ...tiny, embDim: 15 }, 'c'), /not divisible/);
  });

  it('writes tie_word_embeddings, and a classifier as GPT2ForSequenceClassification with id2label', () => {
    const hf = configToHF(tiny);
    assert.equal(hf.tie_word_embeddings, false);
    const back = parseModelConfig(hf, 'x').config;
    assert.deepEqual(back, tiny);
    const cls = configToHF({ ...tiny, numClasses: 2 }, { labels: ['not spam', 'spam'] });
    assert.deepEqual(cls.architectures, ['GPT2ForSequenceClassification']);
    const parsed = parseModelConfig(cls, 'x');
    assert.equal(parsed.config.numClasses, 2);
    assert.deepEqual(parsed.labels, ['not spam', 'spam']);
  });
});

describe('memory a configuration needs', () => {
  it('parameterCount equals the built model, and a huge configuration is refused before allocating', () => {
    for (const c of [tiny, { ...tiny, tiedHead: true, qkvBias: true }, { ...tiny, numClasses: 3 }])
      assert.equal(parameterCount(c), new GPTModel(c).numParameters());
    assert.equal(
      parameterCount({ ...GPT2_PRESETS['gpt2-xl'], tiedHead: true, qkvBias: true }),
      1_557_611_200,
    );
    assert.throws(
      () => new GPTModel({ ...tiny, contextLength: 1e9, embDim: 768, nHeads: 12 }),
      /needs 2861\.1 GiB for its parameters alone, more than this machine's .* of memory \(.*contextLength 1000000000/,
    );
  });
});

describe('saving and loading through the one layout', () => {
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'gptkit-config-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('an untied model round-trips with its own head; a tied one with wte as its head', async () => {
    for (const tiedHead of [false, true]) {
      const model = new GPTModel({ ...tiny, tiedHead, qkvBias: !tiedHead });
      const dir = join(tmp, `m-${tiedHead}`);
      await saveGPT2(model, dir);
      const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(cfg.tie_word_embeddings, tiedHead);
      assert.equal('gptkit_tied_head' in cfg, false);
      const back = await loadGPT2(dir);
      assert.equal(back.cfg.tiedHead, tiedHead);
      assert.deepEqual(back.out_head.weight.toArray(), model.out_head.weight.toArray());
      assert.deepEqual(
        back.trf_blocks[1].att.W_key.weight.toArray(),
        model.trf_blocks[1].att.W_key.weight.toArray(),
      );
      assert.equal(gpt2Layout(back).has('lm_head.weight'), !tiedHead);
    }
  });

  it('refuses weights with a NaN, naming the tensor; generation refuses a non-finite logit', async () => {
    const model = new GPTModel(tiny);
    model.final_norm.scale.data[3] = NaN;
    const dir = join(tmp, 'nan');
    await saveGPT2(model, dir);
    await assert.rejects(loadGPT2(dir), /tensor 'ln_f\.weight' holds a non-finite value \(NaN\)/);
    assert.throws(
      () => generate(model.eval(), [1, 2, 3], { maxNewTokens: 2 }),
      /non-finite logit .* at new token 1/,
    );
  });

  it('a classifier saves its head as score.weight / score.bias and loads back', async () => {
    const model = new GPTModel(tiny).useClassifierHead(3);
    const dir = join(tmp, 'cls');
    await saveGPT2(model, dir, { labels: ['a', 'b', 'c'] });
    const back = await loadGPT2(dir);
    assert.equal(back.cfg.numClasses, 3);
    assert.deepEqual(back.out_head.bias!.toArray(), model.out_head.bias!.toArray());
  });

  it('resolveModel: presets, config files, DIR/config.json, run directories, released names, clear errors', async () => {
    assert.equal(
      (await resolveModel('gpt2-small', { names: 'fresh', presetContextLength: 256 })).config.contextLength,
      256,
    );
    assert.equal((await resolveModel('gpt2', { names: 'fresh' })).kind, 'fresh');
    const cfgFile = join(tmp, 'book.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        vocab_size: 300,
        context_length: 16,
        emb_dim: 16,
        n_heads: 2,
        n_layers: 1,
        drop_rate: 0,
        qkv_bias: false,
      }),
    );
    const fromFile = await resolveModel(cfgFile);
    assert.equal(fromFile.kind, 'fresh');
    assert.equal(fromFile.config.nLayers, 1);
    const viaConfig = await resolveModel(join(fixtureModel, 'config.json'));
    assert.equal(viaConfig.kind, 'pretrained');
    const run = join(tmp, 'run');
    mkdirSync(run);
    await saveGPT2(new GPTModel(tiny), join(run, 'model'));
    const fromRun = await resolveModel(run, { names: 'fresh' });
    assert.equal(fromRun.kind, 'pretrained');
    assert.equal(fromRun.dir, join(run, 'model'));
    await assert.rejects(resolveModel('gpt5'), /not a preset .* a released model/);
    await assert.rejects(resolveModel('./nope/x'), /no such file or directory/);
    await assert.rejects(resolveModel(tmp), /no model \(config\.json \+ model\.safetensors\)/);
  });
});
