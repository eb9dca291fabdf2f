#!/bin/sh
# Times the book's chapter-5 script end to end (ch05/01_main-chapter-code/gpt_train.py: 124M model, 10 epochs
# on the-verdict, evaluation every 5 steps, a sample per epoch, loss plot, model.pth) on PyTorch with the
# reference setup of bench/reference.ts, for comparison with `npm start` (the same settings in gptkit).
# usage (from the project root): LLMS_FROM_SCRATCH=<git dir of rasbt/LLMs-from-scratch> sh dev/pretrain-vs-torch/book-script.sh
# Needs Debian's python3-torch python3-matplotlib python3-regex python3-requests python3-tqdm libopenblas0-pthread.
set -e
: "${LLMS_FROM_SCRATCH:?set LLMS_FROM_SCRATCH to a checkout or bare git dir of rasbt/LLMs-from-scratch}"
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$LLMS_FROM_SCRATCH" archive HEAD ch05/01_main-chapter-code ch02/02_bonus_bytepair-encoder | tar -x -C "$work"
cd "$work/ch05/01_main-chapter-code"
cp "$root/data/the-verdict.txt" .  # the script would download it
cp "$root/dev/pretrain-vs-torch/tiktoken_shim.py" tiktoken.py
grep -q avx512f /proc/cpuinfo && export OPENBLAS_CORETYPE=SkylakeX
unset OPENBLAS_L2_SIZE
export OMP_WAIT_POLICY=PASSIVE GPTKIT_BPE_DIR="$work/ch02/02_bonus_bytepair-encoder"
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=17179869184
start=$(date +%s.%N)
/usr/bin/python3 gpt_train.py
end=$(date +%s.%N)
python3 -c "print(f'book chapter-5 script (gpt_train.py): {($end - $start):.1f} s wall')"
