#include "archive/archive.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "archive/git_store.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::WriteFile;

struct Home {
  TempDir tmp;
  std::unique_ptr<Archive> archive;
  Home() {
    auto a = Archive::Init(tmp / "home");
    REQUIRE(a.ok());
    archive = std::move(a).value();
  }
  fs::path Seed() {
    WriteFile(tmp / "seed/src/agent.cc", "int main() { return 0; }\n");
    WriteFile(tmp / "seed/prompts/system.txt", "You are a coding agent.\n");
    WriteFile(tmp / "seed/build.sh", "#!/bin/sh\nc++ src/agent.cc\n", true);
    return tmp / "seed";
  }
  // A copy of a variant's tree, to modify and add back as a child.
  fs::path Checkout(AgentId id, const std::string& name) {
    fs::path dir = tmp / name;
    REQUIRE(archive->Materialize(id, dir).ok());
    return dir;
  }
};

int Mode(const fs::path& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

TEST_CASE("a home is its owner's alone: the directory 0700, the database and blobs 0600") {
  Home h;
  auto blob = h.archive->PutBlob("an evaluation log");
  REQUIRE(blob.ok());
  CHECK(Mode(h.tmp / "home") == 0700);
  CHECK(Mode(h.tmp / "home/archive.db") == 0600);
  CHECK(Mode(h.tmp / "home/blobs" / blob->substr(0, 2) / blob->substr(2)) == 0600);
  // A home an older version left open is closed when it is next opened.
  h.archive.reset();
  fs::permissions(h.tmp / "home", fs::perms(0755));
  fs::permissions(h.tmp / "home/archive.db", fs::perms(0644));
  REQUIRE(Archive::Open(h.tmp / "home").ok());
  CHECK(Mode(h.tmp / "home") == 0700);
  CHECK(Mode(h.tmp / "home/archive.db") == 0600);
}

TEST_CASE("Init creates the home layout and is idempotent") {
  TempDir tmp;
  REQUIRE(Archive::Init(tmp / "home").ok());
  CHECK(fs::exists(tmp / "home/archive.db"));
  CHECK(fs::exists(tmp / "home/agents.git/HEAD"));
  CHECK(fs::is_directory(tmp / "home/blobs"));
  auto again = Archive::Init(tmp / "home");
  REQUIRE(again.ok());
  CHECK((*again)->schema_version() == LatestSchemaVersion());
}

TEST_CASE("Open without a home says how to make one") {
  TempDir tmp;
  auto a = Archive::Open(tmp / "nowhere");
  REQUIRE_FALSE(a.ok());
  CHECK(a.status().code() == Status::Code::kFailedPrecondition);
  CHECK(a.status().message().find("run `lineage init`") != std::string::npos);
}

TEST_CASE("ImportAgent stores a root variant on its own branch") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  CHECK(seed->id == 1);
  CHECK(seed->name == "seed");
  CHECK(seed->generation == 0);
  CHECK_FALSE(seed->parent_id);
  CHECK(seed->state == AgentState::kCommitted);
  CHECK(seed->commit.size() == 40);

  auto git = GitStore::Open(h.tmp / "home/agents.git");
  REQUIRE(git.ok());
  auto branch = (*git)->Branch(1);
  REQUIRE(branch.ok());
  CHECK(*branch == seed->commit);
  CHECK(*(*git)->ParentOf(seed->commit) == "");
}

