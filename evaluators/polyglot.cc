// The Aider Polyglot benchmark (../shared/reference/polyglot.md): Exercism practice exercises in six
// languages under <root>/<language>/exercises/practice/<slug>/. A task's id is "<language>/<slug>".
//
// The agent sees the exercise without .meta/, .docs/, .approaches/, .articles/ and the test files. When it
// has finished, every file of the pristine exercise that is not a solution file -- tests, build files,
// bundled test frameworks -- is laid back over its workspace before the language's test command runs.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/files.h"
#include "evaluators/formats.h"
#include "evaluators/scoring.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Language {
  const char* name;
  std::vector<const char*> programs;  // what the tests need on PATH
  const char* test_command;
  bool reports = true;  // the command writes a JUnit report, without which nothing is ever solved
};

// Test commands as DGM's harness runs them, each also writing a JUnit report to $LINEAGE_REPORT_DIR (scoring
// believes the report, never an exit status alone); {exercise} stands for the exercise's directory name.
// C++ builds with the exercise's own CMakeLists.txt (whose `make` runs the tests once), then runs the tests
// again for Catch's JUnit report. pytest runs isolated (-I: the workspace cannot shadow pytest or the
// standard library at start-up) and without conftest.py or ini files the agent could add. Java runs an
// installed Gradle offline instead of the wrapper, which would download Gradle.
const Language kLanguages[] = {
    {"cpp", {"cmake", "make", "g++"},
     "mkdir -p build && cd build && cmake -DEXERCISM_RUN_ALL_TESTS=1 .. >/dev/null && make && "
     "./{exercise} -r junit -o \"$LINEAGE_REPORT_DIR/junit.xml\" >/dev/null"},
    {"go", {"go"}, "go test ./...", false},
    {"java", {"gradle"}, "gradle test --offline --no-daemon -q", false},
    {"javascript", {"npm", "node"}, "sed -i 's/\\bxtest(/test(/g' *.spec.js && npm run test", false},
    {"python", {"python3", "pytest"},
     "python3 -I -m pytest -rA --tb=long -p no:cacheprovider --noconftest -c /dev/null --rootdir=. "
     "--junitxml=\"$LINEAGE_REPORT_DIR/junit.xml\""},
    {"rust", {"cargo"}, "cargo test --offline -- --include-ignored", false},
};

// The ten tasks of DGM's first Polyglot stage.
const std::vector<std::string> kDgmStage1 = {
    "go/dominoes",     "cpp/all-your-base",  "python/dominoes", "java/sgf-parsing",
    "javascript/robot-name", "rust/variable-length-quantity", "python/beer-song", "go/book-store",
    "javascript/bottle-song", "rust/bowling"};

const std::set<std::string> kHiddenDirs = {".meta", ".docs", ".approaches", ".articles"};

struct Exercise {
  TaskInfo info;
  const Language* language = nullptr;
  fs::path dir;
  std::vector<std::string> solution_files, test_files, example_files;
};

bool IsHidden(const std::string& path) {
  std::string first = path.substr(0, path.find('/'));
  return kHiddenDirs.count(first) > 0;
}

Result<std::vector<std::string>> FileList(const json& config, const char* key, const fs::path& file) {
  std::vector<std::string> out;
  const json* files = config.contains("files") ? &config["files"] : nullptr;
  if (!files || !files->is_object() || !files->contains(key)) return out;
  const json& list = (*files)[key];
  if (!list.is_array()) return Status::InvalidArgument(file.string() + ": files." + key + " must be an array");
  for (const json& item : list) {
    if (!item.is_string()) return Status::InvalidArgument(file.string() + ": files." + key + " must hold strings");
    std::string path = item.get<std::string>();
    LINEAGE_RETURN_IF_ERROR(ValidateTreePath(path).WithContext(file.string() + ": files." + key));
    out.push_back(path);
  }
  return out;
}

