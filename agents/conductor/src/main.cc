// conductor: lineage's seed agent. Reads the task lineage wrote (LINEAGE_TASK), works in the current
// directory (the workspace) through lineage's model gateway, and writes result.json and trajectory.jsonl
// to LINEAGE_OUTPUT_DIR. Exit code 0 whenever it ran to an end; result.json says which.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "conductor.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string Env(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str(), nullptr, false);
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "conductor: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main() {
  const fs::path agent_dir = Env("LINEAGE_AGENT_DIR", CONDUCTOR_SOURCE_DIR);
  const fs::path output_dir = Env("LINEAGE_OUTPUT_DIR", ".");
  const json task = ReadJson(Env("LINEAGE_TASK", "task.json"));
  if (!task.is_object() || !task.contains("instruction")) return Fail("LINEAGE_TASK does not name a task file with an instruction");
  json config = ReadJson(agent_dir / "config.json");
  if (!config.is_object()) config = json::object();

  conductor::Settings s;
  s.workspace = task.value("workspace", fs::current_path().string());
  s.prompts = agent_dir / "prompts";
  s.instruction = task["instruction"].get<std::string>();
  const json models = task.value("models", json::object());
  s.conductor_model = models.value("conductor", "default");
  s.expert_model = models.value("expert", s.conductor_model);
  s.max_rounds = task.value("limits", json::object()).value("max_rounds", 30);
  s.bash_timeout_seconds = config.value("bash_timeout_seconds", 120);
  s.max_tool_output_bytes = config.value("max_tool_output_bytes", 16000);
  s.meta_reasoning = config.value("meta_reasoning", false);

  const std::string socket = Env("LINEAGE_GATEWAY_SOCKET"), url = Env("LINEAGE_GATEWAY_URL");
  if (socket.empty() && url.empty()) return Fail("neither LINEAGE_GATEWAY_SOCKET nor LINEAGE_GATEWAY_URL is set");
  conductor::GatewayModel model(socket, url, Env("LINEAGE_GATEWAY_TOKEN"), config.value("max_tokens", 4096));
  conductor::Trajectory trajectory(output_dir / "trajectory.jsonl");
  trajectory.Add({{"type", "start"}, {"instruction", s.instruction}, {"max_rounds", s.max_rounds}});

  conductor::Outcome outcome;
  try {
    outcome = conductor::RunConductor(s, model, trajectory);
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
  json result = {{"status", outcome.status}, {"summary", outcome.summary}, {"rounds", outcome.rounds}};
  std::ofstream(output_dir / "result.json") << result.dump(2) << "\n";
  std::printf("conductor: %s after %d rounds\n", outcome.status.c_str(), outcome.rounds);
  return 0;
}
