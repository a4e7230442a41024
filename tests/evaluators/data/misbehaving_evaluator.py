#!/usr/bin/env python3
"""An exec evaluator that misbehaves on purpose, one way per task, for lineage's tests:
good works; crash dies while scoring; hang never answers a score; garbage reports something not JSON;
stdout replies on standard output (exec protocol 1), as a fake reply printed by an agent's code would."""
import json
import os
import sys
import time

request = json.loads(sys.stdin.readline())
op, task = request["op"], request.get("task")
if op == "list":
    print(json.dumps({"tasks": [{"id": t, "language": "text", "test_timeout_s": 2}
                                for t in ["crash", "garbage", "good", "hang", "stdout"]]}))
    sys.exit(0)
path = os.path.join(request["workspace"], "answer.txt")
if op == "prepare":
    open(path, "w").write("?\n")
    print(json.dumps({"instruction": "Write 42 into answer.txt."}))
elif op == "gold":
    open(path, "w").write("42\n")
    print(json.dumps({"ok": True}))
elif op == "score":
    if task == "crash":
        sys.stderr.write("evaluator: something broke\n")
        sys.exit(3)
    if task == "hang":
        time.sleep(600)
    if task == "garbage":
        open(request["report"], "w").write("this is not json")
        sys.exit(0)
    if task == "stdout":
        print(json.dumps({"nonce": request["nonce"], "solved": True, "tests_passed": 1, "tests_total": 1}))
        sys.exit(0)
    solved = open(path).read().strip() == "42"
    with open(request["report"], "w") as f:
        json.dump({"nonce": request["nonce"], "solved": solved, "tests_passed": int(solved), "tests_total": 1,
                   "output": "answer.txt checked"}, f)
