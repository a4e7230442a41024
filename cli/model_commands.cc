// `lineage models check` and `lineage gateway serve`: see whether the configured models answer, and run
// the gateway on its own (to debug an agent by hand, or for executors on other hosts).
#include <signal.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "llm/gateway.h"
#include "llm/llm.h"
#include "harness/harness.h"

namespace lineage::cli {
namespace {

using json = nlohmann::ordered_json;

struct CheckArgs {
  std::string config;
  bool json = false;
};

// One tiny call per alias. Checks do not wait out a provider's full deadline: one retry, 60 s at most.
Status CheckModels(const CheckArgs& args) {
  LINEAGE_ASSIGN_OR_RETURN(llm::ModelsConfig config, llm::LoadModelsConfig(args.config));
  int failed = 0;
  json report = json::array();
  for (const llm::ModelConfig& m : config.models) {
    if (!args.json) {
      std::printf("%-12s %-9s %-28s ", m.alias.c_str(), llm::ProviderName(m.provider), m.model.c_str());
      std::fflush(stdout);
    }
    llm::CallResult r = std::move(llm::ProbeModels(config, {m.alias}).front());
    failed += r.ok() ? 0 : 1;
    if (args.json) {
      report.push_back({{"alias", m.alias},
                        {"provider", llm::ProviderName(m.provider)},
                        {"model", m.model},
                        {"base_url", m.base_url},
                        {"ok", r.ok()},
                        {"latency_ms", r.latency_ms},
                        {"cost_usd", r.cost_usd},
                        {"error_kind", r.ok() ? json(nullptr) : json(llm::ErrorKindName(r.error.kind))},
                        {"error", r.ok() ? json(nullptr) : json(r.error.message)}});
    } else if (r.ok()) {
      std::printf("ok      %5lld ms  $%.6f%s\n", static_cast<long long>(r.latency_ms), r.cost_usd,
                  m.price ? "" : " (no price known: set input_usd_per_mtok and output_usd_per_mtok)");
    } else {
      std::printf("FAILED  %s: %s\n", llm::ErrorKindName(r.error.kind), r.error.message.c_str());
    }
  }
  if (args.json) std::printf("%s\n", report.dump(2).c_str());
  if (failed) return Status::FailedPrecondition(std::to_string(failed) + " of " + std::to_string(config.models.size()) +
                                                " models did not answer");
  return Status::OK();
}

struct ServeArgs {
  std::string config, socket, listen, token, record, replay, purpose = "manual";
  std::optional<std::int64_t> run, agent, max_tokens, max_calls;
  std::optional<double> max_cost;
};

Status Serve(const ServeArgs& args, const std::string& home) {
  if (args.socket.empty() && args.listen.empty()) {
    return Status::InvalidArgument("give --socket PATH, --listen HOST:PORT, or both");
  }
  if (!args.record.empty() && !args.replay.empty()) {
    return Status::InvalidArgument("--record and --replay exclude each other");
  }
  LINEAGE_ASSIGN_OR_RETURN(llm::ModelsConfig config, llm::LoadModelsConfig(args.config));

  // Calls go into the archive when there is one; the gateway is still useful without.
  std::unique_ptr<Archive> archive;
  Result<std::unique_ptr<Archive>> opened = Archive::Open(home);
  if (opened.ok()) {
    archive = std::move(opened).value();
  } else {
    std::fprintf(stderr, "gateway: calls are not recorded: %s\n", opened.status().message().c_str());
  }
  if (archive && args.run) LINEAGE_RETURN_IF_ERROR(archive->GetRun(*args.run).status());
  if (archive && args.agent) LINEAGE_RETURN_IF_ERROR(archive->GetAgent(*args.agent).status());

  llm::GatewayOptions options;
  options.unix_socket = args.socket;
  options.tcp_listen = args.listen;
  if (archive) options.recorder = ArchiveCallRecorder(*archive);
  if (!args.record.empty()) {
    options.cache_mode = llm::CacheMode::kRecord;
    options.cache_dir = args.record;
  } else if (!args.replay.empty()) {
    options.cache_mode = llm::CacheMode::kReplay;
    options.cache_dir = args.replay;
  }

  // Block the stop signals before the server's threads start, so that only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  LINEAGE_ASSIGN_OR_RETURN(auto gateway, llm::Gateway::Start(config, options));
  auto budget = std::make_shared<llm::Budget>(llm::BudgetLimits{args.max_tokens, args.max_cost, args.max_calls});
  llm::Attribution who{args.run, args.agent, "", args.purpose};
  std::string token = args.token;
  if (token.empty()) {
    token = gateway->IssueToken(who, budget);
  } else {
    gateway->AddToken(token, who, budget);
  }
  if (!gateway->unix_socket().empty()) std::printf("gateway: listening on unix:%s\n", gateway->unix_socket().c_str());
  if (!gateway->tcp_url().empty()) std::printf("gateway: listening on %s\n", gateway->tcp_url().c_str());
  std::printf("gateway: models %s\n", config.AliasList().c_str());
  if (args.token.empty()) std::printf("gateway: token %s\n", token.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  gateway->Stop();
  llm::Spend spent = budget->spent();
  std::fprintf(stderr, "gateway: stopped after %lld calls, %lld tokens, $%.4f\n", static_cast<long long>(spent.calls),
               static_cast<long long>(spent.tokens), spent.cost_usd);
  return Status::OK();
}

}  // namespace

void RegisterModelCommands(CLI::App& app, Context& ctx) {
  auto* models = app.add_subcommand("models", "Check the configured foundation models");
  models->require_subcommand(1);
  auto check_args = std::make_shared<CheckArgs>();
  auto* check = models->add_subcommand("check", "Call each configured model with a tiny prompt; report latency and "
                                                "cost, or exactly what is wrong");
  check->add_option("--config", check_args->config, "the models configuration (TOML)")->required();
  check->add_flag("--json", check_args->json, "print one JSON array instead of a table");
  check->callback([&ctx, check_args] { ctx.action = [check_args] { return CheckModels(*check_args); }; });

  auto* gateway = app.add_subcommand("gateway", "The model gateway agents call");
  gateway->require_subcommand(1);
  auto args = std::make_shared<ServeArgs>();
  auto* serve = gateway->add_subcommand("serve", "Run the gateway until interrupted (records calls in the archive "
                                                 "when the home has one)");
  serve->add_option("--config", args->config, "the models configuration (TOML)")->required();
  serve->add_option("--socket", args->socket, "listen on this Unix socket");
  serve->add_option("--listen", args->listen, "listen on HOST:PORT (loopback, for executors on other hosts)");
  serve->add_option("--token", args->token, "the token callers must present (default: a generated one, printed)");
  serve->add_option("--record", args->record, "record every response in this directory");
  serve->add_option("--replay", args->replay, "answer only from responses recorded in this directory");
  serve->add_option("--max-tokens", args->max_tokens, "budget: tokens (input plus output)");
  serve->add_option("--max-cost", args->max_cost, "budget: US dollars");
  serve->add_option("--max-calls", args->max_calls, "budget: calls");
  serve->add_option("--run", args->run, "attribute the calls to this run");
  serve->add_option("--agent", args->agent, "attribute the calls to this agent");
  serve->add_option("--purpose", args->purpose, "the purpose recorded with each call")->capture_default_str();
  serve->callback([&ctx, args] { ctx.action = [args, &ctx] { return Serve(*args, ctx.home); }; });
}

}  // namespace lineage::cli
