#!/usr/bin/env bash
# The GPU work of the training issue, in parts that each fit one 10-minute call of a lent GPU
# (the device tool: python3 there has torch, numpy and pyarrow; nothing can be downloaded).
#
# Here, once:   bash bench/gpu_session.sh prepare     real tokens + pytest into .gpu_carry/
# On the GPU (carry .gpu_carry; results land in $OUT):
#   bash bench/gpu_session.sh checks   CUDA tests, then the sweep at GPT-2 small micro-batch 32
#   bash bench/gpu_session.sh sweep    GPT-2 small micro-batch 16 and 64
#   bash bench/gpu_session.sh medium   GPT-2 medium micro-batch 32
#   bash bench/gpu_session.sh curve    ~5 min of GPT-2 small on real tokens (metrics.jsonl)
# Here, after:  python bench/plot_train_curve.py FILES_AT/metrics.jsonl docs/figures/...png
#               python bench/train_throughput.py --table FILES_AT/train_throughput.json
# Each sweep part appends to $OUT/train_throughput.json and prints the table; VARIANTS and
# CURVE_ATTENTION override the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
part=${1:?usage: bash bench/gpu_session.sh prepare|checks|sweep|medium|curve}
OUT=${OUT:-bench_out/gpu}
mkdir -p "$OUT"
export PYTHONPATH=".:.gpu_carry/site${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-python3}
VARIANTS=${VARIANTS:-plain,cudnn,cudnn+chunked-loss}
# RUNS and BENCH_ARGS override the sweep for a dry run on a CPU, e.g.
#   RUNS=tiny:2 BENCH_ARGS="--tiny --device cpu" NVIDIA_SMI=true bash bench/gpu_session.sh checks
# and CURVE_ARGS (appended to the train command; later options win) for the curve.
sweep() {
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of words
  timeout 540 $PY bench/train_throughput.py --runs "${RUNS:-$1}" --ours-variants "$VARIANTS" \
    --steps 10 --warmup 3 --json "$OUT/train_throughput.json" ${BENCH_ARGS:-} "${@:2}" 2>&1 \
    | tee -a "$OUT/sweep.log"
}
case "$part" in
  prepare)
    .venv/bin/python bench/real_tokens.py --out .gpu_carry/tokens
    .venv/bin/pip install -q --target .gpu_carry/site pytest
    du -sh .gpu_carry
    ;;
  checks)
    ${NVIDIA_SMI:-nvidia-smi} --query-gpu=name,memory.total,driver_version --format=csv \
      | tee "$OUT/device.txt"
    $PY -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)' \
      | tee -a "$OUT/device.txt"
    # A failing CUDA test must not cancel the sweep: its report is what comes back.
    timeout 240 $PY -m pytest -q -p no:cacheprovider tests/test_model_cuda.py 2>&1 \
      | tail -15 | tee "$OUT/cuda_tests.txt" || true
    sweep small:32 --no-loader
    ;;
  sweep)
    sweep small:16,small:64
    ;;
  medium)
    sweep medium:32 --no-loader
    ;;
  curve)
    run=/tmp/curve_run
    rm -rf "$run"
    # 65,536-token batches (micro-batch 32 x 1024 x 2): many steps in 5 minutes.
    timeout 500 $PY -m pipeline.cli train .gpu_carry/tokens --out "$run" --model gpt2 \
      --steps "${CURVE_STEPS:-2000}" --batch-tokens 65536 --micro-batch 32 --compile \
      --attention "${CURVE_ATTENTION:-auto}" --warmup-steps 100 --eval-interval 100 \
      --eval-batches 10 --log-interval 50 --ckpt-interval 100000 --dropout 0.1 \
      ${CURVE_ARGS:-} 2>&1 \
      | tee "$OUT/curve.log" || true
    cp "$run/metrics.jsonl" "$OUT/metrics.jsonl"
    ;;
  *)
    echo "unknown part $part" >&2
    exit 2
    ;;
esac
