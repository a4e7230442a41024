#!/usr/bin/env bash
# Gold and unchanged validation of every SWE-bench instance of a suite directory (by default the 68 shared
# ones), with the figures docs/performance.md quotes: resolved counts per repository and environment, wall
# time, the test command's time and lineage's own share per task, and the environments' build times and sizes.
#
#   scripts/swebench-validate.sh [SUITE_DIR] [PARALLEL]
#
# SUITE_DIR defaults to $SWEBENCH_DATA, else ../shared/data/swe-bench beside the repository; PARALLEL to 2.
# Environments are built (once) in $LINEAGE_HOME, by default ~/.lineage-swebench. Exits 1 when a task does
# not behave (a gold patch that does not resolve, an unchanged tree that does). $LINEAGE_BIN picks the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-${SWEBENCH_DATA:-$(cd .. && pwd)/shared/data/swe-bench}}"
parallel="${2:-2}"
lineage="${LINEAGE_BIN:-$(command -v lineage || echo build/dev/cli/lineage)}"
export LINEAGE_HOME="${LINEAGE_HOME:-$HOME/.lineage-swebench}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

echo "swebench-validate: gold and unchanged on $dir, $parallel at a time, with $lineage (home $LINEAGE_HOME)"
"$lineage" env build --suite "swebench:$dir"
start=$(date +%s.%N)
status=0
"$lineage" bench validate --gold --unchanged --suite "swebench:$dir" --parallel "$parallel" --json >"$out" || status=$?
end=$(date +%s.%N)
"$lineage" env list --suite "swebench:$dir" --json >"$out.env"
"$lineage" bench list --suite "swebench:$dir" --json >"$out.tasks"

python3 - "$out" "$start" "$end" "$out.env" "$out.tasks" <<'PY'
import json, sys
from collections import defaultdict
report = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
envs = json.load(open(sys.argv[4]))
env_of = {t["id"]: t["environment"] for t in json.load(open(sys.argv[5]))["tasks"]}
rows = defaultdict(lambda: defaultdict(list))
for r in report["results"]:
    rows[(r["task"].split("__")[0], env_of.get(r["task"]))][r["check"]].append(r)
print(f"{report['tasks']} instances, both checks in {wall:.0f} s of wall time")
print(f"{'repository':<10} {'env':<6} {'tasks':>5} {'gold ok':>7} {'unch. fails':>11} {'mean/task':>9} {'tests':>7} {'lineage':>7}")
mean = lambda xs: sum(xs) / len(xs) / 1000 if xs else 0
for (repo, env) in sorted(rows, key=str):
    gold, unchanged = rows[(repo, env)]["gold"], rows[(repo, env)]["unchanged"]
    ran = [r for r in gold if r["outcome"] != "skipped"]
    print(f"{repo:<10} {env or '-':<6} {len(gold):>5} {sum(r['outcome'] == 'solved' for r in gold):>7} "
          f"{sum(r['outcome'] in ('failed', 'timeout') for r in unchanged):>11} "
          f"{mean([r['duration_ms'] for r in ran]):>8.2f}s {mean([r['test_ms'] for r in ran]):>6.2f}s "
          f"{mean([r['duration_ms'] - r['test_ms'] for r in ran]):>6.3f}s")
print("mean/task: one gold task from start to verdict; tests: the test command's sandbox, start to exit;")
print("lineage: the rest (writing the base tree, applying the gold patch on the host, reading and copying the")
print("         tree, laying the test patch's files over it, parsing the log)")
for e in envs:
    print(f"environment {e['name']} ({e['suite'] or e['image']}): {e['bytes'] / 2**20:.0f} MB, built in {e['build_ms'] / 1000:.0f} s")
for s in report.get("stale_tests", []):
    # A record can list hundreds (django__django-13321): name a few, count the rest (all are in --json).
    shown = ", ".join(s["tests"][:3]) + (f" and {len(s['tests']) - 3} more" if len(s["tests"]) > 3 else "")
    print(f"stale FAIL_TO_PASS entries of {s['task']} (pass before the fix): {shown}")
for s in report["skipped_tasks"]:
    print(f"skipped ({s['check']}) {s['task']}: {s['why']}")
for p in report["problems"]:
    print(f"PROBLEM {p['check']} {p['task']}: {p['why']}")
PY
rm -f "$out.env" "$out.tasks"
exit "$status"
