#!/usr/bin/env bash
# install_deps.sh — installs what the test suite needs on Debian/Ubuntu, only what is
# missing: the C toolchain and libraries from apt (clang, its libFuzzer and sanitizer
# runtimes and llvm-symbolizer for the clang sanitizer and fuzz stages), and a Python virtual environment
# (build-ci/venv) from PyPI for the Python suites: numpy, scikit-learn, pytest; fastapi and
# httpx (the FastAPI example); kubernetes-validate (the deployment manifests);
# tritonclient[http] (a real Open Inference Protocol client for the server); shap (the
# SHAP reference); xgboost-cpu, lightgbm
# and catboost (the tree importers are checked against the frameworks themselves);
# polars (polars DataFrames as input, against scikit-learn reading the same frame);
# pyspark (with Debian's default JRE), ray[data], dask[dataframe] and pyarrow (the batch
# scoring integrations run on a local Spark, a local Ray and Dask); auditwheel (the wheel).
# Sourced by tests/run_all.sh; sets MLI_PYTHON to the venv's interpreter. With
# MLI_DEPS=build only the packages that build libmlinfer and mlinfer-server are installed
# (programs/server/run_demo.sh), and no venv.
set -euo pipefail

_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# What building the library and the server needs (the README's list).
_build_packages=(cmake gcc make libc6-dev pkg-config libopenblas-dev zlib1g-dev libturbojpeg0-dev
    libisal-dev libicu-dev libmicrohttpd-dev libcjson-dev)
# What the tests add: cmocka, the drills' tools (HAProxy, wrk, promtool, a JRE for Spark),
# a decimal-comma locale, Python, clang with libFuzzer (the fuzz and asan-clang stages) and
# clang-format (the style test).
_test_packages=(g++ binutils libcmocka-dev haproxy wrk prometheus default-jre-headless locales python3 python3-venv
    python3-pip clang libclang-rt-14-dev llvm clang-format)
if [[ "${MLI_DEPS:-test}" == build ]]; then
    _apt_packages=("${_build_packages[@]}")
else
    _apt_packages=("${_build_packages[@]}" "${_test_packages[@]}")
fi

_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if command -v dpkg-query >/dev/null 2>&1; then
    _missing=()
    for p in "${_apt_packages[@]}"; do
        _installed "$p" || _missing+=("$p")
    done
    # A python3 from elsewhere (pyenv, a distribution image) with venv support will do.
    if command -v python3 >/dev/null && python3 -c "import venv, ensurepip" 2>/dev/null; then
        _keep=()
        for p in "${_missing[@]}"; do [[ "$p" == python3* ]] || _keep+=("$p"); done
        _missing=("${_keep[@]+"${_keep[@]}"}")
    fi
    if ((${#_missing[@]})); then
        echo "==> apt-get install ${_missing[*]}"
        _sudo=()
        [[ "$(id -u)" == 0 ]] || _sudo=(sudo)
        export DEBIAN_FRONTEND=noninteractive
        "${_sudo[@]}" apt-get update -qq
        "${_sudo[@]}" apt-get install -y -qq --no-install-recommends "${_missing[@]}"
    else
        echo "==> apt packages present"
    fi
fi

if [[ "${MLI_DEPS:-test}" == build ]]; then
    return 0 2>/dev/null || exit 0
fi

# A locale whose decimal point is a comma: tests/python/test_locale.py loads models under it.
if command -v localedef >/dev/null 2>&1 && ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
    _sudo=()
    [[ "$(id -u)" == 0 ]] || _sudo=(sudo)
    echo "==> localedef de_DE.UTF-8"
    "${_sudo[@]}" localedef -i de_DE -c -f UTF-8 de_DE.UTF-8 || echo "    (could not generate it; the locale tests will skip)"
fi

if [[ "${MLI_DEPS_PYTHON:-1}" == 0 ]]; then # the apt packages only
    return 0 2>/dev/null || exit 0
fi

_venv="${MLI_VENV:-$_root/build-ci/venv}"
if [[ ! -x "$_venv/bin/python" ]]; then
    echo "==> python3 -m venv $_venv"
    mkdir -p "$(dirname "$_venv")"
    python3 -m venv "$_venv"
fi
# xgboost-cpu: XGBoost's CPU-only wheel, without the CUDA/NCCL wheels of `xgboost`.
# pillow: the JPEG decoding reference for the image tests.
# auditwheel: what the wheel links (tests/python/test_wheel.py).
# shap: the reference for SHAP contributions and interaction values (test_contrib*.py,
# test_interactions.py skip without it).
_pip_packages=(numpy scikit-learn pytest fastapi httpx kubernetes-validate "tritonclient[http]" xgboost-cpu lightgbm
    catboost "pandas<3" pillow pyarrow polars pyspark "ray[data]" "dask[dataframe]" auditwheel shap)
if ! "$_venv/bin/python" -c "import numpy, sklearn, pytest, fastapi, httpx, kubernetes_validate, tritonclient.http, xgboost, lightgbm, catboost, pandas, PIL, pyarrow, polars, pyspark, ray.data, dask.dataframe, auditwheel, shap" 2>/dev/null; then
    echo "==> pip install ${_pip_packages[*]} (into $_venv)"
    "$_venv/bin/python" -m pip install -q --disable-pip-version-check "${_pip_packages[@]}"
fi
export MLI_PYTHON="$_venv/bin/python"
