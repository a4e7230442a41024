// BlobStore: content-addressed files for logs, transcripts, and model requests and responses.
//
// A blob is named by the SHA-256 of its contents and stored zstd-compressed at blobs/<2 hex>/<62 hex>.
// Writes are atomic (temporary file, fsync, rename), so a crash leaves a blob whole or absent, never
// torn; putting the same contents twice is free. Thread-safe: files are never modified in place.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace lineage {

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Stores `data`; returns its hash.
  Result<std::string> Put(std::string_view data);
  // Returns the contents of blob `hash`; Corruption if the stored bytes no longer match the hash.
  Result<std::string> Get(const std::string& hash) const;
  bool Exists(const std::string& hash) const;
  // Every hash present in the store.
  Result<std::vector<std::string>> List() const;
  // Leftover temporary files from interrupted writes.
  std::vector<std::filesystem::path> ListTemporaryFiles() const;

  static bool IsValidHash(const std::string& hash);

 private:
  std::filesystem::path PathOf(const std::string& hash) const;
  std::filesystem::path dir_;
};

}  // namespace lineage
