#!/usr/bin/env bash
# Training benchmark: tagbooru's ONNX Runtime training step vs Debian's PyTorch (NCHW and channels_last),
# interleaved, 2 threads. See bench/train-bench.ts for the flags; results in bench/out/train-bench.json.
#
#   bash bench/train.sh                         # cases a (narrow 128² b32) and b (v4_narrow 224² b16), 3 rounds
#   bash bench/train.sh --cases a --rounds 2    # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (Debian's PyTorch, ~800 MB)…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >&2
fi

# First-touch page faults on this VM make glibc's mmap/munmap of big buffers 3–6× slower
# (reference/dependencies.md §B); every child gets these too.
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296

exec node --import tsx bench/train-bench.ts "$@"
