#!/usr/bin/env bash
# Re-trains the bundled default model from nothing: generates the synthetic training and held-out sets,
# trains with train-project, copies the bundle to models/default and scores it on the held-out set.
# Usage: bash training/default-model/train.sh [train images] [held-out images]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
cd "$repo"
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
train_count="${1:-10000}"; heldout_count="${2:-2000}"
tb() { node "$repo/bin/tagbooru.js" "$@"; }

[ -f "$here/data/train/dataset.sqlite" ] || tb make-dataset synthetic "$here/data/train" --count "$train_count" --seed 1 --size 160 --no-masks --start-id 1
# held out: another seed and ids that never overlap, with ground-truth masks for maps-eval
[ -f "$here/data/heldout/dataset.sqlite" ] || tb make-dataset synthetic "$here/data/heldout" --count "$heldout_count" --seed 2 --size 160 --start-id 1000001
cp "$here/data/train/tags.txt" "$here/data/train/categories.json" "$here/"
tb train-project "$here"
arch="$(node -p "JSON.parse(require('fs').readFileSync('$here/project.json', 'utf8')).model")"
rm -rf models/default && mkdir -p models && cp -r "$here/model-$arch" models/default
tb metrics models/default "$here/data/heldout/dataset.sqlite" --all --format json > models/default/heldout-metrics.json
tb metrics models/default "$here/data/heldout/dataset.sqlite" --all
