#include "base/safe_tree.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::WriteFile;

const TreeEntry* Find(const std::vector<TreeEntry>& entries, const std::string& path) {
  for (const TreeEntry& e : entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

TEST_CASE("ReadTree reads files, executable bits and symlinks, sorted, skipping .git") {
  TempDir tmp;
  WriteFile(tmp / "src/main.cc", "int main() {}\n");
  WriteFile(tmp / "run.sh", "#!/bin/sh\n", /*executable=*/true);
  WriteFile(tmp / ".git/config", "[core]\n");
  fs::create_directories(tmp / "empty");
  fs::create_symlink("/etc/passwd", tmp / "secret");

  auto tree = ReadTree(tmp.path());
  REQUIRE(tree.ok());
  REQUIRE(tree->size() == 3);
  CHECK((*tree)[0].path == "run.sh");
  CHECK((*tree)[1].path == "secret");
  CHECK((*tree)[2].path == "src/main.cc");
  CHECK(Find(*tree, "run.sh")->kind == TreeEntry::Kind::kExecutable);
  CHECK(Find(*tree, "src/main.cc")->kind == TreeEntry::Kind::kFile);
  CHECK(Find(*tree, "src/main.cc")->data == "int main() {}\n");
  // The symlink is stored as its target text: /etc/passwd was never read.
  CHECK(Find(*tree, "secret")->kind == TreeEntry::Kind::kSymlink);
  CHECK(Find(*tree, "secret")->data == "/etc/passwd");
}

TEST_CASE("ReadTree never descends through a symlinked directory") {
  TempDir tmp, outside;
  WriteFile(outside / "host-secret", "do not read");
  WriteFile(tmp / "a.txt", "a");
  fs::create_directory_symlink(outside.path(), tmp / "escape");
  auto tree = ReadTree(tmp.path());
  REQUIRE(tree.ok());
  REQUIRE(tree->size() == 2);
  CHECK(Find(*tree, "escape")->kind == TreeEntry::Kind::kSymlink);
  CHECK(Find(*tree, "escape/host-secret") == nullptr);
}

TEST_CASE("ReadTree refuses special files, naming the path") {
  TempDir tmp;
  WriteFile(tmp / "ok.txt", "fine");

  SECTION("a FIFO") {
    fs::create_directories(tmp / "sub");
    REQUIRE(mkfifo((tmp / "sub/pipe").c_str(), 0644) == 0);
    auto tree = ReadTree(tmp.path());
    REQUIRE_FALSE(tree.ok());
    CHECK(tree.status().message() == "refusing 'sub/pipe': it is a FIFO; only regular files, directories and "
                                     "symlinks can be stored");
  }
  SECTION("a Unix socket") {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = (tmp / "sock").string();
    REQUIRE(path.size() < sizeof addr.sun_path);
    std::copy(path.begin(), path.end(), addr.sun_path);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    auto tree = ReadTree(tmp.path());
    close(fd);
    REQUIRE_FALSE(tree.ok());
    CHECK(tree.status().message().find("refusing 'sock': it is a socket") == 0);
  }
  SECTION("a device node") {
    if (mknod((tmp / "null").c_str(), S_IFCHR | 0644, makedev(1, 3)) != 0) {
      WARN("mknod is not permitted here; skipping the device case");
      return;
    }
    auto tree = ReadTree(tmp.path());
    REQUIRE_FALSE(tree.ok());
    CHECK(tree.status().message().find("refusing 'null': it is a character device") == 0);
  }
}

TEST_CASE("ReadTree refuses hard links, which could name a host file") {
  TempDir tmp;
  WriteFile(tmp / "a", "x");
  fs::create_hard_link(tmp / "a", tmp / "b");
  auto tree = ReadTree(tmp.path());
  REQUIRE_FALSE(tree.ok());
  CHECK(tree.status().message().find("refusing 'a': it has 2 hard links") == 0);
}

TEST_CASE("ReadTree enforces its size, count and depth limits") {
  TempDir tmp;
  TreeLimits limits;
  SECTION("one oversized file") {
    WriteFile(tmp / "big.bin", std::string(2000, 'x'));
    limits.max_file_bytes = 1000;
    auto tree = ReadTree(tmp.path(), limits);
    REQUIRE_FALSE(tree.ok());
    CHECK(tree.status().message() == "refusing 'big.bin': 2000 bytes is over the 1000-byte limit for one file");
  }
  SECTION("too many files") {
    for (int i = 0; i < 5; ++i) WriteFile(tmp / ("f" + std::to_string(i)), "x");
    limits.max_entries = 4;
    auto tree = ReadTree(tmp.path(), limits);
    REQUIRE_FALSE(tree.ok());
    CHECK(tree.status().message() == "refusing 'f4': the tree has more than 4 files");
  }
  SECTION("too large in total") {
    for (int i = 0; i < 3; ++i) WriteFile(tmp / ("f" + std::to_string(i)), std::string(400, 'x'));
    limits.max_total_bytes = 1000;
    auto tree = ReadTree(tmp.path(), limits);
    REQUIRE_FALSE(tree.ok());
    CHECK(tree.status().message() == "refusing 'f2': the tree is larger than 1000 bytes");
  }
  SECTION("too deep") {
    WriteFile(tmp / "a/b/c/d/file", "x");
    limits.max_depth = 2;
    auto tree = ReadTree(tmp.path(), limits);
    REQUIRE_FALSE(tree.ok());
    CHECK(tree.status().message() == "refusing 'a/b/c': nested deeper than 2 directories");
  }
}

TEST_CASE("ReadTree of a missing directory names it") {
  auto tree = ReadTree("/nonexistent/lineage-dir");
  REQUIRE_FALSE(tree.ok());
  CHECK(tree.status().IsUserError());
  CHECK(tree.status().message() == "'/nonexistent/lineage-dir' is not a directory");
}

TEST_CASE("ValidateTreePath refuses paths that escape the tree") {
  CHECK(ValidateTreePath("src/main.cc").ok());
  CHECK(ValidateTreePath("..hidden/x").ok());
  CHECK_FALSE(ValidateTreePath("").ok());
  CHECK_FALSE(ValidateTreePath("/etc/passwd").ok());
  CHECK_FALSE(ValidateTreePath("../x").ok());
  CHECK_FALSE(ValidateTreePath("a/../../x").ok());
  CHECK_FALSE(ValidateTreePath("a/./b").ok());
  CHECK_FALSE(ValidateTreePath("a//b").ok());
  CHECK_FALSE(ValidateTreePath("a/").ok());
  CHECK_FALSE(ValidateTreePath(".git/hooks/pre-commit").ok());
  CHECK_FALSE(ValidateTreePath(std::string("a\0b", 3)).ok());
  CHECK(ValidateTreePath("../x").message() == "refusing path '../x': it escapes the tree through '.' or '..'");
}

TEST_CASE("WriteTree recreates a tree exactly") {
  TempDir src, dst;
  WriteFile(src / "src/main.cc", "int main() {}\n");
  WriteFile(src / "bin/run", "#!/bin/sh\n", true);
  fs::create_symlink("../src/main.cc", src / "bin/link");
  auto tree = ReadTree(src.path());
  REQUIRE(tree.ok());
  REQUIRE(WriteTree(dst / "out", *tree).ok());
  auto again = ReadTree(dst / "out");
  REQUIRE(again.ok());
  REQUIRE(again->size() == tree->size());
  for (size_t i = 0; i < tree->size(); ++i) {
    CHECK((*again)[i].path == (*tree)[i].path);
    CHECK((*again)[i].kind == (*tree)[i].kind);
    CHECK((*again)[i].data == (*tree)[i].data);
  }
  CHECK(fs::is_symlink(dst / "out/bin/link"));
}

TEST_CASE("WriteTree never writes through a symlink or outside its root") {
  TempDir tmp, outside;
  SECTION("a file below a symlinked directory") {
    std::vector<TreeEntry> entries = {{"a", TreeEntry::Kind::kSymlink, outside.path().string()},
                                      {"a/pwned", TreeEntry::Kind::kFile, "x"}};
    Status s = WriteTree(tmp / "out", entries);
    CHECK_FALSE(s.ok());
    CHECK_FALSE(fs::exists(outside / "pwned"));
  }
  SECTION("a path with ..") {
    std::vector<TreeEntry> entries = {{"../pwned", TreeEntry::Kind::kFile, "x"}};
    Status s = WriteTree(tmp / "out", entries);
    CHECK(s.message() == "refusing path '../pwned': it escapes the tree through '.' or '..'");
    CHECK_FALSE(fs::exists(tmp / "pwned"));
  }
  SECTION("a destination that is not empty") {
    WriteFile(tmp / "out/existing", "keep me");
    Status s = WriteTree(tmp / "out", {{"f", TreeEntry::Kind::kFile, "x"}});
    CHECK(s.code() == Status::Code::kAlreadyExists);
    CHECK(test::ReadFileOrDie(tmp / "out/existing") == "keep me");
  }
}

TEST_CASE("a .git by any name a file system may give it is reserved") {
  for (const char* name : {".git", ".GIT", ".Git", ".git.", ".git ", ".git. .", "GIT~1", "git~1"}) {
    INFO(name);
    CHECK(IsGitName(name));
    CHECK_FALSE(ValidateTreePath(std::string("sub/") + name + "/hooks/post-checkout").ok());
  }
  for (const char* name : {".gitignore", ".github", "git", ".git2", "x.git"}) {
    INFO(name);
    CHECK_FALSE(IsGitName(name));
  }
}

// Opens a directory for the fd-based functions.
int OpenDir(const fs::path& dir) { return open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); }

TEST_CASE("SyncTree mirrors a tree without following links, copying specials or keeping setuid bits") {
  TempDir from, to, outside;
  WriteFile(from / "a.txt", "new a\n");
  WriteFile(from / "sub/run.sh", "#!/bin/sh\n", true);
  fs::create_directories(from / "empty");
  fs::create_symlink(outside.path(), from / "escape");
  REQUIRE(mkfifo((from / "fifo").c_str(), 0644) == 0);
  WriteFile(from / "suid", "x");
  REQUIRE(chmod((from / "suid").c_str(), 06755) == 0);
  WriteFile(from / "skipped/x", "not copied");
  WriteFile(from / ".git/config", "theirs");
  // What `to` held: a file to replace, one to delete, a symlink where `sub` goes, its own .git.
  WriteFile(to / "a.txt", "old a\n");
  WriteFile(to / "gone.txt", "x");
  fs::create_symlink(outside.path(), to / "sub");
  WriteFile(to / ".git/config", "ours");
  int f = OpenDir(from.path()), t = OpenDir(to.path());
  SyncOptions options;
  options.skip = {"skipped"};
  auto stats = SyncTree(f, t, options);
  close(f);
  close(t);
  REQUIRE(stats.ok());
  CHECK(stats->skipped_special == 1);
  CHECK(test::ReadFileOrDie(to / "a.txt") == "new a\n");
  CHECK_FALSE(fs::exists(to / "gone.txt"));
  CHECK(fs::is_directory(fs::symlink_status(to / "sub")));
  CHECK(fs::is_empty(outside.path()));  // nothing went through either symlink
  CHECK((fs::status(to / "sub/run.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK(fs::is_directory(to / "empty"));
  CHECK(fs::is_symlink(to / "escape"));
  CHECK_FALSE(fs::exists(fs::symlink_status(to / "fifo")));
  CHECK_FALSE(fs::exists(to / "skipped"));
  struct stat st;
  REQUIRE(stat((to / "suid").c_str(), &st) == 0);
  CHECK((st.st_mode & (S_ISUID | S_ISGID)) == 0);
  CHECK(test::ReadFileOrDie(to / ".git/config") == "ours");
}

TEST_CASE("SyncTree stops at its limits, naming the path") {
  TempDir from, to;
  WriteFile(from / "big", std::string(2048, 'x'));
  int f = OpenDir(from.path()), t = OpenDir(to.path());
  SyncOptions options;
  options.limits.max_file_bytes = 1024;
  auto stats = SyncTree(f, t, options);
  close(f);
  close(t);
  REQUIRE_FALSE(stats.ok());
  CHECK_THAT(stats.status().message(), Catch::Contains("'big': 2048 bytes is over the 1024-byte limit"));
}

TEST_CASE("ApplyChanges writes and removes only what changed, through no symlink, keeping modes") {
  TempDir dir, outside;
  WriteFile(dir / "keep.txt", "same\n");
  WriteFile(dir / "private.txt", "old\n");
  REQUIRE(chmod((dir / "private.txt").c_str(), 0600) == 0);
  WriteFile(dir / "old/only.txt", "x");
  fs::create_directories(dir / "untracked-empty");
  fs::create_symlink(outside.path(), dir / "link");
  std::vector<TreeEntry> before = {{"keep.txt", TreeEntry::Kind::kFile, "same\n"},
                                   {"link", TreeEntry::Kind::kSymlink, outside.path().string()},
                                   {"old/only.txt", TreeEntry::Kind::kFile, "x"},
                                   {"private.txt", TreeEntry::Kind::kFile, "old\n"}};
  std::vector<TreeEntry> after = {{"keep.txt", TreeEntry::Kind::kFile, "same\n"},
                                  {"link/pwned", TreeEntry::Kind::kFile, "the link became a directory"},
                                  {"new/tool.sh", TreeEntry::Kind::kExecutable, "#!/bin/sh\n"},
                                  {"private.txt", TreeEntry::Kind::kFile, "new\n"}};
  auto kept = ApplyChanges(dir.path(), before, after);
  REQUIRE(kept.ok());
  CHECK(kept->empty());
  CHECK(fs::is_empty(outside.path()));
  CHECK(fs::is_directory(fs::symlink_status(dir / "link")));
  CHECK(test::ReadFileOrDie(dir / "link/pwned") == "the link became a directory");
  CHECK_FALSE(fs::exists(dir / "old"));  // emptied by the removal, so removed
  CHECK(fs::is_directory(dir / "untracked-empty"));  // not the change's to touch
  CHECK(test::ReadFileOrDie(dir / "private.txt") == "new\n");
  CHECK((fs::status(dir / "private.txt").permissions() & fs::perms::others_read) == fs::perms::none);
  CHECK((fs::status(dir / "new/tool.sh").permissions() & fs::perms::owner_exec) != fs::perms::none);
}

TEST_CASE("ApplyChanges leaves what someone changed meanwhile, and says which") {
  TempDir dir;
  WriteFile(dir / "mine.txt", "edited by the user during the run\n");
  WriteFile(dir / "theirs.txt", "old\n");
  std::vector<TreeEntry> before = {{"mine.txt", TreeEntry::Kind::kFile, "old\n"},
                                   {"theirs.txt", TreeEntry::Kind::kFile, "old\n"}};
  std::vector<TreeEntry> after = {{"mine.txt", TreeEntry::Kind::kFile, "the agent's\n"},
                                  {"new.txt", TreeEntry::Kind::kFile, "the agent's\n"},
                                  {"theirs.txt", TreeEntry::Kind::kFile, "the agent's\n"}};
  WriteFile(dir / "new.txt", "the user made this meanwhile\n");
  auto kept = ApplyChanges(dir.path(), before, after);
  REQUIRE(kept.ok());
  CHECK(*kept == std::vector<std::string>{"mine.txt", "new.txt"});
  CHECK(test::ReadFileOrDie(dir / "mine.txt") == "edited by the user during the run\n");
  CHECK(test::ReadFileOrDie(dir / "new.txt") == "the user made this meanwhile\n");
  CHECK(test::ReadFileOrDie(dir / "theirs.txt") == "the agent's\n");
}

}  // namespace
}  // namespace lineage
