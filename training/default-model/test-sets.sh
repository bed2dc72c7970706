#!/usr/bin/env bash
# Draws the default model's test sets where they are missing (docs/default-model.md, "Scores"): the plain
# held-out set (seed 2, ids from 1,000,001, with ground-truth masks for maps-eval) and the six shifted sets of
# docs/generator.md (seeds 101–106, ids from 2,000,001), at the training size. No id overlaps a training image.
# Prints each set's folder name under data/, one per line (score.sh scores them in that order).
# Usage: bash training/default-model/test-sets.sh [held-out images]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
heldout_count="${1:-2000}"
size="$(node -p "JSON.parse(require('fs').readFileSync('$here/project.json', 'utf8')).image_width")"
tb() { node "$repo/bin/tagbooru.js" "$@"; }

[ -f "$here/data/heldout/dataset.sqlite" ] || tb make-dataset synthetic "$here/data/heldout" --count "$heldout_count" --seed 2 --size "$size" --start-id 1000001 --workers 2 >&2
echo heldout
seed=101
for shift in style monochrome one-face tiny jpeg downscale; do
  [ -f "$here/data/shifted-$shift/dataset.sqlite" ] || tb make-dataset synthetic "$here/data/shifted-$shift" --count 1000 --seed "$seed" --size "$size" --start-id 2000001 --preset "shifted-$shift" --workers 2 > /dev/null
  echo "shifted-$shift"
  seed=$((seed + 1))
done
