#include "archive/blobs.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "base/files.h"
#include "tests/support/test_support.h"

namespace lineage {
namespace {

namespace fs = std::filesystem;

TEST_CASE("blobs are content-addressed, compressed and deduplicated") {
  test::TempDir tmp;
  BlobStore blobs(tmp.path());
  std::string log(100000, 'x');
  auto hash = blobs.Put(log);
  REQUIRE(hash.ok());
  CHECK(*hash == Sha256Hex(log));
  fs::path file = tmp / (hash->substr(0, 2) + "/" + hash->substr(2));
  REQUIRE(fs::exists(file));
  CHECK(fs::file_size(file) < 1000);  // stored compressed
  CHECK(*blobs.Get(*hash) == log);
  CHECK(*blobs.Put(log) == *hash);
  CHECK(blobs.List()->size() == 1);
  CHECK(blobs.ListTemporaryFiles().empty());
}

TEST_CASE("a damaged blob is reported, not returned") {
  test::TempDir tmp;
  BlobStore blobs(tmp.path());
  auto hash = blobs.Put("model response");
  REQUIRE(hash.ok());
  fs::path file = tmp / (hash->substr(0, 2) + "/" + hash->substr(2));
  SECTION("garbage bytes") {
    test::WriteFile(file, "not zstd at all");
    CHECK(blobs.Get(*hash).status().code() == Status::Code::kCorruption);
  }
  SECTION("valid compression of other contents") {
    auto other = blobs.Put("something else");
    fs::copy_file(tmp / (other->substr(0, 2) + "/" + other->substr(2)), file, fs::copy_options::overwrite_existing);
    CHECK(blobs.Get(*hash).status().message() == "blob " + *hash + " does not match its hash");
  }
}

TEST_CASE("blob lookups validate the hash") {
  test::TempDir tmp;
  BlobStore blobs(tmp.path());
  CHECK(blobs.Get("../../etc/passwd").status().code() == Status::Code::kInvalidArgument);
  CHECK(blobs.Get(std::string(64, 'a')).status().code() == Status::Code::kNotFound);
  CHECK_FALSE(blobs.Exists("ABC"));
}

}  // namespace
}  // namespace lineage
