// The Aider Polyglot benchmark (../shared/reference/polyglot.md): Exercism practice exercises in six
// languages under <root>/<language>/exercises/practice/<slug>/. A task's id is "<language>/<slug>".
//
// The agent sees the exercise without .meta/, .docs/, .approaches/, .articles/ and the test files. When it
// has finished, every file of the pristine exercise that is not a solution file -- tests, build files,
// bundled test frameworks -- is laid back over its workspace before the language's test command runs.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "base/files.h"
#include "evaluators/formats.h"
#include "evaluators/scoring.h"
#include "evaluators/stages.h"

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Something a language's tests need on this machine, and the Debian package that provides it.
struct Need {
  const char* path;  // a program looked up in the sandbox's PATH, or an absolute path
  const char* package;
};

struct Language {
  const char* name;
  std::vector<Need> needs;
  // Run by bash with pipefail in the exercise's directory; {exercise} stands for its directory name.
  const char* test_command;
  ReportFormat report;
  std::map<std::string, std::string> env;
  // Paths an agent may not add: a test runner's or build tool's configuration, or build output, that would
  // change what the tests run (removed from the agent's files, unless the exercise has them, before the
  // pristine ones are laid over them). A pattern names a top-level entry; "**/" makes it any directory's
  // entry; '*' is a glob.
  std::vector<std::string> tool_config;
};

constexpr const char* kJUnitConsole = "/usr/share/java/junit-platform-console-standalone.jar";
constexpr const char* kAssertJ = "/usr/share/java/assertj-core.jar";
// json.org's API for the exercises whose tests import org.json (java/rest-api): the "latest" flavour of
// Debian's clean-room rewrite, whose JSONException is unchecked as json.org's is (its Android flavour,
// json-android.jar and libandroid-json-java, throws checked exceptions the tests do not catch).
constexpr const char* kJsonOrg = "/usr/share/java/json-latest.jar";
constexpr const char* kCargoRegistry = "/usr/share/cargo/registry";

