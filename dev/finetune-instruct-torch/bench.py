#!/usr/bin/env python3
"""PyTorch reference for gptkit's instruction fine-tuning benchmark: seconds per training step of the
book's chapter 7 (all weights, AdamW lr 5e-5, weight decay 0.1) and of the chapter-7 DPO notebook
(policy + frozen reference, AdamW lr 5e-6, weight decay 0.01, beta 0.1) on a GPT-2 medium (355M)
shaped model, with the book's own code (rasbt/LLMs-from-scratch, package `llms_from_scratch`; the DPO
functions are the notebook's, as copied in dev/fixtures/make_fixtures.py).

  /usr/bin/python3 bench.py --book /path/to/LLMs-from-scratch [--steps 3] [--threads 2] [--json]

Model: GPT-2 medium (emb 1024, 24 layers, 16 heads, context 1024), qkv_bias=True, drop_rate 0, random
weights (torch.manual_seed(123): the step time does not depend on the values).
Instruction batch: the first 8 entries of data/instruction-data.json, formatted and collated by the book's
InstructionDataset / custom_collate_fn (allowed_max_length 1024).
DPO batch: the first 8 entries of data/instruction-data-with-preference.json, the notebook's
PreferenceDataset / collate (allowed_max_length 1024, prompt masked).
Timing: 1 warm-up step, then the median over --steps steps of zero_grad + forward + loss + backward +
optimizer.step (for DPO, the reference model's no-grad forward is part of the step, as in the notebook).
Environment: as dev/finetune-classifier-torch/bench.py (set by the caller).
"""

import argparse
import copy
import importlib.util
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
import book_code  # noqa: E402  (dev/book_code.py)


def load_make_fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(ROOT, "dev", "fixtures", "make_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GPT_CONFIG_355M = {
    "vocab_size": 50257,
    "context_length": 1024,
    "emb_dim": 1024,
    "n_heads": 16,
    "n_layers": 24,
    "drop_rate": 0.0,
    "qkv_bias": True,
}


def median_step(step, warmup, steps):
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--book", default=os.environ.get("LLMS_FROM_SCRATCH"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["sft", "dpo"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    try:
        import torch
    except ImportError:
        sys.exit("error: PyTorch is not installed (apt-get install python3-torch libopenblas0-pthread)")
    torch.set_num_threads(args.threads)
    book = book_code.import_book(book_code.locate_book(args.book)[0], ["ch04", "ch05", "ch07"])
    tok = book_code.gpt2_encoder(book.bpe)
    res = {"torch": torch.__version__, "threads": torch.get_num_threads()}

    torch.manual_seed(123)
    model = book.ch04.GPTModel(GPT_CONFIG_355M)
    model.train()

    if args.only in (None, "sft"):
        with open(os.path.join(ROOT, "data", "instruction-data.json"), encoding="utf-8") as f:
            entries = json.load(f)[:8]
        ds = book.ch07.InstructionDataset(entries, tok)
        x, y = book.ch07.custom_collate_fn([ds[i] for i in range(len(ds))], allowed_max_length=1024)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.1)

        def sft_step():
            opt.zero_grad()
            loss = book.ch05.calc_loss_batch(x, y, model, "cpu")
            loss.backward()
            opt.step()

        res["sft_s_per_step"], res["sft_times"] = median_step(sft_step, args.warmup, args.steps)
        res["sft_batch"] = list(x.shape)
        del opt

    if args.only in (None, "dpo"):
        dpo = load_make_fixtures()._dpo_functions(book.ch07.format_input)
        with open(os.path.join(ROOT, "data", "instruction-data-with-preference.json"), encoding="utf-8") as f:
            pairs = json.load(f)[:8]
        ds = dpo.PreferenceDataset(pairs, tok)
        batch = dpo.custom_collate_fn([ds[i] for i in range(len(ds))], allowed_max_length=1024)
        reference = copy.deepcopy(model)
        reference.eval()
        for p in reference.parameters():
            p.requires_grad = False
        opt = torch.optim.AdamW(model.parameters(), lr=5e-6, weight_decay=0.01)

        def dpo_step():
            opt.zero_grad()
            loss, _, _ = dpo.compute_dpo_loss_batch(batch=batch, policy_model=model, reference_model=reference, beta=0.1)
            loss.backward()
            opt.step()

        res["dpo_s_per_step"], res["dpo_times"] = median_step(dpo_step, args.warmup, args.steps)
        res["dpo_batch"] = list(batch["chosen"].shape)

    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
