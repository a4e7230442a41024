#include "base/safe_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>

#include "base/unique_fd.h"

namespace lineage {
namespace {

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " '" + path + "': " + std::strerror(errno));
}

const char* SpecialKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

// The names in a directory, sorted, without "." and "..".
Result<std::vector<std::string>> ListDir(int dir_fd, const std::string& prefix) {
  // fdopendir takes ownership of its descriptor, so give it a duplicate.
  int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return Errno("cannot read directory", prefix.empty() ? "." : prefix);
  DIR* dir = fdopendir(dup_fd);
  if (dir == nullptr) {
    close(dup_fd);
    return Errno("cannot read directory", prefix.empty() ? "." : prefix);
  }
  rewinddir(dir);  // the duplicate shares the original's position
  std::vector<std::string> names;
  while (dirent* ent = readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    names.push_back(std::move(name));
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

class TreeReader {
 public:
  explicit TreeReader(const TreeLimits& limits) : limits_(limits) {}

  Status Walk(int dir_fd, const std::string& prefix, int depth) {
    if (depth > limits_.max_depth) {
      return Status::InvalidArgument("refusing '" + prefix + "': nested deeper than " +
                                     std::to_string(limits_.max_depth) + " directories");
    }
    LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_fd, prefix));
    for (const std::string& name : names) {
      LINEAGE_RETURN_IF_ERROR(Visit(dir_fd, prefix, name, depth));
    }
    return Status::OK();
  }

  std::vector<TreeEntry> Take() { return std::move(entries_); }

 private:
  Status Visit(int dir_fd, const std::string& prefix, const std::string& name, int depth) {
    const std::string path = Join(prefix, name);
    struct stat st;
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("cannot stat", path);

    if (S_ISDIR(st.st_mode)) {
      if (IsGitName(name)) return Status::OK();
      UniqueFd sub(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) return Errno("cannot open directory", path);
      return Walk(sub.get(), path, depth + 1);
    }
    if (S_ISLNK(st.st_mode)) return AddSymlink(dir_fd, path, name);
    if (S_ISREG(st.st_mode)) return AddFile(dir_fd, path, name, st);
    return Status::InvalidArgument("refusing '" + path + "': it is " + SpecialKind(st.st_mode) +
                                   "; only regular files, directories and symlinks can be stored");
  }

  Status CountEntry(const std::string& path, std::uint64_t bytes) {
    if (entries_.size() >= limits_.max_entries) {
      return Status::InvalidArgument("refusing '" + path + "': the tree has more than " +
                                     std::to_string(limits_.max_entries) + " files");
    }
    total_bytes_ += bytes;
    if (total_bytes_ > limits_.max_total_bytes) {
      return Status::InvalidArgument("refusing '" + path + "': the tree is larger than " +
                                     std::to_string(limits_.max_total_bytes) + " bytes");
    }
    return Status::OK();
  }

  Status AddSymlink(int dir_fd, const std::string& path, const std::string& name) {
    std::string target(4096, '\0');
    ssize_t n = readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) return Errno("cannot read symlink", path);
    if (static_cast<size_t>(n) == target.size()) {
      return Status::InvalidArgument("refusing '" + path + "': symlink target is too long");
    }
    target.resize(n);
    LINEAGE_RETURN_IF_ERROR(CountEntry(path, target.size()));
    entries_.push_back({path, TreeEntry::Kind::kSymlink, std::move(target)});
    return Status::OK();
  }

  Status AddFile(int dir_fd, const std::string& path, const std::string& name, const struct stat& listed) {
    if (listed.st_nlink > 1) {
      // A hard link may name a file outside the tree (a host secret); its contents would be stored.
      return Status::InvalidArgument("refusing '" + path + "': it has " + std::to_string(listed.st_nlink) +
                                     " hard links; copy it to break the link (cp --no-preserve=links)");
    }
    if (static_cast<std::uint64_t>(listed.st_size) > limits_.max_file_bytes) {
      return Status::InvalidArgument("refusing '" + path + "': " + std::to_string(listed.st_size) +
                                     " bytes is over the " + std::to_string(limits_.max_file_bytes) +
                                     "-byte limit for one file");
    }
    // O_NONBLOCK: if the file was swapped for a FIFO after fstatat, open must not block.
    UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) return Errno("cannot open", path);
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return Errno("cannot stat", path);
    if (!S_ISREG(st.st_mode) || st.st_ino != listed.st_ino || st.st_dev != listed.st_dev) {
      return Status::InvalidArgument("refusing '" + path + "': it changed while being read");
    }
    std::string data;
    std::uint64_t cap = limits_.max_file_bytes;
    char buf[65536];
    while (true) {
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("cannot read", path);
      }
      if (n == 0) break;
      data.append(buf, n);
      if (data.size() > cap) {
        return Status::InvalidArgument("refusing '" + path + "': over the " + std::to_string(cap) +
                                       "-byte limit for one file");
      }
    }
    LINEAGE_RETURN_IF_ERROR(CountEntry(path, data.size()));
    auto kind = (st.st_mode & S_IXUSR) ? TreeEntry::Kind::kExecutable : TreeEntry::Kind::kFile;
    entries_.push_back({path, kind, std::move(data)});
    return Status::OK();
  }

  const TreeLimits& limits_;
  std::vector<TreeEntry> entries_;
  std::uint64_t total_bytes_ = 0;
};

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    done += n;
  }
  return Status::OK();
}

