// The loop's fast tier: a scripted stand-in for the sandbox that runs nothing, a tiny benchmark suite it can
// score, and a fake model answering diagnoses with the modes a test lists. With these a whole run takes
// milliseconds, so every rejection reason, budget, pause, stop and resume of the loop gets its own test.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "base/files.h"
#include "llm/fake_server.h"
#include "llm/llm.h"
#include "sandbox/sandbox.h"
#include "tests/support/test_support.h"

namespace lineage::test {

// Recognises the three kinds of work the loop sandboxes by their environment, and plays each from the
// files involved:
//   build      fails (exit 2) when the agent's tree holds BROKEN, else succeeds;
//   agent run  a self-modification applies its instruction's "MODE: <mode>": good appends to notes.md,
//              same writes same.txt (always the same file), unique a file no other child writes,
//              empty changes nothing, break writes BROKEN, noop writes mode.txt (the agent then leaves
//              benchmark tasks alone), fifo leaves a FIFO lineage will not read, dotgit a file named
//              .git. A benchmark task is
//              answered (answer.txt holds 42) unless the agent's tree holds mode.txt;
//   scoring    writes a JUnit report in which test_answer passes when the workspace holds the answer.
// Before a self-modification or a task, the agent asks its model once, through the run's real gateway
// ("AGENT-CALL <task>"); when that call fails it gives up and changes nothing, as a real agent would.
class ScriptedSandbox : public Sandbox {
 public:
  enum class Kind { kBuild, kSelfModify, kTask, kScoring };

  // Called before each run plays, with its kind and how many of that kind came before (0 for the first).
  // Tests pause, stop or move the clock here.
  std::function<void(Kind, int)> on_run;

  int count(Kind kind) {
    std::lock_guard lock(mu_);
    return counts_[static_cast<int>(kind)];
  }

  Result<SandboxResult> Run(const SandboxSpec& given) override {
    SandboxSpec spec = given;  // a scoring copy held in memory is read from its directory here
    LINEAGE_RETURN_IF_ERROR(WriteMountFiles(spec));
    const Kind kind = KindOf(spec);
    int before = 0;
    {
      std::lock_guard lock(mu_);
      before = counts_[static_cast<int>(kind)]++;
    }
    if (on_run) on_run(kind, before);
    SandboxResult r;
    r.exit_code = 0;
    switch (kind) {
      case Kind::kBuild:
        if (std::filesystem::exists(Host(spec, "/agent") / "BROKEN")) {
          r.exit_code = 2;
          r.stderr_text = "extra.py: syntax error\n";
        }
        break;
      case Kind::kSelfModify:
        if (AskModel(spec, 100)) SelfModify(spec);
        break;
      case Kind::kTask:
        if (AskModel(spec, 3000) && !std::filesystem::exists(Host(spec, "/agent") / "mode.txt")) {
          WriteFile(Host(spec, "/workspace") / "answer.txt", "42\n");
        }
        Finished(spec);
        break;
      case Kind::kScoring: Score(spec); break;
    }
    return r;
  }

  std::vector<std::string> EnforcedLimits() const override { return {"none: scripted, nothing runs"}; }

 private:
  static Kind KindOf(const SandboxSpec& spec) {
    if (spec.env.count("LINEAGE_REPORT_DIR")) return Kind::kScoring;
    if (!spec.env.count("LINEAGE_TASK")) return Kind::kBuild;
    auto task = ReadFile(Host(spec, "/lineage/in") / "task.json");
    REQUIRE(task.ok());
    return nlohmann::json::parse(*task)["task_id"] == "self-modify" ? Kind::kSelfModify : Kind::kTask;
  }

  // Where the mount at `inside` lives on the host.
  static std::filesystem::path Host(const SandboxSpec& spec, const std::string& inside) {
    for (const SandboxMount& m : spec.mounts) {
      if (m.inside == inside) return m.host;
    }
    FAIL("no mount at " << inside);
    return {};
  }

