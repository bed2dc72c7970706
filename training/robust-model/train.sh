#!/usr/bin/env bash
# Fine-tunes the bundled default model adversarially into a second bundle, models/robust (docs/training.md,
# Adversarial training): every sample of each batch attacked, each sample's attack aimed at one tag (to hide or to
# add), in eight stages from models/default's weights on the default model's last training set
# (training/default-model/data/mix, which training/default-model/train.sh makes):
#   this folder's project.json: FGSM-RS, 3 epochs at ε = 4/255; stage2/ to stage4/: FGSM-RS, 2 epochs each at
#   8/255; stage5/ to stage8/: PGD with 2 steps, 2 epochs each at 8/255, three in four attacks hiding a tag from stage7/
#   on ("hide_share": 0.75). Each stage starts from the one before.
# Scores the bundle on the default model's held-out set and fits its out-of-distribution score like the default
# model's. Each stage resumes where it stopped when the script is run again.
# Usage: bash training/robust-model/train.sh
#   ROBUST_PROJECT=<folder with project.json and stage*/>, ROBUST_OUT=<bundle folder> and ROBUST_SOURCE=<bundle>
#   train another copy elsewhere (smoke runs with small images: weights are size-independent).
# The bundled models/robust started from models/default as it was before commit 788275b (its retrain); stages 1–4
# ran before the sampleRng fix (docs/robustness.md), so a rerun draws other augmentations there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
cd "$repo"
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
project="${ROBUST_PROJECT:-$here}"; out="${ROBUST_OUT:-models/robust}"; source_model="${ROBUST_SOURCE:-models/default}"
arch="$(node -p "JSON.parse(require('fs').readFileSync('$project/project.json', 'utf8')).model")"
tb() { node "$repo/bin/tagbooru.js" "$@"; }

data="$repo/training/default-model/data"
[ -f "$data/mix/dataset.sqlite" ] || { echo "run training/default-model/train.sh first: it makes $data/mix and heldout" >&2; exit 2; }
stages=("$project"/stage*/) # stage2/ … stage8/, in order
for dir in "${stages[@]}"; do cp "$project/tags.txt" "$project/categories.json" "$dir"; done
from="$source_model"
for dir in "$project" "${stages[@]%/}"; do
  [ -f "$dir/model-$arch/tagger.json" ] || tb train-project "$dir" --source-model "$from"
  from="$dir/model-$arch"
done
rm -rf "$out" && mkdir -p "$(dirname "$out")" && cp -r "$from" "$out"
node -e "const fs = require('fs'), p = '$out/tagger.json', m = JSON.parse(fs.readFileSync(p, 'utf8')); m.name = 'robust-model'; fs.writeFileSync(p, JSON.stringify(m, null, 1) + '\\n')"
tb metrics "$out" "$data/heldout/dataset.sqlite" --all --format json > "$out/heldout-metrics.json"
tb metrics "$out" "$data/heldout/dataset.sqlite" --all
tb fit-ood "$out" "$data/mix/dataset.sqlite" --sample 3000 --method mahalanobis-l2
