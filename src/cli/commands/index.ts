// Registry of subcommands: each module exports `register(program)`.
import type { Command } from 'commander';
import { register as selfCheck } from './self-check.js';
import { register as generate } from './generate.js';
import { register as pretrain } from './pretrain.js';
import { register as finetuneClassifier } from './finetune-classifier.js';
import { register as classify } from './classify.js';
import { register as finetuneInstruct } from './finetune-instruct.js';
import { register as respond } from './respond.js';
import { register as dpo } from './dpo.js';
import { register as download } from './download.js';
import { register as tokenize } from './tokenize.js';
import { register as trainTokenizer } from './train-tokenizer.js';
import { register as serve } from './serve.js';
import { register as judge } from './judge.js';
import { register as makePreferences } from './make-preferences.js';

export function registerCommands(program: Command): void {
  pretrain(program);
  finetuneClassifier(program);
  classify(program);
  finetuneInstruct(program);
  respond(program);
  dpo(program);
  tokenize(program);
  trainTokenizer(program);
  download(program);
  judge(program);
  makePreferences(program);
  generate(program);
  serve(program);
  selfCheck(program);
}
