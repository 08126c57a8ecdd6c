#!/usr/bin/env bash
# run_fuzzers.sh — the fuzz targets of a MLI_FUZZ=ON build (tests/fuzz/README.md), one at a
# time: each replays its seeds and regression inputs, then fuzzes for MLI_FUZZ_SECONDS
# (default 20) under ASan + UBSan with memory limits, so that a declared-size bomb (one
# allocation over -malloc_limit_mb) or a leak fails the run like a crash does. Prints one
# line per target (executions, coverage, corpus) and a summary line; exits non-zero when
# any target found something (its reproducer is under $work/<target>/).
#
#   bash tests/fuzz/run_fuzzers.sh BUILD_DIR
#   MLI_FUZZ_SECONDS=3600 MLI_FUZZ_TARGETS="xgboost_json" bash tests/fuzz/run_fuzzers.sh BUILD_DIR
#   MLI_FUZZ_RUNS=10000000 MLI_FUZZ_SECONDS=3600 bash tests/fuzz/run_fuzzers.sh BUILD_DIR
#
# MLI_FUZZ_RUNS (default: no cap) stops a target after that many executions, whichever of it
# and MLI_FUZZ_SECONDS comes first: the long run is "10 million executions, or 1 hour where
# the target is slower".
#
# MLI_FUZZ_WORK (default BUILD_DIR/fuzz-work) keeps each target's corpus between runs, so a
# long run continues where the last one stopped. MLI_FUZZ_MALLOC_MB (default 512) and
# MLI_FUZZ_RSS_MB (default 2048) set the limits.
set -uo pipefail

build="${1:?usage: run_fuzzers.sh BUILD_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
secs="${MLI_FUZZ_SECONDS:-20}"
runs="${MLI_FUZZ_RUNS:-}"
work="${MLI_FUZZ_WORK:-$build/fuzz-work}"
malloc_mb="${MLI_FUZZ_MALLOC_MB:-512}"
rss_mb="${MLI_FUZZ_RSS_MB:-2048}"
only="${MLI_FUZZ_TARGETS:-}"
list="$build/fuzz_targets.txt"
[[ -f "$list" ]] || { echo "run_fuzzers.sh: no $list (configure with -DMLI_FUZZ=ON)" >&2; exit 2; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Copies seed files and folders (recursively, flattened) into a corpus folder.
fill_corpus() {
    local dst="$1"; shift
    local src f
    for src in "$@"; do
        [[ -e "$src" ]] || continue
        while IFS= read -r -d '' f; do
            cp -n "$f" "$dst/$(basename "$(dirname "$f")")__$(basename "$f")" 2>/dev/null || true
        done < <(find "$src" -type f -print0)
    done
}

declare -a lines=()
failed=0 total_execs=0 n=0
while IFS='|' read -r name dict regress seeds; do
    [[ -n "$name" ]] || continue
    if [[ -n "$only" && " $only " != *" $name "* ]]; then continue; fi
    exe="$build/tests/fuzz/fuzz_$name"
    [[ -x "$exe" ]] || { lines+=("$name: not built"); failed=1; continue; }
    n=$((n + 1))
    dir="$work/$name" corpus="$work/$name/corpus"
    mkdir -p "$corpus"
    IFS='|' read -r -a seed_paths <<<"$seeds"
    fill_corpus "$corpus" "${seed_paths[@]}"
    flags=(-rss_limit_mb="$rss_mb" -malloc_limit_mb="$malloc_mb" -timeout=20 -artifact_prefix="$dir/"
        -print_final_stats=1 -max_len=65536)
    [[ "$dict" != none && -f "$here/dict/$dict" ]] && flags+=(-dict="$here/dict/$dict")
    # the CLI target reports each bad CSV on stderr, as the command does
    [[ "$name" == cli_csv ]] && flags+=(-close_fd_mask=2)
    # text: each input is scored ~80 times by word, char_wb and char analyzers (6 lookups per
    # character); at 64 KiB inputs that ran 6 executions a second under ASan, at 4 KiB 50
    [[ "$name" == text ]] && flags+=(-max_len=4096)

    echo "=== [fuzz] $name: replay seeds and regression inputs"
    log="$dir/replay.log"
    inputs=("$corpus")
    [[ -d "$regress" ]] && inputs+=("$regress")
    if ! "$exe" "${flags[@]}" -runs=0 "${inputs[@]}" >"$log" 2>&1; then
        tail -n 40 "$log"
        lines+=("$name: replay FAILED (see $log)"); failed=1; continue
    fi

    echo "=== [fuzz] $name: fuzzing for ${secs}s${runs:+ or $runs executions}"
    log="$dir/fuzz.log"
    rc=0
    cap=()
    [[ -n "$runs" ]] && cap=(-runs="$runs")
    "$exe" "${flags[@]}" -max_total_time="$secs" "${cap[@]}" "$corpus" >"$log" 2>&1 || rc=$?
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
    status="$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
    cov="$(grep -o 'cov: [0-9]*' <<<"$status" | grep -o '[0-9]*$')"
    ft="$(grep -o 'ft: [0-9]*' <<<"$status" | grep -o '[0-9]*$')"
    corp="$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' <<<"$status" | cut -d' ' -f2)"
    total_execs=$((total_execs + ${execs:-0}))
    line="$name: ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    if ((rc != 0)); then
        grep -E 'ERROR|SUMMARY|fuzz check failed|runtime error|Test unit written' "$log" | head -n 8
        tail -n 30 "$log"
        lines+=("$line — FOUND SOMETHING (exit $rc; see $log)"); failed=1
    else
        lines+=("$line")
    fi
done <"$list"

echo
echo "=== fuzz results (${secs}s${runs:+ or $runs executions} per target, -malloc_limit_mb=$malloc_mb -rss_limit_mb=$rss_mb)"
for l in "${lines[@]}"; do echo "  $l"; done
echo "fuzz: $n targets, $total_execs executions, $([[ $failed == 0 ]] && echo "nothing found" || echo "FAILURES")"
exit "$failed"
