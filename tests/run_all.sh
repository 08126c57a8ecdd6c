#!/usr/bin/env bash
# run_all.sh — the whole test suite, as CI runs it: installs what is missing
# (tests/install_deps.sh), then a Release build with -Werror and every ctest test, the
# Python suite (pytest, against that build), the C suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer (gcc, then clang: asan-clang), the fuzz targets of tests/fuzz
# (clang + libFuzzer: replay, then MLI_FUZZ_SECONDS of fuzzing per target; fuzz), the
# threading tests under ThreadSanitizer, the CUDA variant (built and tested; GPU tests skip
# without a device), and the container image (examples/deploy/Dockerfile built with podman
# and run: tests/container). Exits non-zero
# if any stage fails; benchmarks are built (so they stay warning-free) but not run.
#
#   bash tests/run_all.sh                       all stages
#   MLI_STAGES="release asan" bash tests/run_all.sh   a subset
# Build trees go to build-ci/<stage> (MLI_CI_BUILD_ROOT overrides).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_root="${MLI_CI_BUILD_ROOT:-$root/build-ci}"
stages="${MLI_STAGES:-release python asan asan-clang fuzz tsan cuda container}"
jobs="$(nproc 2>/dev/null || echo 2)"

# shellcheck source=tests/install_deps.sh
source "$root/tests/install_deps.sh"

declare -a summary=()
failed=0

run_python() {
    local lib="$build_root/release/libmlinfer.so" log="$build_root/python.log"
    echo
    local suites=()
    for d in python server deploy drills; do
        if [[ -d "$root/tests/$d" ]]; then suites+=("$root/tests/$d"); fi
    done
    echo "=== [python] pytest ${suites[*]#$root/} (MLINFER_LIBRARY=$lib)"
    if [[ ! -e "$lib" ]]; then
        summary+=("python: no release build to test"); failed=1; return
    fi
    local rc=0
    MLINFER_LIBRARY="$lib" "$MLI_PYTHON" -m pytest -q -p no:cacheprovider "${suites[@]}" 2>&1 |
        tee "$log" || rc=$?
    local line
    line="$(grep -E '^=* ?[0-9]+ (passed|failed)' "$log" | tail -n 1 || true)"
    if ((rc != 0)); then
        summary+=("python: ${line:-pytest FAILED (exit $rc)}"); failed=1
    else
        summary+=("python: ${line:-pytest passed}")
    fi
}

# The image built and run with podman. Needs root; skipped without it, except under CI=true.
run_container() {
    local log="$build_root/container.log" report="$build_root/container.json"
    echo
    echo "=== [container] tests/container/setup_podman.sh, then pytest tests/container"
    if [[ "$(id -u)" != 0 ]]; then
        if [[ "${CI:-}" == true ]]; then
            summary+=("container: FAILED (CI must build and run the image; it needs root)"); failed=1
        else
            summary+=("container: skipped (needs root for podman)")
        fi
        return
    fi
    mkdir -p "$build_root"
    if ! bash "$root/tests/container/setup_podman.sh"; then
        summary+=("container: podman set-up FAILED"); failed=1; return
    fi
    rm -f "$report"
    local rc=0
    MLI_CONTAINER_REPORT="$report" "$MLI_PYTHON" -m pytest -q -s -p no:cacheprovider "$root/tests/container" 2>&1 |
        tee "$log" || rc=$?
    local line figures=""
    line="$(grep -E '^=* ?[0-9]+ (passed|failed)' "$log" | tail -n 1 || true)"
    if [[ -s "$report" ]]; then
        figures="$("$MLI_PYTHON" -c 'import json, sys; r = json.load(open(sys.argv[1])); b = r["build_seconds"]
print("image %.0f MB" % (r["size_bytes"] / 1e6) + (", built in %.0f s" % b if b else "") + "; ", end="")' "$report")"
    fi
    if ((rc != 0)); then
        summary+=("container: ${figures}${line:-pytest FAILED (exit $rc)}"); failed=1
    else
        summary+=("container: ${figures}${line:-pytest passed}")
    fi
}

