// The `lineage` subcommands. Each Register* function adds its commands to the app; a command's callback
// stores a Status in the shared context, which main() turns into an exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <string>

#include "base/status.h"

namespace lineage::cli {

struct Context {
  std::string home = ".lineage";  // --home / LINEAGE_HOME, made absolute
  bool home_given = false;         // by --home or LINEAGE_HOME, rather than the default
  std::function<Status()> action;  // set by the chosen subcommand
};

void RegisterArchiveCommands(CLI::App& app, Context& ctx);
void RegisterSandboxCommands(CLI::App& app, Context& ctx);
void RegisterModelCommands(CLI::App& app, Context& ctx);
// Adds `agent run` to the `agent` command RegisterArchiveCommands made.
void RegisterAgentRunCommand(CLI::App& app, Context& ctx);
void RegisterBenchCommands(CLI::App& app, Context& ctx);
void RegisterRunCommands(CLI::App& app, Context& ctx);
void RegisterDaemonCommand(CLI::App& app, Context& ctx);
void RegisterReportCommand(CLI::App& app, Context& ctx);
// `env list|build|check`: the root file systems tasks run in (sandbox/environment.h).
void RegisterEnvCommands(CLI::App& app, Context& ctx);

}  // namespace lineage::cli
