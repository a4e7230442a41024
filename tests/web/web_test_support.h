// Headless Chromium for the web tests: the DOM after the page's scripts ran, and screenshots kept as test
// artifacts in build/<preset>/tests/artifacts/.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <regex>
#include <set>
#include <string>

#include "archive/archive.h"
#include "tests/support/test_support.h"

namespace lineage::test {

inline const std::filesystem::path kArtifacts = LINEAGE_TEST_ARTIFACTS;

inline std::vector<std::string> ChromiumArgv(std::vector<std::string> extra) {
  std::vector<std::string> argv = {"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                   "--no-first-run", "--virtual-time-budget=5000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// Whether Debian's chromium (scripts/setup.sh installs it) is here; a test that needs it warns and skips.
inline bool HaveChromium() {
  if (std::filesystem::exists("/usr/bin/chromium")) return true;
  WARN("skipped: no /usr/bin/chromium (scripts/setup.sh installs Debian's chromium)");
  return false;
}

inline std::string RenderedDom(const std::string& url, const std::string& window_size = "") {
  std::vector<std::string> args = {"--dump-dom", url};
  if (!window_size.empty()) args.insert(args.begin(), "--window-size=" + window_size);
  auto r = RunCommand(ChromiumArgv(args));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

inline void Screenshot(const std::string& url, const std::filesystem::path& png, const std::string& window_size = "1280,1000") {
  std::filesystem::create_directories(png.parent_path());
  auto r = RunCommand(ChromiumArgv({"--window-size=" + window_size, "--screenshot=" + png.string(), url}));
  CHECK(r.exit_code == 0);
  CHECK(std::filesystem::exists(png));
  CHECK(std::filesystem::file_size(png) > 10000);
}

// Ids of the tree's nodes as rendered (the script's own text has "${a.id}" there, never digits).
inline std::set<std::string> NodeIds(const std::string& dom) {
  static const std::regex kNode(R"re(<a href="#/agent/(\d+)" class="node [^"]*" data-id="\d+")re");
  std::set<std::string> ids;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), kNode); it != std::sregex_iterator(); ++it) {
    ids.insert((*it)[1].str());
  }
  return ids;
}

// A run made straight through the archive, with no model and no sandbox, for views of large trees: a seed
// and `children` agents, each a child of the seed (2 in 5, as DGM's seeds have many) or of an earlier
// admitted agent; 1 in 4 is rejected, the rest admitted with a score out of 10 tasks. The same shape every
// time. Returns the run's id.
inline RunId MakeRun(const std::filesystem::path& home, int children) {
  auto archive = Archive::Init(home);
  REQUIRE(archive.ok());
  Archive& a = **archive;
  std::mt19937 rng(children);
  auto tree = [](const std::string& text) { return std::vector<TreeEntry>{{"agent.txt", TreeEntry::Kind::kFile, text}}; };
  auto admit = [&](AgentId id) {
    REQUIRE(a.SetAgentState(id, AgentState::kBuilt).ok());
    REQUIRE(a.SetAgentState(id, AgentState::kEvaluating).ok());
    const int solved = static_cast<int>(rng() % 11);
    REQUIRE(a.RecordStageScore(id, {.stage = 1, .attempted = 10, .solved = solved, .score = solved / 10.0}).ok());
    REQUIRE(a.SetAgentState(id, AgentState::kAdmitted).ok());
  };
  const std::filesystem::path dir = home.parent_path() / "seed-agent";
  WriteFile(dir / "agent.txt", "seed\n");
  auto seed = a.ImportAgent(dir, "seed");
  REQUIRE(seed.ok());
  auto run = a.CreateRun("large", "{}", seed->id, children);
  REQUIRE(run.ok());
  REQUIRE(a.SetRunState(run->id, RunState::kRunning).ok());
  admit(seed->id);
  std::vector<AgentId> admitted = {seed->id};
  for (int i = 0; i < children; ++i) {
    const AgentId parent = rng() % 5 < 2 ? seed->id : admitted[rng() % admitted.size()];
    auto child = a.AddChild(parent, tree("agent " + std::to_string(i) + "\n"), {.run = run->id});
    REQUIRE(child.ok());
    if (rng() % 4 == 0) {
      REQUIRE(a.SetAgentState(child->id, AgentState::kRejected, "scored below its parent").ok());
    } else {
      admit(child->id);
      admitted.push_back(child->id);
    }
  }
  REQUIRE(a.SetRunState(run->id, RunState::kFinished).ok());
  return run->id;
}

}  // namespace lineage::test
