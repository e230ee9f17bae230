#!/usr/bin/env bash
# GPU check (issue 20): the harness tests and the MinDiff and layer benchmarks with
# jit_compile=True on the jax and torch backends, on a machine with an NVIDIA GPU where JAX,
# PyTorch, NumPy, scikit-learn and pandas are installed but Keras (and TensorFlow) are not.
#
#   benchmarks/gpu_check.sh download WHEELS   # on a machine with a package index: fetch the wheels
#   benchmarks/gpu_check.sh run WHEELS [OUT]  # on the GPU machine, from the repository root
#
# `run` installs the wheels with --no-deps into WHEELS/site (nothing else on the machine changes),
# puts this checkout on PYTHONPATH, and prints one summary table (per backend: device, harness
# tests passed/failed, then the two benchmarks' own tables); full logs go to OUT (default
# gpu_check_logs). The TensorFlow-only paths (tf.data, TFMR) are left out: no TensorFlow there.
set -euo pipefail

# Keras 3 and what it needs beyond NumPy; pytest and hypothesis for the harness tests.
WHEELS_NEEDED=(keras namex optree rich markdown-it-py mdurl pygments absl-py h5py ml-dtypes
  packaging pytest pluggy iniconfig hypothesis attrs sortedcontainers)

cmd=${1:?usage: gpu_check.sh download|run WHEELS [OUT]}
wheels=${2:?usage: gpu_check.sh download|run WHEELS [OUT]}

if [[ $cmd == download ]]; then
  mkdir -p "$wheels"
  for name in "${WHEELS_NEEDED[@]}"; do
    python3 -m pip download --quiet --no-deps --python-version 3.12 --only-binary=:all: \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any \
      -d "$wheels" "$name"
  done
  ls "$wheels"
  exit 0
fi
[[ $cmd == run ]] || { echo "unknown command: $cmd (expected download or run)" >&2; exit 2; }

out=${3:-gpu_check_logs}
mkdir -p "$out"
site="$wheels/site"
# Only what the machine lacks: a wheel shadowing an installed package (ml-dtypes under JAX, say)
# could break it.
missing=()
for wheel in "$wheels"/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1)
  python3 -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$name" 2>/dev/null \
    || missing+=("$wheel")
done
if ((${#missing[@]})); then
  python3 -m pip install --quiet --no-deps --no-index --target "$site" "${missing[@]}"
fi
export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # both benchmarks' processes share the GPU

summary="$out/summary.txt"
: > "$summary"
for backend in jax torch; do
  export KERAS_BACKEND=$backend
  if [[ $backend == jax ]]; then
    device=$(python3 -c "import jax; print(jax.devices()[0].device_kind)" 2>&1 | tail -1)
  else
    device=$(python3 -c "import torch; print(torch.cuda.get_device_name(0))" 2>&1 | tail -1)
  fi
  set +e
  python3 -m pytest -q -p no:cacheprovider tests/testing/test_harness.py tests/layers \
    > "$out/tests_$backend.log" 2>&1
  tests_rc=$?
  python3 benchmarks/layers.py --jit-compile true --repeats 7 > "$out/layers_$backend.log" 2>&1
  layers_rc=$?
  set -e
  tests_line=$(grep -E "[0-9]+ (passed|failed)" "$out/tests_$backend.log" | tail -1)
  {
    echo "== $backend on $device: tests (harness + layers, exit $tests_rc): $tests_line"
    echo "-- benchmarks/layers.py --jit-compile true (exit $layers_rc)"
    tail -n +2 "$out/layers_$backend.log"
  } >> "$summary"
done
set +e
python3 benchmarks/min_diff_adult.py --backends jax torch --paths arrays --no-tfmr \
  --jit-compile true --rounds 3 > "$out/min_diff.log" 2>&1
min_diff_rc=$?
set -e
{
  echo "-- benchmarks/min_diff_adult.py --paths arrays --jit-compile true (exit $min_diff_rc)"
  grep -A 20 "^MinDiff on Adult" "$out/min_diff.log" || tail -20 "$out/min_diff.log"
} >> "$summary"
cat "$summary"
