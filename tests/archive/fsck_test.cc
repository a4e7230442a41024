#include <catch2/catch.hpp>

#include "archive/archive.h"
#include "archive/git_store.h"
#include "archive/sqlite.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  test::TempDir tmp;
  fs::path home = tmp / "home";
  std::unique_ptr<Archive> archive;
  AgentId seed = 0, child = 0;

  Fixture() {
    archive = std::move(Archive::Init(home)).value();
    test::WriteFile(tmp / "seed/a.txt", "a\n");
    seed = archive->ImportAgent(tmp / "seed", "seed")->id;
    test::WriteFile(tmp / "seed/b.txt", "b\n");
    child = archive->AddChild(seed, tmp / "seed", {})->id;
  }
  std::vector<FsckIssue> Fsck(bool repair) {
    auto issues = archive->Fsck(repair);
    REQUIRE(issues.ok());
    return *issues;
  }
  void Sql(const std::string& statement) {
    sql::Db db;
    REQUIRE(db.Open((home / "archive.db").string(), false).ok());
    REQUIRE(db.Exec(statement).ok());
  }
};

TEST_CASE("a healthy archive has no issues") {
  Fixture f;
  CHECK(f.Fsck(false).empty());
}

TEST_CASE("a missing branch is reported and restored") {
  Fixture f;
  fs::remove(f.home / "agents.git/refs/heads/agents/2");
  auto issues = f.Fsck(false);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].subject == "agent 2");
  CHECK(issues[0].problem == "branch agents/2 is missing");
  auto repaired = f.Fsck(true);
  REQUIRE(repaired.size() == 1);
  CHECK(repaired[0].repaired);
  CHECK(f.Fsck(false).empty());
}

TEST_CASE("a row naming a commit that git does not have is reported") {
  Fixture f;
  f.Sql("UPDATE agents SET commit_id = '0123456789012345678901234567890123456789' WHERE id = 2");
  auto issues = f.Fsck(true);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].subject == "agent 2");
  CHECK(issues[0].problem == "commit 0123456789012345678901234567890123456789 is missing from agents.git");
  CHECK_FALSE(issues[0].repaired);
}

TEST_CASE("a git parent that disagrees with the archive parent is reported") {
  Fixture f;
  test::WriteFile(f.tmp / "other/z.txt", "z\n");
  auto other = f.archive->ImportAgent(f.tmp / "other", "other");
  REQUIRE(other.ok());
  f.Sql("UPDATE agents SET parent_id = " + std::to_string(other->id) + " WHERE id = 2");
  auto issues = f.Fsck(false);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].problem.find("has git parent") != std::string::npos);
}

TEST_CASE("a branch with no row is reported: missing and damaged blobs are reported") {
  Fixture f;
  auto git = GitStore::Open(f.home / "agents.git");
  REQUIRE((*git)->SetBranch(77, f.archive->GetAgent(f.seed)->commit).ok());
  ModelCall call;
  call.purpose = "p";
  call.provider = "openai";
  call.model = "m";
  call.outcome = "ok";
  REQUIRE(f.archive->RecordModelCall(call, "request", "response").ok());
  auto calls_hash = f.archive->PutBlob("request");
  fs::remove(f.home / "blobs" / calls_hash->substr(0, 2) / calls_hash->substr(2));
  auto damaged = f.archive->PutBlob("response");
  test::WriteFile(f.home / "blobs" / damaged->substr(0, 2) / damaged->substr(2), "garbage");

  auto issues = f.Fsck(false);
  REQUIRE(issues.size() == 3);
  CHECK(issues[0].subject == "branch agents/77");
  CHECK(issues[1].subject == "blob " + *calls_hash);
  CHECK(issues[1].problem == "referenced by archive.db but missing from blobs/");
  CHECK(issues[2].subject == "blob " + *damaged);
}

TEST_CASE("stale lock and temporary files are removed by repair") {
  Fixture f;
  test::WriteFile(f.home / "agents.git/refs/heads/agents/2.lock", "");
  test::WriteFile(f.home / "blobs/ab/cdef.tmp.123.456", "half");
  auto issues = f.Fsck(false);
  REQUIRE(issues.size() == 2);
  CHECK(issues[0].subject == "agents.git/refs/heads/agents/2.lock");
  auto repaired = f.Fsck(true);
  CHECK(repaired[0].repaired);
  CHECK(repaired[1].repaired);
  CHECK_FALSE(fs::exists(f.home / "agents.git/refs/heads/agents/2.lock"));
  CHECK(f.Fsck(false).empty());
}

}  // namespace
}  // namespace lineage
