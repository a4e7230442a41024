#include "base/safe_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  Result<std::vector<std::string>> ListDir(int dir_fd, const std::string& prefix) {
    // fdopendir takes ownership of its descriptor, so give it a duplicate.
    int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return Errno("cannot read directory", prefix.empty() ? "." : prefix);
    DIR* dir = fdopendir(dup_fd);
    if (dir == nullptr) {
      close(dup_fd);
      return Errno("cannot read directory", prefix.empty() ? "." : prefix);
    }
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

  Status Visit(int dir_fd, const std::string& prefix, const std::string& name, int depth) {
    const std::string path = Join(prefix, name);
    struct stat st;
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("cannot stat", path);

    if (S_ISDIR(st.st_mode)) {
      if (name == ".git") return Status::OK();
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

Status WriteAll(int fd, const std::string& data, const std::string& path) {
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
    if (part == ".git") return bad("'.git' is reserved");
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
  DirCache dirs(std::move(root_fd));

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

}  // namespace lineage