Result<Exercise> ReadExercise(const Language& language, const fs::path& dir, const std::string& unavailable) {
  Exercise ex;
  ex.language = &language;
  ex.dir = dir;
  ex.info.id = std::string(language.name) + "/" + dir.filename().string();
  ex.info.language = language.name;
  ex.info.tags = {language.name};
  ex.info.unavailable = unavailable;
  ex.info.agent_timeout_ms = 600'000;
  const fs::path config_file = dir / ".meta" / "config.json";
  LINEAGE_ASSIGN_OR_RETURN(std::string text, ReadFile(config_file));
  json config = json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return Status::InvalidArgument(config_file.string() + ": not a JSON object");
  }
  LINEAGE_ASSIGN_OR_RETURN(ex.solution_files, FileList(config, "solution", config_file));
  LINEAGE_ASSIGN_OR_RETURN(ex.test_files, FileList(config, "test", config_file));
  LINEAGE_ASSIGN_OR_RETURN(ex.example_files, FileList(config, "example", config_file));
  if (ex.solution_files.empty()) return Status::InvalidArgument(config_file.string() + ": files.solution is empty");
  return ex;
}

std::string Extension(const std::string& path) {
  std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  std::size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(dot);
}

std::string BaseName(const std::string& path) {
  return path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
}

// Which solution file a reference file stands for: the same file name, else the same extension, else the
// only solution file.
std::string SolutionFor(const std::string& example, const std::vector<std::string>& solutions) {
  for (const std::string& s : solutions) {
    if (BaseName(s) == BaseName(example)) return s;
  }
  for (const std::string& s : solutions) {
    if (Extension(s) == Extension(example)) return s;
  }
  return solutions.size() == 1 ? solutions[0] : "";
}

std::string ReadOptional(const fs::path& file) {
  auto text = ReadFile(file);
  return text.ok() ? text.value() : "";
}

class PolyglotEvaluator : public IndexedEvaluator<Exercise> {
 public:
  static Result<std::unique_ptr<Evaluator>> Open(const SuiteSpec& spec) {
    std::unique_ptr<PolyglotEvaluator> e(new PolyglotEvaluator());
    e->root_ = spec.path;
    if (!fs::is_directory(spec.path)) {
      return Status::NotFound("polyglot suite '" + spec.name + "': " + spec.path.string() +
                              " is not a directory (clone Aider-AI/polyglot-benchmark there)");
    }
    for (const Language& language : kLanguages) {
      const fs::path practice = spec.path / language.name / "exercises" / "practice";
      if (!fs::is_directory(practice)) continue;
      std::string unavailable = Unavailable(language, spec.path);
      for (const auto& entry : fs::directory_iterator(practice)) {
        if (!entry.is_directory()) continue;
        LINEAGE_ASSIGN_OR_RETURN(Exercise ex, ReadExercise(language, entry.path(), unavailable));
        e->tasks_[ex.info.id] = std::move(ex);
      }
    }
    if (e->tasks_.empty()) {
      return Status::InvalidArgument("polyglot suite '" + spec.name + "': no <language>/exercises/practice/<slug> "
                                     "directories under " + spec.path.string());
    }
    return std::unique_ptr<Evaluator>(std::move(e));
  }

  Result<std::map<std::string, std::vector<std::string>>> Subsets() override {
    std::vector<std::string> present;
    for (const std::string& id : kDgmStage1) {
      if (tasks_.count(id)) present.push_back(id);
    }
    std::map<std::string, std::vector<std::string>> subsets;
    if (!present.empty()) subsets["dgm-stage1"] = present;
    return subsets;
  }

