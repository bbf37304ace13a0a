#!/usr/bin/env bash
# Regenerate every measured number the README quotes, as JSON under benchmarks/results/ (each file records
# run_provenance(): commit, dirty flag, machine, threads, load, versions), then the README's tables from
# them (benchmarks/readme_tables.py). About 10-15 minutes on an idle 2-core CPU; on a loaded machine longer,
# and the noise flags in the JSONs say so.
#
#   benchmarks/run_all.sh                 # everything, embedded SmolLM2-135M, fp32, CPU
#   benchmarks/run_all.sh --dry-run       # list the steps only
#   PY=.venv/bin/python THREADS=2 benchmarks/run_all.sh
#   QUICK=1 benchmarks/run_all.sh         # fewer samples and tokens (a loaded machine); the JSONs record them
#
# Not regenerated here (timed by hand, each states its command in the README): `make demo`, `make test`,
# and the embedded model's first load.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
THREADS=${THREADS:-2}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
RESULTS=${RESULTS:-benchmarks/results}
# Written to a scratch folder first and moved in at the end: overwriting the tracked JSONs one by one would
# make every later script record a dirty checkout.
if [ "$DRY" = 1 ]; then OUT=${OUT:-SCRATCH}; else OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/fastprune-run-all.XXXXXX")}; fi
MODEL=${MODEL:-smollm2-135m}
if [ "${QUICK:-0}" = 1 ]; then
  CAL="--batches 3 --reps 3 --rss-tokens 1024"; GEN="--new-tokens 16 --repeats 3"; CONT=16; BUDGET=60
  OPS="--reps 3"; PYB="--benchmark-max-time=0.2 --benchmark-min-rounds=5"
  DEPTH="--prompt-len 64 --new-tokens 16 --repeats 2 --rounds 2"
else
  CAL=""; GEN="--new-tokens 32 --repeats 5"; CONT=32; BUDGET=180; OPS=""; PYB=""
  DEPTH="--prompt-len 128 --new-tokens 32 --repeats 3 --rounds 3"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

STEPS=(
  "boundary_stats|$PY benchmarks/bench_boundary_stats.py --device cpu --sizes 31x2048x576 --dtypes float32 --reps 7 --threads $THREADS --out $OUT/boundary_stats-cpu.json"
  "calibrate|$PY benchmarks/bench_calibrate.py --model $MODEL --threads $THREADS $CAL --out $OUT/calibrate-cpu-smollm2.json"
  "generate|$PY benchmarks/bench_generate.py --model $MODEL --batches 1,8 $GEN --continuous $CONT --hf-compile --hf-compile-budget $BUDGET --threads $THREADS --out $OUT/generate-cpu-smollm2.json"
  "generate_paper|$PY benchmarks/bench_generate.py --model $MODEL --batches 1,8 $GEN --sampling paper --threads $THREADS --out $OUT/generate-cpu-smollm2-paper-sampling.json"
  "decode_ops|$PY benchmarks/bench_decode_ops.py --config $MODEL --rows 1,8 $OPS --threads $THREADS --out $OUT/decode_ops-cpu.json"
  "sampling|$PY -m pytest benchmarks/test_bench_ops.py -q -k sampling_cpu $PYB --benchmark-json=$OUT/sampling-cpu.json"
  "depth|$PY -m fastprune bench $MODEL --drop-layers 4,8 --batch-sizes 1,8 $DEPTH --dtype float32 --device cpu --out $OUT/bench-cpu-smollm2"
)

[ "$DRY" = 1 ] || mkdir -p "$OUT"
start=$(date +%s)
for step in "${STEPS[@]}"; do
  name=${step%%|*}
  cmd=${step#*|}
  if [ "$DRY" = 1 ]; then
    echo "$name: $cmd"
    continue
  fi
  t0=$(date +%s)
  echo "== $name: $cmd (load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))" >&2
  OMP_NUM_THREADS=$THREADS $cmd
  echo "== $name: $(( $(date +%s) - t0 )) s" >&2
done
if [ "$DRY" = 1 ]; then
  echo "then: move $OUT/* into $RESULTS/ and run $PY benchmarks/readme_tables.py --results $RESULTS --write README.md"
  exit 0
fi
mkdir -p "$RESULTS"
cp -r "$OUT"/. "$RESULTS"/
$PY benchmarks/readme_tables.py --results "$RESULTS" --write README.md
echo "run_all: $(( $(date +%s) - start )) s in all; results in $RESULTS, README tables regenerated" >&2