// Test commands as DGM's harness runs them, each also writing a report to $LINEAGE_REPORT_DIR (scoring
// believes the report, never an exit status alone), all offline:
//   cpp     the exercise's own CMakeLists.txt (whose `make` runs the tests once), then the test binary again
//           for Catch's JUnit report;
//   go      `go test -v`, whose verbose text is the report;
//   java    no Gradle (the wrapper downloads it): javac and JUnit 5's console launcher from Debian, with
//           the @Disabled lines removed as Aider's harness does; the solution is compiled first (with
//           json.org's API, the one library an exercise's build.gradle gives its solution) and the tests
//           against the libraries before it, so no class of the agent's can stand in for JUnit's, AssertJ's
//           or json.org's, and file names go to javac through xargs -0 (no word splitting into options);
//   js      jest from the node_modules lineage installs once (scripts/setup.sh), laid read-only into the
//           exercise, under lineage's guard (test_guard.h), with jest-junit writing the report; xtest → test as Aider's harness does (on
//           ./*.spec.js: a file name cannot pass for an option);
//   python  pytest isolated (-I: the workspace cannot shadow pytest or the standard library at start-up),
//           without conftest.py or ini files the agent could add, under lineage's guard (test_guard.h);
//   rust    cargo with Debian's packaged crates as its registry, libtest's verbose text as the report.
const Language kLanguages[] = {
    {"cpp", {{"cmake", "cmake"}, {"make", "make"}, {"g++", "g++"}},
     "mkdir -p build && cd build && cmake -DEXERCISM_RUN_ALL_TESTS=1 .. >/dev/null && make && "
     "./{exercise} -r junit -o \"$LINEAGE_REPORT_DIR/junit.xml\" >/dev/null",
     ReportFormat::kJUnit, {}, {"build"}},
    {"go", {{"go", "golang-go"}},
     "go test -v ./... 2>&1 | tee \"$LINEAGE_REPORT_DIR/go-test.txt\"",
     ReportFormat::kGoTest,
     {{"GOCACHE", "/tmp/go-build"}, {"GOPATH", "/tmp/go"}, {"GOPROXY", "off"}, {"GOFLAGS", "-mod=mod"},
      {"GOTOOLCHAIN", "local"}, {"GO111MODULE", "on"}, {"CGO_ENABLED", "0"}},
     {"go.work*", "vendor"}},
    {"java", {{"javac", "default-jdk-headless"}, {"java", "default-jdk-headless"}, {kJUnitConsole, "junit5"},
              {kAssertJ, "libassertj-core-java"}},
     "find src/test -name '*.java' -exec sed -i '/@Disabled/d' {} + && "
     "find src/main/java -name '*.java' -print0 | xargs -0 -r javac -encoding UTF-8 -nowarn -d /tmp/main "
     "-cp /usr/share/java/json-latest.jar && "
     "find src/test/java -name '*.java' -print0 | xargs -0 javac -encoding UTF-8 -nowarn -d /tmp/test "
     "-cp \"$LIBS:/tmp/main\" && "
     "java -jar /usr/share/java/junit-platform-console-standalone.jar --disable-banner --details=tree "
     "-cp \"/tmp/test:$LIBS:/tmp/main\" --scan-classpath /tmp/test --reports-dir \"$LINEAGE_REPORT_DIR\"",
     ReportFormat::kJUnit,
     {{"LIBS", "/usr/share/java/junit-platform-console-standalone.jar:/usr/share/java/assertj-core.jar:"
               "/usr/share/java/json-latest.jar"}}, {}},
    {"javascript", {{"node", "nodejs"}},
     "sed -i 's/\\bxtest(/test(/g' -- ./*.spec.js && node node_modules/jest/bin/jest.js ./* --ci --watchman=false "
     "--cacheDirectory=/tmp/jest --setupFilesAfterEnv /lineage/jest_guard.js --reporters=default --reporters=jest-junit",
     ReportFormat::kJUnit,
     {{"JEST_JUNIT_OUTPUT_DIR", kReportDirInside}, {"JEST_JUNIT_TITLE", "{title}"}},
     {"**/jest.config*", "**/.babelrc*", "**/babel.config*", "**/package.json", "**/node_modules"}},
    {"python", {{"python3", "python3"}, {"pytest", "python3-pytest"}},
     "python3 -I /lineage/pytest_guard.py -rA --tb=long -p no:cacheprovider --noconftest -c /dev/null --rootdir=. "
     "--junitxml=\"$LINEAGE_REPORT_DIR/junit.xml\"",
     ReportFormat::kJUnit, {}, {"**/__pycache__"}},
    {"rust", {{"cargo", "cargo"}, {"rustc", "rustc"}},
     "cargo test --offline --config 'source.crates-io.replace-with=\"debian\"' "
     "--config 'source.debian.directory=\"/usr/share/cargo/registry\"' -- --include-ignored 2>&1 | "
     "tee \"$LINEAGE_REPORT_DIR/cargo-test.txt\"",
     ReportFormat::kLibtest,
     {{"CARGO_HOME", "/tmp/cargo"}, {"CARGO_TERM_COLOR", "never"}},
     {".cargo", "Cargo.lock", "build.rs", "rust-toolchain*", "target"}},
};

// DGM's Polyglot subsets (polyglot/subsets/small.json and medium.json in its public repository): stage 1
// ran the small set, stage 2 the medium one for children solving at least 40% of the small.
const std::vector<std::string> kDgmSmall = {
    "go/dominoes",     "cpp/all-your-base",  "python/dominoes", "java/sgf-parsing",
    "javascript/robot-name", "rust/variable-length-quantity", "python/beer-song", "go/book-store",
    "javascript/bottle-song", "rust/bowling"};
