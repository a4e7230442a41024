// The conductor's tools: bash returns when the command does, tools are dispatched from their one
// declaration, and the editor stays inside the workspace.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "../src/tools.h"

namespace conductor {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "conductor-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

TEST_CASE("bash returns when the command exits, while a background job keeps running") {
  TempDir ws;
  ToolOutput r = RunBash("sleep 30 & echo started", ws.path, /*timeout_seconds=*/10, 16000);
  CHECK_FALSE(r.is_error);
  CHECK(r.text.find("started") != std::string::npos);
  CHECK(r.text.find("[exit code 0]") != std::string::npos);
  CHECK(r.text.find("timed out") == std::string::npos);
  // A background job whose output goes to a file can be read later.
  RunBash("(sleep 0.2; echo later > bg.log) &", ws.path, 10, 16000);
  ToolOutput later = RunBash("sleep 1; cat bg.log", ws.path, 10, 16000);
  CHECK(later.text.find("later") != std::string::npos);
}

TEST_CASE("bash waits for a command that closed its output, without spinning") {
  TempDir ws;
  const std::clock_t cpu_before = std::clock();
  ToolOutput r = RunBash("exec >/dev/null 2>&1; sleep 1", ws.path, 10, 16000);
  CHECK(r.text.find("[exit code 0]") != std::string::npos);
  // Polling a closed pipe returns at once, forever: the loop must stop polling it, not burn a core.
  CHECK(static_cast<double>(std::clock() - cpu_before) / CLOCKS_PER_SEC < 0.5);
}

TEST_CASE("bash reports the exit code, kills a command at its timeout, and clips what never stops") {
  TempDir ws;
  ToolOutput failed = RunBash("echo oops >&2; exit 3", ws.path, 10, 16000);
  CHECK(failed.is_error);
  CHECK(failed.text.find("oops") != std::string::npos);
  CHECK(failed.text.find("[exit code 3]") != std::string::npos);
  ToolOutput slow = RunBash("echo begun; sleep 30", ws.path, 1, 16000);
  CHECK(slow.is_error);
  CHECK(slow.text.find("begun") != std::string::npos);
  CHECK(slow.text.find("timed out after 1 s") != std::string::npos);
  ToolOutput flood = RunBash("yes 0123456789", ws.path, 1, 16000);
  CHECK(flood.text.find("bytes clipped") != std::string::npos);
  CHECK(flood.text.size() < 20000);
}

std::vector<Tool> Sample(std::string* seen) {
  return {{"echo", "Echo the text.", {{"text", {{"type", "string"}}, true}, {"times", {{"type", "integer"}}}},
           [seen](const json& args) {
             *seen = args["text"];
             return ToolOutput{args["text"], false};
           }},
          {"noop", "Nothing.", {}, [](const json&) { return ToolOutput{"ok", false}; }}};
}

TEST_CASE("a tool is offered and dispatched from its one declaration") {
  std::string seen;
  const std::vector<Tool> tools = Sample(&seen);
  const json schemas = Schemas(tools);
  REQUIRE(schemas.size() == 2);
  CHECK(schemas[0]["function"]["name"] == "echo");
  CHECK(schemas[0]["function"]["parameters"]["required"] == json::array({"text"}));
  CHECK(schemas[0]["function"]["parameters"]["properties"]["times"]["type"] == "integer");

  json args;
  CHECK(Dispatch(tools, "echo", R"({"text": "hi"})", &args).text == "hi");
  CHECK(seen == "hi");
  ToolOutput unknown = Dispatch(tools, "teleport", "{}", &args);
  CHECK(unknown.is_error);
  CHECK(unknown.text == "unknown tool 'teleport'; the tools are echo, noop");
  ToolOutput bad_json = Dispatch(tools, "echo", R"({"text": "hi)", &args);
  CHECK(bad_json.text.find("not a valid JSON object") != std::string::npos);
  CHECK(args == R"({"text": "hi)");
  CHECK(Dispatch(tools, "echo", "{}", &args).text == "`text` (a string) is required");
  CHECK(Dispatch(tools, "echo", R"({"text": 5})", &args).text == "`text` (a string) is required");
  CHECK(Dispatch(tools, "noop", "", &args).text == "ok");
}

TEST_CASE("the editor edits exactly once, undoes, and never leaves the workspace") {
  TempDir ws;
  Write(ws.path / "a.txt", "one\ntwo\ntwo\n");
  Editor editor(ws.path, 16000);
  CHECK(editor.Run({{"command", "view"}, {"path", "a.txt"}}).text == "1\tone\n2\ttwo\n3\ttwo\n");
  CHECK(editor.Run({{"command", "str_replace"}, {"path", "a.txt"}, {"old_str", "two"}, {"new_str", "2"}}).text.find(
            "occurs 2 times") != std::string::npos);
  CHECK_FALSE(editor.Run({{"command", "str_replace"}, {"path", "a.txt"}, {"old_str", "one"}, {"new_str", "1"}}).is_error);
  CHECK(Read(ws.path / "a.txt") == "1\ntwo\ntwo\n");
  CHECK_FALSE(editor.Run({{"command", "insert"}, {"path", "a.txt"}, {"insert_line", 0}, {"new_str", "zero"}}).is_error);
  CHECK(Read(ws.path / "a.txt") == "zero\n1\ntwo\ntwo\n");
  CHECK_FALSE(editor.Run({{"command", "undo_edit"}, {"path", "a.txt"}}).is_error);
  CHECK_FALSE(editor.Run({{"command", "undo_edit"}, {"path", "a.txt"}}).is_error);
  CHECK(Read(ws.path / "a.txt") == "one\ntwo\ntwo\n");
  CHECK(editor.Run({{"command", "create"}, {"path", "a.txt"}, {"file_text", "x"}}).text.find("already exists") !=
        std::string::npos);
  for (const char* outside : {"../escape.txt", "/etc/passwd", "sub/../../x"}) {
    ToolOutput r = editor.Run({{"command", "view"}, {"path", outside}});
    CHECK(r.is_error);
    CHECK(r.text.find("outside the workspace") != std::string::npos);
  }
}

}  // namespace
}  // namespace conductor
