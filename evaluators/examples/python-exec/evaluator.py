#!/usr/bin/env python3
"""An example lineage evaluator program (the `exec` format), using Python's standard library only.

lineage runs this program once per request: one JSON line arrives on standard input. docs/evaluators.md
documents the protocol (version 2).

  {"protocol": 2, "op": "list"}                                  -> {"tasks": [...], "subsets": {...}}
  {"protocol": 2, "op": "prepare", "task": ID, "workspace": DIR} -> {"instruction": "..."}
  {"protocol": 2, "op": "gold", "task": ID, "workspace": DIR}    -> {"ok": true}
  {"protocol": 2, "op": "score", "task": ID, "workspace": DIR, "report": FILE, "nonce": N}
      -> written to FILE: {"nonce": N, "solved": bool, "tests_passed": P, "tests_total": T, "score": 0..1,
                           "output": "..."}

list, prepare and gold reply on the last line of standard output. score runs inside lineage's sandbox (no
network; this directory read-only; the workspace at DIR), so it may run the agent's code: it runs the tests
in child processes, which never see the request (and so not its nonce), and it writes its verdict to FILE,
never to standard output, where the agent's code could print one.
"""
import json
import os
import subprocess
import sys

TASKS = {
    "clamp": {
        "instruction": "In clamp.py, implement clamp(x, lo, hi): x limited to the range [lo, hi].",
        "file": "clamp.py",
        "stub": "def clamp(x, lo, hi):\n    raise NotImplementedError\n",
        "gold": "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
        "checks": ["clamp(5, 0, 10) == 5", "clamp(-1, 0, 10) == 0", "clamp(11, 0, 10) == 10"],
    },
    "initials": {
        "instruction": "In initials.py, implement initials(name): the uppercased first letter of each word, "
                       "joined without spaces ('ada lovelace' gives 'AL').",
        "file": "initials.py",
        "stub": "def initials(name):\n    raise NotImplementedError\n",
        "gold": "def initials(name):\n    return ''.join(w[0].upper() for w in name.split())\n",
        "checks": ["initials('ada lovelace') == 'AL'", "initials('  grace  brewster hopper ') == 'GBH'",
                   "initials('') == ''"],
    },
    "digits": {
        "instruction": "In digits.py, implement digits(n): the list of the decimal digits of the non-negative "
                       "integer n, most significant first (digits(0) is [0]).",
        "file": "digits.py",
        "stub": "def digits(n):\n    raise NotImplementedError\n",
        "gold": "def digits(n):\n    return [int(c) for c in str(n)]\n",
        "checks": ["digits(0) == [0]", "digits(907) == [9, 0, 7]", "digits(10**20)[0] == 1"],
    },
}


def module_of(task):
    return task["file"][:-3]


def score(task, workspace):
    """Runs each check in a fresh Python process; returns (passed, output)."""
    passed, lines = 0, []
    for check in task["checks"]:
        code = f"import sys; sys.path.insert(0, {workspace!r})\nfrom {module_of(task)} import *\nassert {check}\n"
        try:
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10)
            ok = run.returncode == 0
            detail = run.stderr.strip().splitlines()[-1:] if not ok else []
        except subprocess.TimeoutExpired:
            ok, detail = False, ["timed out"]
        passed += ok
        lines.append(("ok   " if ok else "FAIL ") + check + ("  # " + detail[0] if detail else ""))
    return passed, "\n".join(lines)


def handle(request):
    op = request.get("op")
    if op == "list":
        return {"tasks": [{"id": tid, "language": "python", "tags": ["example"], "test_timeout_s": 60,
                           "tests": len(TASKS[tid]["checks"])} for tid in sorted(TASKS)],
                "subsets": {"first-two": ["clamp", "digits"]}}
    task = TASKS.get(request.get("task", ""))
    if task is None:
        return {"error": "no such task: %r" % request.get("task"), "code": "not_found"}
    workspace = request["workspace"]
    if op == "prepare":
        with open(os.path.join(workspace, task["file"]), "w") as f:
            f.write(task["stub"])
        return {"instruction": task["instruction"]}
    if op == "gold":
        with open(os.path.join(workspace, task["file"]), "w") as f:
            f.write(task["gold"])
        return {"ok": True}
    if op == "score":
        passed, output = score(task, workspace)
        total = len(task["checks"])
        verdict = {"nonce": request["nonce"], "solved": passed == total, "tests_passed": passed,
                   "tests_total": total, "score": passed / total, "output": output}
        with open(request["report"], "w") as f:
            json.dump(verdict, f)
        return {"ok": True}
    return {"error": "unknown op %r" % op}


def main():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(handle(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
