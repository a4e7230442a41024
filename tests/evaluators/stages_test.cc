// Suite and stage configuration, task selection and seeded sampling.
#include <catch2/catch.hpp>

#include "evaluators/stages.h"

namespace lineage {
namespace {

std::vector<TaskInfo> Tasks(std::initializer_list<const char*> ids) {
  std::vector<TaskInfo> out;
  for (const char* id : ids) out.push_back(TaskInfo{.id = id});
  return out;
}

std::vector<std::string> Ids(const std::vector<TaskInfo>& tasks) {
  std::vector<std::string> out;
  for (const TaskInfo& t : tasks) out.push_back(t.id);
  return out;
}

TEST_CASE("a configuration with suites and stages parses, with relative paths resolved") {
  auto config = ParseEvaluationConfig(R"(
name = "ignored by this parser"
[suites.mine]
kind = "taskdir"
path = "suites/mine"
[suites.tool]
kind = "exec"
path = "/opt/eval.py"
args = ["--fast"]
request_timeout_s = 5

[[stages]]
suite = "mine"
tasks = ["py/*"]
threshold = 0.4

[[stages]]
suite = "starter"
sample = 3
seed = 7
)", "run.toml", "/base");
  REQUIRE(config.ok());
  REQUIRE(config->suites.size() == 2);
  CHECK(config->suites["mine"].path == "/base/suites/mine");
  CHECK(config->suites["tool"].args == std::vector<std::string>{"--fast"});
  CHECK(config->suites["tool"].request_timeout_ms == 5000);
  REQUIRE(config->stages.size() == 2);
  CHECK(config->stages[0].number == 1);
  CHECK(config->stages[0].threshold == Approx(0.4));
  CHECK(config->stages[1].suite == "starter");
  CHECK(config->stages[1].sample == 3);
  CHECK(config->stages[1].seed == 7);
}

TEST_CASE("configuration errors name the file and the key") {
  auto error = [](const std::string& text) {
    auto config = ParseEvaluationConfig(text, "run.toml", "/base");
    REQUIRE_FALSE(config.ok());
    return config.status().message();
  };
  CHECK_THAT(error("[suites.a]\nkind = \"zip\"\npath = \"x\"\n"),
             Catch::Contains("run.toml: [suites.a] kind: 'zip' is not one of taskdir, polyglot, swebench, exec"));
  CHECK_THAT(error("[suites.a]\nkind = \"taskdir\"\n"), Catch::Contains("[suites.a] path: is required"));
  CHECK_THAT(error("[suites.a]\nkind = \"taskdir\"\npath = \"x\"\ncolour = 1\n"),
             Catch::Contains("colour: is not a known key"));
  CHECK_THAT(error("[[stages]]\nsuite = \"nope\"\n"), Catch::Contains("[[stages]] #1 suite: 'nope' is not a suite"));
  CHECK_THAT(error("[[stages]]\nsuite = \"starter\"\nthreshold = 1.5\n"), Catch::Contains("threshold: must be at most 1"));
  CHECK_THAT(error("[[stages]]\nsuite = \"starter\"\nseed = 3\n"), Catch::Contains("seed: only applies with sample"));
  CHECK_THAT(error("[[stages]]\nsuite = \"starter\"\ntasks = [\"a\"]\nsubset = \"b\"\n"),
             Catch::Contains("give tasks or subset, not both"));
  CHECK_THAT(error("stages = 3\n"), Catch::Contains("stages must be an array of tables"));
  CHECK_THAT(error("[suites.a\n"), Catch::Contains("run.toml:1:"));
}

TEST_CASE("inline suites are KIND:PATH and anything else is refused with the known kinds") {
  auto spec = ResolveSuite("polyglot:/data/polyglot", nullptr);
  REQUIRE(spec.ok());
  CHECK(spec->kind == "polyglot");
  CHECK(spec->path == "/data/polyglot");
  auto starter = ResolveSuite("starter", nullptr);
  REQUIRE(starter.ok());
  CHECK(starter->kind == "taskdir");
  auto bad = ResolveSuite("zip:/x", nullptr);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("taskdir, polyglot, swebench, exec"));
}

TEST_CASE("globs: star stays within a path component and double star crosses them") {
  CHECK(GlobMatch("cpp/*", "cpp/leap"));
  CHECK_FALSE(GlobMatch("cpp/*", "cpp/a/b"));
  CHECK(GlobMatch("cpp/**", "cpp/a/b"));
  CHECK(GlobMatch("*/leap", "go/leap"));
  CHECK(GlobMatch("py/fi?zbuzz", "py/fizzbuzz"));
  CHECK_FALSE(GlobMatch("py/fizz", "py/fizzbuzz"));
  CHECK(GlobMatch("exact", "exact"));
}

TEST_CASE("task selection keeps suite order and refuses a pattern that matches nothing") {
  auto all = Tasks({"cpp/a", "cpp/b", "py/a", "py/b"});
  auto picked = SelectTasks(all, {"py/b", "cpp/*"});
  REQUIRE(picked.ok());
  CHECK(Ids(*picked) == std::vector<std::string>{"cpp/a", "cpp/b", "py/b"});
  auto none = SelectTasks(all, {"rust/*"});
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.status().message(), Catch::Contains("'rust/*' matches no task"));
  CHECK(SelectTasks(all, {})->size() == 4);
}

TEST_CASE("seeded samples are reproducible and differ between seeds") {
  std::vector<TaskInfo> all;
  for (int i = 0; i < 50; ++i) all.push_back(TaskInfo{.id = "t" + std::to_string(100 + i)});
  auto a = Ids(SampleTasks(all, 10, 1));
  CHECK(a.size() == 10);
  CHECK(a == Ids(SampleTasks(all, 10, 1)));
  CHECK(a != Ids(SampleTasks(all, 10, 2)));
  CHECK(std::is_sorted(a.begin(), a.end()));
  CHECK(SampleTasks(all, 80, 1).size() == 50);
  // Every task is drawn about equally often over many seeds.
  std::map<std::string, int> counts;
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    for (const TaskInfo& t : SampleTasks(all, 10, seed)) ++counts[t.id];
  }
  CHECK(counts.size() == 50);
  for (const auto& [id, n] : counts) {
    INFO(id);
    CHECK(n > 300);  // expected 400
    CHECK(n < 500);
  }
}

}  // namespace
}  // namespace lineage
