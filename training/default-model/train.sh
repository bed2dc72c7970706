#!/usr/bin/env bash
# Re-trains the bundled default model from nothing: generates the synthetic training and held-out sets,
# trains in two stages with train-project (stage1/: 12 epochs at 160 px from fresh weights; then this folder's
# project.json: 12 epochs at 224 px starting from stage 1's weights), copies the bundle to models/default,
# scores it on the held-out set, refreshes samples/ and fits the out-of-distribution score.
# Usage: bash training/default-model/train.sh [train images] [held-out images]
# Either stage resumes where it stopped when the script is run again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
cd "$repo"
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
train_count="${1:-10000}"; heldout_count="${2:-2000}"
size="$(node -p "JSON.parse(require('fs').readFileSync('$here/project.json', 'utf8')).image_width")"
arch="$(node -p "JSON.parse(require('fs').readFileSync('$here/project.json', 'utf8')).model")"
tb() { node "$repo/bin/tagbooru.js" "$@"; }

[ -f "$here/data/train/dataset.sqlite" ] || tb make-dataset synthetic "$here/data/train" --count "$train_count" --seed 1 --size "$size" --no-masks --start-id 1 --workers 2
# held out: another seed and ids that never overlap, with ground-truth masks for maps-eval
[ -f "$here/data/heldout/dataset.sqlite" ] || tb make-dataset synthetic "$here/data/heldout" --count "$heldout_count" --seed 2 --size "$size" --start-id 1000001 --workers 2
for dir in "$here/stage1" "$here"; do cp "$here/data/train/tags.txt" "$here/data/train/categories.json" "$dir/"; done
[ -f "$here/stage1/model-$arch/tagger.json" ] || tb train-project "$here/stage1"
tb train-project "$here" --source-model "$here/stage1/model-$arch"
rm -rf models/default && mkdir -p models && cp -r "$here/model-$arch" models/default
tb metrics models/default "$here/data/heldout/dataset.sqlite" --all --format json > models/default/heldout-metrics.json
tb metrics models/default "$here/data/heldout/dataset.sqlite" --all
node --import tsx "$here/pick-samples.ts" "$here/data/heldout/dataset.sqlite"
# the out-of-distribution score (docs/robustness.md): fitted on a third seed, neither trained on nor held out
[ -f "$here/data/ood-fit/dataset.sqlite" ] || tb make-dataset synthetic "$here/data/ood-fit" --count 1000 --seed 3 --size "$size" --no-masks --start-id 3000001 --workers 2
tb fit-ood models/default "$here/data/ood-fit/images"