TEST_CASE("AddChild records adds, deletes, renames and executable bits") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  fs::path work = h.Checkout(seed->id, "work");
  fs::rename(work / "src/agent.cc", work / "src/conductor.cc");  // rename
  fs::remove(work / "prompts/system.txt");                         // delete
  WriteFile(work / "prompts/expert.txt", "You are an expert.\n");  // add
  fs::permissions(work / "build.sh", fs::perms(0644));            // lose the executable bit
  fs::create_symlink("src/conductor.cc", work / "main.cc");       // a symlink

  auto child = h.archive->AddChild(seed->id, work, {.name = "child", .problem_statement = "split the prompts"});
  REQUIRE(child.ok());
  CHECK(child->parent_id == seed->id);
  CHECK(child->generation == 1);
  CHECK(child->problem_statement == "split the prompts");
  CHECK(child->files_changed == 5);

  auto diff = h.archive->Diff(child->id);
  REQUIRE(diff.ok());
  CHECK(diff->patch.find("rename from src/agent.cc\nrename to src/conductor.cc") != std::string::npos);
  CHECK(diff->patch.find("deleted file mode 100644") != std::string::npos);
  CHECK(diff->patch.find("+You are an expert.") != std::string::npos);
  CHECK(diff->patch.find("old mode 100755\nnew mode 100644") != std::string::npos);
  CHECK(diff->patch.find("new file mode 120000") != std::string::npos);

  TempDir out;
  REQUIRE(h.archive->Materialize(child->id, out / "v").ok());
  CHECK(fs::exists(out / "v/src/conductor.cc"));
  CHECK_FALSE(fs::exists(out / "v/src/agent.cc"));
  CHECK_FALSE(fs::exists(out / "v/prompts/system.txt"));
  CHECK((fs::status(out / "v/build.sh").permissions() & fs::perms::owner_exec) == fs::perms::none);
  CHECK(fs::read_symlink(out / "v/main.cc") == "src/conductor.cc");

  // The parent is untouched.
  TempDir parent_out;
  REQUIRE(h.archive->Materialize(seed->id, parent_out / "p").ok());
  CHECK(fs::exists(parent_out / "p/src/agent.cc"));
  CHECK((fs::status(parent_out / "p/build.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
}

TEST_CASE("the git history of a variant is its archive lineage") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  AgentId last = seed->id;
  for (int i = 0; i < 3; ++i) {
    fs::path work = h.Checkout(last, "w" + std::to_string(i));
    WriteFile(work / "notes.txt", "generation " + std::to_string(i + 1));
    auto child = h.archive->AddChild(last, work, {});
    REQUIRE(child.ok());
    CHECK(child->generation == i + 1);
    last = child->id;
  }
  auto git = GitStore::Open(h.tmp / "home/agents.git");
  REQUIRE(git.ok());
  // Walk git parents from the newest branch back to the root: it visits agents 4, 3, 2, 1.
  std::string commit = *(*git)->Branch(last).value();
  for (AgentId id = last; id >= 1; --id) {
    auto agent = h.archive->GetAgent(id);
    REQUIRE(agent.ok());
    CHECK(agent->commit == commit);
    commit = *(*git)->ParentOf(commit);
  }
  CHECK(commit.empty());
}

TEST_CASE("Diff between any two variants, and of a root against nothing") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  fs::path a = h.Checkout(seed->id, "a");
  WriteFile(a / "A.txt", "a\n");
  auto child_a = h.archive->AddChild(seed->id, a, {});
  fs::path b = h.Checkout(seed->id, "b");
  WriteFile(b / "B.txt", "b\n");
  auto child_b = h.archive->AddChild(seed->id, b, {});
  REQUIRE(child_a.ok());
  REQUIRE(child_b.ok());

  auto sibling = h.archive->Diff(child_b->id, child_a->id);  // from a to b
  REQUIRE(sibling.ok());
  CHECK(sibling->files_changed == 2);
  CHECK(sibling->patch.find("-a") != std::string::npos);
  CHECK(sibling->patch.find("+b") != std::string::npos);

  auto root = h.archive->Diff(seed->id);
  REQUIRE(root.ok());
  CHECK(root->files_changed == 3);
  CHECK(root->lines_removed == 0);
}

