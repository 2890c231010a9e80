#!/usr/bin/env bash
# Instructions per call, counted by callgrind: `get_user` (ours) against the bare hyper
# GET of the same URL (the floor). Instruction counts do not depend on what else the
# machine is doing, so this runs on a busy machine too; see BENCHMARKS.md.
#
#   crates/wechat-oauth-bench/scripts/instructions.sh [CONCURRENCY] [DURATION_MS] [USERS]
#
# Method: one `wechat-sandbox --threads 1` (not measured) serves both clients. Each client
# (`bench-client getuser --impl ours|hyper`) runs under `valgrind --tool=callgrind` with
# the same users, codes and duration; callgrind's total instruction count, minus that of
# the same command with a zero duration (start-up and the token exchanges), is divided by
# the difference in calls made. Prints instructions per call for each and the ratio ours / floor.
# Set KEEP=dir to keep the callgrind outputs (for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/../../.."

CONCURRENCY=${1:-50}
DURATION_MS=${2:-3000}
USERS=${3:-100}
PROFILE=profiling

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo build --profile "$PROFILE" -q -p wechat-oauth-bench --bin bench-client -p wechat-sandbox --bin wechat-sandbox
BIN=target/$PROFILE
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"

user_args=()
for i in $(seq 0 $((USERS - 1))); do user_args+=(--user "u$i"); done
"$BIN/wechat-sandbox" --listen 127.0.0.1:0 --threads 1 --journal-capacity 0 "${user_args[@]}" >"$WORK/sandbox.out" &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q '^listening on ' "$WORK/sandbox.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's/^listening on \(.*\)/\1/p' "$WORK/sandbox.out" | head -1)
BASE=${BASE%/}
APPID=wx5a4d1e0f0a000001
SECRET=sandbox-official-secret

mint() { # mint FILE: one fresh code per user
  : >"$1"
  for i in $(seq 0 $((USERS - 1))); do
    curl -sf -X POST "$BASE/__sandbox/codes" -H 'content-type: application/json' \
      -d "{\"appid\":\"$APPID\",\"user\":\"u$i\",\"scope\":\"snsapi_userinfo\"}" |
      sed -n 's/.*"code":"\([^"]*\)".*/\1/p' >>"$1"
    echo >>"$1" # curl's answer has no final newline, and sed keeps it that way
  done
}

# count IMPL DURATION_MS -> "instructions calls"
count() {
  local impl=$1 ms=$2 out="$WORK/callgrind.$1.$2"
  mint "$WORK/codes"
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$BIN/bench-client" getuser --impl "$impl" --base "$BASE" --appid "$APPID" --secret "$SECRET" \
    --codes "$WORK/codes" --concurrency "$CONCURRENCY" --duration-ms "$ms" \
    >"$WORK/report.$impl.$ms" 2>"$WORK/valgrind.$impl.$ms"
  local instr calls
  instr=$(sed -n 's/^summary: //p' "$out")
  calls=$(tail -1 "$WORK/report.$impl.$ms" | sed -n 's/.*"calls":\([0-9]*\).*/\1/p')
  echo "$instr ${calls:-0}"
}

declare -A per_call
for impl in ours hyper; do
  read -r base_instr base_calls < <(count "$impl" 0)
  read -r instr calls < <(count "$impl" "$DURATION_MS")
  calls=$((calls - base_calls))
  [ "$calls" -gt 0 ] || { echo "$impl made no calls; see $WORK" >&2; exit 1; }
  per_call[$impl]=$(( (instr - base_instr) / calls ))
  printf '%-6s %10d instructions/call  (%d calls, %d in flight)\n' "$impl" "${per_call[$impl]}" "$calls" "$CONCURRENCY"
done
awk -v o="${per_call[ours]}" -v h="${per_call[hyper]}" 'BEGIN { printf "ratio  %.3fx (ours / bare hyper GET)\n", o / h }'
