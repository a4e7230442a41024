// Reading and writing directory trees that may have been written by hostile code.
//
// An agent's workspace is untrusted: it may hold symlinks pointing at host secrets, hard links to host
// files, FIFOs that block a reader forever, device nodes, or millions of files. ReadTree() snapshots such a
// tree without following a single link (every step is openat() with O_NOFOLLOW relative to an already-open
// directory, so a directory swapped for a symlink mid-walk is refused, not followed), and refuses anything
// it cannot store safely with an error that names the path. WriteTree() recreates a snapshot inside a
// fresh directory with the same care, so a crafted path can never write outside it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace lineage {

struct TreeEntry {
  enum class Kind { kFile, kExecutable, kSymlink };
  std::string path;  // relative to the tree root, '/'-separated, never absolute, never with '.' or '..'
  Kind kind = Kind::kFile;
  std::string data;  // file contents, or the symlink's target (stored as text, never resolved)

  bool operator==(const TreeEntry&) const = default;
};

struct TreeLimits {
  std::uint64_t max_file_bytes = 16ull << 20;    // one file
  std::uint64_t max_total_bytes = 512ull << 20;  // the whole tree
  std::uint64_t max_entries = 100000;            // files + symlinks
  int max_depth = 64;                            // directory nesting
};

// Reads every regular file and symlink under `root`, sorted by path. Directories named `.git` are skipped
// (a nested repository's metadata is not part of a variant); empty directories are not recorded.
// Refused with an error naming the path: FIFOs, sockets, devices, files with more than one hard link,
// files over the size limit, and trees over the entry, size or depth limits.
Result<std::vector<TreeEntry>> ReadTree(const std::filesystem::path& root, const TreeLimits& limits = {});

// Writes `entries` under `root`, which must not exist yet or be an empty directory (its parents are
// created as needed). Each path is checked
// with ValidateTreePath() first; nothing is ever written through a symlink.
Status WriteTree(const std::filesystem::path& root, const std::vector<TreeEntry>& entries);
// The same into the directory `root_fd`, which should be empty: entries in it are never replaced. When
// `create_as` is set, entries are created with that file system user and group (as SyncOptions::create_as).
Status WriteTreeAt(int root_fd, const std::vector<TreeEntry>& entries,
                   const std::optional<std::pair<std::uint32_t, std::uint32_t>>& create_as = std::nullopt);

// Copying a tree between two directories, for the file systems private to a sandbox: in with what lineage
// prepared, out with what the sandbox left.
struct SyncOptions {
  TreeLimits limits;  // on what is read from `from`
  // When set, entries are created with this file system user and group (setfsuid/setfsgid, this thread
  // only): a file system mounted inside a user namespace accepts only the ids that namespace maps.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> create_as;
  // Relative paths left alone on both sides, as `.git` is (mount points inside the tree, say).
  std::vector<std::string> skip;
};

struct SyncStats {
  std::uint64_t entries = 0;          // files, symlinks and directories in `from`
  std::uint64_t bytes_written = 0;    // file data written into `to`
  std::uint64_t skipped_special = 0;  // FIFOs, sockets and devices, which are never copied
};

// Makes the directory `to` hold what the directory `from` holds -- regular files (data, executable bit,
// modification time), symlinks (as links) and directories -- creating, replacing and removing entries of
// `to` as needed; a file already equal to its source is left untouched. Entries named `.git`, and the
// paths in `options.skip`, are left alone on both sides. No symlink is ever followed on either side, special files are skipped, and no mode
// bit beyond rwx survives the copy (no setuid, setgid or sticky bit); the owner can always read and write
// what was copied. Fails, naming the path, past `options.limits`; `to` then holds part of the copy.
Result<SyncStats> SyncTree(int from_dir_fd, int to_dir_fd, const SyncOptions& options = {});

// Applies the difference between `before` and `after` (trees as ReadTree returns them) to the directory `dir`:
// writes the files and symlinks that are new or changed, removes those that are gone, and the directories
// that leaves empty. Never follows a symlink inside `dir`: one in the way of a path is replaced. A changed
// file keeps its permission bits but for the executable bit, which `after` gives; a new one is 0644 or 0755.
// A path whose entry in `dir` is no longer what `before` says (someone changed it meanwhile) is left as it
// is, and returned.
Result<std::vector<std::string>> ApplyChanges(const std::filesystem::path& dir, const std::vector<TreeEntry>& before,
                                              const std::vector<TreeEntry>& after);

// True when `name` is, or names on some file system, a repository's `.git`: in any case, with trailing dots
// or spaces (Windows and case-insensitive file systems ignore them), or as NTFS's short name GIT~1. Such
// entries are never read, written or copied as part of a tree.
bool IsGitName(std::string_view name);

// `name` lowercased, trailing dots and spaces dropped: how a case-insensitive file system compares it.
std::string FoldedName(std::string_view name);

// OK when `path` is a relative, '/'-separated path with no empty, '.', '..' or .git (IsGitName) component
// and no NUL.
Status ValidateTreePath(std::string_view path);

}  // namespace lineage
