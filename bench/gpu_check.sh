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
# AOTInductor runs in steps of its own: a crash in its loader (seen: a segfault in
# aoti_load_package on torch 2.11+cu130) must not take the other numbers with it.
B="$PY bench/compiled.py --model tutorial --device cuda --rounds 3 --seconds 0.5"
step bench-cuda-fp32 150 $B --dtype fp32 --modes eager compile --json "$OUT/compiled-cuda-fp32.json"
step bench-cuda-fp16 60 $B --dtype fp16 --modes eager compile --no-startup \
    --json "$OUT/compiled-cuda-fp16.json"
step bench-cuda-fp32-aoti 120 $B --dtype fp32 --modes aoti --no-startup \
    --json "$OUT/compiled-cuda-fp32-aoti.json"
if "$PY" -c "import pytest" 2>/dev/null; then
    # One pytest per file, so that a crash in one leaves the others' results.
    for f in tests/containers/common/test_service.py tests/containers/common/test_compiled.py \
             tests/containers/tensorrt/test_trt_engine.py; do
        step "pytest-$(basename "$f" .py)" 150 "$PY" -m pytest -m gpu "$f" -q -rs \
            -p no:cacheprovider
    done
else
    echo "pytest-gpu skipped: pytest is not installed" | tee -a "$status"
fi
tail -n 12 "$OUT"/bench-*.log "$OUT"/pytest-*.log 2>/dev/null
cat "$status"
