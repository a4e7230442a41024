// Headless Chromium for the web tests: the DOM after the page's scripts ran, and screenshots kept as test
// artifacts in build/<preset>/tests/artifacts/.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "tests/support/test_support.h"

namespace lineage::test {

inline const std::filesystem::path kArtifacts = LINEAGE_TEST_ARTIFACTS;

inline std::vector<std::string> ChromiumArgv(std::vector<std::string> extra) {
  std::vector<std::string> argv = {"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                   "--no-first-run", "--virtual-time-budget=5000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

inline std::string RenderedDom(const std::string& url) {
  auto r = RunCommand(ChromiumArgv({"--dump-dom", url}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

inline void Screenshot(const std::string& url, const std::filesystem::path& png) {
  std::filesystem::create_directories(png.parent_path());
  auto r = RunCommand(ChromiumArgv({"--window-size=1280,1000", "--screenshot=" + png.string(), url}));
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

}  // namespace lineage::test
