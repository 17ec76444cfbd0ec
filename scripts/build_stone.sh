#!/usr/bin/env bash
# `make stone`: build StarkWare's Stone prover (cpu_air_prover, cpu_air_verifier) from the pinned
# stone-prover commit with Debian's compilers and libraries, and install both under .data/stone/bin,
# where the Stone backend looks for them (docs/stone.md).
#
#   scripts/build_stone.sh                 download the pinned source from GitHub and build every layout
#   STONE_SOURCE_TARBALL=/path/to/stone-prover-1414a54.tar.gz scripts/build_stone.sh
#                                          build from a local tarball of that commit instead
#   STONE_LAYOUTS="small;recursive" scripts/build_stone.sh
#                                          only those layouts: ~8 min instead of ~75 min on 2 cores
#                                          (the project's proofs use `small`; others are then refused)
#   JOBS=1 scripts/build_stone.sh          compile jobs (default: every core)
#   STONE_PREFIX=DIR                       install into DIR/bin instead of .data/stone/bin
#
# Debian/Ubuntu packages it needs (it says so, with the apt-get line, when one is missing):
# cmake ninja-build pkg-config g++ (or clang) libgflags-dev libgoogle-glog-dev libdw-dev curl.
set -euo pipefail
cd "$(dirname "$0")/.."

STONE_COMMIT=1414a545e4fb38a85391289abe91dd4467d268e1
STONE_URL="https://github.com/starkware-libs/stone-prover/archive/${STONE_COMMIT}.tar.gz"
PREFIX=${STONE_PREFIX:-.data/stone}
WORK="$PREFIX/build"
LAYOUTS=${STONE_LAYOUTS:-all}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { echo "make stone: $*"; }
die() { echo "make stone: error: $*" >&2; exit 1; }

missing=()
for tool in cmake ninja pkg-config; do command -v "$tool" >/dev/null || missing+=("$tool"); done
command -v c++ >/dev/null || command -v clang++ >/dev/null || missing+=("a C++ compiler")
pkg-config --exists libglog 2>/dev/null || missing+=("glog")
for header in gflags/gflags.h elfutils/libdw.h; do
    [ -e "/usr/include/$header" ] || missing+=("$header")
done
[ -n "${STONE_SOURCE_TARBALL:-}" ] || command -v curl >/dev/null || missing+=("curl")
if [ ${#missing[@]} -gt 0 ]; then
    die "missing ${missing[*]}; on Debian/Ubuntu: sudo apt-get install -y cmake ninja-build pkg-config g++ \
libgflags-dev libgoogle-glog-dev libdw-dev curl"
fi

mkdir -p "$WORK"
src="$WORK/src-${STONE_COMMIT:0:7}"
if [ ! -f "$src/src/starkware/main/cpu/cpu_air_prover_main.cc" ]; then
    tarball=${STONE_SOURCE_TARBALL:-}
    if [ -z "$tarball" ]; then
        tarball="$WORK/stone-prover-${STONE_COMMIT:0:7}.tar.gz"
        say "downloading stone-prover ${STONE_COMMIT:0:7} from GitHub"
        curl -fsSL --retry 3 -o "$tarball.part" "$STONE_URL" || die "cannot download $STONE_URL"
        mv "$tarball.part" "$tarball"
    fi
    [ -f "$tarball" ] || die "STONE_SOURCE_TARBALL=$tarball does not exist"
    rm -rf "$src.part" && mkdir -p "$src.part"
    tar -xzf "$tarball" -C "$src.part" --strip-components=1 || die "cannot unpack $tarball"
    [ -f "$src.part/src/starkware/main/cpu/cpu_air_prover_main.cc" ] || die "$tarball is not a stone-prover source tarball"
    mv "$src.part" "$src"
fi

build="$WORK/cmake-$(echo "$LAYOUTS" | tr ';' '-')"
say "configuring (layouts: $LAYOUTS) in $build"
cmake -G Ninja -S scripts/stone -B "$build" -DSTONE_SRC="$(cd "$src" && pwd)" -DSTONE_LAYOUTS="$LAYOUTS" \
    > "$WORK/configure.log" 2>&1 || { tail -n 20 "$WORK/configure.log"; die "cmake failed (log: $WORK/configure.log)"; }
say "compiling with $JOBS job(s); the full build takes over an hour on 2 cores (log: $WORK/build.log)"
started=$(date +%s)
ninja -C "$build" -j "$JOBS" cpu_air_prover cpu_air_verifier > "$WORK/build.log" 2>&1 ||
    { tail -n 30 "$WORK/build.log"; die "compilation failed (log: $WORK/build.log)"; }

mkdir -p "$PREFIX/bin"
for bin in cpu_air_prover cpu_air_verifier; do
    install -m 755 "$build/$bin" "$PREFIX/bin/$bin.new" && mv "$PREFIX/bin/$bin.new" "$PREFIX/bin/$bin"
done
# A binary that starts (its libraries found) prints its flags for --helpshort and exits 1: anything else fails.
"$PREFIX/bin/cpu_air_verifier" --helpshort >/dev/null 2>&1 || [ $? -eq 1 ] || die "the built cpu_air_verifier does not start"
say "installed $PREFIX/bin/cpu_air_prover and cpu_air_verifier (stone-prover ${STONE_COMMIT:0:7}, layouts: $LAYOUTS) in $(( $(date +%s) - started )) s"