  // One call through the gateway the run gave this sandbox, as the agent inside would make it. A task's
  // call asks for more tokens than a self-modification's, so that a budget can run out mid-evaluation.
  static bool AskModel(const SandboxSpec& spec, int max_tokens) {
    llm::ModelConfig m;
    m.alias = "conductor";
    m.provider = llm::Provider::kOpenAI;
    m.base_url = "http://lineage-gateway/v1";
    m.unix_socket = spec.socket_host;
    m.model = "conductor";
    m.max_retries = 0;
    m.default_max_tokens = max_tokens;
    m.gateway_token = spec.env.at("LINEAGE_GATEWAY_TOKEN");
    llm::ModelClient client(llm::ModelsConfig{"the scripted agent", {m}});
    llm::ChatRequest request;
    auto task = ReadFile(Host(spec, "/lineage/in") / "task.json");
    request.messages = {llm::Message::User("AGENT-CALL " + nlohmann::json::parse(*task)["task_id"].get<std::string>())};
    return client.Call("conductor", request).ok();
  }

  static void SelfModify(const SandboxSpec& spec) {
    auto task = ReadFile(Host(spec, "/lineage/in") / "task.json");
    REQUIRE(task.ok());
    std::smatch m;
    const std::string instruction = nlohmann::json::parse(*task)["instruction"];
    REQUIRE(std::regex_search(instruction, m, std::regex("MODE: (\\w+)")));
    const std::string mode = m[1];
    const std::filesystem::path workspace = Host(spec, "/workspace");
    if (mode == "good") {
      auto notes = ReadFile(workspace / "notes.md");
      WriteFile(workspace / "notes.md", (notes.ok() ? *notes : "") + "Read the tests first.\n");
    } else if (mode == "unique") {
      static std::atomic<int> serial{0};
      WriteFile(workspace / ("change-" + std::to_string(++serial) + ".txt"), "a change no other child makes\n");
    } else if (mode == "same") {
      WriteFile(workspace / "same.txt", "the same change, whoever makes it\n");
    } else if (mode == "break") {
      WriteFile(workspace / "BROKEN", "");
    } else if (mode == "noop") {
      WriteFile(workspace / "mode.txt", "noop\n");
    } else if (mode == "fifo") {
      REQUIRE(::mkfifo((workspace / "pipe").c_str(), 0600) == 0);
    } else if (mode == "dotgit") {
      WriteFile(workspace / ".git", "gitdir: /etc\n");  // a file, which no tree may hold
    }
    Finished(spec);
  }

  static void Finished(const SandboxSpec& spec) {
    WriteFile(Host(spec, "/lineage/out") / "result.json", R"({"status": "finished", "summary": "scripted", "rounds": 1})");
  }

  static void Score(const SandboxSpec& spec) {
    const auto answer = ReadFile(Host(spec, spec.workdir) / "answer.txt");
    const bool solved = answer.ok() && *answer == "42\n";
    WriteFile(Host(spec, "/lineage/report") / "junit.xml",
              std::string("<testsuite><testcase classname=\"test_task\" name=\"test_answer\">") +
                  (solved ? "" : "<failure message=\"no answer\"/>") + "</testcase></testsuite>\n");
  }

