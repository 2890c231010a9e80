#!/usr/bin/env bash
# Runs cargo-fuzz targets in fuzz/ on stable Rust (`-s none`: no sanitizer) and fails if
# any target crashes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     each target for a time (default 20 s)
#   scripts/fuzz.sh --runs N [TARGET...]                 each target for N executions
#
# Without TARGET names every target runs, one after the other.
#
# Each target starts from its committed seed corpus, fuzz/corpus/<target>/, which is only
# read; what a run discovers goes to fuzz/target/fuzz-work/<target>/ (ignored by git), so
# later runs continue from it. A crashing input is saved in fuzz/artifacts/<target>/ and
# reproduced with `cargo fuzz run -s none <target> <that file>`. The last lines print the
# executions and seconds each target ran. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail

usage() {
    echo "usage: $0 [SECONDS_PER_TARGET | --runs N] [TARGET...]" >&2
    exit 2
}
limit="-max_total_time=20"
label="20s"
if [[ "${1:-}" == "--runs" ]]; then
    [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || usage
    limit="-runs=$2"
    label="$2 executions"
    shift 2
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage
    limit="-max_total_time=$1"
    label="${1}s"
    shift
elif [[ "${1:-}" == -* ]]; then
    usage
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

cd "$(dirname "$0")/../fuzz"
mapfile -t known < <(cargo fuzz list)
if (($#)); then
    for target in "$@"; do
        printf '%s\n' "${known[@]}" | grep -qx -- "$target" || { echo "no fuzz target $target" >&2; exit 2; }
    done
    targets=("$@")
else
    targets=("${known[@]}")
fi
cargo fuzz build -s none

failed=()
summary=()
for target in "${targets[@]}"; do
    work="target/fuzz-work/$target"
    mkdir -p "$work" "corpus/$target"
    log="target/fuzz-work/$target.log"
    echo "== $target: $label"
    started=$SECONDS
    # -timeout: one input taking 10 s is a finding too (a hang); -rss_limit_mb: so is 2 GB.
    if cargo fuzz run -s none "$target" "$work" "corpus/$target" -- \
        "$limit" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$target")
        tail -n 40 "$log" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    summary+=("$(printf '%-18s %-6s %12s executions %6ss' "$target" "$status" "${runs:-?}" "$((SECONDS - started))")")
done

printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
