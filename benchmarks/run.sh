#!/usr/bin/env bash
# Runs gdlab's benchmarks side by side with their peers, each as a whole process.
#
#   bash benchmarks/run.sh course      # the course's four sweeps x 10 seeds: gdlab, PyTorch, Keras (TF)
#   bash benchmarks/run.sh grid        # 10,000-model grid: gdlab vs a PyTorch loop
#
# DATA (default ../shared/data/banknotes.csv) is the course's banknote file. The
# peers live in their own virtual environment, PEERS (default
# benchmarks/.peers-venv), created on first use: `pip install torch==2.13.0`
# takes the CPU wheel on this machine's disk; TensorFlow comes from PyPI. They
# are never gdlab dependencies. Take numbers on a quiet machine only.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/banknotes.csv}
PEERS=${PEERS:-benchmarks/.peers-venv}
REPEATS=${REPEATS:-3}

peers() {
  if [ ! -x "$PEERS/bin/python" ]; then
    python3 -m venv "$PEERS"
    "$PEERS/bin/pip" install -q torch==2.13.0 tensorflow pandas scikit-learn
  fi
}

gdlab_python() {  # sync gdlab's environment once; its Python then runs like the peers' own
  GDLAB_PY=$(uv run --locked python -c "import sys, gdlab; print(sys.executable)")
}

timed() {  # label, command...: wall seconds and peak RSS of the whole process
  local label=$1; shift
  /usr/bin/time -f "$label wall_s=%e max_rss_kib=%M" "$@"
}

case "${1:-course}" in
  course)
    peers
    gdlab_python
    for i in $(seq "$REPEATS"); do
      cache=$(mktemp -d)
      timed "gdlab-cold" env GDLAB_CACHE_DIR="$cache" XDG_CACHE_HOME="$cache" \
        "$GDLAB_PY" benchmarks/course_sweeps.py --engine gdlab --data "$DATA"
      timed "gdlab-warm" env GDLAB_CACHE_DIR="$cache" XDG_CACHE_HOME="$cache" \
        "$GDLAB_PY" benchmarks/course_sweeps.py --engine gdlab --data "$DATA"
      rm -rf "$cache"
      timed "torch" "$PEERS/bin/python" benchmarks/course_sweeps.py --engine torch --data "$DATA"
      timed "keras-tf" env KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
        "$PEERS/bin/python" benchmarks/course_sweeps.py --engine keras --data "$DATA"
    done
    ;;
  grid)
    peers
    gdlab_python
    for i in $(seq "$REPEATS"); do
      cache=$(mktemp -d)
      timed "gdlab-10k-cold" env GDLAB_CACHE_DIR="$cache" XDG_CACHE_HOME="$cache" \
        "$GDLAB_PY" benchmarks/large_grid.py --engine gdlab --data "$DATA"
      timed "gdlab-10k-warm" env GDLAB_CACHE_DIR="$cache" XDG_CACHE_HOME="$cache" \
        "$GDLAB_PY" benchmarks/large_grid.py --engine gdlab --data "$DATA"
      rm -rf "$cache"
      timed "torch-loop" "$PEERS/bin/python" benchmarks/large_grid.py --engine torch \
        --data "$DATA" --models 200
    done
    ;;
  *) echo "usage: $0 course|grid" >&2; exit 2 ;;
esac