# stage NAME CTEST_ARGS... -- CMAKE_ARGS...
run_stage() {
    local name="$1"; shift
    local -a ctest_args=() cmake_args=()
    while (($#)) && [[ "$1" != "--" ]]; do ctest_args+=("$1"); shift; done
    shift
    cmake_args=("$@")
    local dir="$build_root/$name" log="$build_root/$name.ctest.log"
    mkdir -p "$build_root"

    echo
    echo "=== [$name] configure: cmake ${cmake_args[*]}"
    if ! cmake -S "$root" -B "$dir" "${cmake_args[@]}"; then
        summary+=("$name: configure FAILED"); failed=1; return
    fi
    echo "=== [$name] build (-j$jobs)"
    if ! cmake --build "$dir" -j "$jobs"; then
        summary+=("$name: build FAILED"); failed=1; return
    fi
    echo "=== [$name] ctest --output-on-failure ${ctest_args[*]}"
    local rc=0
    (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs" "${ctest_args[@]}") 2>&1 | tee "$log" ||
        rc=$?
    local line
    line="$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1 || true)"
    if ((rc != 0)); then
        summary+=("$name: ${line:-ctest FAILED (exit $rc)}"); failed=1
    else
        summary+=("$name: ${line:-ctest passed}")
    fi
}

for stage in $stages; do
    case "$stage" in
    release)
        run_stage release -- -DCMAKE_BUILD_TYPE=Release -DMLI_WERROR=ON -DMLI_BUILD_TESTS=ON \
            -DMLI_BUILD_BENCHMARKS=ON -DMLI_ENABLE_CUDA=OFF
        ;;
    python)
        run_python
        ;;
    asan)
        ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
            run_stage asan -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLI_SANITIZE=address,undefined \
            -DMLI_WERROR=ON -DMLI_BUILD_TESTS=ON -DMLI_BUILD_BENCHMARKS=OFF
        ;;
    asan-clang)
        # clang's UndefinedBehaviorSanitizer checks more than gcc's (a zero offset applied to a
        # NULL pointer, for one); -fno-sanitize-recover=all (MLI_SANITIZE) makes any report fatal.
        if command -v clang >/dev/null 2>&1; then
            ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}" \
            UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
                run_stage asan-clang -- -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
                -DMLI_SANITIZE=address,undefined -DMLI_WERROR=ON -DMLI_BUILD_TESTS=ON -DMLI_BUILD_BENCHMARKS=OFF
        else
            summary+=("asan-clang: FAILED (no clang; tests/install_deps.sh installs it)"); failed=1
        fi
        ;;
    fuzz)
        # tests/fuzz: a clang build with libFuzzer, ASan and UBSan; ctest replays every
        # target's seeds and regression inputs, then run_fuzzers.sh fuzzes each target for
        # MLI_FUZZ_SECONDS (default 20) with memory limits.
        if command -v clang >/dev/null 2>&1; then
            ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}" \
            UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
                run_stage fuzz -L fuzz -- -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLI_FUZZ=ON \
                -DMLI_WERROR=ON -DMLI_BUILD_TESTS=ON -DMLI_BUILD_BENCHMARKS=OFF
            if [[ -f "$build_root/fuzz/fuzz_targets.txt" ]]; then
                fuzz_log="$build_root/fuzz.run.log"
                fuzz_rc=0
                bash "$root/tests/fuzz/run_fuzzers.sh" "$build_root/fuzz" 2>&1 | tee "$fuzz_log" || fuzz_rc=$?
                fuzz_line="$(grep -E '^fuzz: ' "$fuzz_log" | tail -n 1 || true)"
                summary+=("fuzz run: ${fuzz_line:-run_fuzzers.sh FAILED (exit $fuzz_rc)}")
                ((fuzz_rc == 0)) || failed=1
            fi
        else
            summary+=("fuzz: FAILED (no clang; tests/install_deps.sh installs it)"); failed=1
        fi
        ;;
    tsan)
        # die_after_fork=0: the fork test's child starts the library's threads again, which
        # TSan refuses by default (it cannot vouch for a multithreaded parent's locks).
        TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:die_after_fork=0}" \
            run_stage tsan -R threads -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLI_SANITIZE=thread \
            -DMLI_WERROR=ON -DMLI_BUILD_TESTS=ON -DMLI_BUILD_BENCHMARKS=OFF
        ;;
    cuda)
        # The CUDA variant (docs/CUDA.md): nvcc builds kernels/cuda and everything links;
        # without a GPU the device tests skip and the no-device paths are tested.
        if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
            PATH="$PATH:/usr/local/cuda/bin" run_stage cuda -- -DCMAKE_BUILD_TYPE=Release -DMLI_WERROR=ON \
                -DMLI_BUILD_TESTS=ON -DMLI_BUILD_BENCHMARKS=ON -DMLI_ENABLE_CUDA=ON
        else
            summary+=("cuda: skipped (no nvcc on this machine)")
        fi
        ;;
    container)
        run_container
        ;;
    *)
        echo "run_all.sh: unknown stage '$stage' (expected release, python, asan, asan-clang, fuzz, tsan, cuda, container)" >&2
        exit 2
        ;;
    esac
done

echo
echo "=== summary"
for line in "${summary[@]}"; do
    echo "  $line"
done
exit "$failed"
