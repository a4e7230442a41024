#!/usr/bin/env bash
# A short tour: import an agent, add hand-made variants, inspect the tree, diff, export, check
# consistency; then reach a model the way agents do, through the gateway, with the fake model server
# standing in for a provider. Uses a throwaway home unless LINEAGE_HOME is set.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lineage="${LINEAGE_BIN:-$root/build/${LINEAGE_PRESET:-dev}/cli/lineage}"
[ -x "$lineage" ] || { echo "demo: $lineage is missing; run scripts/setup.sh first" >&2; exit 1; }

fake_llm="$(dirname "$lineage")/../llm/lineage-fake-llm"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export LINEAGE_HOME="${LINEAGE_HOME:-$work/home}"
step() { printf '\n\033[1m$ lineage %s\033[0m\n' "$*"; "$lineage" "$@"; }

# A toy agent: a prompt and a script.
mkdir -p "$work/agent/prompts"
printf 'You are a careful coding agent.\n' > "$work/agent/prompts/system.txt"
printf '#!/bin/sh\necho "solving: $1"\n' > "$work/agent/run.sh"
chmod +x "$work/agent/run.sh"

step init
step agent import "$work/agent" --name seed

# Two variants of the seed, and a grandchild.
printf 'You are a careful coding agent.\nAlways run the tests before you finish.\n' > "$work/agent/prompts/system.txt"
step agent add --parent 1 "$work/agent" --name run-tests --problem "the agent finishes without testing"
cp -r "$work/agent" "$work/agent2"
printf 'Plan first, then edit.\n' > "$work/agent2/prompts/planner.txt"
step agent add --parent 2 "$work/agent2" --name planner --problem "no plan before editing"
"$lineage" agent checkout 1 "$work/other" >/dev/null
mv "$work/other/run.sh" "$work/other/solve.sh"
step agent add --parent 1 "$work/other" --name renamed

step tree
step show 3
step diff 3
step export --format dot --out "$work/tree.dot"
step fsck
echo
echo "git sees the same lineage: git --git-dir=$LINEAGE_HOME/agents.git log --oneline agents/3"
git --git-dir="$LINEAGE_HOME/agents.git" log --oneline agents/3

# --- Models ---------------------------------------------------------------------------------------------
# The fake model server answers from a script; lineage reaches it like any OpenAI-compatible provider.
printf '%s\n' '{"responses": [{"text": "ok", "usage": {"input": 12, "output": 1}}], "when_exhausted": "repeat_last"}' \
  > "$work/script.json"
"$fake_llm" --script "$work/script.json" --listen 127.0.0.1:0 > "$work/fake.out" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/fake.out" && break; sleep 0.1; done
fake_url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/fake.out")
cat > "$work/models.toml" <<TOML
[models.default]
provider = "openai"
base_url = "$fake_url/v1"
model = "gpt-4.1-mini"
api_key_env = "DEMO_API_KEY"
TOML
export DEMO_API_KEY=demo-not-a-real-key
step models check --config "$work/models.toml"

# The gateway: agents call it on a Unix socket with a token, never with the provider's key.
"$lineage" gateway serve --config "$work/models.toml" --socket "$work/gateway.sock" --token demo-token \
  --agent 3 --purpose demo > "$work/gateway.out" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
for _ in $(seq 50); do [ -S "$work/gateway.sock" ] && break; sleep 0.1; done
printf '\n\033[1m$ curl --unix-socket gateway.sock http://gateway/v1/messages ...\033[0m\n'
curl -s --unix-socket "$work/gateway.sock" http://gateway/v1/messages -H 'x-api-key: demo-token' \
  -d '{"model": "default", "max_tokens": 16, "messages": [{"role": "user", "content": "Say ok."}]}'
echo
kill "$gateway_pid"
wait "$gateway_pid" 2>/dev/null || true
step show 3

# Benchmarks: the starter suite's reference solutions pass and its untouched stubs fail, in the sandbox.
step bench list
step bench validate --gold --unchanged --suite starter --parallel 2
