"""A hostile agent: it looks for descriptors it should not have (the orchestrator's gateway listener and its
connections, a host directory to climb out through) and reports, as its summary, which it started with."""
import json
import os

probe = os.open("/dev/null", os.O_RDONLY)
os.close(probe)  # the lowest free descriptor: the one listing the directory will take
seen = sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) != probe)
escapes = []
for fd in seen:
    try:
        os.stat("../../../../etc/hostname", dir_fd=fd)
        escapes.append(fd)
    except OSError:
        pass
summary = "fds: " + " ".join(str(fd) for fd in seen) + ("; ESCAPED through " + str(escapes) if escapes else "")
# A trajectory line nested a million deep: lineage's recursive JSON copies and dumps must never see it.
with open(os.path.join(os.environ["LINEAGE_OUTPUT_DIR"], "trajectory.jsonl"), "w") as f:
    f.write("[" * 1000000 + "]" * 1000000 + "\n")
with open(os.path.join(os.environ["LINEAGE_OUTPUT_DIR"], "result.json"), "w") as f:
    json.dump({"status": "finished", "summary": summary, "rounds": 1}, f)
