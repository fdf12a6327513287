#!/usr/bin/env bash
# The first figures from a lent GPU (or TPU), in under 9 minutes from a bare checkout:
# the top rungs of the scale ladder (Transformer LM, 100M and 1B parameters, BP, DFA and
# optical DFA) in bfloat16, reporting step time, tokens/s, memory, model FLOPs utilisation
# and the optical / digital DFA step ratio; then experiments/bench_dfa.py (the step ratios
# of the MLPs, LeNet-5 and a small Transformer, synthetic data).
#
# Here, once:     bash experiments/gpu_check.sh --prepare
#   (puts what the GPU image lacks in runs/gpu_carry/: the tiny_shakespeare arrays, read
#   once through TFDS here, and matplotlib's wheels for Python 3.12; the ladder needs
#   neither TFDS nor ml_collections there)
# On the device:  run(command="bash experiments/gpu_check.sh", carry=["runs/gpu_carry"])
#   writes $OUT/scale_ladder_gpu.{csv,json,png} and $OUT/bench_dfa_gpu.json (or
#   runs/gpu_check/ without $OUT).
# SIZES, BATCH, CONTEXT, STEPS override the rungs (SIZES=tiny tries the script on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=runs/gpu_carry
if [[ "${1:-}" == "--prepare" ]]; then
  python -c "from opujax import data; data.load('tiny_shakespeare')"
  mkdir -p "$CARRY/tfds/opujax"
  cp "${TFDS_DATA_DIR:-$HOME/tensorflow_datasets}/opujax/tiny_shakespeare.npz" "$CARRY/tfds/opujax/"
  pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d "$CARRY/wheels" \
    matplotlib contourpy cycler fonttools kiwisolver pillow pyparsing python-dateutil six packaging
  echo "prepared $CARRY"
  exit 0
fi
if [[ ! -f "$CARRY/tfds/opujax/tiny_shakespeare.npz" ]]; then
  echo "gpu_check: $CARRY is missing; run 'bash experiments/gpu_check.sh --prepare' first" >&2
  exit 2
fi
python -c "import matplotlib" 2>/dev/null ||
  pip install -q --no-index --no-deps "$CARRY"/wheels/*.whl || echo "gpu_check: no matplotlib, no PNG"
export TFDS_DATA_DIR="$PWD/$CARRY/tfds" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-runs/gpu_check}"
mkdir -p "$OUT"
python -c "import jax; print('backend', jax.default_backend(), jax.devices())"
nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || true
timeout 360 python experiments/scale_ladder.py --models transformer \
  --sizes "${SIZES:-100M,1B}" --rules bp,dfa,dfa_opu --dtype bfloat16 --batch "${BATCH:-16}" \
  --context "${CONTEXT:-512}" --steps "${STEPS:-5}" --out "$OUT/scale_ladder_gpu" || true
timeout 150 python experiments/bench_dfa.py --out "$OUT/bench_dfa_gpu.json"
