#!/usr/bin/env bash
# The in-process cost of a proxied call before and after a change: benchmarks/hotpath.py run on
# another revision and on this tree, in interleaved rounds, in both configurations.
#
#   bash benchmarks/compare_hotpath.sh 09e1f6e            # 5 rounds
#   bash benchmarks/compare_hotpath.sh 09e1f6e 3 out.txt
#
# One line per run: round, tree (base or this), configuration (production or defaults), then the
# null view's and django_bff's rows of hotpath.py (µs per call, SQL queries, Redis commands).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: compare_hotpath.sh REVISION [ROUNDS] [OUT]}
rounds=${2:-5}
out=${3:-benchmarks/results/compare-hotpath.txt}
python=${PYTHON:-.venv/bin/python}
python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")"  # absolute, the venv link kept
here=$(pwd)
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/base" "$base"
: > "$out"
for round in $(seq 1 "$rounds"); do
    for tree in base this; do
        dir=$here
        [ "$tree" = base ] && dir=$tmp/base
        for config in production defaults; do
            extra=()
            [ "$config" = defaults ] && extra=(--db-sessions)
            rows=$(cd "$dir" && PYTHONPATH="$dir" "$python" benchmarks/hotpath.py --calls 2000 "${extra[@]}" | grep -E "^(null|bff) ")
            echo "$round $tree $config $(echo "$rows" | tr -s ' \n' ' ')" | tee -a "$out"
        done
    done
done
