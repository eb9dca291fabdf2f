#!/usr/bin/env python3
"""PyTorch reference for gptkit's classifier fine-tuning benchmark: seconds per training step of the
book's chapter 6 (last block + final norm + 2-class head) and appendix E (LoRA rank 16, alpha 16)
on a GPT-2 small (124M) shaped model, with the book's own code (rasbt/LLMs-from-scratch, package
`llms_from_scratch`).

  /usr/bin/python3 bench.py --book /path/to/LLMs-from-scratch [--steps 5] [--threads 2] [--json]

Model: GPT_CONFIG_124M with qkv_bias=True, drop_rate 0, context_length 1024, random weights
(torch.manual_seed(123); no GPT-2 weights are needed: the step time does not depend on the values).
Batch: the first 8 rows of data/sms-spam-book-split/train.csv, GPT-2 BPE, padded with 50256 to the
longest text of train.csv (120 tokens, as in the book). Loss: cross entropy of the last token's logits
(ch06 calc_loss_batch). Optimizer: AdamW(model.parameters(), weight_decay=0.1) with the book's lr:
5e-5 (ch06), 8e-4 (appendix E LoRA).
Timing: 2 warm-up steps, then the median over --steps steps of
zero_grad + forward + loss + backward + optimizer.step.

Environment (set by the caller, before this process starts; see README.md):
  OPENBLAS_CORETYPE=SkylakeX   only where Debian's OpenBLAS 0.3.21 picks AVX2 kernels on an AVX-512 CPU
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=17179869184
  OPENBLAS_NUM_THREADS         defaults to --threads here when unset
  OMP_WAIT_POLICY=PASSIVE      recommended with 2 threads on 2 cores (README.md: 1.6-2x faster steps)
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


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--book", default=os.environ.get("LLMS_FROM_SCRATCH"),
                    help="checkout or bare git dir of rasbt/LLMs-from-scratch (default $LLMS_FROM_SCRATCH)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per setting (median reported)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (and OpenBLAS threads)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--only", choices=["last-block", "lora"], help="run one setting only")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    return ap.parse_args()


def locate_book(path):
    return book_code.locate_book(path)[0]


def import_book(book_dir):
    return book_code.import_book(book_dir, ["ch04", "ch06", "appendix_e"])


tokenizer = book_code.gpt2_encoder


def blas_info(torch):
    """torch.__config__ says BLAS_INFO=generic for Debian's build: the BLAS is whatever
    libblas.so.3 the alternatives system points to. Report that library and, for OpenBLAS, its core."""
    import ctypes
    import re
    cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    info = f"BLAS_INFO={m.group(1) if m else '?'}"
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "blas" in ln.lower() and ln.split()[-1].startswith("/")})
    except OSError:
        libs = []
    if libs:
        info += "; loaded " + ", ".join(libs)
        for p in libs:
            try:
                lib = ctypes.CDLL(p)
                core = lib.openblas_get_corename
                core.restype = ctypes.c_char_p
                conf = lib.openblas_get_config
                conf.restype = ctypes.c_char_p
                info += f"; {conf().decode()} (core {core().decode()}, {lib.openblas_get_num_threads()} threads)"
                break
            except (OSError, AttributeError):
                continue
    return info


GPT_CONFIG_124M = {
    "vocab_size": 50257,
    "context_length": 1024,
    "emb_dim": 768,
    "n_heads": 12,
    "n_layers": 12,
    "drop_rate": 0.0,
    "qkv_bias": True,
}


def build(book, torch, setting):
    """The book's recipe: ch06 (freeze all, new head, unfreeze last block + final norm) or
    appendix E (same head, freeze all, LoRA on every Linear incl. the head)."""
    torch.manual_seed(123)
    model = book.ch04.GPTModel(GPT_CONFIG_124M)
    for p in model.parameters():
        p.requires_grad = False
    torch.manual_seed(123)
    model.out_head = torch.nn.Linear(in_features=GPT_CONFIG_124M["emb_dim"], out_features=2)
    if setting == "last-block":
        for p in model.trf_blocks[-1].parameters():
            p.requires_grad = True
        for p in model.final_norm.parameters():
            p.requires_grad = True
    else:
        for p in model.parameters():
            p.requires_grad = False
        book.appendix_e.replace_linear_with_lora(model, rank=16, alpha=16)
    model.train()
    # the book's learning rates: ch06 5e-5, appendix E 8e-4 (the value does not change the step time)
    lr = 5e-5 if setting == "last-block" else 8e-4
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model, optimizer, trainable


def time_setting(book, torch, setting, x, y, warmup, steps):
    model, optimizer, trainable = build(book, torch, setting)
    times, losses = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = book.ch06.calc_loss_batch(x, y, model, "cpu")
        loss.backward()
        optimizer.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if i >= warmup:
            times.append(dt)
    del model, optimizer
    return statistics.median(times), times, trainable, losses


def main():
    args = parse_args()
    # OpenBLAS reads its thread count when the library is loaded (with torch): set it before.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    try:
        import torch
    except ImportError:
        sys.exit("error: PyTorch is not installed. Debian: apt-get install python3-torch python3-numpy "
                 "python3-regex python3-pandas python3-tqdm libopenblas0-pthread, then run with /usr/bin/python3")
    torch.set_num_threads(args.threads)
    book = import_book(locate_book(args.book))
    tok = tokenizer(book.bpe)

    csv = os.path.join(ROOT, "data", "sms-spam-book-split", "train.csv")
    ds = book.ch06.SpamDataset(csv_file=csv, tokenizer=tok, max_length=None)  # the book: longest = 120
    x = torch.stack([ds[i][0] for i in range(args.batch)])
    y = torch.stack([ds[i][1] for i in range(args.batch)])

    settings = ["last-block", "lora"] if args.only is None else [args.only]
    res = {}
    for s in settings:
        med, times, trainable, losses = time_setting(book, torch, s, x, y, args.warmup, args.steps)
        res[s] = (med, times, trainable, losses)
        if not args.json:
            print(f"{s:10s}: median {med:.3f} s/step over {args.steps} steps "
                  f"(all: {', '.join(f'{t:.3f}' for t in times)}); trainable {trainable:,}; "
                  f"loss {losses[0]:.4f} -> {losses[-1]:.4f}", flush=True)

    blas = blas_info(torch)
    env = {k: os.environ.get(k) for k in ["OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OPENBLAS_L2_SIZE",
                                          "GLIBC_TUNABLES", "OMP_NUM_THREADS", "OMP_WAIT_POLICY"]}
    if args.json:
        out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
               "last_block_s_per_step": res["last-block"][0] if "last-block" in res else None,
               "lora_s_per_step": res["lora"][0] if "lora" in res else None,
               "blas": blas, "steps": args.steps, "batch": list(x.shape),
               "trainable": {k: v[2] for k, v in res.items()}, "env": env}
        print(json.dumps(out))
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {list(x.shape)}")
        print(f"blas: {blas}")
        print("env: " + ", ".join(f"{k}={v}" for k, v in env.items() if v is not None))


if __name__ == "__main__":
    main()
