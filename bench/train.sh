#!/usr/bin/env bash
# Training benchmark: tagbooru's ONNX Runtime training step vs Debian's PyTorch (NCHW and channels_last),
# interleaved, 2 threads. See bench/train-bench.ts for the flags; results in bench/out/train-bench.json.
#
#   bash bench/train.sh                         # cases a (narrow 128² b32) and b (v4_narrow 224² b16), 3 rounds
#   bash bench/train.sh --cases a --rounds 2    # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/_env.sh

exec node --import tsx bench/train-bench.ts "$@"