  Result<PreparedTask> Prepare(const std::string& id, const fs::path& workspace) override {
    LINEAGE_ASSIGN_OR_RETURN(const Exercise* ex, Find(id));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> files, ReadTree(ex->dir));
    std::set<std::string> tests(ex->test_files.begin(), ex->test_files.end());
    std::erase_if(files, [&](const TreeEntry& e) { return IsHidden(e.path) || tests.count(e.path); });
    LINEAGE_RETURN_IF_ERROR(WriteTree(workspace, files));
    return PreparedTask{Instruction(*ex)};
  }

  Status ApplyGold(const std::string& id, const fs::path& workspace) override {
    LINEAGE_ASSIGN_OR_RETURN(const Exercise* ex, Find(id));
    if (ex->example_files.empty()) return Status::NotFound(id + ": .meta/config.json lists no files.example");
    std::vector<TreeEntry> gold;
    for (const std::string& example : ex->example_files) {
      std::string target = SolutionFor(example, ex->solution_files);
      if (target.empty()) {
        return Status::InvalidArgument(id + ": cannot tell which solution file " + example + " stands for");
      }
      LINEAGE_ASSIGN_OR_RETURN(std::string data, ReadFile(ex->dir / example));
      gold.push_back({target, TreeEntry::Kind::kFile, std::move(data)});
    }
    return WriteOver(workspace, gold);
  }

  Result<TaskScore> Score(const std::string& id, const fs::path& workspace, const ScoreContext& context) override {
    LINEAGE_ASSIGN_OR_RETURN(const Exercise* ex, Find(id));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> pristine, ReadTree(ex->dir));
    std::set<std::string> solutions(ex->solution_files.begin(), ex->solution_files.end());
    std::set<std::string> tests(ex->test_files.begin(), ex->test_files.end());
    std::erase_if(pristine, [&](const TreeEntry& e) { return IsHidden(e.path) || solutions.count(e.path); });
    TestRun run;
    std::vector<TreeEntry> test_files;
    std::copy_if(pristine.begin(), pristine.end(), std::back_inserter(test_files),
                 [&](const TreeEntry& e) { return tests.count(e.path) > 0; });
    run.expected_tests = ExpectedTestNames(test_files, ex->info.language);
    run.overlay = std::move(pristine);
    // Some build files name their targets after the directory the exercise is in.
    const std::string slug = ex->dir.filename().string();
    run.inside = "/workspace/" + slug;
    std::string command = ex->language->test_command;
    for (std::size_t at = command.find("{exercise}"); at != std::string::npos; at = command.find("{exercise}")) {
      command.replace(at, std::string("{exercise}").size(), slug);
    }
    run.argv = {"sh", "-c", command};
    run.timeout_ms = 120'000;
    const fs::path node_modules = root_ / "javascript" / "node_modules";
    if (std::string(ex->language->name) == "javascript" && fs::is_directory(node_modules)) {
      run.mounts.push_back({SandboxMount::Kind::kReadOnly, node_modules.string(), run.inside + "/node_modules"});
    }
    return RunTests(workspace, run, context);
  }

 private:
  PolyglotEvaluator() : IndexedEvaluator("polyglot") {}

  static std::string Unavailable(const Language& language, const fs::path& root) {
    if (!language.reports) {
      return std::string("lineage does not read ") + language.name + "'s test reports yet, and an exit status alone "
             "never means solved (docs/evaluators.md)";
    }
    for (const char* program : language.programs) {
      if (!HasProgram(program)) return std::string("no ") + language.name + " toolchain: '" + program + "' is not installed";
    }
    if (std::string(language.name) == "javascript" && !fs::is_directory(root / "javascript" / "node_modules")) {
      return "javascript needs its test dependencies: run 'npm install' in " + (root / "javascript").string() +
             " (the sandbox has no network)";
    }
    return "";
  }

  static std::string Instruction(const Exercise& ex) {
    std::string text;
    for (const char* part : {"introduction.md", "instructions.md", "instructions.append.md"}) {
      std::string body = ReadOptional(ex.dir / ".docs" / part);
      if (!body.empty()) text += body + (body.back() == '\n' ? "\n" : "\n\n");
    }
    std::string files;
    for (const std::string& f : ex.solution_files) files += (files.empty() ? "" : ", ") + f;
    // The closing note is Aider's, as DGM used it.
    text += "####\n\nUse the above instructions to modify the supplied files: " + files +
            "\nDon't change the names of existing functions or classes, as they may be referenced from other code "
            "like unit tests, etc.\nOnly use standard libraries, don't suggest installing any packages.\n";
    return text;
  }

  fs::path root_;
};

}  // namespace

Result<std::unique_ptr<Evaluator>> OpenPolyglot(const SuiteSpec& spec) { return PolyglotEvaluator::Open(spec); }

}  // namespace lineage
