"""Stand-in for tiktoken's "gpt2" encoding, for running the book's chapter-5 script where tiktoken cannot be
installed (no PyPI here). Built on OpenAI's original GPT-2 encoder, which the book ships as its chapter-2 bonus
code (bpe_openai_gpt2.py with encoder.json and vocab.bpe): the same token ids as tiktoken for ordinary text.
book-script.sh copies it next to gpt_train.py as tiktoken.py; GPTKIT_BPE_DIR names the folder with the encoder."""
import os
import sys

_DIR = os.environ["GPTKIT_BPE_DIR"]
sys.path.insert(0, _DIR)
from bpe_openai_gpt2 import get_encoder  # noqa: E402

_EOT = "<|endoftext|>"


class _Encoding:
    def __init__(self):
        self._enc = get_encoder("gpt2_model", _DIR)

    def encode(self, text, allowed_special=()):
        if _EOT not in allowed_special:
            return self._enc.encode(text)
        ids = []
        for i, part in enumerate(text.split(_EOT)):
            if i:
                ids.append(50256)
            ids.extend(self._enc.encode(part))
        return ids

    def decode(self, ids):
        return self._enc.decode(ids)


def get_encoding(name):
    if name != "gpt2":
        raise ValueError(f"only the gpt2 encoding is available here, not {name}")
    return _Encoding()
