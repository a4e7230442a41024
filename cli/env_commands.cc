// `lineage env list | build | check`: the root file systems tasks run in (sandbox/environment.h).
#include <unistd.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "evaluators/evaluator.h"
#include "evaluators/stages.h"
#include "sandbox/environment.h"
#include "sandbox/sandbox.h"

namespace lineage::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct EnvArgs {
  std::string suite, subset, image, name;
  std::vector<std::string> tasks;
  bool json = false;
};

// The environments the tasks of --suite (narrowed by --subset and --tasks) run in, by recipe hash.
Result<std::map<std::string, EnvironmentRecipe>> SuiteEnvironments(const EnvArgs& args) {
  std::map<std::string, EnvironmentRecipe> out;
  LINEAGE_ASSIGN_OR_RETURN(SuiteSpec spec, ResolveSuite(args.suite, nullptr));
  LINEAGE_ASSIGN_OR_RETURN(std::unique_ptr<Evaluator> evaluator, OpenEvaluator(spec));
  LINEAGE_ASSIGN_OR_RETURN(std::vector<TaskInfo> tasks, evaluator->ListTasks());
  if (!args.subset.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> ids, SubsetPatterns(*evaluator, args.suite, args.subset));
    LINEAGE_ASSIGN_OR_RETURN(tasks, SelectTasks(tasks, ids));
  }
  LINEAGE_ASSIGN_OR_RETURN(tasks, SelectTasks(tasks, args.tasks));
  for (const TaskInfo& t : tasks) {
    if (t.environment && t.unavailable.empty()) out[RecipeHash(*t.environment)] = *t.environment;
  }
  return out;
}

// The home's environments, or, with --suite, those the suite's tasks need, built or not.
Result<std::vector<EnvironmentInfo>> Selected(const EnvArgs& args, const fs::path& home) {
  if (args.suite.empty()) return ListEnvironments(home);
  LINEAGE_ASSIGN_OR_RETURN(auto needed, SuiteEnvironments(args));
  std::vector<EnvironmentInfo> envs;
  for (const auto& [hash, recipe] : needed) envs.push_back(LookupEnvironment(home, recipe));
  return envs;
}

