"""The book's own code (rasbt/LLMs-from-scratch) for the dev scripts: find it, import it, and build
OpenAI's GPT-2 encoder from it. Shared by dev/fixtures/make_fixtures.py and
dev/finetune-classifier-torch/bench.py; not part of gptkit."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BPE_FILE = "ch02/02_bonus_bytepair-encoder/bpe_openai_gpt2.py"


def _stub_missing_modules():
    """The package imports matplotlib/requests/psutil/tiktoken at module level for download and plot
    helpers the dev scripts never call; stub the ones that are not installed."""
    for name in ["matplotlib", "requests", "psutil", "tiktoken"]:
        if importlib.util.find_spec(name) is not None:
            continue
        mod = types.ModuleType(name)
        mod.__stub__ = True
        sys.modules[name] = mod
        if name == "matplotlib":
            for sub in ["pyplot", "ticker"]:
                m = types.ModuleType("matplotlib." + sub)
                m.MaxNLocator = object
                sys.modules["matplotlib." + sub] = m
                setattr(mod, sub, m)


def locate_book(path, extra_paths=()):
    """(folder with pkg/llms_from_scratch and the BPE file, commit or None). `path` is a checkout, or a
    bare git dir whose HEAD is extracted (pkg/, the BPE file and `extra_paths`) into a temp folder."""
    if not path:
        sys.exit("error: pass --book (a checkout or bare git dir of rasbt/LLMs-from-scratch) "
                 "or set LLMS_FROM_SCRATCH")
    path = os.path.abspath(path)
    if os.path.isdir(os.path.join(path, "pkg", "llms_from_scratch")):
        return path, None
    if os.path.exists(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects")):
        dest = tempfile.mkdtemp(prefix="llms-from-scratch-")
        paths = ["pkg", BPE_FILE, *extra_paths]
        archive = subprocess.run(["git", "--git-dir", path, "archive", "HEAD"] + paths,
                                 check=True, stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
        commit = subprocess.run(["git", "--git-dir", path, "rev-parse", "HEAD"], check=True,
                                stdout=subprocess.PIPE, text=True).stdout.strip()
        return dest, commit
    sys.exit(f"error: {path} is neither a checkout nor a bare git dir of rasbt/LLMs-from-scratch")


def import_book(book_dir, chapters):
    """The named modules of llms_from_scratch (e.g. ["ch04", "ch06"]) plus the BPE module as `bpe`."""
    _stub_missing_modules()
    sys.path.insert(0, os.path.join(book_dir, "pkg"))
    mods = {name: importlib.import_module(f"llms_from_scratch.{name}") for name in chapters}
    spec = importlib.util.spec_from_file_location("bpe_openai_gpt2", os.path.join(book_dir, BPE_FILE))
    bpe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bpe)
    return types.SimpleNamespace(**mods, bpe=bpe)


def gpt2_encoder(bpe):
    """OpenAI's original GPT-2 encoder (the book's ch02 bonus copy) with the vocabulary in data/gpt2,
    built as bpe_openai_gpt2.get_encoder does; the same ids as tiktoken's gpt2."""
    with open(os.path.join(ROOT, "data", "gpt2", "encoder.json"), "r") as f:
        encoder = json.load(f)
    with open(os.path.join(ROOT, "data", "gpt2", "vocab.bpe"), "r", encoding="utf-8") as f:
        merges = [tuple(m.split()) for m in f.read().split("\n")[1:-1]]
    return bpe.Encoder(encoder=encoder, bpe_merges=merges)
