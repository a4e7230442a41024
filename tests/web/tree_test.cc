// Large trees in headless Chromium: the report of an 80- and a 500-agent run fits its whole tree to the page,
// as the page's own script counts the nodes in view. Screenshots are kept in build/<preset>/tests/artifacts/.
#include <catch2/catch.hpp>
#include <regex>

#include "tests/web/web_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::RunLineage;
using test::TempDir;

std::string Report(const fs::path& home, const fs::path& out) {
  auto r = RunLineage(home, {"report", "1", "--out", out.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return "file://" + out.string();
}

TEST_CASE("the report fits an 80- and a 500-agent tree to the page: every node is in view, none off its edge") {
  if (!test::HaveChromium()) return;
  for (int children : {80, 500}) {
    INFO(children << " children");
    TempDir dir;
    REQUIRE(test::MakeRun(dir / "home", children) == 1);
    const std::string url = Report(dir / "home", dir / "report.html");
    const std::string dom = test::RenderedDom(url, "1400,900");
    CHECK(test::NodeIds(dom).size() == static_cast<std::size_t>(children + 1));
    // The page counts the nodes whose circle lies inside both the tree's panel and the window.
    std::smatch status;
    REQUIRE(std::regex_search(dom, status, std::regex(R"(<span id="tree-status">([^<]*)</span>)")));
    CHECK_THAT(status[1].str(), Catch::Contains("all " + std::to_string(children + 1) + " agents in view"));
    const std::string name = "tree-" + std::to_string(children);
    test::Screenshot(url, test::kArtifacts / (name + ".png"), "1400,900");
    fs::copy_file(dir / "report.html", test::kArtifacts / (name + ".html"), fs::copy_options::overwrite_existing);  // to explore by hand
  }
}

}  // namespace
}  // namespace lineage
