#!/usr/bin/env bash
# Scores a bundle on every test set of docs/default-model.md: macro-F1 and mAP on the plain held-out set and the
# six shifted sets (drawn first where missing), then the 200 portraits drawn without the generator.
# Extra arguments go to each `metrics` call (e.g. --by rendering); its full tables land in <out>/<set>.txt.
# Usage: bash training/default-model/score.sh [bundle (models/default)] [out dir] [metrics flags…]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
cd "$repo"
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
bundle="${1:-models/default}"; out="${2:-$(mktemp -d)}"; shift $(( $# < 2 ? $# : 2 ))
mkdir -p "$out"
sets="$(bash "$here/test-sets.sh")"   # an assignment, so that set -e stops on its failure
for set in $sets; do
  node bin/tagbooru.js metrics "$bundle" "$here/data/$set/dataset.sqlite" --all "$@" > "$out/$set.txt"
  printf '%-19s %s\n' "$set" "$(grep -m1 '^samples' "$out/$set.txt")"
done
node --import tsx bench/independent-portraits.ts "$bundle" --count 200 > "$out/portraits.txt"
printf '%-19s %s\n' portraits "$(grep -m1 'macro-F1' "$out/portraits.txt")"
echo "tables in $out"
