// loop_bench: how well the evolution loop fills its slots, and what lineage itself costs per task run.
//
// The fake model answers every call after a fixed latency; a scripted agent (tests/orchestrator/data/)
// solves trivial tasks whose tests take milliseconds. So a child's time is almost all model latency, and
// with N children in flight the ideal throughput is N times that of one. The bench prints the fraction of
// that ideal reached at each N, and, per task run, the time that is neither the agent (its model call
// included) nor the tests: preparing the workspace, copying it for scoring, recording.
//
//   loop_bench [--latency-ms 300] [--children 16] [--tasks 2] [--in-flight 1,4,16]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sstream>
#include <unistd.h>

#include "archive/archive.h"
#include "base/files.h"
#include "base/safe_tree.h"
#include "llm/fake_server.h"
#include "orchestrator/evolution.h"
#include "orchestrator/runs.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Args {
  int latency_ms = 300, children = 16, tasks = 2;
  std::vector<int> in_flight = {1, 4, 16};
};

void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  if (!lineage::WriteFileAtomic(path, text).ok()) std::fprintf(stderr, "cannot write %s\n", path.c_str());
}

std::string Script(int latency_ms) {
  json diagnosis = {{"log_summarization", "ok"}, {"potential_improvements", "ok"}, {"improvement_proposal", "ok"},
                    {"implementation_suggestion", "append a note"}, {"problem_description", "MODE: append"}};
  json responses = json::array({
      {{"match", "^Write 42"}, {"text", json{{"write", {{"answer.txt", "42\n"}}}}.dump()}, {"delay_ms", latency_ms}},
      {{"match", "MODE: append"}, {"text", json{{"append", {{"notes.md", "note\n"}}}}.dump()}, {"delay_ms", latency_ms}},
      {{"text", diagnosis.dump()}, {"delay_ms", latency_ms}},
  });
  return json{{"responses", responses}, {"when_exhausted", "cycle"}}.dump();
}

struct Measured {
  double seconds = 0;            // from the first child started to the run's end
  double children_per_minute = 0;
  std::vector<double> overhead_ms;  // per task run: total - agent - tests
};

Measured RunOnce(const Args& args, int in_flight, const std::string& url, const fs::path& dir) {
  const fs::path suite = dir / "suite";
  for (int t = 0; t < args.tasks; ++t) {
    const fs::path task = suite / ("t" + std::to_string(t));
    WriteText(task / "task.toml", "instruction = \"Write 42 into answer.txt.\"\nlanguage = \"text\"\n"
                                  "test = \"grep -qx 42 answer.txt\"\n");
    WriteText(task / "workspace" / "answer.txt", "?\n");
  }
  const std::string toml =
      "name = \"loop bench\"\nseed_agent = \"" + (fs::path(LINEAGE_SOURCE_DIR) / "tests/orchestrator/data/scripted_agent").string() +
      "\"\n[models.default]\nprovider = \"openai\"\nbase_url = \"" + url + "/v1\"\nmodel = \"gpt-4.1-mini\"\n"
      "[budget]\nchildren = " + std::to_string(args.children) + "\n[concurrency]\nchildren = " + std::to_string(in_flight) +
      "\nsandboxes = " + std::to_string(2 * in_flight + 2) + "\n[suites.bench]\nkind = \"taskdir\"\npath = \"" + suite.string() +
      "\"\n[[stages]]\nsuite = \"bench\"\n";
  WriteText(dir / "run.toml", toml);
  Measured m;
  auto config = lineage::LoadRunConfig(dir / "run.toml");
  auto archive = lineage::Archive::Init(dir / "home");
  auto sandbox = lineage::Sandbox::Create(lineage::Sandbox::Backend::kBwrap);
  if (!config.ok() || !archive.ok() || !sandbox.ok()) {
    std::fprintf(stderr, "setup failed: %s %s %s\n", config.status().ToString().c_str(), archive.status().ToString().c_str(),
                 sandbox.status().ToString().c_str());
    return m;
  }
  auto run = lineage::CreateRun(**archive, *config);
  Clock::time_point first_child{};
  lineage::EvolutionOptions options;
  options.home = dir / "home";
  options.sandbox = sandbox->get();
  options.on_progress = [&](const std::string& line) {
    if (first_child == Clock::time_point{} && line.rfind("attempt ", 0) == 0) first_child = Clock::now();
  };
  auto status = lineage::RunEvolution(**archive, *run, options);
  const auto end = Clock::now();
  if (!status.ok()) {
    std::fprintf(stderr, "run failed: %s\n", status.status().ToString().c_str());
    return m;
  }
  m.seconds = std::chrono::duration<double>(end - first_child).count();
  m.children_per_minute = args.children / m.seconds * 60;
  auto agents = (*archive)->ListAgents(*run);
  for (const lineage::Agent& a : *agents) {
    if (!a.parent_id) continue;
    auto evaluations = (*archive)->ListEvaluations(a.id);
    if (!evaluations.ok()) continue;
    for (const lineage::Evaluation& e : *evaluations) {
      json log = json::parse(*(*archive)->GetBlob(e.log_blob), nullptr, false);
      if (!log.is_object()) continue;
      const double agent_ms = log["agent"].value("wall_ms", 0.0), test_ms = log["tests"].value("wall_ms", 0.0);
      m.overhead_ms.push_back(static_cast<double>(e.duration_ms) - agent_ms - test_ms);
    }
  }
  return m;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--latency-ms") args.latency_ms = std::stoi(value);
    else if (flag == "--children") args.children = std::stoi(value);
    else if (flag == "--tasks") args.tasks = std::stoi(value);
    else if (flag == "--in-flight") {
      args.in_flight.clear();
      std::stringstream list(value);
      for (std::string n; std::getline(list, n, ',');) args.in_flight.push_back(std::stoi(n));
    } else {
      std::fprintf(stderr, "usage: loop_bench [--latency-ms N] [--children N] [--tasks N] [--in-flight 1,4,16]\n");
      return 1;
    }
  }
  auto fake = lineage::llm::FakeModelServer::Start(Script(args.latency_ms), "loop_bench");
  if (!fake.ok()) return 2;
  std::printf("loop_bench: %d children per run, %d tasks each, model latency %d ms per call\n", args.children,
              args.tasks, args.latency_ms);
  std::printf("%-10s %10s %14s %10s %22s\n", "in flight", "seconds", "children/min", "of ideal",
              "overhead/task p50,p90");
  double single = 0;
  for (int n : args.in_flight) {
    const fs::path dir = fs::temp_directory_path() / ("lineage-loop-bench-" + std::to_string(getpid()) + "-" + std::to_string(n));
    fs::remove_all(dir);
    Measured m = RunOnce(args, n, (*fake)->url(), dir);
    if (n == args.in_flight.front()) single = m.children_per_minute / n;
    const double ideal = single * n;
    std::printf("%-10d %10.1f %14.1f %9.0f%% %12.0f,%6.0f ms\n", n, m.seconds, m.children_per_minute,
                ideal > 0 ? 100.0 * m.children_per_minute / ideal : 0.0, Percentile(m.overhead_ms, 0.5),
                Percentile(m.overhead_ms, 0.9));
    fs::remove_all(dir);
  }
  return 0;
}
