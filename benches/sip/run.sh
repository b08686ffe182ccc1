#!/usr/bin/env bash
# SIP load benchmark: hotline as a B2BUA between sipbench's sipp UAC and UAS, and Kamailio (a
# stateful proxy) through the same scenarios in the same session, on loopback only.
#
#   benches/sip/run.sh caps "500 1000 1500 2000" 12      # call-rate sweep, 1 s calls
#   benches/sip/run.sh concurrent 1000 35                 # N calls held with RTP both ways
#   benches/sip/run.sh kamailio "1500 2000 2500 3000 3500" 12
#   RTP_IO=epoll benches/sip/run.sh caps "1000 2000" 12   # the relay's I/O backend (default auto)
#   RECORD=false benches/sip/run.sh caps "1000 2000" 12   # the DID unrecorded (every call is by default)
#
# Needs: sip-tester and sox (and kamailio for the reference run), a release build of hotline, and
# the sipbench harness from the shared tools folder (SIPBENCH, default ../shared/tools/sipbench).
# Results land in benches/sip/results/ (sipbench's own folders) and results.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIPBENCH=${SIPBENCH:-$ROOT/../shared/tools/sipbench}
OUT=${OUT:-$ROOT/benches/sip/results}
mkdir -p "$OUT"
mode=${1:?caps|concurrent|kamailio}; shift

start_hotline() {
  if ss -ulpn | grep -q "127.0.0.1:5060 "; then echo "port 5060 is taken by another process" >&2; exit 1; fi
  cargo build --release --quiet
  WORK=$(mktemp -d)
  mkdir -p "$WORK/sip-profiles"
  cat > "$WORK/hotline.toml" <<TOML
[sip]
udp = ["127.0.0.1:5060"]
tcp = ["127.0.0.1:5060"]
[rtp]
address = "127.0.0.1"
port_min = 40000
port_max = 49999
timeout_secs = 60
io = "${RTP_IO:-auto}"
[http]
listen = "127.0.0.1:18080"
[database]
url = "sqlite:$WORK/hotline.db"
[shutdown]
drain_secs = 5
TOML
  cat > "$WORK/sip-profiles/bench.toml" <<TOML
# sipbench's UAC is the carrier; its UAS plays a fixed agent phone on 127.0.0.1:5090.
[[trunk]]
name = "sipbench"
peer = "127.0.0.1:5090"
inbound_sources = ["127.0.0.1"]
channels = 100000
[trunk.keepalive]
interval_secs = 0
[[trunk.did]]
number = "12345"
route = "extension:9000"
record = ${RECORD:-true}

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "9000"
password = "bench"
contact = "sip:uas@127.0.0.1:5090"
TOML
  # exec, so that $! is hotline itself (the sampler follows that PID's threads).
  (cd "$WORK" && RUST_LOG=${RUST_LOG:-warn} exec "$ROOT/target/release/hotline" --config "$WORK/hotline.toml" serve \
      > "$WORK/hotline.log" 2>&1 < /dev/null) &
  echo $! > "$WORK/pid"
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
  HPID=$(cat "$WORK/pid")
  kill -0 "$HPID" || { echo "hotline did not start:" >&2; cat "$WORK/hotline.log" >&2; exit 1; }
  echo "hotline pid $HPID, work dir $WORK"
}

stop_hotline() {
  kill -TERM "$HPID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$HPID" 2>/dev/null || true
  curl -s http://127.0.0.1:18080/metrics > "$WORK/metrics.txt" 2>/dev/null || true
  # Every bench call is recorded: thousands of WAVs a run would fill the disk in a few runs.
  rm -rf "$WORK/data/recordings"
}

case "$mode" in
  caps)
    start_hotline
    trap stop_hotline EXIT
    "$SIPBENCH/sipbench" --out "$OUT" --label hotline-b2bua --target-pid hotline="$HPID" \
      --ruri sip:12345@127.0.0.1:5060 127.0.0.1:5060 sweep "${1:-500 1000 1500 2000}" "${2:-12}"
    ;;
  concurrent)
    start_hotline
    trap stop_hotline EXIT
    "$SIPBENCH/sipbench" --out "$OUT" --label hotline-b2bua-rtp --target-pid hotline="$HPID" --ramp-rate "${3:-100}" \
      --ruri sip:12345@127.0.0.1:5060 127.0.0.1:5060 concurrent "${1:-1000}" "${2:-35}"
    ;;
  kamailio)
    "$SIPBENCH/targets/kamailio.sh" start
    trap '"$SIPBENCH/targets/kamailio.sh" stop' EXIT
    "$SIPBENCH/sipbench" --out "$OUT" --label kamailio-rr-2w \
      $(for p in $("$SIPBENCH/targets/kamailio.sh" pids); do echo --target-pid "$p"; done) \
      127.0.0.1:5070 sweep "${1:-1500 2000 2500 3000 3500}" "${2:-12}"
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