std::string Megabytes(std::uint64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MB"; }

std::string Describe(const EnvironmentRecipe& r) {
  if (!r.image.empty()) return r.image;
  return r.suite + " + " + std::to_string(r.packages.size()) + " packages";
}

// One line for a person, rewritten in place on a terminal.
void ProgressLine(const std::string& line) {
  if (isatty(STDERR_FILENO)) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

Status EnvList(const EnvArgs& args, const fs::path& home) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<EnvironmentInfo> envs, Selected(args, home));
  if (args.json) {
    json out = json::array();
    for (const EnvironmentInfo& e : envs) {
      out.push_back({{"name", e.recipe.name}, {"hash", RecipeHash(e.recipe)}, {"built", e.built}, {"root", e.root.string()},
                     {"suite", e.recipe.suite}, {"packages", e.recipe.packages}, {"image", e.recipe.image},
                     {"bytes", e.bytes}, {"build_ms", e.build_ms}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return Status::OK();
  }
  if (envs.empty()) {
    std::printf("no environments in %s%s\n", EnvironmentsDir(home).c_str(),
                args.suite.empty() ? "" : (" needed by " + args.suite).c_str());
    return Status::OK();
  }
  std::printf("%-10s  %-16s  %-9s  %-8s  %s\n", "NAME", "HASH", "STATE", "SIZE", "RECIPE");
  for (const EnvironmentInfo& e : envs) {
    std::printf("%-10s  %-16s  %-9s  %-8s  %s\n", e.recipe.name.c_str(), RecipeHash(e.recipe).c_str(),
                e.built ? "built" : "not built", e.built ? Megabytes(e.bytes).c_str() : "-", Describe(e.recipe).c_str());
  }
  return Status::OK();
}

Status EnvBuild(const EnvArgs& args, const fs::path& home) {
  std::map<std::string, EnvironmentRecipe> recipes;
  if (!args.image.empty()) {
    EnvironmentRecipe r;
    r.name = args.name.empty() ? "image" : args.name;
    r.image = args.image;
    recipes[RecipeHash(r)] = r;
  } else if (!args.suite.empty()) {
    LINEAGE_ASSIGN_OR_RETURN(recipes, SuiteEnvironments(args));
  } else {
    return Status::InvalidArgument("say what to build: --suite KIND:PATH (what its tasks need) or --image IMAGE");
  }
  for (const auto& [hash, recipe] : recipes) {
    const bool was_built = LookupEnvironment(home, recipe).built;
    LINEAGE_ASSIGN_OR_RETURN(EnvironmentInfo env, EnsureEnvironment(home, recipe, ProgressLine));
    if (isatty(STDERR_FILENO) && !was_built) std::fprintf(stderr, "\n");
    std::printf("%s %s: %s, %s, %s\n", recipe.name.c_str(), hash.c_str(), was_built ? "already built" : "built",
                Megabytes(env.bytes).c_str(), env.root.c_str());
  }
  if (recipes.empty()) std::printf("%s: no task needs an environment\n", args.suite.c_str());
  return Status::OK();
}

// Whole on disk, and a sandbox can run its shell and, where it has one, its Python.
Status EnvCheck(const EnvArgs& args, const fs::path& home) {
  LINEAGE_ASSIGN_OR_RETURN(std::vector<EnvironmentInfo> envs, Selected(args, home));
  LINEAGE_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sandbox, Sandbox::Create(Sandbox::Backend::kBwrap));
  int problems = 0;
  for (const EnvironmentInfo& e : envs) {
    std::string problem = CheckEnvironment(e);
    if (problem.empty()) {
      SandboxSpec spec;
      spec.root = e.root.string();
      spec.argv = {"sh", "-c", "if command -v python3 >/dev/null; then python3 --version; else echo no python3; fi"};
      spec.limits.wall_ms = 60'000;
      auto ran = sandbox->Run(spec);
      if (!ran.ok()) {
        problem = ran.status().message();
      } else if (!ran->ok()) {
        problem = "its shell does not run in a sandbox: " + ran->stderr_text;
      } else {
        std::printf("ok       %s %s: %s", e.recipe.name.c_str(), RecipeHash(e.recipe).c_str(), ran->stdout_text.c_str());
        continue;
      }
    }
    ++problems;
    std::printf("PROBLEM  %s %s: %s\n", e.recipe.name.c_str(), RecipeHash(e.recipe).c_str(), problem.c_str());
  }
  if (envs.empty()) std::printf("no environments to check\n");
  if (problems) return Status::FailedPrecondition(std::to_string(problems) + " environment(s) have problems (PROBLEM lines)");
  return Status::OK();
}

}  // namespace

void RegisterEnvCommands(CLI::App& app, Context& ctx) {
  auto* env = app.add_subcommand("env", "Environments: root file systems tasks run in (built from Debian packages or an OCI image)");
  env->require_subcommand(1);
  auto add_suite = [](CLI::App* cmd, EnvArgs& args) {
    cmd->add_option("--suite", args.suite, "only the environments this suite's tasks need (swebench:DIR)");
    cmd->add_option("--subset", args.subset, "with --suite: only this subset's tasks");
    cmd->add_option("--tasks", args.tasks, "with --suite: only these tasks (ids or globs)");
  };
  auto list_args = std::make_shared<EnvArgs>();
  auto* list = env->add_subcommand("list", "List the environments of the home, or those a suite needs (--suite)");
  add_suite(list, *list_args);
  list->add_flag("--json", list_args->json, "print JSON");
  list->callback([&ctx, list_args] { ctx.action = [list_args, &ctx] { return EnvList(*list_args, ctx.home); }; });

  auto build_args = std::make_shared<EnvArgs>();
  auto* build = env->add_subcommand("build", "Build the environments a suite needs (--suite), or one from an OCI image (--image)");
  add_suite(build, *build_args);
  build->add_option("--image", build_args->image, "an OCI image: docker://NAME:TAG (needs internet) or oci:DIR:TAG");
  build->add_option("--name", build_args->name, "with --image: the environment's name");
  build->callback([&ctx, build_args] { ctx.action = [build_args, &ctx] { return EnvBuild(*build_args, ctx.home); }; });

  auto check_args = std::make_shared<EnvArgs>();
  auto* check = env->add_subcommand("check", "Check that built environments are whole and run in the sandbox");
  add_suite(check, *check_args);
  check->callback([&ctx, check_args] { ctx.action = [check_args, &ctx] { return EnvCheck(*check_args, ctx.home); }; });
}

}  // namespace lineage::cli
