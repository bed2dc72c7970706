#!/usr/bin/env bash
# Fine-tunes the bundled default model adversarially into a second bundle, models/robust (docs/training.md,
# Adversarial training): FGSM with a random start at ε = 4/255 on half of each batch, the project.json in this
# folder (1 epoch at 224 px from models/default's weights, on the default model's last training set,
# training/default-model/data/mix, which training/default-model/train.sh makes). Scores the bundle on the
# default model's held-out set and fits its out-of-distribution score on its fit set. Run it again to resume.
# Usage: bash training/robust-model/train.sh
#   ROBUST_PROJECT=<folder>, ROBUST_OUT=<bundle folder> and ROBUST_SOURCE=<bundle> train another copy of this project
#   elsewhere (smoke runs with small images: weights are size-independent, so models/default fine-tunes at any size).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
cd "$repo"
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
project="${ROBUST_PROJECT:-$here}"; out="${ROBUST_OUT:-models/robust}"; source_model="${ROBUST_SOURCE:-models/default}"
size="$(node -p "JSON.parse(require('fs').readFileSync('$project/project.json', 'utf8')).image_width")"
arch="$(node -p "JSON.parse(require('fs').readFileSync('$project/project.json', 'utf8')).model")"
tb() { node "$repo/bin/tagbooru.js" "$@"; }

data="$repo/training/default-model/data"
[ -f "$data/mix/dataset.sqlite" ] || { echo "run training/default-model/train.sh first: it makes $data/mix, heldout and ood-fit" >&2; exit 2; }
tb train-project "$project" --source-model "$source_model"
rm -rf "$out" && mkdir -p "$(dirname "$out")" && cp -r "$project/model-$arch" "$out"
node -e "const fs = require('fs'), p = '$out/tagger.json', m = JSON.parse(fs.readFileSync(p, 'utf8')); m.name = 'robust-model'; fs.writeFileSync(p, JSON.stringify(m, null, 1) + '\\n')"
tb metrics "$out" "$data/heldout/dataset.sqlite" --all --format json > "$out/heldout-metrics.json"
tb metrics "$out" "$data/heldout/dataset.sqlite" --all
tb fit-ood "$out" "$data/ood-fit/images"
