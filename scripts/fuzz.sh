#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET seconds (default 20) on
# stable Rust (`-s none`: no sanitizer) and fails if any target crashes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Each target starts from its committed seed corpus, fuzz/corpus/<target>/, which is only
# read; what a run discovers goes to fuzz/target/fuzz-work/<target>/ (ignored by git), so
# later runs continue from it. A crashing input is saved in fuzz/artifacts/<target>/ and
# reproduced with `cargo fuzz run -s none <target> <that file>`. The last lines print the
# executions each target ran. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]  (a positive whole number, default 20)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

cd "$(dirname "$0")/../fuzz"
mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -s none

failed=()
summary=()
for target in "${targets[@]}"; do
    work="target/fuzz-work/$target"
    mkdir -p "$work" "corpus/$target"
    log="target/fuzz-work/$target.log"
    echo "== $target: ${seconds}s"
    # -timeout: one input taking 10 s is a finding too (a hang); -rss_limit_mb: so is 2 GB.
    if cargo fuzz run -s none "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$target")
        tail -n 40 "$log" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    summary+=("$(printf '%-18s %-6s %12s executions' "$target" "$status" "${runs:-?}")")
done

printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