const std::vector<std::string> kDgmMedium = {
    "javascript/queen-attack", "rust/wordy", "python/dot-dsl", "java/satellite", "cpp/diamond",
    "rust/accumulate", "go/error-handling", "cpp/queen-attack", "rust/poker", "python/sgf-parsing",
    "rust/react", "java/ledger", "go/connect", "rust/macros", "javascript/triangle",
    "java/zipper", "java/bowling", "python/tree-building", "javascript/say", "java/wordy",
    "python/food-chain", "javascript/wordy", "python/poker", "javascript/grade-school", "cpp/gigasecond",
    "java/forth", "python/dominoes", "go/word-search", "javascript/simple-linked-list", "go/counter",
    "java/react", "javascript/ocr-numbers", "python/scale-generator", "java/go-counting", "rust/doubly-linked-list",
    "python/grade-school", "javascript/forth", "python/wordy", "java/mazy-mice", "cpp/bank-account",
    "python/zipper", "java/custom-set", "java/rest-api", "go/transpose", "rust/gigasecond",
    "rust/say", "go/food-chain", "rust/pig-latin", "go/markdown", "go/crypto-square"};

// Exercises whose tests or reference need a newer toolchain or library than Debian 12 has: they run, agent
// and tests, in an environment from Debian 13 (sandbox/environment.h), built the first time one is attempted.
const std::map<std::string, std::string> kNeedsNewerDebian = {
    {"go/dnd-character", "the reference imports Go 1.21's slices package (Debian 12: Go 1.19)"},
    {"java/mazy-mice", "its tests call AssertJ 3.25's hasDimensions (Debian 12: AssertJ 3.14)"},
    {"rust/pig-latin", "the reference uses std::sync::LazyLock, Rust 1.80 (Debian 12: Rust 1.63)"},
    {"rust/poker", "the reference needs the counter crate, which Debian 12 does not package"},
};

// Debian 13 with the toolchains of the languages above and the crates the Rust exercises use.
EnvironmentRecipe NewerDebian() {
  EnvironmentRecipe r;
  r.name = "polyglot-trixie";
  r.suite = "trixie";
  r.packages = {"golang-go", "rustc", "cargo", "default-jdk-headless", "junit5", "libassertj-core-java",
                "librust-time-dev", "librust-anyhow-dev", "librust-rand-dev", "librust-itertools-dev",
                "librust-permutohedron-dev", "librust-num-bigint-dev", "librust-num-traits-dev",
                "librust-thiserror-dev", "librust-regex-dev", "librust-aho-corasick-dev", "librust-counter-dev"};
  return r;
}

// Exercises an agent can solve here whose reference solution cannot pass anywhere lineage can build: gold
// validation skips them with the reason (docs/evaluators.md).
const std::map<std::string, std::string> kUnrunnableReference = {
    {"rust/robot-name", "the reference is written for rand 0.3; Debian packages rand 0.8, which the task may use"},
};

const std::set<std::string> kHiddenDirs = {".meta", ".docs", ".approaches", ".articles"};

struct Exercise {
  TaskInfo info;
  const Language* language = nullptr;
  fs::path dir;
  std::vector<std::string> solution_files, test_files, example_files;
  std::vector<std::string> expected_tests;  // what the test files hold (ExpectedTestNames)
};

std::string ReadOptional(const fs::path& file) {
  auto text = ReadFile(file);
  return text.ok() ? text.value() : "";
}

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

bool Present(const Need& need) {
  std::error_code ec;
  return need.path[0] == '/' ? fs::exists(need.path, ec) : HasProgram(need.path);
}

// Libraries only a few Java exercises import (java/rest-api: org.json), needed by the exercises whose tests
// import their package: a host without one loses those exercises, not the language.
struct JavaLibrary {
  const char* package_prefix;
  Need need;
};
const JavaLibrary kOptionalJavaLibraries[] = {{"org.json.", {kJsonOrg, "libandroid-json-org-java"}}};

