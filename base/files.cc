#include "base/files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "base/unique_fd.h"

namespace lineage {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  // Close-on-exec, as every descriptor lineage opens: a process started meanwhile must not inherit it.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::NotFound("no file '" + path.string() + "'");
    // A path that names no readable file is the caller's input to fix.
    if (errno == ENOTDIR || errno == EACCES || errno == ELOOP) {
      return Status::InvalidArgument("cannot read '" + path.string() + "': " + std::strerror(errno));
    }
    return Status::IOError("cannot read '" + path.string() + "': " + std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("'" + path.string() + "' is a directory; a file was expected");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError("cannot read '" + path.string() + "': " + std::strerror(errno));
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string Base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> FromBase64(std::string_view text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("not base64: its length is not a multiple of 4");
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("not base64");
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding's zero bytes as data.
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i) --size;
  out.resize(size);
  return out;
}

Status MakePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    // A path through a file, or where the caller may not write, is theirs to change.
    const bool theirs = ec == std::errc::not_a_directory || ec == std::errc::file_exists ||
                        ec == std::errc::permission_denied || ec == std::errc::read_only_file_system;
    const std::string why = "cannot create '" + dir.string() + "': " + ec.message();
    return theirs ? Status::InvalidArgument(why) : Status::IOError(why);
  }
  if (chmod(dir.c_str(), 0700) != 0) {
    return Status::IOError("cannot make '" + dir.string() + "' private (chmod 0700): " + std::strerror(errno));
  }
  return Status::OK();
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, int mode) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(getpid()) + "." + std::to_string(rng());
  auto fail = [&](const char* what) {
    Status s = Status::IOError(std::string(what) + " '" + tmp.string() + "': " + std::strerror(errno));
    unlink(tmp.c_str());
    return s;
  };
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode)));
    if (!fd.valid()) return fail("cannot create");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("cannot write");
      done += n;
    }
    if (fsync(fd.get()) != 0) return fail("cannot fsync");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename");
  UniqueFd dir(open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) fsync(dir.get());
  return Status::OK();
}

int JsonNesting(std::string_view json) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

int XmlNesting(std::string_view xml) {
  int depth = 0, deepest = 0;
  for (std::size_t i = 0; i + 1 < xml.size(); ++i) {
    if (xml[i] != '<') continue;
    const char next = xml[i + 1];
    if (next == '/') {
      if (depth > 0) --depth;
    } else if (next != '!' && next != '?') {
      const std::size_t end = xml.find('>', i);
      if (end == std::string_view::npos) break;
      if (xml[end - 1] != '/') deepest = std::max(deepest, ++depth);
      i = end;
    }
  }
  return deepest;
}

std::string RandomHex(int bytes) {
  std::string raw(static_cast<size_t>(bytes), '\0');
  size_t got = 0;
  while (got < raw.size()) {
    ssize_t n = getrandom(raw.data() + got, raw.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : raw) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::int64_t NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string FormatTimestamp(std::int64_t unix_millis) {
  std::time_t secs = unix_millis / 1000;
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(unix_millis % 1000));
  return out;
}

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

// The length of `pattern` at `text[at]`, where 'd' is a digit and '?' any of "T ", other characters
// themselves; 0 when it does not match.
std::size_t MatchShape(std::string_view text, std::size_t at, std::string_view pattern) {
  if (text.size() - at < pattern.size()) return 0;
  for (std::size_t k = 0; k < pattern.size(); ++k) {
    const char c = text[at + k], p = pattern[k];
    if (p == 'd' ? !IsDigit(c) : p == '?' ? (c != 'T' && c != ' ') : c != p) return 0;
  }
  return pattern.size();
}

std::size_t Digits(std::string_view text, std::size_t at) {
  std::size_t n = 0;
  while (at + n < text.size() && IsDigit(text[at + n])) ++n;
  return n;
}

// A clock time at `at`: 2026-11-26T04:13:55, then optional fractions and Z.
std::size_t ClockTime(std::string_view text, std::size_t at) {
  std::size_t n = MatchShape(text, at, "dddd-dd-dd?dd:dd:dd");
  if (n == 0) return 0;
  if (at + n < text.size() && text[at + n] == '.' && Digits(text, at + n + 1) > 0) n += 1 + Digits(text, at + n + 1);
  if (at + n < text.size() && text[at + n] == 'Z') ++n;
  return n;
}

// A duration at `at`: a number, an optional space, then ms, s, sec or seconds ending a word.
std::size_t Duration(std::string_view text, std::size_t at) {
  std::size_t n = Digits(text, at);
  if (n == 0) return 0;
  if (at + n < text.size() && text[at + n] == '.' && Digits(text, at + n + 1) > 0) n += 1 + Digits(text, at + n + 1);
  if (at + n < text.size() && text[at + n] == ' ') ++n;
  for (std::string_view unit : {"seconds", "sec", "ms", "s"}) {
    if (text.substr(at + n, unit.size()) == unit &&
        (at + n + unit.size() == text.size() || !IsWordChar(text[at + n + unit.size()]))) {
      return n + unit.size();
    }
  }
  return 0;
}

// A temporary path at `at`: /tmp/ and what follows up to a space, a quote or a backslash.
std::size_t TempPath(std::string_view text, std::size_t at) {
  if (text.substr(at, 5) != "/tmp/") return 0;
  std::size_t n = 5;
  while (at + n < text.size() && std::string_view(" \t\n\r\"'\\").find(text[at + n]) == std::string_view::npos) ++n;
  return n;
}

// A process id at `at`: pid, an optional one of " =:", digits.
std::size_t ProcessId(std::string_view text, std::size_t at) {
  if (text.substr(at, 3) != "pid") return 0;
  std::size_t n = 3;
  if (at + n < text.size() && std::string_view(" =:").find(text[at + n]) != std::string_view::npos) ++n;
  const std::size_t digits = Digits(text, at + n);
  return digits == 0 ? 0 : n + digits;
}

}  // namespace

std::string Unvarying(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const bool word_start = at == 0 || !IsWordChar(text[at - 1]);
    const bool number_start = at == 0 || (!IsDigit(text[at - 1]) && text[at - 1] != '.');
    std::size_t n = 0;
    if (IsDigit(text[at]) && number_start) n = ClockTime(text, at) ? ClockTime(text, at) : Duration(text, at);
    if (n == 0 && text[at] == '/') n = TempPath(text, at);
    if (n == 0 && text[at] == 'p' && word_start) n = ProcessId(text, at);
    if (n > 0) {
      out += "<varies>";
      at += n;
    } else {
      out += text[at++];
    }
  }
  return out;
}

std::string ClipText(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  return text.substr(0, max) + "\n[... " + std::to_string(text.size() - max) + " bytes cut]\n";
}

std::uint64_t BytesUnder(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_symlink(ec) && it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

std::filesystem::path DataDir() {
  if (const char* env = std::getenv("LINEAGE_DATA_DIR"); env && *env) return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path installed = exe.parent_path().parent_path() / "share" / "lineage";
    if (std::filesystem::is_directory(installed / "prompts", ec)) return installed;
  }
  return LINEAGE_SOURCE_DIR;
}

}  // namespace lineage
