// Using a trained classifier: load it (a model directory, or LoRA adapters on their base model) with its
// class names and the token it reads, and classify texts as it was trained to (same padding length).
import type { WeightDtype } from '../backend/backend.js';
import { ClassificationDataset } from '../data/classification.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { resolveModel } from '../models/gpt/source.js';
import * as ops from '../ops/index.js';
import { noGrad } from '../tensor/autograd.js';
import { fromTypedArray, tidy } from '../tensor/tensor.js';
import { loadGpt2Tokenizer, type Gpt2Tokenizer } from '../tokenizer/gpt2.js';
import { selectToken, TOKEN_CHOICES, type ClassifyToken } from './classifier.js';

export interface Classifier {
  model: GPTModel;
  labels: string[];
  token: ClassifyToken;
  /** Padding length used in training (texts are padded or truncated to it), when recorded. */
  maxLength?: number;
  tokenizer: Gpt2Tokenizer;
}

export interface Classification {
  label: string;
  probabilities: Record<string, number>;
}

/** Load a classifier saved by finetuneClassifier (a directory, or an adapter directory). */
export async function loadClassifier(
  spec: string,
  o: { dtype?: WeightDtype; map?: boolean } = {},
): Promise<Classifier> {
  const src = await resolveModel(spec, { names: 'pretrained' });
  if (src.config.numClasses === undefined)
    throw new Error(
      `--model ${spec} is a language model, not a classifier; train one with \`gptkit finetune-classifier\`, or use \`gptkit generate\``,
    );
  if (src.kind === 'fresh') throw new Error(`--model ${spec}: a classifier needs trained weights`);
  const token = (src.gptkit.classify_token ?? 'last') as ClassifyToken;
  if (!TOKEN_CHOICES.includes(token)) throw new Error(`${spec}: unknown classify token '${String(token)}'`);
  const maxLength = typeof src.gptkit.max_length === 'number' ? src.gptkit.max_length : undefined;
  const model = (await src.build({ dtype: o.dtype, map: o.map })).eval();
  const labels = src.labels ?? Array.from({ length: src.config.numClasses }, (_, i) => String(i));
  return { model, labels, token, maxLength, tokenizer: loadGpt2Tokenizer() };
}

/** The book's classify_review for a list of texts: padded as in training, softmax over the class logits. */
export function classifyTexts(c: Classifier, texts: readonly string[], batchSize = 8): Classification[] {
  if (texts.length === 0) return [];
  const maxLength = c.maxLength ?? Math.min(c.model.cfg.contextLength, 1024);
  const data = ClassificationDataset.fromTexts(texts, new Array<number>(texts.length).fill(0), c.tokenizer, {
    contextLength: c.model.cfg.contextLength,
    maxLength: c.maxLength === undefined ? undefined : maxLength,
  });
  const out: Classification[] = [];
  const T = data.maxLength;
  for (let start = 0; start < data.length; start += batchSize) {
    const B = Math.min(batchSize, data.length - start);
    const probs = tidy(() =>
      noGrad(() => {
        const ids = fromTypedArray(data.ids.slice(start * T, (start + B) * T), [B, T]);
        const logits = selectToken(c.model.forward(ids), c.token, data.lengths.subarray(start, start + B));
        return ops.softmax(logits, -1).toArray();
      }),
    );
    const K = c.labels.length;
    for (let b = 0; b < B; b++) {
      const p = probs.slice(b * K, (b + 1) * K);
      const best = p.indexOf(Math.max(...p));
      out.push({
        label: c.labels[best],
        probabilities: Object.fromEntries(c.labels.map((l, k) => [l, p[k]])),
      });
    }
  }
  return out;
}
