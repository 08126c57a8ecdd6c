#!/usr/bin/env bash
# run_on_device.sh — the GPU checks of the CUDA backend (docs/CUDA.md), for a machine with
# an NVIDIA GPU: the CUDA tests (C and Python), compute-sanitizer over them, and the
# benchmark. Two steps, because the GPU machine of the device tool has CUDA but not
# necessarily this project's build dependencies (OpenBLAS, libjpeg-turbo, cmocka):
#
#   here:        tests/cuda/run_on_device.sh stage [BUILD]      (BUILD: build-cuda)
#                builds BUILD (-DMLI_ENABLE_CUDA=ON), the benchmark models, and packs the
#                CUDA test and benchmark binaries with the shared libraries they need
#                (except the CUDA ones and glibc) into BUILD/device.tar.xz
#   GPU machine: tests/cuda/run_on_device.sh run [BUILD]
#                unpacks BUILD/device.tar.xz when it is there, else builds BUILD itself
#                (needs the build dependencies), then runs everything; logs and
#                bench_cuda.json go to $OUT (the device tool's output folder) or to
#                BUILD/device-results. Exit status: 0 when every check passed.
#
# With the device tool: run(command="tests/cuda/run_on_device.sh run",
#                           carry=["build-cuda/device.tar.xz"], timeout_s=600)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODE="${1:-}"
BUILD="${2:-build-cuda}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
JOBS="$(nproc 2>/dev/null || echo 2)"

