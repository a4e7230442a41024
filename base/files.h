// Small file and text helpers shared by every module.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"

namespace lineage {

// Reads a whole file; fails with NotFound if it does not exist.
Result<std::string> ReadFile(const std::filesystem::path& path);

// Writes `data` to `path` so that a crash leaves either the old file or the new one, never a torn file:
// write a temporary file beside it, fsync it, rename it into place, fsync the directory. The file gets
// `mode` (before the umask).
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, int mode = 0644);

// Creates `dir` (and its parents) if needed and makes it its owner's alone (0700), whatever its mode was.
Status MakePrivateDirectory(const std::filesystem::path& dir);

// `text` cut to its first `max` bytes, with a note saying how many were cut; unchanged when it fits.
std::string ClipText(const std::string& text, std::size_t max);

// `text` with what varies from run to run replaced by "<varies>": clock times ("2026-11-26T04:13:55.1Z"),
// durations ("0.04s", "95 ms"), temporary paths ("/tmp/..."), process ids ("pid 123"). What lineage writes
// into a prompt goes through it (a stable prompt replays and caches); a replay compares requests through it.
// Linear in the text's size, without recursion: a megabytes-long path is one match.
std::string Unvarying(std::string_view text);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Standard base64 of `data`, and back (InvalidArgument when `text` is not base64): bytes that may not be
// UTF-8 (a program's output), carried in JSON.
std::string Base64(std::string_view data);
Result<std::string> FromBase64(std::string_view text);

// `bytes` bytes from the kernel's random source, as lowercase hex: tokens and nonces nobody can guess.
std::string RandomHex(int bytes);

// How deeply `json` nests arrays and objects (brackets outside strings), and how deeply `xml` nests elements.
// Text a sandbox, an agent or a model wrote is checked against kMaxNesting before it is parsed: the
// libraries' copies, dumps and XML parsing recurse, and a few megabytes of "[[[[..." would overflow the stack.
inline constexpr int kMaxNesting = 128;
int JsonNesting(std::string_view json);
int XmlNesting(std::string_view xml);

// Where lineage's data files are: the prompt templates (prompts/), the starter suite (evaluators/starter/),
// the seed agent (agents/conductor/) and the examples (examples/), laid out as in the source tree.
// $LINEAGE_DATA_DIR when set; else ../share/lineage beside the running binary (an install: cmake --install,
// the Debian package); else the source tree the binary was built from.
std::filesystem::path DataDir();

// Bytes of the regular files under `dir`, links not followed (0 when it cannot be read).
std::uint64_t BytesUnder(const std::filesystem::path& dir);

// Milliseconds since the Unix epoch, and its ISO 8601 UTC form ("2026-11-26T04:13:55.123Z").
std::int64_t NowMillis();
std::string FormatTimestamp(std::int64_t unix_millis);

}  // namespace lineage
