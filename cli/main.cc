// lineage: the command-line entry point. Exit codes: 0 ok, 1 bad input, 2 internal error.
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <exception>
#include <iostream>

#include "archive/archive.h"
#include "base/files.h"
#include "evaluators/evaluator.h"
#include "cli/commands.h"

namespace {

constexpr int kExitOk = 0, kExitBadInput = 1, kExitInternal = 2;

lineage::Status SetUpLogging(const std::string& level_name, const std::string& log_file) {
  auto level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return lineage::Status::InvalidArgument("--log-level '" + level_name +
                                            "' is not one of trace, debug, info, warn, error, critical, off");
  }
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern("%^%l%$: %v");
  sinks.push_back(console);
  if (!log_file.empty()) {
    try {
      auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
      file->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [%t] %v");
      file->set_level(spdlog::level::trace);
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& e) {
      return lineage::Status::InvalidArgument("--log-file '" + log_file + "' cannot be opened: " + e.what());
    }
  }
  console->set_level(level);
  auto logger = std::make_shared<spdlog::logger>("lineage", sinks.begin(), sinks.end());
  // The file, when given, records everything at or above the requested level, even if that is verbose.
  logger->set_level(level);
  spdlog::set_default_logger(logger);
  return lineage::Status::OK();
}

// CLI11 reports a mistyped command as "A subcommand is required"; name the word the user typed instead.
std::string UnknownCommand(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--home" || arg == "--log-level" || arg == "--log-file" || arg == "--sandbox-user") {
      ++i;
      continue;
    }
    if (arg.rfind("-", 0) == 0) continue;
    std::string known;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == arg) return "";
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    return "unknown command '" + arg + "'; commands are: " + known;
  }
  return "";
}

int Report(const lineage::Status& status) {
  if (status.ok()) return kExitOk;
  std::fprintf(stderr, "lineage: %s\n", status.message().c_str());
  spdlog::debug("{}", status.ToString());
  return status.IsUserError() ? kExitBadInput : kExitInternal;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lineage: a self-improving coding-agent orchestrator.\n"
               "Keeps every agent variant in an archive (SQLite + git) and evolves them."};
  app.set_version_flag("--version", std::string("lineage ") + LINEAGE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  lineage::cli::Context ctx;
  std::string log_level = "warn", log_file;
  app.add_option("--home", ctx.home, "lineage home directory")
      ->envname("LINEAGE_HOME")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")->capture_default_str();
  app.add_option("--log-file", log_file, "also write logs (with timestamps) to this file");
  std::string sandbox_user;
  app.add_option("--sandbox-user", sandbox_user,
                 "when lineage runs as root, the unprivileged host user sandboxes run as (NAME or UID[:GID]; "
                 "default uid 2000000000, which no account has)")
      ->envname("LINEAGE_SANDBOX_USER");

  auto* version = app.add_subcommand("version", "Print the version of lineage, of its storage libraries, and where its data is");
  version->callback([&] {
    ctx.action = [] {
      std::printf("lineage %s (archive schema %d; %s)\ndata: %s\n", LINEAGE_VERSION, lineage::LatestSchemaVersion(),
                  lineage::StorageLibraryVersions().c_str(), lineage::DataDir().c_str());
      return lineage::Status::OK();
    };
  });
  lineage::cli::RegisterArchiveCommands(app, ctx);
  lineage::cli::RegisterSandboxCommands(app, ctx);
  lineage::cli::RegisterModelCommands(app, ctx);
  lineage::cli::RegisterAgentRunCommand(app, ctx);
  lineage::cli::RegisterBenchCommands(app, ctx);
  lineage::cli::RegisterRunCommands(app, ctx);
  lineage::cli::RegisterDaemonCommand(app, ctx);
  lineage::cli::RegisterReportCommand(app, ctx);
  lineage::cli::RegisterEnvCommands(app, ctx);

  try {
    app.parse(argc, argv);
    ctx.home_given = app.get_option("--home")->count() > 0 || std::getenv("LINEAGE_HOME") != nullptr;
    // Sandboxes bind paths under the home: they must not depend on the working directory.
    if (!ctx.home.empty()) ctx.home = std::filesystem::absolute(ctx.home).lexically_normal().string();
    // Where a suite keeps what it fetches (a SWE-bench repository it clones).
    if (!ctx.home.empty()) lineage::SetSuiteCacheDir(std::filesystem::path(ctx.home) / "cache" / "suites");
    // Every sandbox this process creates reads it there (sandbox/sandbox.h).
    if (!sandbox_user.empty()) setenv("LINEAGE_SANDBOX_USER", sandbox_user.c_str(), 1);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string unknown = UnknownCommand(app, argc, argv);
    std::fprintf(stderr, "lineage: %s\nRun 'lineage --help' (or 'lineage COMMAND --help') for usage.\n", unknown.empty() ? e.what() : unknown.c_str());
    return kExitBadInput;
  }

  int code = Report(SetUpLogging(log_level, log_file));
  if (code != kExitOk) return code;
  try {
    return Report(ctx.action ? ctx.action() : lineage::Status::Internal("no command was run"));
  } catch (const std::exception& e) {
    return Report(lineage::Status::Internal(e.what()));
  }
}
