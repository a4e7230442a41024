#!/usr/bin/env bash
# Installs every Debian package lineage needs (idempotent: only missing packages are installed), then
# configures and builds it with the `dev` preset (or LINEAGE_PRESET). Tested on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libgit2-dev libsqlite3-dev sqlite3 libzstd-dev libssl-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev catch2
  bubblewrap libseccomp-dev libboost-dev libboost-filesystem-dev
  libcurl4-openssl-dev libtomlplusplus-dev curl
  python3 python3-pytest chromium
  libboost-date-time-dev
  # The Polyglot benchmark's six languages, offline (docs/evaluators.md): Go, Rust with the crates its
  # exercises use as Debian's packaged registry, Java with JUnit 5, AssertJ and json.org's API (no Gradle),
  # C++ and Python above, JavaScript's jest from the npm registry below.
  golang-go rustc cargo default-jdk-headless junit5 libassertj-core-java libandroid-json-org-java
  librust-time-dev librust-anyhow-dev librust-rand-dev librust-itertools-dev librust-permutohedron-dev
  librust-num-bigint-dev librust-num-traits-dev librust-thiserror-dev librust-regex-dev librust-aho-corasick-dev
  # Environments (docs/evaluators.md): root file systems built from Debian packages (SWE-bench's Python
  # versions), or unpacked from OCI images without a Docker daemon.
  mmdebstrap uidmap skopeo umoci
)
# Node.js may come from elsewhere (NodeSource's nodejs bundles npm and conflicts with Debian's npm).
command -v node >/dev/null && command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all ${#PACKAGES[@]} Debian packages present"
fi

# The JavaScript exercises' test dependencies (jest, babel, jest-junit), pinned by package-lock.json, once:
# every JavaScript test run gets them read-only.
js=evaluators/polyglot/javascript
if [ ! -f "$js/node_modules/.package-lock.json" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
  echo "setup: installing the Polyglot JavaScript test dependencies (npm ci in $js)"
  npm ci --prefix "$js" --no-audit --no-fund --loglevel=error >/dev/null
fi

# The official OpenAI and Anthropic SDKs, which the tests run against the gateway as agents would.
sdk=tests/llm/sdk
if [ ! -f "$sdk/node_modules/.package-lock.json" ] || [ "$sdk/package-lock.json" -nt "$sdk/node_modules/.package-lock.json" ]; then
  echo "setup: installing the official model SDKs for the tests (npm ci in $sdk)"
  npm ci --prefix "$sdk" --no-audit --no-fund --loglevel=error >/dev/null
fi

preset="${LINEAGE_PRESET:-dev}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
echo "setup: built build/$preset/cli/lineage"

# Put `lineage` on PATH: install the build (bin/ and share/lineage/) under /usr/local as root, else under
# ~/.local; LINEAGE_PREFIX chooses another place.
prefix="${LINEAGE_PREFIX:-$([ "$(id -u)" -eq 0 ] && echo /usr/local || echo "$HOME/.local")}"
cmake --install "build/$preset" --prefix "$prefix" >/dev/null
echo "setup: installed lineage, lineage-fake-llm and lineage-sandbox-shim in $prefix/bin, data in $prefix/share/lineage"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "setup: $prefix/bin is not on your PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
