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
)

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
