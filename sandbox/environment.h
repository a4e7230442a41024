// Environments: root file systems a sandbox uses as `/` in place of the host's.
//
// A benchmark's tests may need what the host does not have: SWE-bench's Django 3.0 needs Python 3.9, where
// Debian 12 has 3.11. An environment is built from Debian packages (mmdebstrap: a Debian suite and a
// package list) or unpacked from an OCI image (skopeo and umoci, rootless: no Docker daemon). Either way it
// lands under home/cache/environments/<name>-<hash of its recipe>/, is made read-only once complete, and is
// never rebuilt: a recipe that changes gets a new directory. A build interrupted at any point leaves only a
// `.tmp` directory that the next build removes.
//
// A sandbox given an environment (SandboxSpec::root) sees the environment's /usr, /etc, /var and /opt and
// its /bin, /lib ... links in place of the host's. lineage's own helpers there are static; an agent's binary,
// built on the host, runs through the host's loader and libraries, which every environment sandbox has
// read-only at kHostRootInside: $LINEAGE_HOST_EXEC is the command prefix that does it (harness.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace lineage {

struct EnvironmentRecipe {
  std::string name;  // a short label ("py39"): part of the directory's name, not of its identity
  // Built from Debian packages: `mmdebstrap --variant=apt --include=PACKAGES SUITE DIR MIRROR`.
  std::string suite;                  // "bullseye", "bookworm", "trixie"
  std::vector<std::string> packages;  // sorted and deduplicated before hashing
  std::string mirror;                 // empty: mmdebstrap's default (the host's sources)
  // Or unpacked from an OCI image: "docker://swebench/sweb.eval.x86_64.django_1776_django-11099:latest", or
  // "oci:/path/to/layout:tag" for an image on disk. Set: `suite` and `packages` must be empty.
  std::string image;

  bool operator==(const EnvironmentRecipe&) const = default;
};

// The recipe's identity: a hash of what goes into the root file system (not of its name), 16 hex digits.
std::string RecipeHash(const EnvironmentRecipe& recipe);

// Where the sandbox sees the host's / (its /usr and /lib links, read-only) in an environment sandbox.
inline constexpr const char* kHostRootInside = "/lineage/host";

// What runs a program built on the host inside an environment: the host's dynamic loader, under
// kHostRootInside, with the host's libraries and not the environment's ("LOADER --inhibit-cache
// --library-path DIRS"). Sandboxes with a root get it as $LINEAGE_HOST_EXEC. Empty when the host's loader
// cannot be found.
std::string HostExecPrefix();

// $LINEAGE_ENVIRONMENTS_DIR (environments shared by several homes), else home/cache/environments.
std::filesystem::path EnvironmentsDir(const std::filesystem::path& home);

struct EnvironmentInfo {
  EnvironmentRecipe recipe;
  std::filesystem::path root;  // the root file system
  bool built = false;          // complete and usable
  std::uint64_t bytes = 0;     // its size on disk, as measured when it was built
  std::int64_t build_ms = 0;   // how long the build took
};

// Where `recipe`'s root file system is (or will be) under `home`, and whether it is built.
EnvironmentInfo LookupEnvironment(const std::filesystem::path& home, const EnvironmentRecipe& recipe);

// Every environment under `home`, built or not (a `.tmp` directory left by an interrupted build shows as
// not built), sorted by name.
std::vector<EnvironmentInfo> ListEnvironments(const std::filesystem::path& home);

// Called now and then while an environment builds, with a line for a person ("py39: 41 s, 123 MB").
using EnvironmentProgress = std::function<void(const std::string& line)>;

// Builds `recipe` under `home` unless it is built, and returns it. One build of a recipe at a time across
// processes (a lock file); a second caller waits for the first and uses its result. FailedPrecondition
// names the missing tool (mmdebstrap, skopeo, umoci) and the package that provides it; a failed build
// returns the tool's last lines.
Result<EnvironmentInfo> EnsureEnvironment(const std::filesystem::path& home, const EnvironmentRecipe& recipe,
                                          const EnvironmentProgress& progress = {});

// Checks that a built environment is whole: its recipe file matches, and a shell and the packages'
// programs it names are there. The problem, for a person, or "" when none.
std::string CheckEnvironment(const EnvironmentInfo& environment);

}  // namespace lineage
