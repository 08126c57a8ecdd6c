#!/usr/bin/env bash
# run_demo.sh — the README's run command: installs the build packages when missing
# (apt), builds libmlinfer and mlinfer-server (Release, into build/), and starts the
# server in the foreground on the bundled demo model, or on MODEL_PATH / --model if given.
# Extra arguments go to mlinfer-server (e.g. --port 9000).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MLI_DEPS_PYTHON=0 source "$root/tests/install_deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DMLI_BUILD_TESTS=OFF -DMLI_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$root/build" -j "$(nproc 2>/dev/null || echo 2)" --target mlinfer-server >/dev/null
exec "$root/build/examples/server/mlinfer-server" "$@"
