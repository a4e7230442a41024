#include "sandbox/environment.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/unique_fd.h"
#include "sandbox/sandbox.h"

extern char** environ;

namespace lineage {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::int64_t kBuildWallMs = 45 * 60 * 1000;

std::vector<std::string> SortedPackages(const EnvironmentRecipe& recipe) {
  std::set<std::string> unique(recipe.packages.begin(), recipe.packages.end());
  return {unique.begin(), unique.end()};
}

json RecipeJson(const EnvironmentRecipe& recipe) {
  return {{"name", recipe.name}, {"suite", recipe.suite}, {"packages", SortedPackages(recipe)},
          {"mirror", recipe.mirror}, {"image", recipe.image}};
}

EnvironmentRecipe RecipeFromJson(const json& j) {
  EnvironmentRecipe r;
  r.name = j.value("name", "");
  r.suite = j.value("suite", "");
  r.packages = j.value("packages", std::vector<std::string>{});
  r.mirror = j.value("mirror", "");
  r.image = j.value("image", "");
  return r;
}

// Write bits off everywhere: a built environment is never changed, by anyone who could.
void MakeReadOnly(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) chmod(it->path().c_str(), st.st_mode & ~0222);
  }
  chmod(dir.c_str(), 0555);
}

// Write bits back on, so that an interrupted build's leftovers can be removed.
void RemoveTree(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return;
  chmod(dir.c_str(), 0755);
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0 && S_ISDIR(st.st_mode)) chmod(it->path().c_str(), (st.st_mode & 07777) | 0700);
  }
  fs::remove_all(dir, ec);
}

// The directory of a recipe: its name and its hash.
fs::path DirFor(const fs::path& home, const EnvironmentRecipe& recipe) {
  return EnvironmentsDir(home) / ((recipe.name.empty() ? std::string("env") : recipe.name) + "-" + RecipeHash(recipe));
}

std::string Describe(const EnvironmentRecipe& recipe) {
  if (!recipe.image.empty()) return "image " + recipe.image;
  return "Debian " + recipe.suite + ", " + std::to_string(SortedPackages(recipe).size()) + " packages";
}