// Opens (creating as needed) the directory `dir` under the root; caches descriptors by path.
class DirCache {
 public:
  explicit DirCache(UniqueFd root) { fds_.emplace("", std::move(root)); }

  Result<int> Open(const std::string& dir) {
    auto it = fds_.find(dir);
    if (it != fds_.end()) return it->second.get();
    size_t slash = dir.rfind('/');
    std::string parent = slash == std::string::npos ? "" : dir.substr(0, slash);
    std::string name = slash == std::string::npos ? dir : dir.substr(slash + 1);
    LINEAGE_ASSIGN_OR_RETURN(int parent_fd, Open(parent));
    if (mkdirat(parent_fd, name.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create", dir);
    UniqueFd fd(openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Errno("cannot open directory", dir);
    int raw = fd.get();
    fds_.emplace(dir, std::move(fd));
    return raw;
  }

 private:
  std::map<std::string, UniqueFd> fds_;
};

}  // namespace

std::string FoldedName(std::string_view name) {
  std::string out(name);
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsGitName(std::string_view name) {
  const std::string folded = FoldedName(name);
  return folded == ".git" || folded == "git~1";
}

Status ValidateTreePath(std::string_view path) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("refusing path '" + std::string(path) + "': " + why);
  };
  if (path.empty()) return bad("it is empty");
  if (path.front() == '/') return bad("it is absolute");
  if (path.find('\0') != std::string_view::npos) return bad("it contains a NUL byte");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty()) return bad("it has an empty component");
    if (part == "." || part == "..") return bad("it escapes the tree through '.' or '..'");
    if (IsGitName(part)) return bad("'.git' is reserved");
    start = end + 1;
  }
  return Status::OK();
}

Result<std::vector<TreeEntry>> ReadTree(const std::filesystem::path& root, const TreeLimits& limits) {
  UniqueFd fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Status::InvalidArgument("'" + root.string() + "' is not a directory");
    }
    return Errno("cannot open directory", root.string());
  }
  TreeReader reader(limits);
  LINEAGE_RETURN_IF_ERROR(reader.Walk(fd.get(), "", 0));
  return reader.Take();
}

Status WriteTree(const std::filesystem::path& root, const std::vector<TreeEntry>& entries) {
  std::error_code ec;
  if (root.has_parent_path()) std::filesystem::create_directories(root.parent_path(), ec);
  if (mkdir(root.c_str(), 0755) != 0) {
    if (errno != EEXIST) return Errno("cannot create directory", root.string());
    if (!std::filesystem::is_directory(std::filesystem::symlink_status(root, ec)) ||
        !std::filesystem::is_empty(root, ec)) {
      return Status::AlreadyExists("'" + root.string() + "' exists and is not an empty directory");
    }
  }
  UniqueFd root_fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root_fd.valid()) return Errno("cannot open directory", root.string());
  return WriteTreeAt(root_fd.get(), entries);
}

// --- SyncTree -------------------------------------------------------------------------------------------

