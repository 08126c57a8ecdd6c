#!/usr/bin/env bash
# run_demo.sh — the README's run command: installs the packages that build libmlinfer and
# mlinfer-server when missing (apt; nothing the tests need), builds both (Release, into
# build/, or $MLI_DEMO_BUILD_DIR), and starts the server in the foreground on the bundled demo
# model, or on MODEL_PATH / --model if given. Extra arguments go to mlinfer-server (e.g.
# --port 9000). Each step says what it does.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${MLI_DEMO_BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"

echo "==> checking the build packages (tests/install_deps.sh, MLI_DEPS=build)"
MLI_DEPS=build source "$root/tests/install_deps.sh"
echo "==> cmake -S $root -B $build (Release; no tests, no benchmarks)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMLI_BUILD_TESTS=OFF -DMLI_BUILD_BENCHMARKS=OFF \
    -DMLI_INSTALL_PYTHON=OFF >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; exit 1; }
rm -f "$build.configure.log"
echo "==> building mlinfer-server (-j$jobs)"
cmake --build "$build" -j "$jobs" --target mlinfer-server
echo "==> starting $build/programs/server/mlinfer-server $* (Ctrl-C stops it)"
exec "$build/programs/server/mlinfer-server" "$@"
