// The daemon's dashboard in headless Chromium: a daemon serving a recorded run shows its tree and best score,
// opens an agent's page from the tree, refuses writes, and asks for a token off loopback.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fcntl.h>
#include <regex>
#include <thread>

#include "tests/orchestrator/evolution_test_support.h"
#include "tests/web/web_test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::RunLineage;
using test::TempDir;

// A daemon with --http, and the URL it printed.
struct Dashboard {
  pid_t pid = -1;
  std::string url;  // "http://HOST:PORT/"

  Dashboard(const fs::path& home, const fs::path& log, const std::string& listen) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid = test::SpawnCommand(test::LineageArgv(home, {"daemon", "--http", listen}), {}, -1, fd);
    close(fd);
    static const std::regex kUrl(R"(dashboard: (http://\S+))");
    for (int i = 0; i < 100 && url.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::smatch m;
      const std::string text = test::ReadFileOrDie(log);
      if (std::regex_search(text, m, kUrl)) url = m[1].str();
    }
  }
  ~Dashboard() {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
  }
};

std::string Curl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::RunCommand(argv).out;
}

TEST_CASE("the dashboard shows a recorded run's tree and opens an agent's page from it") {
  REQUIRE(fs::exists("/usr/bin/chromium"));  // scripts/setup.sh installs Debian's chromium
  auto fake = test::StartFakeModel();
  TempDir dir;
  test::WriteFile(dir / "run.toml", test::RunToml(fake->url(), 4, 1));
  REQUIRE(RunLineage(dir / "home", {"run", "start", (dir / "run.toml").string(), "--foreground"}).exit_code == 0);

  Dashboard dashboard(dir / "home", dir / "daemon.log", "127.0.0.1:0");
  INFO(test::ReadFileOrDie(dir / "daemon.log"));
  REQUIRE_FALSE(dashboard.url.empty());
  CHECK(dashboard.url.find("token=") == std::string::npos);  // loopback: no token needed

  const std::string runs = test::RenderedDom(dashboard.url);
  CHECK(runs.find("<a href=\"#/run/1\">#1</a>") != std::string::npos);
  const std::string run = test::RenderedDom(dashboard.url + "#/run/1");
  CHECK(test::NodeIds(run) == std::set<std::string>{"1", "2", "3", "4", "5"});
  // The best agent by the lower end of its 95% interval: the seed and the admitted child both solved 3 of
  // 3, and the older wins the tie.
  CHECK(run.find(R"(<b id="best-score">1.000 <small>[0.439, 1.000]</small></b> <a href="#/agent/1">#1</a>)") != std::string::npos);
  test::Screenshot(dashboard.url + "#/run/1", test::kArtifacts / "dashboard-run.png");

  static const std::regex kAdmittedChild(R"re(<a href="(#/agent/(\d+))" class="node admitted" data-id)re");
  std::smatch link;
  REQUIRE(std::regex_search(run, link, kAdmittedChild));
  const std::string agent = test::RenderedDom(dashboard.url + link[1].str());
  CHECK(agent.find("id=\"agent-title\">Agent #" + link[2].str()) != std::string::npos);
  CHECK(agent.find("make the change called good") != std::string::npos);
  // Its score with its interval, and beside its parent on the tasks both ran.
  CHECK(agent.find(R"(<b id="agent-score">1.000 <small>[0.439, 1.000]</small></b> (3/3 tasks))") != std::string::npos);
  CHECK(agent.find("beside its parent, on the 3 tasks both ran: 0 solved only by it, 0 only by the parent, 3 by both") !=
        std::string::npos);
  test::Screenshot(dashboard.url + link[1].str(), test::kArtifacts / "dashboard-agent.png");

  CHECK(Curl({"-X", "POST", dashboard.url + "api/runs"}) == "405");
  CHECK(Curl({dashboard.url + "api/agents/99"}) == "404");
  CHECK(Curl({dashboard.url + "api/runs/1"}) == "200");
}

TEST_CASE("on loopback the dashboard answers only to its own address: a rebound DNS name is refused") {
  TempDir dir;
  REQUIRE(RunLineage(dir / "home", {"init"}).exit_code == 0);
  Dashboard dashboard(dir / "home", dir / "daemon.log", "127.0.0.1:0");
  INFO(test::ReadFileOrDie(dir / "daemon.log"));
  REQUIRE_FALSE(dashboard.url.empty());
  const std::string port = dashboard.url.substr(dashboard.url.rfind(':') + 1, dashboard.url.size() - dashboard.url.rfind(':') - 2);
  // A page at attacker.example whose name now resolves to 127.0.0.1 sends its own name as Host.
  CHECK(Curl({"-H", "Host: attacker.example:" + port, dashboard.url + "api/runs"}) == "403");
  CHECK(Curl({"-H", "Host: attacker.example", dashboard.url}) == "403");
  CHECK(Curl({"-H", "Host: localhost:" + port, dashboard.url + "api/runs"}) == "200");
  CHECK(Curl({dashboard.url + "api/runs"}) == "200");
}

TEST_CASE("off loopback the dashboard requires its token, which is never written to the log") {
  TempDir dir;
  REQUIRE(RunLineage(dir / "home", {"init"}).exit_code == 0);
  Dashboard dashboard(dir / "home", dir / "daemon.log", "0.0.0.0:0");
  const std::string log = test::ReadFileOrDie(dir / "daemon.log");
  INFO(log);
  std::smatch m;
  REQUIRE(std::regex_search(dashboard.url, m, std::regex(R"(http://0\.0\.0\.0:(\d+)/)")));
  const std::string token = test::ReadFileOrDie(dir / "home" / "dashboard-token").substr(0, 36);
  REQUIRE(token.rfind("lgw-", 0) == 0);
  CHECK(log.find(token) == std::string::npos);
  CHECK(log.find("dashboard-token") != std::string::npos);  // where to find it instead
  CHECK((fs::status(dir / "home" / "dashboard-token").permissions() & fs::perms::others_read) == fs::perms::none);
  const std::string base = "http://127.0.0.1:" + m[1].str() + "/";
  CHECK(Curl({base + "api/runs"}) == "401");
  CHECK(Curl({base}) == "401");
  CHECK(Curl({base + "api/runs?token=wrong"}) == "401");
  CHECK(Curl({"-H", "Authorization: Bearer " + token, base + "api/runs"}) == "200");
  CHECK(Curl({base + "?token=" + token}) == "200");
}

}  // namespace
}  // namespace lineage
