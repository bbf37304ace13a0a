#!/usr/bin/env bash
# Every GPU-only check in one call, for a machine with one CUDA GPU (H100/H200: about 8 minutes in all).
# Tests first (they gate the numbers), then benchmarks; each writes JSON with run_provenance() under
# $RESULTS (default benchmarks/results/gpu/). A failing step is reported and the others still run; the
# exit status is the number of failed steps.
#
#   benchmarks/gpu_suite.sh              # run everything
#   benchmarks/gpu_suite.sh --dry-run    # list the steps without running them (works without a GPU)
#   STEPS="tests decode" benchmarks/gpu_suite.sh   # a subset, by step name
#   COMPILE=1 benchmarks/gpu_suite.sh    # also HF static + torch.compile in the decode benchmark (slow)
#
# Steps:
#   tests        pytest -m gpu, plus the CUDA/Triton/bf16 parametrisations of the kernel, CUDA-graph and
#                engine tests (they skip on CPU)
#   fsdp2        NCCL FSDP2 full SFT on one GPU through torchrun (world of one)
#   kernels      boundary statistics: Triton/CUDA vs torch on the GPU sweep
#   calibrate    calibration on a random-weight Llama-3.1-8B config, bf16, vs the forward without LM head;
#                device memory after load at 4k/16k/64k tokens
#   decode       batch 1 (achieved bandwidth vs measured copy bandwidth) and batch 64 vs HF dynamic/static,
#                plus continuous batching of 256 requests through 64 slots
#   depth        base vs 25%-pruned (8 of 32 layers) Llama-3.1-8B: decode and prefill speedups with 95% intervals
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
RESULTS=${RESULTS:-benchmarks/results/gpu}
MODEL=${MODEL:-random:llama-3.1-8b}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
HF_COMPILE=$( [ "${COMPILE:-0}" = 1 ] && echo --hf-compile || true )

declare -A CMD=(
  [tests]="$PY -m pytest -q -m gpu tests && $PY -m pytest -q tests/ops tests/engines/native/test_cuda_graphs.py tests/engines/native/test_runner_fast.py -k 'cuda or triton or bfloat16 or bf16'"
  [fsdp2]="$PY -m torch.distributed.run --standalone --nproc_per_node=1 benchmarks/bench_train.py --model random:llama-3.2-1b --steps 10 --warmup 3 --device cuda --out $RESULTS/train-fsdp2-1gpu.json"
  [kernels]="$PY benchmarks/bench_boundary_stats.py --device cuda --out $RESULTS/boundary_stats-cuda.json"
  [calibrate]="$PY benchmarks/bench_calibrate.py --model $MODEL --dtype bfloat16 --device cuda --seq-len 2048 --batch-size 4 --batches 6 --reps 3 --out $RESULTS/calibrate-cuda-llama8b.json"
  [decode]="$PY benchmarks/bench_generate.py --model $MODEL --dtype bfloat16 --device cuda --batches 1,64 --new-tokens 64 --repeats 5 --continuous 256 --max-seq-len 1024 $HF_COMPILE --out $RESULTS/generate-cuda-llama8b.json"
  [depth]="$PY -m fastprune bench $MODEL --drop-layers 8 --batch-sizes 1,64 --prompt-len 512 --new-tokens 64 --repeats 5 --rounds 2 --dtype bfloat16 --device cuda --out $RESULTS/bench-cuda-llama8b"
)
ORDER=(tests fsdp2 kernels calibrate decode depth)
SELECTED=${STEPS:-${ORDER[*]}}
for name in $SELECTED; do
  [ -n "${CMD[$name]+x}" ] || { echo "error: unknown step '$name'; steps: ${ORDER[*]}" >&2; exit 2; }
done

if [ "$DRY" = 0 ]; then
  $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "error: no CUDA device visible to $PY; use --dry-run to list the steps" >&2; exit 2; }
  mkdir -p "$RESULTS"
fi
failed=0
start=$(date +%s)
for name in $SELECTED; do
  if [ "$DRY" = 1 ]; then
    echo "$name: ${CMD[$name]}"
    continue
  fi
  t0=$(date +%s)
  echo "== $name: ${CMD[$name]}" >&2
  if bash -c "${CMD[$name]}"; then status=ok; else status=FAILED; failed=$((failed + 1)); fi
  echo "== $name: $status in $(( $(date +%s) - t0 )) s" >&2
done
[ "$DRY" = 1 ] || echo "gpu_suite: $failed step(s) failed; $(( $(date +%s) - start )) s in all; JSON in $RESULTS" >&2
exit $failed
