#!/usr/bin/env bash
# bash scripts/gpu-check.sh        on a machine with an NVIDIA GPU (CI never needs one)
#
# Runs the gpu-marked tests, `trn doctor devices=gpu`, a one-GPU training run and (when present)
# the overhead benchmark on the GPU, then prints a summary. Each step has its own time limit so
# the whole check ends in under 8 minutes; exit 0 only when every step passed.
set -u
cd "$(dirname "$0")/.."
export TRN_HOME="${TRN_HOME:-$(mktemp -d -t trn-gpu-check-XXXX)}"
export PYTHONUNBUFFERED=1
LOGS="${GPU_CHECK_LOGS:-$TRN_HOME/gpu-check}"
mkdir -p "$LOGS"
PY="${PYTHON:-python}"
declare -a SUMMARY=()
FAILED=0
T0=$(date +%s)

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $LOGS/NAME.log
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  tail -n 15 "$LOGS/$name.log"
  local verdict=ok
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then verdict="TIMED OUT"; fi
  if [ "$rc" -ne 0 ] && [ "$verdict" = ok ]; then verdict="FAILED (exit $rc)"; fi
  [ "$verdict" = ok ] || FAILED=1
  SUMMARY+=("$(printf '%-12s %-20s %4ss  %s' "$name" "$verdict" "$(($(date +%s) - start))" "$LOGS/$name.log")")
}

command -v nvidia-smi >/dev/null && nvidia-smi -L
step gpu-tests 150 "$PY" -m pytest -q -m gpu -rs -p no:cacheprovider tests
step doctor 60 "$PY" -m trn doctor devices=gpu
step train 120 "$PY" -m trn run --json profile=dev devices=gpu trainer.max_epochs=2
if [ -f benchmarks/overhead.py ]; then
  step overhead 150 "$PY" benchmarks/overhead.py --accelerator gpu --epochs 5
else
  SUMMARY+=("$(printf '%-12s %-20s' overhead 'skipped (no benchmarks/overhead.py)')")
fi

echo
echo "gpu-check summary ($(($(date +%s) - T0))s, TRN_HOME=$TRN_HOME)"
printf '  %s\n' "${SUMMARY[@]}"
if [ -f "$LOGS/train.log" ]; then  # the job record's last line: state and devices
  "$PY" - "$LOGS/train.log" <<'PY' || true
import json, sys
for line in reversed(open(sys.argv[1]).read().splitlines()):
    if line.startswith("{"):
        r = json.loads(line)
        print(f"  train job {r['job_id']}: {r['state']} on {' '.join(r['devices'])} {r.get('metrics', {})}")
        break
PY
fi
grep -E "steps/s|x$" "$LOGS/overhead.log" 2>/dev/null | sed 's/^/  /'
exit "$FAILED"
