#!/usr/bin/env bash
# Installs (from Debian packages) whatever the build needs and is missing, then configures and builds.
# Usage: scripts/setup.sh [build-dir [cmake options...]]   (default: build, Release)
#        scripts/setup.sh --deps-only                     (install the packages, build nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
deps_only=0
[ "${1:-}" = "--deps-only" ] && { deps_only=1; shift; }
build_dir=${1:-build}
shift || true
cmake_options=("$@")
[ ${#cmake_options[@]} -eq 0 ] && cmake_options=(-DCMAKE_BUILD_TYPE=Release)

# Debian packages the project needs; python3-torch only writes the golden fixtures and converts models.
packages=(cmake g++ make pkg-config libopenblas-dev libhwy-dev libdnnl-dev nlohmann-json3-dev libcli11-dev libgtest-dev
          libgmock-dev libbenchmark-dev python3-torch python3-numpy libutf8proc-dev
          libsentencepiece-dev libsndfile1-dev libfftw3-dev fasttext espeak-ng python3-torchaudio
          libcpp-httplib-dev pybind11-dev python3-dev python3-pytest wrk)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" > /dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ $deps_only -eq 1 ] && exit 0

if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${cmake_options[@]}" >/dev/null
fi
cmake --build "$build_dir" -j "$(nproc)"
