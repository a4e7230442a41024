#!/usr/bin/env bash
# A short tour of the archive: import an agent, add hand-made variants, inspect the tree, diff, export,
# check consistency. Uses a throwaway home unless LINEAGE_HOME is set.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lineage="${LINEAGE_BIN:-$root/build/${LINEAGE_PRESET:-dev}/cli/lineage}"
[ -x "$lineage" ] || { echo "demo: $lineage is missing; run scripts/setup.sh first" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
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
