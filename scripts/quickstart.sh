#!/usr/bin/env bash
# The quickstart: a short evolution of the seed conductor on the starter suite (examples/quickstart.toml).
# With OPENAI_API_KEY or ANTHROPIC_API_KEY set it uses that provider (and spends up to the configuration's
# $2 budget). Without a key it runs on lineage-fake-llm and a bundled script: the model is SCRIPTED, so this
# shows the machinery -- sandboxed builds, diagnosis, self-modification, staged evaluation, admission and
# rejection -- not real learning. The run goes into LINEAGE_HOME (default: .lineage-quickstart).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lineage="${LINEAGE_BIN:-$root/build/${LINEAGE_PRESET:-dev}/cli/lineage}"
[ -x "$lineage" ] || { echo "quickstart: $lineage is missing; run scripts/setup.sh first" >&2; exit 1; }
fake_llm="$(dirname "$lineage")/../llm/lineage-fake-llm"
export LINEAGE_HOME="${LINEAGE_HOME:-$root/.lineage-quickstart}"

work="$(mktemp -d)"
fake_pid=""
cleanup() { [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if [ -n "${OPENAI_API_KEY:-}" ]; then
  models="$root/examples/models-openai.toml"
  echo "quickstart: using OpenAI (OPENAI_API_KEY is set); the run's budget is \$2"
elif [ -n "${ANTHROPIC_API_KEY:-}" ]; then
  models="$root/examples/models-anthropic.toml"
  echo "quickstart: using Anthropic (ANTHROPIC_API_KEY is set); the run's budget is \$2"
else
  "$fake_llm" --script "$root/examples/quickstart-script.json" --listen 127.0.0.1:0 > "$work/fake.out" 2>&1 &
  fake_pid=$!
  for _ in $(seq 50); do grep -q listening "$work/fake.out" && break; sleep 0.1; done
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/fake.out")
  [ -n "$url" ] || { echo "quickstart: the fake model server did not start:" >&2; cat "$work/fake.out" >&2; exit 2; }
  models="$work/models.toml"
  printf '[models.default]\nprovider = "openai"\nbase_url = "%s/v1"\nmodel = "gpt-4.1-mini"\n' "$url" > "$models"
  cat <<'NOTE'
quickstart: no OPENAI_API_KEY or ANTHROPIC_API_KEY, so the model is SCRIPTED (lineage-fake-llm with
  examples/quickstart-script.json). Every answer is canned: this run shows the machinery, not real learning.
NOTE
fi

"$lineage" run validate "$root/examples/quickstart.toml" --models "$models"
"$lineage" run start "$root/examples/quickstart.toml" --models "$models" --foreground
run=$("$lineage" run list --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["run"])')
echo
"$lineage" run status "$run"
echo
"$lineage" tree
echo
# The "try" lines name a command that works as printed: `lineage` when it is on PATH, else this build's.
cmd="$lineage"
command -v lineage >/dev/null 2>&1 && cmd=lineage
echo "quickstart: the archive is in $LINEAGE_HOME; try:"
echo "  $cmd --home $LINEAGE_HOME tree"
echo "  $cmd --home $LINEAGE_HOME show 2"
echo "  $cmd --home $LINEAGE_HOME diff 2"
"$lineage" report "$run" --out "$LINEAGE_HOME/report-$run.html" >/dev/null
echo "quickstart: the run's report (open it in a browser): $LINEAGE_HOME/report-$run.html"
echo "quickstart: the dashboard, live: $cmd --home $LINEAGE_HOME daemon --http 127.0.0.1:8080"
