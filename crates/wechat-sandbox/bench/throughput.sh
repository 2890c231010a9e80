#!/usr/bin/env bash
# Sandbox throughput on /sns/userinfo with keep-alive: the sandbox pinned to one core with a
# single-threaded runtime, wrk on the other core. Results go to BENCHMARKS.md by hand.
#
#   cargo build -p wechat-sandbox --release --bin wechat-sandbox
#   crates/wechat-sandbox/bench/throughput.sh [duration=15s] [connections=64] [extra sandbox args...]
#
# On a shared machine other processes steal core 0 from the sandbox, so besides wrk's
# requests/s this prints the sandbox's own CPU time during the run (from /proc) and
# requests per CPU-second: what one core does when the sandbox has it to itself.
# PRIO="chrt -f 10" (root only) runs sandbox and wrk as real-time tasks for the run, so the
# compilers sharing the machine cannot take their cores (the kernel still keeps 5% back).
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=target/release/wechat-sandbox
DURATION=${1:-15s}
CONNECTIONS=${2:-64}
shift 2 2>/dev/null || shift $#
PORT=18090

read -r -a NICE <<< "${PRIO:-env}"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

"${NICE[@]}" taskset -c 0 "$BIN" --listen 127.0.0.1:$PORT --threads 1 "$@" > /tmp/wechat-sandbox-bench.out &
SANDBOX=$!
trap 'kill $SANDBOX' EXIT
until grep -q '^listening on' /tmp/wechat-sandbox-bench.out 2>/dev/null; do sleep 0.1; done
BASE=http://127.0.0.1:$PORT

CODE=$(curl -s -X POST "$BASE/__sandbox/codes" \
  -d '{"appid":"wx5a4d1e0f0a000001","user":"alice","scope":"snsapi_userinfo"}' | sed 's/.*"code":"\([^"]*\)".*/\1/')
TOKEN=$(curl -s "$BASE/sns/oauth2/access_token?appid=wx5a4d1e0f0a000001&secret=sandbox-official-secret&code=$CODE&grant_type=authorization_code")
AT=$(echo "$TOKEN" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
OPENID=$(echo "$TOKEN" | sed 's/.*"openid":"\([^"]*\)".*/\1/')
URL="$BASE/sns/userinfo?access_token=$AT&openid=$OPENID&lang=zh_CN"
curl -s "$URL"; echo

echo "uptime before: $(uptime)"
BEFORE=$(cpu_ticks $SANDBOX)
"${NICE[@]}" taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$URL" | tee /tmp/wechat-sandbox-bench.wrk
AFTER=$(cpu_ticks $SANDBOX)
echo "uptime after: $(uptime)"
TICKS=$(getconf CLK_TCK)
REQUESTS=$(awk '/requests in/ {print $1}' /tmp/wechat-sandbox-bench.wrk)
awk -v t=$((AFTER - BEFORE)) -v hz="$TICKS" -v n="$REQUESTS" \
  'BEGIN { s = t / hz; printf "sandbox CPU during run: %.2f s; requests per sandbox CPU-second: %.0f\n", s, (s > 0 ? n / s : 0) }'
echo "sandbox RSS KiB: $(ps -o rss= -p $SANDBOX)"