  std::mutex mu_;
  int counts_[4] = {0, 0, 0, 0};
};

// A taskdir suite of three tasks (t1, t2 for stage 1, t3 for stage 2) that ScriptedSandbox scores, and a
// seed agent, under `dir`.
inline void WriteFastWorld(const std::filesystem::path& dir) {
  WriteFile(dir / "suite" / "suite.toml", "name = \"fast\"\n");
  for (const char* task : {"t1", "t2", "t3"}) {
    const std::filesystem::path t = dir / "suite" / task;
    WriteFile(t / "task.toml", std::string("instruction = \"Write 42 into answer.txt (") + task +
                                   ").\"\nlanguage = \"python\"\ntest = \"check\"\n");
    WriteFile(t / "workspace" / "README.md", "a task\n");
    WriteFile(t / "tests" / "test_task.py", "def test_answer():\n    assert open('answer.txt').read() == '42\\n'\n");
  }
  WriteFile(dir / "seed" / "agent.toml",
            "protocol = 1\nname = \"scripted\"\n[build]\ncommand = \"build\"\n[run]\ncommand = \"run\"\n");
  WriteFile(dir / "seed" / "notes.md", "notes\n");
  // git orders "lib.txt" before "lib/x.txt", a directory walk after: the loop must not care.
  WriteFile(dir / "seed" / "lib.txt", "a file\n");
  WriteFile(dir / "seed" / "lib" / "x.txt", "a file in a directory\n");
}

// A run configuration over the fast world; `budget` goes in [budget], `extra` is appended (a table).
// `provider`: the kind of upstream the fake model stands for, "openai" or "anthropic".
inline std::string FastRunToml(const std::filesystem::path& dir, const std::string& model_url, int children,
                               const std::string& budget = "", const std::string& extra = "",
                               const std::string& provider = "openai", int in_flight = 1) {
  const bool openai = provider == "openai";
  return "name = \"fast\"\nseed_agent = \"" + (dir / "seed").string() + "\"\nrandom_seed = 7\n"
         "[models.default]\nprovider = \"" + provider + "\"\nbase_url = \"" + model_url + (openai ? "/v1" : "") +
         "\"\nmodel = \"" + (openai ? "gpt-4.1-mini" : "claude-sonnet-4-5") + "\"\n"
         "max_retries = 0\ndefault_max_tokens = 3000\n"
         "[budget]\nchildren = " + std::to_string(children) + "\n" + budget +
         "[concurrency]\nchildren = " + std::to_string(in_flight) + "\nsandboxes = 2\n"
         "[suites.fast]\nkind = \"taskdir\"\npath = \"" + (dir / "suite").string() + "\"\n"
         "[[stages]]\nsuite = \"fast\"\ntasks = [\"t1\", \"t2\"]\nthreshold = 0.5\n"
         "[[stages]]\nsuite = \"fast\"\ntasks = [\"t3\"]\n" + extra;
}

// A fake model whose diagnoses name these modes in turn, then again. An entry that is not a mode is sent
// as the whole answer (text that is no diagnosis), and "fault" answers HTTP 400. The agents' own calls are
// answered by a `match` entry, which does not move the diagnoses on. `outages` go in the script as they are
// (docs/fake-llm.md).
inline std::unique_ptr<llm::FakeModelServer> FastModel(const std::vector<std::string>& modes,
                                                        const nlohmann::json& outages = nlohmann::json::array()) {
  using nlohmann::json;
  json responses = json::array({{{"match", "^AGENT-CALL"}, {"text", "on it"}}, {{"match", "^lineage probe"}, {"text", "ok"}}});
  for (const std::string& mode : modes) {
    if (mode == "fault") {
      responses.push_back({{"fault", "bad_request"}, {"message", "the provider refused"}});
    } else if (mode.rfind("text:", 0) == 0) {
      responses.push_back({{"text", mode.substr(5)}});
    } else {
      json diagnosis = {{"log_summarization", "s"}, {"potential_improvements", "p"},
                        {"improvement_proposal", "make the change called " + mode},
                        {"implementation_suggestion", "edit the agent's files"},
                        {"problem_description", "MODE: " + mode}};
      responses.push_back({{"text", diagnosis.dump()}});
    }
  }
  auto fake = llm::FakeModelServer::Start(
      json{{"responses", responses}, {"when_exhausted", "cycle"}, {"outages", outages}}.dump(), "fast model");
  REQUIRE(fake.ok());
  return std::move(fake).value();
}

}  // namespace lineage::test
