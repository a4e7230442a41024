// archive_bench: how the archive scales to 100,000 agents, as a deep chain and as a wide tree.
//
//   build/release/bench/archive_bench [--agents N] [--dir DIR]
//
// For each shape it prints: time to insert every agent (git commit + branch + rows), time to load and
// render what `lineage tree --json` prints, time to load what parent selection needs, time to
// materialize a variant at depth 1 and at depth 1,000 (and the deepest), and the size on disk.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "archive/export.h"

namespace fs = std::filesystem;
using namespace lineage;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

void Die(const Status& s) {
  std::fprintf(stderr, "archive_bench: %s\n", s.ToString().c_str());
  std::exit(2);
}

template <typename T>
T Check(Result<T> r) {
  if (!r.ok()) Die(r.status());
  return std::move(r).value();
}

// A small agent: 24 files of about 1 KiB in a few directories, like a seed agent's source tree.
std::vector<TreeEntry> SeedTree() {
  std::vector<TreeEntry> tree;
  for (int i = 0; i < 24; ++i) {
    std::string dir = i < 8 ? "src/" : i < 16 ? "prompts/" : "tests/";
    std::string body;
    for (int line = 0; line < 24; ++line) body += "// line " + std::to_string(line) + " of file " + std::to_string(i) + "\n";
    tree.push_back({dir + "file" + std::to_string(i) + ".txt", TreeEntry::Kind::kFile, body});
  }
  return tree;
}

// Each child rewrites the last line of one file of its parent, so files keep their size at any depth.
void Mutate(std::vector<TreeEntry>& tree, int generation) {
  std::string& data = tree[generation % tree.size()].data;
  size_t last_line = data.rfind('\n', data.size() - 2) + 1;
  data.replace(last_line, std::string::npos, "// change " + std::to_string(generation) + "\n");
}

std::uintmax_t DirSize(const fs::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

double TimeMaterialize(Archive& archive, AgentId id, const fs::path& scratch) {
  const int kRepeats = 20;
  auto start = Clock::now();
  for (int i = 0; i < kRepeats; ++i) {
    fs::path dir = scratch / ("m" + std::to_string(id) + "-" + std::to_string(i));
    Status s = archive.Materialize(id, dir);
    if (!s.ok()) Die(s);
  }
  double per = Seconds(start) / kRepeats;
  fs::remove_all(scratch);
  return per;
}

void RunShape(const char* shape, bool chain, int agents, const fs::path& dir) {
  fs::remove_all(dir);
  auto archive = Check(Archive::Init(dir / "home"));
  std::vector<TreeEntry> tree = SeedTree();
  if (Status s = WriteTree(dir / "seed", tree); !s.ok()) Die(s);

  auto start = Clock::now();
  AgentId seed = Check(archive->ImportAgent(dir / "seed", "seed")).id;
  AgentId parent = seed, deepest = seed;
  std::vector<AgentId> ids = {seed};
  for (int i = 1; i < agents; ++i) {
    std::vector<TreeEntry> child_tree = tree;
    Mutate(child_tree, i);
    AgentId id = Check(archive->AddChild(parent, child_tree, {})).id;
    ids.push_back(id);
    if (chain) {
      parent = id;
      tree = std::move(child_tree);
    }
    deepest = id;
    if (i % 10000 == 0) std::fprintf(stderr, "  %s: %d agents, %.0f s\n", shape, i, Seconds(start));
  }
  double insert = Seconds(start);

  start = Clock::now();
  std::string json = RenderTreeJson(Check(archive->ListAgents()), -1);
  double tree_json = Seconds(start);

  start = Clock::now();
  auto stats = Check(archive->LoadSelectionStats());
  double selection = Seconds(start);

  fs::path scratch = dir / "scratch";
  double depth1 = TimeMaterialize(*archive, ids[1], scratch);
  double depth1000 = chain && agents > 1000 ? TimeMaterialize(*archive, ids[1000], scratch) : -1;
  double deepest_time = TimeMaterialize(*archive, deepest, scratch);

  std::uintmax_t db = DirSize(dir / "home") - DirSize(dir / "home/agents.git") - DirSize(dir / "home/blobs");
  std::uintmax_t git = DirSize(dir / "home/agents.git");

  std::printf("%s: %d agents\n", shape, agents);
  std::printf("  insert                 %8.1f s total, %6.0f us/agent\n", insert, insert * 1e6 / agents);
  std::printf("  tree --json            %8.3f s (%zu bytes)\n", tree_json, json.size());
  std::printf("  selection stats        %8.3f s (%zu agents)\n", selection, stats.size());
  std::printf("  materialize depth 1    %8.2f ms\n", depth1 * 1e3);
  if (depth1000 >= 0) std::printf("  materialize depth 1000 %8.2f ms\n", depth1000 * 1e3);
  std::printf("  materialize deepest    %8.2f ms (depth %d)\n", deepest_time * 1e3, chain ? agents - 1 : 1);
  std::printf("  archive.db (+wal)      %8.1f MiB\n", db / 1048576.0);
  std::printf("  agents.git             %8.1f MiB\n", git / 1048576.0);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int agents = 100000;
  fs::path dir = fs::temp_directory_path() / "lineage-archive-bench";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--agents" && i + 1 < argc) {
      agents = std::atoi(argv[++i]);
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: archive_bench [--agents N] [--dir DIR]\n");
      return 1;
    }
  }
  if (agents < 2) {
    std::fprintf(stderr, "archive_bench: --agents must be at least 2\n");
    return 1;
  }
  RunShape("deep chain", /*chain=*/true, agents, dir / "chain");
  RunShape("wide tree", /*chain=*/false, agents, dir / "wide");
  fs::remove_all(dir);
  return 0;
}