Status RequireTool(const char* tool, const char* package) {
  if (!FindInPath(tool, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").empty()) return Status::OK();
  return Status::FailedPrecondition(std::string("building an environment needs ") + tool +
                                    ", which is not installed: 'sudo apt-get install " + package +
                                    "' (scripts/setup.sh installs it)");
}

// Runs a trusted host tool (mmdebstrap, skopeo, umoci) with this process's environment, saying now and
// then how long it has run.
Status RunTool(const std::vector<std::string>& argv, const fs::path& cwd, const std::string& what,
               const EnvironmentProgress& progress) {
  SandboxSpec spec;
  spec.argv = argv;
  spec.workdir = cwd.string();
  spec.env.clear();
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::size_t eq = entry.find('=');
    if (eq != std::string::npos) spec.env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  spec.env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  spec.limits.wall_ms = kBuildWallMs;
  spec.limits.cpu_seconds = kBuildWallMs / 1000;
  spec.limits.memory_bytes = 16ull << 30;
  spec.limits.file_size_bytes = 8ull << 30;
  spec.limits.output_bytes = 4ull << 20;
  const auto start = std::chrono::steady_clock::now();
  auto running = std::async(std::launch::async, [&spec] { return RunTrusted(spec); });
  while (running.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    if (progress) progress(what + ": " + std::to_string(seconds.count()) + " s");
  }
  LINEAGE_ASSIGN_OR_RETURN(SandboxResult r, running.get());
  if (r.ok()) return Status::OK();
  std::string tail = r.stderr_text.empty() ? r.stdout_text : r.stderr_text;
  if (tail.size() > 2000) tail = "..." + tail.substr(tail.size() - 2000);
  const std::string how = r.limit ? std::string("hit its ") + SandboxLimitName(*r.limit) + " limit"
                                  : "exited with " + std::to_string(r.exit_code.value_or(-1));
  return Status::Internal(argv[0] + " " + how + ":\n" + tail);
}

Status BuildFromPackages(const EnvironmentRecipe& recipe, const fs::path& root, const EnvironmentProgress& progress) {
  LINEAGE_RETURN_IF_ERROR(RequireTool("mmdebstrap", "mmdebstrap"));
  std::string include;
  for (const std::string& p : SortedPackages(recipe)) include += (include.empty() ? "" : ",") + p;
  std::vector<std::string> argv = {"mmdebstrap", "--variant=apt", "--quiet",
                                   // Documentation is never read in a sandbox. (Not the manual pages: the
                                   // JDK's alternatives need their directories.)
                                   "--dpkgopt=path-exclude=/usr/share/doc/*"};
  if (!include.empty()) argv.push_back("--include=" + include);
  argv.push_back(recipe.suite);
  argv.push_back(root.string());
  if (!recipe.mirror.empty()) argv.push_back(recipe.mirror);
  return RunTool(argv, root.parent_path(), recipe.name + ": building " + Describe(recipe), progress);
}

Status BuildFromImage(const EnvironmentRecipe& recipe, const fs::path& root, const EnvironmentProgress& progress) {
  LINEAGE_RETURN_IF_ERROR(RequireTool("skopeo", "skopeo"));
  LINEAGE_RETURN_IF_ERROR(RequireTool("umoci", "umoci"));
  const fs::path dir = root.parent_path();
  // skopeo names its source transport itself: "docker://...", "oci:DIR:TAG", "docker-archive:FILE".
  LINEAGE_RETURN_IF_ERROR(RunTool({"skopeo", "copy", "--quiet", recipe.image, "oci:" + (dir / "image").string() + ":lineage"},
                                  dir, recipe.name + ": fetching " + recipe.image, progress));
  LINEAGE_RETURN_IF_ERROR(RunTool({"umoci", "unpack", "--rootless", "--image", (dir / "image").string() + ":lineage",
                                   (dir / "bundle").string()},
                                  dir, recipe.name + ": unpacking " + recipe.image, progress));
  std::error_code ec;
  fs::rename(dir / "bundle" / "rootfs", root, ec);
  if (ec) return Status::IOError("cannot move the image's root file system into place: " + ec.message());
  RemoveTree(dir / "bundle");
  RemoveTree(dir / "image");
  return Status::OK();
}

Status ValidateRecipe(const EnvironmentRecipe& recipe) {
  if (!recipe.image.empty() && (!recipe.suite.empty() || !recipe.packages.empty())) {
    return Status::InvalidArgument("environment '" + recipe.name + "': give either an image or a suite and packages, not both");
  }
  if (recipe.image.empty() && recipe.suite.empty()) {
    return Status::InvalidArgument("environment '" + recipe.name + "': no suite (a Debian suite such as bookworm) and no image");
  }
  auto bad = [](const std::string& s) { return s.empty() || s[0] == '-' || s.find_first_of(", \t\n") != std::string::npos; };
  if (!recipe.suite.empty() && bad(recipe.suite)) {
    return Status::InvalidArgument("environment '" + recipe.name + "': suite '" + recipe.suite + "' is not a suite name");
  }
  for (const std::string& p : recipe.packages) {
    if (bad(p)) return Status::InvalidArgument("environment '" + recipe.name + "': '" + p + "' is not a package name");
  }
  if (!recipe.name.empty() && recipe.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") != std::string::npos) {
    return Status::InvalidArgument("environment name '" + recipe.name + "': use lower-case letters, digits, '-', '_' and '.'");
  }
  return Status::OK();
}

EnvironmentInfo ReadInfo(const fs::path& dir) {
  EnvironmentInfo info;
  info.root = dir / "root";
  auto recipe = ReadFile(dir / "recipe.json");
  if (recipe.ok()) {
    json j = json::parse(*recipe, nullptr, false);
    if (j.is_object()) info.recipe = RecipeFromJson(j);
  }
  auto built = ReadFile(dir / "built.json");
  if (built.ok()) {
    json j = json::parse(*built, nullptr, false);
    if (j.is_object()) {
      info.built = true;
      info.bytes = j.value("bytes", std::uint64_t{0});
      info.build_ms = j.value("build_ms", std::int64_t{0});
    }
  }
  return info;
}

}  // namespace

std::string RecipeHash(const EnvironmentRecipe& recipe) {
  json identity = RecipeJson(recipe);
  identity.erase("name");
  return Sha256Hex(identity.dump()).substr(0, 16);
}

std::string HostExecPrefix() {
  for (const char* loader : {"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"}) {
    std::error_code ec;
    const fs::path real = fs::canonical(loader, ec);
    if (ec) continue;
    const std::string inside = kHostRootInside;
    return inside + real.string() + " --inhibit-cache --library-path " + inside + real.parent_path().string() + ":" +
           inside + "/usr/lib";
  }
  return "";
}

fs::path EnvironmentsDir(const fs::path& home) {
  if (const char* shared = std::getenv("LINEAGE_ENVIRONMENTS_DIR"); shared && *shared) return shared;
  return home / "cache" / "environments";
}

EnvironmentInfo LookupEnvironment(const fs::path& home, const EnvironmentRecipe& recipe) {
  EnvironmentInfo info = ReadInfo(DirFor(home, recipe));
  info.recipe = recipe;
  return info;
}

std::vector<EnvironmentInfo> ListEnvironments(const fs::path& home) {
  std::vector<EnvironmentInfo> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(EnvironmentsDir(home), ec)) {
    if (!entry.is_directory(ec)) continue;
    EnvironmentInfo info = ReadInfo(entry.path());
    if (entry.path().extension() == ".tmp") {
      info.built = false;
      if (info.recipe.name.empty()) info.recipe.name = entry.path().stem().string();
    }
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const EnvironmentInfo& a, const EnvironmentInfo& b) {
    return a.root < b.root;
  });
  return out;
}

