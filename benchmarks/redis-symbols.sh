#!/usr/bin/env bash
# Builds redis-server WITH symbols into .bench/redis, so that
#   python -m benchmarks.redis_instructions --by-step --redis-server .bench/redis/src/redis-server
# can name Redis's functions (Debian's redis-server is stripped: callgrind shows hex addresses).
#
# Same version as the installed redis-server: Debian's source package (apt-get source, through a
# temporary deb-src entry that is removed again), built with Redis's own Makefile (-g kept, -O2).
# Run as root (or with sudo) on Debian 12. Idempotent: does nothing when the binary exists.
# Prints the binary's path at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/.bench"
dest="$bench/redis"
bin="$dest/src/redis-server"
jobs="${JOBS:-2}"

if [ -x "$bin" ]; then
    echo "already built: $("$bin" --version)" >&2
    echo "$bin"
    exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "run as root (apt-get is needed)" >&2; exit 1; }
    sudo="sudo"
fi

command -v redis-server >/dev/null || { echo "no redis-server on PATH: apt-get install -y redis-server" >&2; exit 1; }
version="$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')"
srcpkg="$(dpkg-query -W -f='${source:Package}' redis-server 2>/dev/null || echo redis)"
srcver="$(dpkg-query -W -f='${source:Version}' redis-server 2>/dev/null || true)"
echo "installed redis-server $version (Debian source $srcpkg $srcver)" >&2

need=()
for p in dpkg-dev build-essential pkg-config; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    $sudo apt-get update -qq >&2  # a fresh machine may have no package lists yet
    $sudo apt-get install -y --no-install-recommends "${need[@]}" >&2
fi

# A temporary deb-src twin of every deb822 source (Types: deb -> deb-src), removed on exit.
tmp_src=/etc/apt/sources.list.d/gdw-bench-deb-src.sources
cleanup() {
    if [ -e "$tmp_src" ]; then
        $sudo rm -f "$tmp_src"
        $sudo apt-get update -qq >&2 || true
    fi
}
trap cleanup EXIT

have_src() { ls -d "$bench"/redis-"$version"*/src 2>/dev/null | head -n1; }

mkdir -p "$bench"
src_dir="$(have_src || true)"
if [ -z "$src_dir" ]; then
    if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources \
        && ! grep -qs '^deb-src' /etc/apt/sources.list; then
        files=(/etc/apt/sources.list.d/*.sources)
        if [ ! -e "${files[0]}" ]; then
            echo "no /etc/apt/sources.list.d/*.sources (deb822) to copy a deb-src entry from" >&2
            exit 1
        fi
        cat "${files[@]}" | sed 's/^Types:.*/Types: deb-src/' | $sudo tee "$tmp_src" >/dev/null
    fi
    $sudo apt-get update -qq >&2
    spec="$srcpkg"
    [ -n "$srcver" ] && spec="$srcpkg=$srcver"
    if ! (cd "$bench" && apt-get source "$spec" >&2 || apt-get source "$srcpkg" >&2); then
        echo "apt-get source $spec failed: fetch the Redis $version source by hand into $bench" >&2
        echo "(e.g. https://download.redis.io/releases/redis-$version.tar.gz), then" >&2
        echo "make -C $bench/redis-$version -j$jobs MALLOC=libc && ln -s redis-$version $dest" >&2
        exit 1
    fi
    src_dir="$(have_src || true)"
    [ -n "$src_dir" ] || { echo "apt-get source gave no $bench/redis-$version*/src" >&2; exit 1; }
fi
tree="$(dirname "$src_dir")"
got="$(sed -n 's/.*REDIS_VERSION "\(.*\)".*/\1/p' "$tree/src/version.h")"
[ "$got" = "$version" ] || echo "warning: source is Redis $got, installed redis-server is $version" >&2

# Redis's own Makefile (not debian/rules): -g and -O2 by default, bundled deps (Lua statically, so
# the interpreter's functions are named too), libc malloc. Debian's patches may point the build at
# system libraries; the deps/ directory decides.
echo "building $tree (a few minutes)" >&2
make_args=(-j"$jobs" MALLOC=libc BUILD_TLS=no)
for dep in lua hiredis linenoise hdr_histogram; do
    [ -d "$tree/deps/$dep" ] || { echo "missing $tree/deps/$dep: Debian stripped it" >&2; exit 1; }
done
# (GIT_CEILING_DIRECTORIES: Redis's release header is not to take the enclosing gdw checkout's sha)
GIT_CEILING_DIRECTORIES="$bench" make -C "$tree" "${make_args[@]}" >&2

ln -sfn "$(basename "$tree")" "$dest"
"$bin" --version >&2
if command -v nm >/dev/null && ! grep -q " luaRedisGenericCommand$" <<<"$(nm "$bin" 2>/dev/null || true)"; then
    echo "warning: $bin has no symbol luaRedisGenericCommand (stripped?)" >&2
fi
echo "$bin"
