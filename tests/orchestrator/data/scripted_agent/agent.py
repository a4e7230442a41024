"""Asks the model once with the task's instruction and applies {"write": {path: content}} and
{"append": {path: content}} from its reply.
With mode.txt saying "noop" next to it, it does nothing at all (an agent that lost its editing ability)."""
import http.client
import json
import os
import socket


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("gateway", timeout=120)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def ask(model, text):
    conn = UnixConnection(os.environ["LINEAGE_GATEWAY_SOCKET"])
    body = json.dumps({"model": model, "max_tokens": 2000, "messages": [{"role": "user", "content": text}]})
    conn.request("POST", "/v1/chat/completions", body,
                 {"Authorization": "Bearer " + os.environ["LINEAGE_GATEWAY_TOKEN"],
                  "Content-Type": "application/json"})
    response = conn.getresponse()
    data = json.loads(response.read())
    if response.status != 200:
        return None
    return data["choices"][0]["message"]["content"] or ""


def edits_in(reply):
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        return {}
    try:
        return json.loads(reply[start:end + 1])
    except ValueError:
        return {}


def main():
    task = json.load(open(os.environ["LINEAGE_TASK"]))
    mode_file = os.path.join(os.environ["LINEAGE_AGENT_DIR"], "mode.txt")
    mode = open(mode_file).read().strip() if os.path.exists(mode_file) else "edit"
    status, written = "finished", []
    if mode != "noop":
        reply = ask(task["models"]["conductor"], task["instruction"])
        if reply is None:
            status = "model_error"
        else:
            edits = edits_in(reply)
            for mode_, key in (("w", "write"), ("a", "append")):
                for path, content in edits.get(key, {}).items():
                    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                    with open(path, mode_) as f:
                        f.write(content)
                    written.append(path)
    with open(os.path.join(os.environ["LINEAGE_OUTPUT_DIR"], "result.json"), "w") as f:
        json.dump({"status": status, "summary": "wrote " + ", ".join(written), "rounds": 1}, f)


main()