namespace {

// Creates entries as another file system user while alive (this thread only).
class CreatingAs {
 public:
  explicit CreatingAs(const std::optional<std::pair<std::uint32_t, std::uint32_t>>& ids) : active_(ids.has_value()) {
    if (!active_) return;
    old_gid_ = setfsgid(ids->second);
    old_uid_ = setfsuid(ids->first);
  }
  ~CreatingAs() {
    if (!active_) return;
    setfsuid(old_uid_);
    setfsgid(old_gid_);
  }
  CreatingAs(const CreatingAs&) = delete;
  CreatingAs& operator=(const CreatingAs&) = delete;

 private:
  bool active_;
  int old_uid_ = 0, old_gid_ = 0;
};

mode_t FileMode(mode_t mode) { return (mode & 0777) | 0600; }
mode_t DirMode(mode_t mode) { return (mode & 0777) | 0700; }

// Removes `name` under `dir_fd` without following links; a directory keeps any `.git` inside it (and
// then itself).
Status RemoveAt(int dir_fd, const std::string& name, const std::string& path) {
  struct stat st;
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::OK() : Errno("cannot stat", path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dir_fd, name.c_str(), 0) != 0) return Errno("cannot remove", path);
    return Status::OK();
  }
  UniqueFd sub(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub.valid()) return Errno("cannot open directory", path);
  LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(sub.get(), path));
  bool kept = false;
  for (const std::string& child : names) {
    if (IsGitName(child)) {
      kept = true;
      continue;
    }
    LINEAGE_RETURN_IF_ERROR(RemoveAt(sub.get(), child, Join(path, child)));
  }
  if (!kept && unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) return Errno("cannot remove", path);
  return Status::OK();
}

// True when the regular file `name` under `dir_fd` has exactly `size` bytes equal to those of `from`.
bool SameFile(int from_fd, int dir_fd, const std::string& name, off_t size, mode_t mode) {
  struct stat st;
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size != size || (st.st_mode & 0777) != FileMode(mode)) {
    return false;
  }
  UniqueFd to(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!to.valid()) return false;
  char a[65536], b[65536];
  for (off_t at = 0; at < size;) {
    ssize_t n = pread(from_fd, a, sizeof a, at);
    if (n <= 0 || pread(to.get(), b, static_cast<size_t>(n), at) != n || std::memcmp(a, b, n) != 0) return false;
    at += n;
  }
  return true;
}

class TreeSyncer {
 public:
  explicit TreeSyncer(const SyncOptions& options) : options_(options) {}

