#!/usr/bin/env bash
# Gold and unchanged validation of the whole Polyglot benchmark (225 exercises), with the figures
# docs/performance.md quotes: wall time, mean per task per language, and lineage's own share per task.
#
#   scripts/polyglot-validate.sh [BENCHMARK_DIR] [PARALLEL]
#
# BENCHMARK_DIR defaults to $POLYGLOT_BENCHMARK, else ../shared/data/polyglot-benchmark beside the
# repository; PARALLEL to 2. Exits 1 when a task does not behave (a reference that fails, a stub that passes).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-${POLYGLOT_BENCHMARK:-$(cd .. && pwd)/shared/data/polyglot-benchmark}}"
parallel="${2:-2}"
lineage="$(command -v lineage || echo build/dev/cli/lineage)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

echo "polyglot-validate: gold and unchanged on $dir, $parallel at a time, with $lineage"
start=$(date +%s.%N)
status=0
LINEAGE_HOME="$(mktemp -d)" "$lineage" bench validate --gold --unchanged --suite "polyglot:$dir" \
  --parallel "$parallel" --json >"$out" || status=$?
end=$(date +%s.%N)

python3 - "$out" "$start" "$end" <<'PY'
import json, sys
from collections import defaultdict
report = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
rows = defaultdict(lambda: defaultdict(list))
for r in report["results"]:
    rows[r["language"]][r["check"]].append(r)
print(f"{report['tasks']} tasks, both checks in {wall:.0f} s of wall time")
print(f"{'language':<11} {'tasks':>5} {'gold ok':>7} {'stub fails':>10} {'skipped':>7} "
      f"{'mean/task':>9} {'tests':>7} {'lineage':>7}")
for language in sorted(rows):
    gold, unchanged = rows[language]["gold"], rows[language]["unchanged"]
    ran = [r for r in gold if r["outcome"] != "skipped"]
    mean = lambda xs: sum(xs) / len(xs) / 1000 if xs else 0
    print(f"{language:<11} {len(gold):>5} {sum(r['outcome'] == 'solved' for r in gold):>7} "
          f"{sum(r['outcome'] in ('failed', 'timeout') for r in unchanged):>10} {len(gold) - len(ran):>7} "
          f"{mean([r['duration_ms'] for r in ran]):>8.2f}s {mean([r['test_ms'] for r in ran]):>6.2f}s "
          f"{mean([r['duration_ms'] - r['test_ms'] for r in ran]):>6.3f}s")
print("mean/task: one gold task from start to verdict; tests: the test command's sandbox, start to exit;")
print("lineage: the rest (preparing the workspace, the reference, reading and copying it, laying the tests over)")
for s in report["skipped_tasks"]:
    print(f"skipped ({s['check']}) {s['task']}: {s['why']}")
for p in report["problems"]:
    print(f"PROBLEM {p['check']} {p['task']}: {p['why']}")
PY
exit "$status"
