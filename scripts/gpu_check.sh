#!/usr/bin/env bash
# The one prepared run for a CUDA machine (issue 7): the model tests on the GPU, then the
# latency benchmark (7B-shaped random bf16 Qwen2.5-VL, K = 8, 16, 32; --profile breaks one
# decode step down) and, for the graph's share, K = 16 again with the eager decode loop.
# Needs the GPU machine's own python3 with torch, torchvision and transformers; no ROS, no
# install step (the repo root goes on PYTHONPATH). Logs go to $OUT (the device tool's
# return folder) or /tmp/gpu_check.
set -o pipefail
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch, transformers, platform; print('python', platform.python_version(),
'torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)" \
    2>&1 | tee -a "$out/gpu.txt"
python3 -m pytest test/model -q -p no:cacheprovider 2>&1 | tee "$out/pytest.txt"
python3 benchmarks/model_latency.py --profile 2>&1 | tee "$out/latency.txt"
python3 benchmarks/model_latency.py --frames 16 --no-cuda-graph 2>&1 \
    | tee "$out/latency_eager.txt"
