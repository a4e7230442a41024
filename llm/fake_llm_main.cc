// lineage-fake-llm: the fake model server on its own (see llm/fake_server.h and docs/fake-llm.md).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "llm/fake_server.h"

int main(int argc, char** argv) {
  CLI::App app{"lineage-fake-llm: a fake model server speaking the OpenAI and Anthropic formats, answering from a "
               "script (docs/fake-llm.md)"};
  std::string script, listen = "127.0.0.1:8089", socket, log;
  app.add_option("--script", script, "the script file (JSON)")->required();
  app.add_option("--listen", listen, "HOST:PORT to listen on (PORT 0 picks a free port)")->capture_default_str();
  app.add_option("--socket", socket, "also listen on this Unix socket");
  app.add_option("--log", log, "append each request received to this file, one JSON line each");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  lineage::llm::FakeServerOptions options;
  options.listen = listen;
  options.unix_socket = socket;
  options.request_log = log;
  auto server = lineage::llm::FakeModelServer::StartFromFile(script, options);
  if (!server.ok()) {
    std::fprintf(stderr, "lineage-fake-llm: %s\n", server.status().message().c_str());
    return 1;
  }
  std::printf("lineage-fake-llm: listening on %s%s%s\n", (*server)->url().c_str(), socket.empty() ? "" : " and ",
              socket.c_str());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*server)->Stop();
  return 0;
}