  Status Sync(int from_fd, int to_fd, const std::string& prefix, int depth) {
    if (depth > options_.limits.max_depth) {
      return Status::InvalidArgument("refusing '" + prefix + "': nested deeper than " +
                                     std::to_string(options_.limits.max_depth) + " directories");
    }
    LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> from_names, ListDir(from_fd, prefix));
    LINEAGE_ASSIGN_OR_RETURN(std::vector<std::string> to_names, ListDir(to_fd, prefix));
    auto left_alone = [&](const std::string& name) {
      return IsGitName(name) || std::find(options_.skip.begin(), options_.skip.end(), Join(prefix, name)) != options_.skip.end();
    };
    std::erase_if(from_names, left_alone);
    for (const std::string& name : to_names) {
      if (!left_alone(name) && !std::binary_search(from_names.begin(), from_names.end(), name)) {
        LINEAGE_RETURN_IF_ERROR(RemoveAt(to_fd, name, Join(prefix, name)));
      }
    }
    for (const std::string& name : from_names) LINEAGE_RETURN_IF_ERROR(Copy(from_fd, to_fd, prefix, name, depth));
    return Status::OK();
  }

  SyncStats stats() const { return stats_; }

 private:
  Status Count(const std::string& path, std::uint64_t bytes) {
    if (++stats_.entries > options_.limits.max_entries) {
      return Status::InvalidArgument("refusing '" + path + "': the tree has more than " +
                                     std::to_string(options_.limits.max_entries) + " entries");
    }
    total_bytes_ += bytes;
    if (total_bytes_ > options_.limits.max_total_bytes) {
      return Status::InvalidArgument("refusing '" + path + "': the tree is larger than " +
                                     std::to_string(options_.limits.max_total_bytes) + " bytes");
    }
    return Status::OK();
  }

  Status Copy(int from_fd, int to_fd, const std::string& prefix, const std::string& name, int depth) {
    const std::string path = Join(prefix, name);
    struct stat st;
    if (fstatat(from_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("cannot stat", path);
    if (S_ISDIR(st.st_mode)) return CopyDir(from_fd, to_fd, path, name, st, depth);
    if (S_ISLNK(st.st_mode)) return CopySymlink(from_fd, to_fd, path, name);
    if (S_ISREG(st.st_mode)) return CopyFile(from_fd, to_fd, path, name, st);
    ++stats_.skipped_special;
    return RemoveAt(to_fd, name, path);
  }

  Status CopyDir(int from_fd, int to_fd, const std::string& path, const std::string& name, const struct stat& st,
                 int depth) {
    LINEAGE_RETURN_IF_ERROR(Count(path, 0));
    UniqueFd from(openat(from_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!from.valid()) return Errno("cannot open directory", path);
    struct stat existing;
    if (fstatat(to_fd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(existing.st_mode)) {
      LINEAGE_RETURN_IF_ERROR(RemoveAt(to_fd, name, path));
    }
    {
      CreatingAs as(options_.create_as);
      if (mkdirat(to_fd, name.c_str(), DirMode(st.st_mode)) != 0 && errno != EEXIST) return Errno("cannot create", path);
    }
    UniqueFd to(openat(to_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!to.valid()) return Errno("cannot open directory", path);
    LINEAGE_RETURN_IF_ERROR(Sync(from.get(), to.get(), path, depth + 1));
    CreatingAs as(options_.create_as);
    (void)fchmod(to.get(), DirMode(st.st_mode));
    return Status::OK();
  }

  Status CopySymlink(int from_fd, int to_fd, const std::string& path, const std::string& name) {
    std::string target(4096, '\0');
    ssize_t n = readlinkat(from_fd, name.c_str(), target.data(), target.size());
    if (n < 0) return Errno("cannot read symlink", path);
    if (static_cast<size_t>(n) == target.size()) {
      return Status::InvalidArgument("refusing '" + path + "': symlink target is too long");
    }
    target.resize(n);
    LINEAGE_RETURN_IF_ERROR(Count(path, target.size()));
    std::string existing(4096, '\0');
    ssize_t m = readlinkat(to_fd, name.c_str(), existing.data(), existing.size());
    if (m >= 0 && existing.substr(0, m) == target) return Status::OK();
    LINEAGE_RETURN_IF_ERROR(RemoveAt(to_fd, name, path));
    CreatingAs as(options_.create_as);
    if (symlinkat(target.c_str(), to_fd, name.c_str()) != 0) return Errno("cannot create", path);
    return Status::OK();
  }

  Status CopyFile(int from_fd, int to_fd, const std::string& path, const std::string& name, const struct stat& listed) {
    if (static_cast<std::uint64_t>(listed.st_size) > options_.limits.max_file_bytes) {
      return Status::InvalidArgument("refusing '" + path + "': " + std::to_string(listed.st_size) +
                                     " bytes is over the " + std::to_string(options_.limits.max_file_bytes) +
                                     "-byte limit for one file");
    }
    LINEAGE_RETURN_IF_ERROR(Count(path, static_cast<std::uint64_t>(listed.st_size)));
    // O_NONBLOCK: if the file was swapped for a FIFO after fstatat, open must not block.
    UniqueFd from(openat(from_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!from.valid()) return Errno("cannot open", path);
    struct stat st;
    if (fstat(from.get(), &st) != 0) return Errno("cannot stat", path);
    if (!S_ISREG(st.st_mode) || st.st_ino != listed.st_ino || st.st_dev != listed.st_dev ||
        st.st_size != listed.st_size) {
      return Status::InvalidArgument("refusing '" + path + "': it changed while being copied");
    }
    if (SameFile(from.get(), to_fd, name, st.st_size, st.st_mode)) return Status::OK();
    LINEAGE_RETURN_IF_ERROR(RemoveAt(to_fd, name, path));
    UniqueFd to;
    {
      CreatingAs as(options_.create_as);
      to = UniqueFd(openat(to_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    }
    if (!to.valid()) return Errno("cannot create", path);
    LINEAGE_RETURN_IF_ERROR(CopyData(from.get(), to.get(), st.st_size, path));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    (void)futimens(to.get(), times);
    if (fchmod(to.get(), FileMode(st.st_mode)) != 0) return Errno("cannot chmod", path);
    return Status::OK();
  }

  // Copies `size` bytes, keeping holes: a sparse file costs the destination no more than it cost the source
  // (a 1 GiB file truncated into existence is not 1 GiB of zeros on the host's disk).
  Status CopyData(int from, int to, off_t size, const std::string& path) {
    char buf[65536];
    for (off_t at = 0; at < size;) {
      off_t data = lseek(from, at, SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;  // only a hole is left
      if (data < 0) data = at;                  // no hole support: copy it all
      off_t hole = lseek(from, data, SEEK_HOLE);
      if (hole < 0 || hole > size) hole = size;
      for (at = data; at < hole;) {
        ssize_t n = pread(from, buf, static_cast<size_t>(std::min<off_t>(hole - at, sizeof buf)), at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Errno("cannot read", path);
        if (n == 0) return Status::InvalidArgument("refusing '" + path + "': it shrank while being copied");
        for (ssize_t done = 0; done < n;) {
          ssize_t w = pwrite(to, buf + done, static_cast<size_t>(n - done), at + done);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) return Errno("cannot write", path);
          done += w;
        }
        at += n;
        stats_.bytes_written += static_cast<std::uint64_t>(n);
      }
    }
    if (ftruncate(to, size) != 0) return Errno("cannot size", path);
    return Status::OK();
  }

  const SyncOptions& options_;
  SyncStats stats_;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace

Result<SyncStats> SyncTree(int from_dir_fd, int to_dir_fd, const SyncOptions& options) {
  TreeSyncer syncer(options);
  LINEAGE_RETURN_IF_ERROR(syncer.Sync(from_dir_fd, to_dir_fd, "", 0));
  return syncer.stats();
}

// --- WriteTreeAt ----------------------------------------------------------------------------------------

Status WriteTreeAt(int root_fd, const std::vector<TreeEntry>& entries,
                   const std::optional<std::pair<std::uint32_t, std::uint32_t>>& create_as) {
  UniqueFd root(fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!root.valid()) return Errno("cannot open directory", ".");
  DirCache dirs(std::move(root));
  CreatingAs as(create_as);
  for (const TreeEntry& entry : entries) {
    LINEAGE_RETURN_IF_ERROR(ValidateTreePath(entry.path));
    size_t slash = entry.path.rfind('/');
    std::string dir = slash == std::string::npos ? "" : entry.path.substr(0, slash);
    std::string name = slash == std::string::npos ? entry.path : entry.path.substr(slash + 1);
    LINEAGE_ASSIGN_OR_RETURN(int dir_fd, dirs.Open(dir));
    if (entry.kind == TreeEntry::Kind::kSymlink) {
      if (symlinkat(entry.data.c_str(), dir_fd, name.c_str()) != 0) return Errno("cannot create", entry.path);
      continue;
    }
    mode_t mode = entry.kind == TreeEntry::Kind::kExecutable ? 0755 : 0644;
    UniqueFd fd(openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd.valid()) return Errno("cannot create", entry.path);
    LINEAGE_RETURN_IF_ERROR(WriteAll(fd.get(), entry.data, entry.path));
    // The umask may have cleared execute bits; the stored mode is the truth.
    if (fchmod(fd.get(), mode) != 0) return Errno("cannot chmod", entry.path);
  }
  return Status::OK();
}

// --- ApplyChanges ---------------------------------------------------------------------------------------

namespace {

// Opens the directory `path` (relative, '/'-separated) under `root_fd`, creating what is missing and
// replacing any non-directory in the way, never following a symlink.
Result<UniqueFd> OpenDirFor(int root_fd, const std::string& path) {
  UniqueFd at(fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  std::string done;
  for (size_t start = 0; start < path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string name = path.substr(start, end - start);
    done = Join(done, name);
    struct stat st;
    if (fstatat(at.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
      if (unlinkat(at.get(), name.c_str(), 0) != 0) return Errno("cannot replace", done);
    }
    if (mkdirat(at.get(), name.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create", done);
    UniqueFd next(openat(at.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return Errno("cannot open directory", done);
    at = std::move(next);
    start = end + 1;
  }
  return at;
}

Status WriteEntry(int root_fd, const TreeEntry& entry) {
  LINEAGE_RETURN_IF_ERROR(ValidateTreePath(entry.path));
  const size_t slash = entry.path.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : entry.path.substr(0, slash);
  const std::string name = slash == std::string::npos ? entry.path : entry.path.substr(slash + 1);
  LINEAGE_ASSIGN_OR_RETURN(UniqueFd dir, OpenDirFor(root_fd, parent));
  struct stat st;
  mode_t mode = 0644;
  if (fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISREG(st.st_mode)) mode = st.st_mode & 0666;
    LINEAGE_RETURN_IF_ERROR(RemoveAt(dir.get(), name, entry.path));
  }
  if (entry.kind == TreeEntry::Kind::kSymlink) {
    if (symlinkat(entry.data.c_str(), dir.get(), name.c_str()) != 0) return Errno("cannot create", entry.path);
    return Status::OK();
  }
  if (entry.kind == TreeEntry::Kind::kExecutable) mode |= (mode & 0444) >> 2;  // x where r is
  UniqueFd fd(openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd.valid()) return Errno("cannot create", entry.path);
  LINEAGE_RETURN_IF_ERROR(WriteAll(fd.get(), entry.data, entry.path));
  if (fchmod(fd.get(), mode) != 0) return Errno("cannot chmod", entry.path);
  return Status::OK();
}

// True when `path` under `root_fd` is what `entry` says (absent when null), looked at without following links.
bool StillAsBefore(int root_fd, const std::string& path, const TreeEntry* entry) {
  struct stat st;
  if (fstatat(root_fd, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return entry == nullptr && errno == ENOENT;
  if (!entry) return false;
  if (entry->kind == TreeEntry::Kind::kSymlink) {
    if (!S_ISLNK(st.st_mode)) return false;
    std::string target(entry->data.size() + 1, '\0');
    ssize_t n = readlinkat(root_fd, path.c_str(), target.data(), target.size());
    return n == static_cast<ssize_t>(entry->data.size()) && target.compare(0, n, entry->data) == 0;
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != entry->data.size()) return false;
  UniqueFd fd(openat(root_fd, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  std::string data(entry->data.size(), '\0');
  return fd.valid() && read(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()) && data == entry->data;
}

// Removes `path` and then each parent directory it leaves empty.
Status RemoveEntry(int root_fd, const std::string& path) {
  LINEAGE_RETURN_IF_ERROR(ValidateTreePath(path));
  std::string at = path;
  for (bool leaf = true; !at.empty(); leaf = false) {
    const size_t slash = at.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : at.substr(0, slash);
    const std::string name = slash == std::string::npos ? at : at.substr(slash + 1);
    UniqueFd dir(parent.empty() ? fcntl(root_fd, F_DUPFD_CLOEXEC, 0)
                                : openat(root_fd, parent.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) return Status::OK();  // already gone
    if (leaf) {
      if (unlinkat(dir.get(), name.c_str(), 0) != 0 && errno != ENOENT) return Errno("cannot remove", path);
    } else if (unlinkat(dir.get(), name.c_str(), AT_REMOVEDIR) != 0) {
      return Status::OK();  // not empty: the pruning ends here
    }
    at = parent;
  }
  return Status::OK();
}

}  // namespace

Result<std::vector<std::string>> ApplyChanges(const std::filesystem::path& dir, const std::vector<TreeEntry>& before,
                                              const std::vector<TreeEntry>& after) {
  UniqueFd root(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Errno("cannot open directory", dir.string());
  std::map<std::string, const TreeEntry*> old;
  for (const TreeEntry& e : before) old[e.path] = &e;
  std::map<std::string, const TreeEntry*> now;
  for (const TreeEntry& e : after) now[e.path] = &e;
  std::vector<std::string> changed_meanwhile;
  auto untouched = [&](const std::string& path) {
    auto was = old.find(path);
    if (StillAsBefore(root.get(), path, was == old.end() ? nullptr : was->second)) return true;
    changed_meanwhile.push_back(path);
    return false;
  };
  for (const auto& [path, entry] : old) {
    if (!now.count(path) && untouched(path)) LINEAGE_RETURN_IF_ERROR(RemoveEntry(root.get(), path));
  }
  for (const auto& [path, entry] : now) {
    auto was = old.find(path);
    if ((was == old.end() || !(*was->second == *entry)) && untouched(path)) {
      LINEAGE_RETURN_IF_ERROR(WriteEntry(root.get(), *entry));
    }
  }
  std::sort(changed_meanwhile.begin(), changed_meanwhile.end());
  return changed_meanwhile;
}

}  // namespace lineage