TEST_CASE("hostile trees are refused before anything is stored") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  fs::path work = h.Checkout(seed->id, "work");
  REQUIRE(mkfifo((work / "trap").c_str(), 0644) == 0);

  auto child = h.archive->AddChild(seed->id, work, {});
  REQUIRE_FALSE(child.ok());
  CHECK(child.status().message().find("refusing 'trap': it is a FIFO") == 0);
  auto agents = h.archive->ListAgents();
  REQUIRE(agents.ok());
  CHECK(agents->size() == 1);  // no row, not even a failed one
}

TEST_CASE("a symlink to a host file is stored as a link, never as the file's contents") {
  Home h;
  fs::path dir = h.Seed();
  fs::create_symlink("/etc/hostname", dir / "leak");
  auto seed = h.archive->ImportAgent(dir, "seed");
  REQUIRE(seed.ok());
  TempDir out;
  REQUIRE(h.archive->Materialize(seed->id, out / "v").ok());
  CHECK(fs::is_symlink(out / "v/leak"));
  CHECK(fs::read_symlink(out / "v/leak") == "/etc/hostname");
}

TEST_CASE("bad references are refused with the id at fault") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());

  auto missing = h.archive->AddChild(42, h.tmp / "seed", {});
  CHECK(missing.status().message() == "agent 42 does not exist");
  CHECK(missing.status().code() == Status::Code::kNotFound);

  auto same = h.archive->AddChild(seed->id, h.tmp / "seed", {});
  CHECK(same.status().code() == Status::Code::kInvalidArgument);
  CHECK(same.status().message() == "the tree is identical to agent 1's; a child must change something");
  Archive::ChildOptions allow;
  allow.allow_empty = true;
  CHECK(h.archive->AddChild(seed->id, h.tmp / "seed", allow).ok());

  Archive::ChildOptions bad_run;
  bad_run.run = 9;
  fs::path work = h.Checkout(seed->id, "work");
  WriteFile(work / "x", "x");
  CHECK(h.archive->AddChild(seed->id, work, bad_run).status().message() == "run 9 does not exist");

  TempDir out;
  WriteFile(out / "busy/file", "mine");
  CHECK(h.archive->Materialize(seed->id, out / "busy").code() == Status::Code::kAlreadyExists);
  CHECK(test::ReadFileOrDie(out / "busy/file") == "mine");
  CHECK(h.archive->Materialize(77, out / "new").message() == "agent 77 does not exist");
}

TEST_CASE("stage scores roll up into the agent's score over attempted tasks") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  REQUIRE(h.archive->RecordStageScore(seed->id, {1, 10, 4, 0.4}).ok());
  auto a = h.archive->GetAgent(seed->id);
  CHECK(a->score == Approx(0.4));
  CHECK(a->stage_reached == 1);
  REQUIRE(h.archive->RecordStageScore(seed->id, {2, 50, 26, 0.52}).ok());
  a = h.archive->GetAgent(seed->id);
  CHECK(a->score == Approx(30.0 / 60.0));
  CHECK(a->stage_reached == 2);
  REQUIRE(a->stages.size() == 2);
  CHECK(a->stages[1].solved == 26);
}