// Why a Java exercise's tests cannot compile here, or "": they import a package that neither the JDK, JUnit
// 5, AssertJ, an optional library installed here nor the exercise's own sources provide (Exercism's Java
// track uses a few libraries that Debian does not package, and without Gradle nothing downloads them).
std::string MissingJavaLibrary(const fs::path& dir, const std::vector<TreeEntry>& test_files) {
  static const std::regex kImport(R"(^[ \t]*import[ \t]+(?:static[ \t]+)?([\w.]+)[ \t]*(?:\.\*)?[ \t]*;)");
  static const char* const kProvided[] = {"java.", "javax.", "org.junit.", "org.assertj.", "org.opentest4j."};
  for (const TreeEntry& test : test_files) {
    std::istringstream lines(test.data);
    for (std::string line; std::getline(lines, line);) {
      std::smatch m;
      if (!std::regex_search(line, m, kImport)) continue;
      const std::string name = m[1].str();
      bool provided = std::any_of(std::begin(kProvided), std::end(kProvided),
                                  [&](const char* prefix) { return name.rfind(prefix, 0) == 0; });
      const auto library = std::find_if(std::begin(kOptionalJavaLibraries), std::end(kOptionalJavaLibraries),
                                        [&](const JavaLibrary& l) { return name.rfind(l.package_prefix, 0) == 0; });
      if (library != std::end(kOptionalJavaLibraries)) {
        if (Present(library->need)) continue;
        return "its tests import " + name + " and " + library->need.path + " is missing; install it with "
               "'sudo apt-get install " + library->need.package + "' or scripts/setup.sh";
      }
      std::error_code ec;
      // A package of the exercise's own: src/main/java/<package path>.
      std::string package = name.substr(0, name.rfind('.'));
      std::replace(package.begin(), package.end(), '.', '/');
      if (!provided && !fs::is_directory(dir / "src" / "main" / "java" / package, ec)) {
        return "its tests import " + name + ", which no library installed here provides (docs/evaluators.md)";
      }
    }
  }
  return "";
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
  // Exercism's refactoring exercises (ledger, markdown, tree-building in some tracks) start from code
  // that passes: the task is to improve it.
  const std::string instructions = ReadOptional(dir / ".docs" / "instructions.md").substr(0, 400);
  static const std::regex kRefactor("refactor", std::regex::icase);
  if (std::regex_search(instructions, kRefactor)) ex.info.tags.push_back(kRefactoringTag);
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
  std::vector<TreeEntry> tests;
  for (const std::string& test : ex.test_files) tests.push_back({test, TreeEntry::Kind::kFile, ReadOptional(dir / test)});
  ex.expected_tests = ExpectedTestNames(tests, language.name);
  if (ex.info.unavailable.empty() && ex.expected_tests.empty()) {
    // Exercism's deprecated go/counter, say: its test file is for the student to write.
    ex.info.unavailable = "its test files hold no test lineage can name, so nothing could prove it solved";
  }
  if (ex.info.unavailable.empty() && std::string(language.name) == "java") {
    ex.info.unavailable = MissingJavaLibrary(dir, tests);
  }
  if (kNeedsNewerDebian.count(ex.info.id)) {
    ex.info.environment = NewerDebian();
    ex.info.unavailable.clear();  // the environment has the toolchain, whatever the host has
  }
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

std::string DirName(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// Where each reference file goes: onto the solution file of the same name; else onto an unclaimed solution
// file of the same extension (".meta/example.py" → "leap.py"); else, as a helper file of the reference
// (Java's Frame.java beside BowlingGame.java), beside the solution files, under its own name.
std::vector<std::pair<std::string, std::string>> GoldTargets(const std::vector<std::string>& examples,
                                                             const std::vector<std::string>& solutions) {
  std::map<std::string, std::string> target;
  std::set<std::string> claimed;
  for (const std::string& e : examples) {
    for (const std::string& s : solutions) {
      if (BaseName(s) == BaseName(e) && !claimed.count(s)) {
        target[e] = s;
        claimed.insert(s);
        break;
      }
    }
  }
  for (const std::string& e : examples) {
    if (target.count(e)) continue;
    for (const std::string& s : solutions) {
      if (Extension(s) == Extension(e) && !claimed.count(s)) {
        target[e] = s;
        claimed.insert(s);
        break;
      }
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& e : examples) {
    if (!target.count(e)) {
      auto same_ext = std::find_if(solutions.begin(), solutions.end(),
                                   [&](const std::string& s) { return Extension(s) == Extension(e); });
      target[e] = DirName(same_ext != solutions.end() ? *same_ext : solutions.front()) + BaseName(e);
    }
    out.emplace_back(e, target[e]);
  }
  return out;
}

// Cargo.toml as the tests build it: the pristine manifest, with the registry dependencies the agent's (or
// a reference solution's) manifest adds -- a name with a version, features at most, resolved from Debian's
// packaged crates offline, whichever version Debian has. Nothing else of the agent's manifest counts: no build script, no path or git
// dependency, no test target of its own.
std::string MergeCargoDependencies(const std::string& pristine, const std::string& theirs) {
  toml::table base, other;
  try {
    base = toml::parse(pristine);
    other = toml::parse(theirs);
  } catch (const toml::parse_error&) {
    return pristine;
  }
  const toml::table* added = other["dependencies"].as_table();
  if (!added) return pristine;
  if (!base["dependencies"].as_table()) base.insert_or_assign("dependencies", toml::table{});
  toml::table& deps = *base["dependencies"].as_table();
  for (const auto& [name, spec] : *added) {
    bool registry = spec.is_string();
    if (const toml::table* t = spec.as_table()) {
      registry = (*t)["version"].is_string() && std::all_of(t->begin(), t->end(), [](const auto& kv) {
        const std::string_view key = kv.first.str();
        return key == "version" || key == "features" || key == "default-features";
      });
    }
    if (!registry) continue;
    // Debian packages one version of each crate: whatever version was asked, that one is used.
    if (spec.is_string()) {
      deps.insert_or_assign(name, "*");
    } else {
      toml::table relaxed = *spec.as_table();
      relaxed.insert_or_assign("version", "*");
      deps.insert_or_assign(name, std::move(relaxed));
    }
  }
  std::ostringstream out;
  out << base;
  return out.str() + "\n";
}

// Where the JavaScript exercises' test dependencies are: $LINEAGE_POLYGLOT_NODE_MODULES, else
// DataDir()/evaluators/polyglot/javascript/node_modules (scripts/setup.sh runs `npm ci` there).
fs::path NodeModules() {
  if (const char* env = std::getenv("LINEAGE_POLYGLOT_NODE_MODULES"); env && *env) return env;
  return DataDir() / "evaluators" / "polyglot" / "javascript" / "node_modules";
}

// True when `path` is, or lies under, an entry `pattern` names (Language::tool_config).
bool Blocked(const std::string& path, const std::string& pattern) {
  const bool anywhere = pattern.rfind("**/", 0) == 0;
  const std::string name = anywhere ? pattern.substr(3) : pattern;
  std::size_t start = 0;
  do {
    const std::size_t slash = path.find('/', start);
    const std::string component = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (GlobMatch(name, component)) return true;
    start = slash == std::string::npos ? std::string::npos : slash + 1;
  } while (anywhere && start != std::string::npos);
  return false;
}

class PolyglotEvaluator : public IndexedEvaluator<Exercise> {
 public:
  static Result<std::unique_ptr<Evaluator>> Open(const SuiteSpec& spec) {
    std::unique_ptr<PolyglotEvaluator> e(new PolyglotEvaluator());
    if (!fs::is_directory(spec.path)) {
      return Status::NotFound("polyglot suite '" + spec.name + "': " + spec.path.string() +
                              " is not a directory (clone Aider-AI/polyglot-benchmark there, or Exercism tracks as "
                              "<dir>/<language>/)");
    }
    for (const Language& language : kLanguages) {
      const fs::path practice = spec.path / language.name / "exercises" / "practice";
      if (!fs::is_directory(practice)) continue;
      std::string unavailable = Unavailable(language);
      for (const auto& entry : fs::directory_iterator(practice)) {
        if (!entry.is_directory()) continue;
        LINEAGE_ASSIGN_OR_RETURN(Exercise ex, ReadExercise(language, entry.path(), unavailable));
        e->tasks_[ex.info.id] = std::move(ex);
      }
    }
    if (e->tasks_.empty()) {
      return Status::InvalidArgument("polyglot suite '" + spec.name + "': no <language>/exercises/practice/<slug> "
                                     "directories under " + spec.path.string() +
                                     " (languages read: cpp, go, java, javascript, python, rust)");
    }
    // DGM's subsets, as far as this tree holds their tasks; dgm-stage1 is dgm-small's earlier name.
    for (const auto& [name, ids] : {std::pair{"dgm-small", &kDgmSmall}, std::pair{"dgm-stage1", &kDgmSmall},
                                    std::pair{"dgm-medium", &kDgmMedium}}) {
      std::vector<std::string> present;
      std::copy_if(ids->begin(), ids->end(), std::back_inserter(present), [&](const std::string& id) {
        return e->tasks_.count(id) > 0;
      });
      if (!present.empty()) e->subsets_[name] = std::move(present);
    }
    return std::unique_ptr<Evaluator>(std::move(e));
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
    if (auto known = kUnrunnableReference.find(id); known != kUnrunnableReference.end()) {
      return Status::NotFound(known->second);
    }
    std::vector<TreeEntry> gold;
    for (const auto& [example, target] : GoldTargets(ex->example_files, ex->solution_files)) {
      LINEAGE_ASSIGN_OR_RETURN(std::string data, ReadFile(ex->dir / example));
      gold.push_back({target, TreeEntry::Kind::kFile, std::move(data)});
    }
    // Rust references that need more crates than the exercise's manifest names carry their own.
    std::error_code ec;
    if (fs::exists(ex->dir / ".meta" / "Cargo-example.toml", ec)) {
      LINEAGE_ASSIGN_OR_RETURN(std::string manifest, ReadFile(ex->dir / ".meta" / "Cargo-example.toml"));
      gold.push_back({"Cargo.toml", TreeEntry::Kind::kFile, std::move(manifest)});
    }
    return WriteOver(workspace, gold);
  }

  Result<TaskScore> Score(const std::string& id, const fs::path& workspace, const ScoreContext& context) override {
    LINEAGE_ASSIGN_OR_RETURN(const Exercise* ex, Find(id));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<TreeEntry> exercise, ReadTree(ex->dir));
    std::erase_if(exercise, [&](const TreeEntry& e) { return IsHidden(e.path); });
    std::set<std::string> solutions(ex->solution_files.begin(), ex->solution_files.end());
    std::vector<TreeEntry> pristine;
    std::copy_if(exercise.begin(), exercise.end(), std::back_inserter(pristine),
                 [&](const TreeEntry& e) { return !solutions.count(e.path); });
    const Language& language = *ex->language;
    TestRun run;
    run.expected_tests = ex->expected_tests;
    run.adjust = [&language, &exercise](std::vector<TreeEntry>& files) { AdjustAgentFiles(language, exercise, files); };
    run.overlay = pristine;
    // Some build files name their targets after the directory the exercise is in.
    const std::string slug = ex->dir.filename().string();
    run.inside = "/workspace/" + slug;
    std::string command = language.test_command;
    for (std::size_t at = command.find("{exercise}"); at != std::string::npos; at = command.find("{exercise}")) {
      command.replace(at, std::string("{exercise}").size(), slug);
    }
    run.argv = {"bash", "-o", "pipefail", "-c", command};
    run.report = language.report;
    run.env = language.env;
    run.timeout_ms = 120'000;
    if (std::string(language.name) == "javascript") {
      run.mounts.push_back({SandboxMount::Kind::kReadOnly, NodeModules().string(), run.inside + "/node_modules"});
    }
    if (std::string(language.name) == "rust") {
      // The manifest the tests build with keeps only the dependencies the agent may add.
      std::erase_if(run.overlay, [](const TreeEntry& e) { return e.path == "Cargo.toml"; });
    }
    return RunTests(workspace, run, context);
  }

 private:
  PolyglotEvaluator() : IndexedEvaluator("polyglot") {}

  // The agent's files as the tests see them: without tool configuration the exercise does not have, and
  // for Rust with the exercise's own Cargo.toml plus the registry dependencies the agent's names (Exercism
  // lists Cargo.toml among the solution files, for dependencies; a build script or test target of the
  // agent's would run before the tests and could fake them).
  static void AdjustAgentFiles(const Language& language, const std::vector<TreeEntry>& pristine,
                               std::vector<TreeEntry>& files) {
    auto in_pristine = [&](const std::string& path) {
      return std::any_of(pristine.begin(), pristine.end(), [&](const TreeEntry& e) { return e.path == path; });
    };
    std::erase_if(files, [&](const TreeEntry& e) {
      return !in_pristine(e.path) &&
             std::any_of(language.tool_config.begin(), language.tool_config.end(),
                         [&](const std::string& pattern) { return Blocked(e.path, pattern); });
    });
    if (std::string(language.name) != "rust") return;
    auto manifest = std::find_if(pristine.begin(), pristine.end(), [](const TreeEntry& e) { return e.path == "Cargo.toml"; });
    if (manifest == pristine.end()) return;
    auto theirs = std::find_if(files.begin(), files.end(), [](const TreeEntry& e) { return e.path == "Cargo.toml"; });
    TreeEntry merged = *manifest;
    if (theirs != files.end() && theirs->kind == TreeEntry::Kind::kFile) {
      merged.data = MergeCargoDependencies(manifest->data, theirs->data);
      *theirs = std::move(merged);
    } else {
      if (theirs != files.end()) files.erase(theirs);
      files.push_back(std::move(merged));
    }
  }

  // Why `language`'s exercises cannot run here ("" when they can), with the command that fixes it.
  static std::string Unavailable(const Language& language) {
    std::string missing, packages;
    for (const Need& need : language.needs) {
      if (Present(need)) continue;
      missing += std::string(missing.empty() ? "" : ", ") + need.path;
      if (packages.find(need.package) == std::string::npos) packages += std::string(" ") + need.package;
    }
    if (!missing.empty()) {
      return std::string("no ") + language.name + " toolchain here (missing: " + missing + "); install it with "
             "'sudo apt-get install" + packages + "' or scripts/setup.sh";
    }
    if (std::string(language.name) == "javascript" && !fs::is_directory(NodeModules() / "jest")) {
      if (const char* env = std::getenv("LINEAGE_POLYGLOT_NODE_MODULES"); env && *env) {
        return "$LINEAGE_POLYGLOT_NODE_MODULES (" + std::string(env) + ") holds no jest: install there the test "
               "dependencies of evaluators/polyglot/javascript/package.json";
      }
      return "the JavaScript test dependencies are not installed: run 'npm ci --prefix " +
             NodeModules().parent_path().string() + "' (scripts/setup.sh does; the sandbox has no network)";
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
};

}  // namespace

Result<std::unique_ptr<Evaluator>> OpenPolyglot(const SuiteSpec& spec) { return PolyglotEvaluator::Open(spec); }

}  // namespace lineage
