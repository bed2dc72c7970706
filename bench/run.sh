#!/usr/bin/env bash
# Tagging benchmark (`npm run bench`): `tagbooru tag` end to end vs raw ONNX Runtime vs Debian's PyTorch
# (eager and jit-frozen) on the same JPEGs, same 2 threads, one interleaved run. See bench/tag-bench.ts.
#
#   bash bench/run.sh                                   # defaults: 48 images, v4 and v3, batch 1 and 16 (~10–15 min)
#   bash bench/run.sh --images 16 --models v4 --batches 16   # a quick run
#   other flags: --rounds N, --runners tag,raw,eager,frozen, --tags 9176, --threads 2,
#                --torch-layout auto|nchw|cl, --raw-images 16, --rebuild (re-create the model bundles)
#
# Output: a markdown table on stdout, all numbers in bench/out/tag-bench.json. Images and bundles are cached
# in bench/out/ (v3 at 9176 tags is a 645 MB model). Needs /usr/bin/python3 with torch (python3-torch,
# installed here with apt-get if missing) and GNU time (/usr/bin/time) for per-process peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/_env.sh

exec node --import tsx bench/tag-bench.ts "$@"
