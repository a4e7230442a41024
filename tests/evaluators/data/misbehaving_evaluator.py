#!/usr/bin/env python3
"""An exec evaluator that misbehaves on purpose, one way per task, for lineage's tests:
good works; crash dies while scoring; hang never answers a score; garbage answers with something not JSON."""
import json
import os
import sys
import time

request = json.loads(sys.stdin.readline())
op, task = request["op"], request.get("task")
if op == "list":
    print(json.dumps({"tasks": [{"id": t, "language": "text", "test_timeout_s": 2}
                                for t in ["crash", "garbage", "good", "hang"]]}))
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
        print("this is not json")
        sys.exit(0)
    solved = open(path).read().strip() == "42"
    print(json.dumps({"solved": solved, "output": "answer.txt checked"}))
