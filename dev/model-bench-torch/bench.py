#!/usr/bin/env python3
"""PyTorch reference for gptkit's model benchmarks (bench/model.ts, bench/train.ts): the book's own code
(rasbt/LLMs-from-scratch) on the GPT-2 small (124M) architecture with random weights, one JSON line out.

  /usr/bin/python3 bench.py --book PATH MODE [--reps N] [--threads 2]

MODE:
  forward   no-grad forward of 1 x 1024 tokens (pkg llms_from_scratch ch04.GPTModel, qkv bias, dropout 0):
            seconds, median of --reps after one warm-up
  generate  greedy tokens/s, 4-token prompt + 200 new, with the book's optimized KV cache
            (ch04/03_kv-cache/gpt_with_kv_cache_optimized.py, generate_text_simple_cached), median of --reps;
            and without the cache, 50 new tokens, once
  train     the book's chapter-5 step (context 256, batch 2, dropout 0.1, no qkv bias, untied head, AdamW
            lr 4e-4 wd 0.1, ch05.calc_loss_batch): seconds per step, median of --reps after 2 warm-up steps,
            on consecutive 256-token windows of data/the-verdict.txt (the book's GPT-2 encoder)

The caller sets the environment before this process starts (bench/reference.ts does): OPENBLAS_CORETYPE,
OMP_WAIT_POLICY=PASSIVE, GLIBC_TUNABLES; see ../../../shared/reference/README.md. Not part of gptkit.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
import book_code  # noqa: E402  (dev/book_code.py)

KV_FILE = "ch04/03_kv-cache/gpt_with_kv_cache_optimized.py"


def config(**kw):
    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12, "n_layers": 12,
           "drop_rate": 0.0, "qkv_bias": True}
    cfg.update(kw)
    return cfg


def blas_core():
    """OpenBLAS's config and core as loaded into this process (torch's Debian build links libblas.so.3)."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "blas" in ln.lower() and ln.split()[-1].startswith("/")})
    except OSError:
        return None
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return f"{lib.openblas_get_config().decode()} (core {lib.openblas_get_corename().decode()})"
        except (OSError, AttributeError):
            continue
    return ", ".join(libs) or None


def bench_forward(torch, book, reps):
    torch.manual_seed(123)
    model = book.ch04.GPTModel(config()).eval()
    ids = torch.tensor([[(i * 7919) % 50257 for i in range(1024)]])
    times = []
    with torch.no_grad():
        for r in range(reps + 1):
            t0 = time.perf_counter()
            model(ids)
            if r:
                times.append(time.perf_counter() - t0)
    return {"forward_s": statistics.median(times), "times": times}


def bench_generate(torch, kv, reps):
    torch.manual_seed(123)
    model = kv.GPTModel(config()).eval()
    prompt = torch.tensor([[6109, 3626, 6100, 345]])  # "Every effort moves you"
    kv.generate_text_simple_cached(model, prompt, 5)  # warm-up
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = kv.generate_text_simple_cached(model, prompt, 200)
        rates.append((out.shape[1] - 4) / (time.perf_counter() - t0))
    t0 = time.perf_counter()
    out = kv.generate_text_simple_cached(model, prompt, 50, use_cache=False)
    no_cache = (out.shape[1] - 4) / (time.perf_counter() - t0)
    return {"tokens_per_s": statistics.median(rates), "rates": rates, "no_cache_tokens_per_s": no_cache}


def bench_train(torch, book, reps):
    with open(os.path.join(ROOT, "data", "the-verdict.txt"), encoding="utf-8") as f:
        ids = book_code.gpt2_encoder(book.bpe).encode(f.read())
    torch.manual_seed(123)
    model = book.ch04.GPTModel(config(context_length=256, drop_rate=0.1, qkv_bias=False)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    T, B = 256, 2
    windows = [(ids[i:i + T], ids[i + 1:i + T + 1]) for i in range(0, len(ids) - T, T)]
    times, losses = [], []
    for s in range(reps + 2):
        batch = [windows[(s * B + b) % len(windows)] for b in range(B)]
        x = torch.tensor([w[0] for w in batch])
        y = torch.tensor([w[1] for w in batch])
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = book.ch05.calc_loss_batch(x, y, model, "cpu")
        loss.backward()
        optimizer.step()
        if s >= 2:
            times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    step = statistics.median(times)
    return {"step_s": step, "tokens_per_s": B * T / step, "times": times, "losses": losses}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["forward", "generate", "train"])
    ap.add_argument("--book", default=os.environ.get("LLMS_FROM_SCRATCH"),
                    help="checkout or bare git dir of rasbt/LLMs-from-scratch (default $LLMS_FROM_SCRATCH)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))  # read when torch loads OpenBLAS
    try:
        import torch
    except ImportError:
        sys.exit("error: PyTorch is not installed (Debian: apt-get install python3-torch libopenblas0-pthread)")
    torch.set_num_threads(args.threads)
    book_dir, commit = book_code.locate_book(args.book, [KV_FILE])
    book = book_code.import_book(book_dir, ["ch04", "ch05"])
    if args.mode == "forward":
        res = bench_forward(torch, book, args.reps)
    elif args.mode == "generate":
        import importlib.util
        spec = importlib.util.spec_from_file_location("gpt_with_kv_cache_optimized",
                                                      os.path.join(book_dir, KV_FILE))
        kv = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(kv)
        res = bench_generate(torch, kv, args.reps)
    else:
        res = bench_train(torch, book, args.reps)
    res.update({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_core(),
                "book_commit": commit})
    print(json.dumps(res))


if __name__ == "__main__":
    main()
