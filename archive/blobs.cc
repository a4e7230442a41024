#include "archive/blobs.h"

#include <zstd.h>

#include "base/files.h"

namespace lineage {
namespace fs = std::filesystem;

bool BlobStore::IsValidHash(const std::string& hash) {
  if (hash.size() != 64) return false;
  for (char c : hash) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

fs::path BlobStore::PathOf(const std::string& hash) const { return dir_ / hash.substr(0, 2) / hash.substr(2); }

Result<std::string> BlobStore::Put(std::string_view data) {
  std::string hash = Sha256Hex(data);
  fs::path path = PathOf(hash);
  std::error_code ec;
  if (fs::exists(path, ec)) return hash;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return Status::IOError("cannot create '" + path.parent_path().string() + "': " + ec.message());

  std::string packed(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(packed.data(), packed.size(), data.data(), data.size(), 3);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  packed.resize(n);
  LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(path, packed, 0600));
  return hash;
}

Result<std::string> BlobStore::Get(const std::string& hash) const {
  if (!IsValidHash(hash)) return Status::InvalidArgument("'" + hash + "' is not a blob hash (64 hex digits)");
  auto packed = ReadFile(PathOf(hash));
  if (!packed.ok()) {
    if (packed.status().code() == Status::Code::kNotFound) return Status::NotFound("blob " + hash + " is missing");
    return packed.status();
  }
  unsigned long long size = ZSTD_getFrameContentSize(packed->data(), packed->size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("blob " + hash + " is not a valid zstd frame");
  }
  std::string data(size, '\0');
  size_t n = ZSTD_decompress(data.data(), data.size(), packed->data(), packed->size());
  if (ZSTD_isError(n) || n != size) return Status::Corruption("blob " + hash + " does not decompress");
  if (Sha256Hex(data) != hash) return Status::Corruption("blob " + hash + " does not match its hash");
  return data;
}

bool BlobStore::Exists(const std::string& hash) const {
  std::error_code ec;
  return IsValidHash(hash) && fs::exists(PathOf(hash), ec);
}

Result<std::vector<std::string>> BlobStore::List() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& shard : fs::directory_iterator(dir_, ec)) {
    if (!shard.is_directory()) continue;
    for (const auto& file : fs::directory_iterator(shard.path(), ec)) {
      std::string hash = shard.path().filename().string() + file.path().filename().string();
      if (IsValidHash(hash)) out.push_back(hash);
    }
  }
  if (ec) return Status::IOError("cannot list '" + dir_.string() + "': " + ec.message());
  return out;
}

std::vector<fs::path> BlobStore::ListTemporaryFiles() const {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename().string().find(".tmp.") != std::string::npos) out.push_back(it->path());
  }
  return out;
}

}  // namespace lineage
