#!/usr/bin/env bash
# Fine-tunes the bundled default model adversarially into a second bundle, models/robust (docs/training.md,
# Adversarial training): FGSM with a random start at ε = 4/255 on half of each batch, the project.json in this
# folder (3 epochs at 224 px from models/default's weights). Generates the same synthetic training set as
# training/default-model (seed 1) and held-out set (seed 2), scores the bundle on the latter and fits its
# out-of-distribution score on a third seed, as the default model's script does. Run it again to resume.
# Usage: bash training/robust-model/train.sh [train images] [held-out images] [ood-fit images]
#   ROBUST_PROJECT=<folder>, ROBUST_OUT=<bundle folder> and ROBUST_SOURCE=<bundle> train another copy of this project
#   elsewhere (smoke runs with small images: weights are size-independent, so models/default fine-tunes at any size).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
cd "$repo"
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
project="${ROBUST_PROJECT:-$here}"; out="${ROBUST_OUT:-models/robust}"; source_model="${ROBUST_SOURCE:-models/default}"
train_count="${1:-10000}"; heldout_count="${2:-2000}"; ood_count="${3:-1000}"
size="$(node -p "JSON.parse(require('fs').readFileSync('$project/project.json', 'utf8')).image_width")"
arch="$(node -p "JSON.parse(require('fs').readFileSync('$project/project.json', 'utf8')).model")"
tb() { node "$repo/bin/tagbooru.js" "$@"; }

[ -f "$project/data/train/dataset.sqlite" ] || tb make-dataset synthetic "$project/data/train" --count "$train_count" --seed 1 --size "$size" --no-masks --start-id 1 --workers 2
[ -f "$project/data/heldout/dataset.sqlite" ] || tb make-dataset synthetic "$project/data/heldout" --count "$heldout_count" --seed 2 --size "$size" --start-id 1000001 --workers 2
cp "$project/data/train/tags.txt" "$project/data/train/categories.json" "$project/"
tb train-project "$project" --source-model "$source_model"
rm -rf "$out" && mkdir -p "$(dirname "$out")" && cp -r "$project/model-$arch" "$out"
tb metrics "$out" "$project/data/heldout/dataset.sqlite" --all --format json > "$out/heldout-metrics.json"
tb metrics "$out" "$project/data/heldout/dataset.sqlite" --all
[ -f "$project/data/ood-fit/dataset.sqlite" ] || tb make-dataset synthetic "$project/data/ood-fit" --count "$ood_count" --seed 3 --size "$size" --no-masks --start-id 3000001 --workers 2
tb fit-ood "$out" "$project/data/ood-fit/images"