TEST_CASE("a retried evaluation replaces its own row") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  auto log = h.archive->PutBlob("test output: 3 passed");
  REQUIRE(log.ok());
  Evaluation e;
  e.agent_id = seed->id;
  e.suite = "starter";
  e.task_id = "cpp/fizzbuzz";
  e.outcome = Outcome::kFailed;
  e.log_blob = *log;
  auto first = h.archive->RecordEvaluation(e);
  REQUIRE(first.ok());
  e.outcome = Outcome::kSolved;
  auto second = h.archive->RecordEvaluation(e);
  REQUIRE(second.ok());
  CHECK(*first == *second);
  auto evals = h.archive->ListEvaluations(seed->id);
  REQUIRE(evals->size() == 1);
  CHECK((*evals)[0].outcome == Outcome::kSolved);
  CHECK(*h.archive->GetBlob((*evals)[0].log_blob) == "test output: 3 passed");

  e.log_blob = std::string(64, 'a');
  CHECK(h.archive->RecordEvaluation(e).status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("model calls keep request and response as blobs and add to the agent's spend") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  ModelCall call;
  call.agent_id = seed->id;
  call.purpose = "diagnosis";
  call.provider = "openai";
  call.model = "gpt-4.1-mini";
  call.input_tokens = 1200;
  call.output_tokens = 300;
  call.cost_usd = 0.0042;
  call.outcome = "ok";
  REQUIRE(h.archive->RecordModelCall(call, R"({"messages":[]})", R"({"choices":[]})").ok());
  REQUIRE(h.archive->RecordModelCall(call, R"({"messages":[1]})", R"({"choices":[1]})").ok());
  auto calls = h.archive->ListModelCalls(seed->id);
  REQUIRE(calls->size() == 2);
  CHECK(*h.archive->GetBlob((*calls)[0].request_blob) == R"({"messages":[]})");
  CHECK(*h.archive->GetBlob((*calls)[1].response_blob) == R"({"choices":[1]})");
  auto a = h.archive->GetAgent(seed->id);
  CHECK(a->tokens_in == 2400);
  CHECK(a->tokens_out == 600);
  CHECK(a->cost_usd == Approx(0.0084));
}

TEST_CASE("runs group agents: selection stats count admitted children") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  auto run = h.archive->CreateRun("first", "[run]\n", seed->id);
  REQUIRE(run.ok());
  std::vector<AgentId> kids;
  for (int i = 0; i < 3; ++i) {
    fs::path work = h.Checkout(seed->id, "k" + std::to_string(i));
    WriteFile(work / "k", std::to_string(i));
    auto child = h.archive->AddChild(seed->id, work, {.run = run->id});
    REQUIRE(child.ok());
    CHECK(child->run_id == run->id);
    kids.push_back(child->id);
  }
  for (AgentId kid : {kids[0], kids[1]}) {
    for (AgentState s : {AgentState::kBuilt, AgentState::kEvaluating, AgentState::kAdmitted}) {
      REQUIRE(h.archive->SetAgentState(kid, s).ok());
    }
  }
  REQUIRE(h.archive->SetAgentState(kids[2], AgentState::kRejected, "build failed").ok());
  REQUIRE(h.archive->RecordStageScore(kids[0], {1, 10, 7, 0.7}).ok());

  // An agent outside the run does not appear in it.
  fs::path other = h.Checkout(seed->id, "other");
  WriteFile(other / "other", "x");
  REQUIRE(h.archive->AddChild(seed->id, other, {}).ok());

  auto in_run = h.archive->ListAgents(run->id);
  REQUIRE(in_run.ok());
  CHECK(in_run->size() == 4);  // the seed and its three children
  auto stats = h.archive->LoadSelectionStats(run->id);
  REQUIRE(stats.ok());
  REQUIRE(stats->size() == 4);
  CHECK((*stats)[0].id == seed->id);
  CHECK((*stats)[0].admitted_children == 2);
  CHECK((*stats)[1].attempted == 10);
  CHECK((*stats)[1].solved == 7);
  CHECK((*stats)[3].state == AgentState::kRejected);
  CHECK(h.archive->GetAgent(kids[2])->reason == "build failed");
  CHECK(h.archive->ListAgents(99).status().message() == "run 99 does not exist");
}

TEST_CASE("events are an append-only journal") {
  Home h;
  auto seed = h.archive->ImportAgent(h.Seed(), "seed");
  REQUIRE(seed.ok());
  auto id = h.archive->AppendEvent({0, std::nullopt, seed->id, "note", R"({"text":"hello"})", 0});
  REQUIRE(id.ok());
  auto events = h.archive->ListEvents(std::nullopt);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 2);  // agent.committed from the import, then the note
  CHECK((*events)[0].kind == "agent.committed");
  CHECK((*events)[1].data_json == R"({"text":"hello"})");
  CHECK(h.archive->AppendEvent({0, std::nullopt, std::nullopt, "bad", "{not json", 0}).status().code() ==
        Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace lineage
