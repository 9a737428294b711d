#!/usr/bin/env bash
# The one prepared run for a CUDA machine (issues 7 and 20), every goal against its
# baseline in the same run:
#   1. the model tests on the GPU (test/model: CPU tests, the CUDA-graph, fused-projection,
#      GQA-kernel and batched-vision tests, the real-7B-width check against transformers);
#   2. if bench_out/previous_engine exists (see --prepare), the latency benchmark of the
#      previous engine, for "TTFT unchanged or better" and the before/after table;
#   3. the latency benchmark (7B-shaped random bf16 Qwen2.5-VL, K = 16 and 32): plain
#      transformers, our runner unfused and fused, keyframe burst and add-one-keyframe
#      costs, vision tower against transformers', a decode-step profile, peak memory and
#      the issue's goals as PASS/FAIL lines (it exits 3 when one is missed).
# Needs the GPU machine's own python3 with torch, torchvision, transformers and pytest; no
# ROS, no install step (the repo root goes on PYTHONPATH). Logs go to $OUT (the device
# tool's return folder) or /tmp/gpu_check; the exit status is 0 only when every step passed.
#
#   bash scripts/gpu_check.sh --prepare   # here, with git: previous engine -> bench_out/
#   bash scripts/gpu_check.sh             # on the GPU machine (carry bench_out/previous_engine)
#   SSR_GPU_CHECK_TINY=1 bash scripts/gpu_check.sh   # the same steps on the CPU (smoke)
set -o pipefail
cd "$(dirname "$0")/.." || exit 1
previous=bench_out/previous_engine
if [ "${1:-}" = "--prepare" ]; then
    # The engine measured in BENCHMARKS.md before issue 20 (override with a commit).
    rev=${SSR_PREVIOUS_ENGINE_REV:-e39ba99}
    rm -rf "$previous" && mkdir -p "$previous" || exit 1
    git archive "$rev" ssr_ros benchmarks/model_latency.py | tar -x -C "$previous" || exit 1
    echo "[gpu_check] previous engine ($rev) in $previous"
    exit 0
fi
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 1
export PYTHONUNBUFFERED=1
bench_args=()
if [ -n "${SSR_GPU_CHECK_TINY:-}" ]; then
    bench_args=(--tiny --frames 4 --side 112 --repeats 1)
fi
failed=0

# step NAME LIMIT_S COMMAND...: run with a time limit, log to $out/NAME.txt, note the rc.
step() {
    local name=$1 limit=$2
    shift 2
    timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "[gpu_check] $name: exit $rc" | tee -a "$out/summary.txt"
    [ "$rc" -eq 0 ] || failed=1
}

: > "$out/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch, transformers, platform; print('python', platform.python_version(),
'torch', torch.__version__, 'cuda', torch.version.cuda,
'transformers', transformers.__version__)" 2>&1 | tee -a "$out/gpu.txt"
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} step pytest 200 \
    python3 -m pytest test/model -q -p no:cacheprovider
previous_args=()
if [ -d "$previous" ]; then
    (cd "$previous" && PYTHONPATH=$PWD step latency_previous 150 \
        python3 benchmarks/model_latency.py --frames 16 32 "${bench_args[@]}")
    grep -q "exit 0" <(grep "latency_previous:" "$out/summary.txt") || failed=1
    previous_args=(--previous "$out/latency_previous.txt")
else
    echo "[gpu_check] no $previous: TTFT is compared with BENCHMARKS.md by hand" \
        | tee -a "$out/summary.txt"
fi
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} step latency 240 \
    python3 benchmarks/model_latency.py --frames 16 32 --profile --json "$out/latency.json" \
    "${previous_args[@]}" "${bench_args[@]}"
cat "$out/summary.txt"
exit $failed