stage() {
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMLI_WERROR=ON -DMLI_ENABLE_CUDA=ON || exit 1
    cmake --build "$BUILD" -j "$JOBS" --target mlinfer test_cuda_api test_cuda_models test_cuda_blas bench_cuda || exit 1
    MLINFER_LIBRARY="$BUILD/libmlinfer.so" python3 "$ROOT/benchmarks/cuda/make_models.py" "$BUILD/bench-models" ||
        exit 1
    local pkg="$BUILD/device-pkg"
    rm -rf "$pkg" && mkdir -p "$pkg/lib" "$pkg/bin"
    cp -L "$BUILD/libmlinfer.so.0" "$pkg/lib/"
    cp "$BUILD/tests/cuda/test_cuda_api" "$BUILD/tests/cuda/test_cuda_models" "$BUILD/tests/cuda/test_cuda_blas" \
        "$BUILD/benchmarks/cuda/bench_cuda" "$pkg/bin/"
    cp -r "$BUILD/bench-models" "$pkg/models"
    # the shared libraries the binaries load, except glibc's and CUDA's own (the GPU machine has those)
    ldd "$pkg"/bin/* "$pkg/lib/libmlinfer.so.0" | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
        case "$(basename "$lib")" in
        libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | ld-linux* | libgcc_s.so* | libstdc++.so* | \
            libcublas* | libcudart* | libcuda.so* | libmlinfer*) ;;
        *) cp -L "$lib" "$pkg/lib/" ;;
        esac
    done
    tar -C "$pkg" -cJf "$BUILD/device.tar.xz" .
    echo "packed: $(du -h "$BUILD/device.tar.xz" | cut -f1) $BUILD/device.tar.xz ($(ls "$pkg/lib" | tr '\n' ' '))"
    echo "carry it with the device tool: carry=[\"${BUILD#"$ROOT"/}/device.tar.xz\"]," \
        "command=\"tests/cuda/run_on_device.sh run ${BUILD#"$ROOT"/}\""
}

FAILED=0
SUMMARY=()
step() { # step NAME COMMAND... : runs it, logs to $RESULTS/NAME.log, records pass/fail
    local name="$1"; shift
    echo "=== $name: $*"
    local t0=$SECONDS rc=0
    "$@" >"$RESULTS/$name.log" 2>&1 || rc=$?
    tail -n 25 "$RESULTS/$name.log"
    if ((rc == 0)); then
        SUMMARY+=("PASS  $name ($((SECONDS - t0)) s)")
    else
        SUMMARY+=("FAIL  $name (exit $rc, $((SECONDS - t0)) s; $RESULTS/$name.log)")
        FAILED=1
    fi
}

run() {
    RESULTS="${OUT:-$BUILD/device-results}"
    mkdir -p "$RESULTS"
    export MLI_TESTS_DIR="$ROOT/tests"
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/cuda/lib64"
    nvidia-smi -L 2>&1 | tee "$RESULTS/nvidia-smi.txt"
    local bin models lib
    if [[ -f "$BUILD/device.tar.xz" ]]; then
        local pkg=/tmp/mlinfer-device-pkg
        rm -rf "$pkg" && mkdir -p "$pkg" && tar -C "$pkg" -xJf "$BUILD/device.tar.xz" || exit 1
        bin="$pkg/bin" models="$pkg/models" lib="$pkg/lib/libmlinfer.so.0"
        export LD_LIBRARY_PATH="$pkg/lib:$LD_LIBRARY_PATH"
        echo "using the binaries packed by 'stage' ($pkg)"
    else
        echo "no $BUILD/device.tar.xz: building here"
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMLI_ENABLE_CUDA=ON -DMLI_BUILD_SERVER=OFF \
            >"$RESULTS/configure.log" 2>&1 || { tail -n 30 "$RESULTS/configure.log"; exit 1; }
        cmake --build "$BUILD" -j "$JOBS" --target mlinfer test_cuda_api test_cuda_models test_cuda_blas bench_cuda \
            >"$RESULTS/build.log" 2>&1 || { tail -n 30 "$RESULTS/build.log"; exit 1; }
        bin="$BUILD/tests/cuda" models="$BUILD/bench-models" lib="$BUILD/libmlinfer.so"
        cp "$BUILD/benchmarks/cuda/bench_cuda" "$bin/" 2>/dev/null
    fi

    step cuda_no_device "$bin/test_cuda_api" no_device
    step cuda_blas "$bin/test_cuda_blas" # cuBLAS opened by the first stream on the device
    step cuda_kernels "$bin/test_cuda_api" kernels
    step cuda_host "$bin/test_cuda_models" host
    step cuda_models "$bin/test_cuda_models" models
    step cuda_models_generic_chunked env MLI_CUDA_TREE_STRATEGY=generic MLI_CUDA_CHUNK_ROWS=333 \
        "$bin/test_cuda_models" models
    # a GPU test that skipped did not check anything here
    if grep -q "skipping: no CUDA device" "$RESULTS"/cuda_kernels.log "$RESULTS"/cuda_models.log; then
        SUMMARY+=("FAIL  the GPU tests skipped: no usable device"); FAILED=1
    fi
    if command -v compute-sanitizer >/dev/null; then
        local cs=(compute-sanitizer --error-exitcode 3 --print-limit 20)
        step memcheck_kernels "${cs[@]}" --tool memcheck --leak-check full "$bin/test_cuda_api" kernels
        export MLI_CUDA_TEST_ROWS=300 # the sanitizers slow kernels down 10-100x
        step memcheck_models "${cs[@]}" --tool memcheck "$bin/test_cuda_models" models
        step racecheck_models "${cs[@]}" --tool racecheck "$bin/test_cuda_models" models
        step synccheck_models "${cs[@]}" --tool synccheck "$bin/test_cuda_models" models
        unset MLI_CUDA_TEST_ROWS
        step initcheck_kernels "${cs[@]}" --tool initcheck "$bin/test_cuda_api" kernels
    else
        SUMMARY+=("SKIP  compute-sanitizer: not on the PATH")
    fi
    if python3 -c "import numpy, sklearn, pytest" 2>/dev/null; then
        step pytest_cuda env MLINFER_LIBRARY="$lib" PYTHONPATH="$ROOT/bindings/python" \
            python3 -m pytest -q -p no:cacheprovider -rs "$ROOT/tests/python/test_cuda.py"
    else
        SUMMARY+=("SKIP  pytest: numpy/scikit-learn/pytest missing")
    fi
    step bench_cuda "$bin/bench_cuda" --json "$RESULTS/bench_cuda.json" "$models"/*

    echo; echo "=== summary ($RESULTS)"
    printf '  %s\n' "${SUMMARY[@]}" | tee "$RESULTS/summary.txt"
    exit "$FAILED"
}

case "$MODE" in
stage) stage ;;
run) run ;;
*) echo "usage: $0 stage|run [BUILD]   (see the comment at the top)" >&2; exit 2 ;;
esac