Result<EnvironmentInfo> EnsureEnvironment(const fs::path& home, const EnvironmentRecipe& recipe,
                                          const EnvironmentProgress& progress) {
  LINEAGE_RETURN_IF_ERROR(ValidateRecipe(recipe));
  EnvironmentInfo info = LookupEnvironment(home, recipe);
  if (info.built) return info;
  const fs::path dir = DirFor(home, recipe);
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (ec) return Status::IOError("cannot create " + dir.parent_path().string() + ": " + ec.message());
  // One build per recipe at a time, across processes; the kernel lets go of the lock if we are killed.
  UniqueFd lock(::open((dir.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid() || ::flock(lock.get(), LOCK_EX) != 0) return Status::IOError("cannot lock " + dir.string() + ".lock");
  info = LookupEnvironment(home, recipe);
  if (info.built) return info;  // another process built it while we waited

  const fs::path tmp = dir.string() + ".tmp";
  RemoveTree(tmp);  // what an interrupted build left
  RemoveTree(dir);  // a directory without built.json is not whole
  fs::create_directories(tmp, ec);
  if (ec) return Status::IOError("cannot create " + tmp.string() + ": " + ec.message());
  LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(tmp / "recipe.json", RecipeJson(recipe).dump(2) + "\n"));
  spdlog::info("building environment {} ({}) in {}", recipe.name, Describe(recipe), dir.string());
  const auto start = std::chrono::steady_clock::now();
  const Status built = recipe.image.empty() ? BuildFromPackages(recipe, tmp / "root", progress)
                                            : BuildFromImage(recipe, tmp / "root", progress);
  if (!built.ok()) {
    RemoveTree(tmp);
    return built.WithContext("building environment '" + recipe.name + "' (" + Describe(recipe) + ")");
  }
  info.build_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  info.bytes = BytesUnder(tmp / "root");
  LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(tmp / "built.json",
                                          json{{"bytes", info.bytes}, {"build_ms", info.build_ms}}.dump() + "\n"));
  MakeReadOnly(tmp / "root");
  fs::rename(tmp, dir, ec);
  if (ec) return Status::IOError("cannot move " + tmp.string() + " into place: " + ec.message());
  info.root = dir / "root";
  info.built = true;
  if (progress) progress(recipe.name + ": built, " + std::to_string(info.bytes >> 20) + " MB in " +
                         std::to_string(info.build_ms / 1000) + " s");
  return info;
}

std::string CheckEnvironment(const EnvironmentInfo& environment) {
  std::error_code ec;
  if (!environment.built) return "not built (lineage env build)";
  const fs::path& root = environment.root;
  if (!fs::is_directory(root / "usr", ec)) return root.string() + " has no usr/";
  if (!fs::exists(root / "bin" / "sh", ec) && !fs::exists(root / "usr" / "bin" / "sh", ec)) return root.string() + " has no /bin/sh";
  auto stored = ReadFile(root.parent_path() / "recipe.json");
  if (!stored.ok()) return "its recipe.json is missing";
  json j = json::parse(*stored, nullptr, false);
  // The directory's name carries the hash it was built for: a recipe.json edited or swapped since does not
  // match it (comparing with environment.recipe would not do: ListEnvironments reads that from the file).
  const std::string dir = root.parent_path().filename().string();
  const std::string hash = j.is_object() ? RecipeHash(RecipeFromJson(j)) : "";
  if (hash.empty() || dir.size() < hash.size() + 1 || dir.compare(dir.size() - hash.size() - 1, std::string::npos, "-" + hash) != 0 ||
      hash != RecipeHash(environment.recipe)) {
    return "its recipe.json does not match the recipe it is stored under";
  }
  if (environment.recipe.image.empty()) {
    // Every package of the recipe installed, as dpkg recorded it.
    auto status = ReadFile(root / "var" / "lib" / "dpkg" / "status");
    if (!status.ok()) return "no dpkg status in it: " + status.status().message();
    for (const std::string& p : SortedPackages(environment.recipe)) {
      if (status->find("Package: " + p + "\n") == std::string::npos) return "package " + p + " is not installed in it";
    }
  }
  return "";
}

}  // namespace lineage
