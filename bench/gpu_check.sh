#!/usr/bin/env bash
# One run on a GPU machine: the compiled-PyTorch benchmark on CUDA (fp32, fp16) and the
# gpu-marked tests that can run there. Runs as root from the repository root; writes
# everything under $OUT (default ./gpu-check-out). Each step is bounded by `timeout`, the
# whole script stays under 6 minutes; a failed step is recorded and the next one runs.
#
#   OUT=/some/dir bash bench/gpu_check.sh
#
# Needs only python3 with torch (CUDA) and numpy; pytest for the test step (skipped, and
# said so, where it is not installed).
set -u
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD/containers/common${PYTHONPATH:+:$PYTHONPATH}"
export TORCHINDUCTOR_CACHE_DIR="${TMPDIR:-/tmp}/vxdeploy-inductor-cache"  # not under $OUT: only results travel back
status="$OUT/status.txt"
: > "$status"

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local started=$SECONDS
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc ${limit}s-limit took=$((SECONDS - started))s" | tee -a "$status"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
torch.cuda.is_available())"
    "$PY" -c "import tensorrt; print('tensorrt', tensorrt.__version__)" 2>&1 | tail -n 1
    "$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" 2>&1 | tail -n 1
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# ~4 minutes for the two benchmark runs (compiles dominate: torch.compile, AOTInductor,
# and on fp32 the cold/warm start-up children), then the tests. The forward-pass numbers
# are written before the start-up runs, so a cut-short run still leaves them in the JSON.
# `timeout` signals the whole process group, start-up children included.
step bench-cuda-fp32 150 "$PY" bench/compiled.py --model tutorial --device cuda --dtype fp32 --rounds 3 \
    --seconds 0.5 --json "$OUT/compiled-cuda-fp32.json"
step bench-cuda-fp16 100 "$PY" bench/compiled.py --model tutorial --device cuda --dtype fp16 --rounds 3 \
    --seconds 0.5 --no-startup --json "$OUT/compiled-cuda-fp16.json"
if "$PY" -c "import pytest" 2>/dev/null; then
    # Test modules whose imports need project packages this machine lacks fail to
    # collect; the others still run.
    step pytest-gpu 100 "$PY" -m pytest -m gpu tests/containers -q -rs -p no:cacheprovider \
        --continue-on-collection-errors
else
    echo "pytest-gpu skipped: pytest is not installed" | tee -a "$status"
fi
tail -n 25 "$OUT"/bench-*.log "$OUT/pytest-gpu.log" 2>/dev/null
cat "$status"
