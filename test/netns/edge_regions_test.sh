#!/usr/bin/env bash
# Two "regions" on one machine (issue 7): network namespaces joined by a veth
# pair whose both ends are rate-limited with tbf (5 Mbit/s), and `tutti
# netem` adding 30 ms each way on the edge's path to the origin. The origin
# (with the synthetic camera) runs in region A, an edge in region B, and the
# viewers of region B ask the edge only. Checks: the edge serves the origin's
# bytes across the limited link, a second viewer is a cache hit, 200 viewers
# of a new part cost the origin one request, the edge's clock is the
# origin's, and the edge reports the origin down when the link is cut and up
# again when it returns.
#
#   edge_regions_test.sh TUTTI_BINARY
# Exit 0 passed, 1 failed, 77 skipped (not root, or no namespaces here).
set -uo pipefail
tutti=${1:?usage: edge_regions_test.sh TUTTI_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
  echo "SKIP: needs root, ip and tc"; exit 77
fi
tag=$$
A=tutti-a-$tag B=tutti-b-$tag
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.err; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
if ! ip netns add "$A" 2>/dev/null || ! ip netns add "$B"; then echo "SKIP: no network namespaces"; exit 77; fi
ip link add "va$tag" netns "$A" type veth peer name "vb$tag" netns "$B" || { echo "SKIP: no veth"; exit 77; }
ip -n "$A" addr add 10.77.0.1/24 dev "va$tag"; ip -n "$B" addr add 10.77.0.2/24 dev "vb$tag"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "va$tag" up; ip -n "$B" link set "vb$tag" up
tc -n "$A" qdisc add dev "va$tag" root tbf rate 5mbit burst 32kbit latency 400ms || fail "tbf"
tc -n "$B" qdisc add dev "vb$tag" root tbf rate 5mbit burst 32kbit latency 400ms || fail "tbf"

# Starts `tutti ARGS` in namespace NS (not in a subshell: its pid is kept
# for the cleanup); sets `port` to the port it printed.
port=""
start() {
  local ns=$1 name=$2; shift 2
  ip netns exec "$ns" "$tutti" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  port=""
  for _ in $(seq 1 150); do
    port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$work/$name.out" 2>/dev/null | head -1 | sed 's/.*://')
    [[ -n "$port" ]] && return 0
    sleep 0.1
  done
  return 1
}
in_b() { ip netns exec "$B" "$@"; }
metric() {  # NS HOST:PORT SERIES: the value, 0 when not listed
  local v
  v=$(ip netns exec "$1" curl -s "http://$2/metrics" | grep -F "$3 " | awk '{print $2}' | head -1)
  echo "${v:-0}"
}

cat >"$work/origin.toml" <<TOML
[server]
listen = "10.77.0.1:0"
audit_log = ""
workers = 1
[media]
camera = true
camera_size = "426x240"
TOML
start "$A" origin serve --config "$work/origin.toml" || fail "origin did not start"
oport=$port
# The edge's path to the origin: netem in region B, 30 ms each way, over the tbf link.
start "$B" netem netem --listen 127.0.0.1:0 --target "10.77.0.1:$oport" --delay-ms 30 || fail "netem did not start"
nport=$port
netem_pid=${pids[-1]}
cat >"$work/edge.toml" <<TOML
[server]
listen = "127.0.0.1:0"
audit_log = ""
workers = 2
role = "edge"
api_key = "k"
[limits]
max_connections_per_ip = 5000
[edge]
origins = ["127.0.0.1:$nport"]
probe_interval_ms = 200
TOML
start "$B" edge serve --config "$work/edge.toml" || fail "edge did not start"
eport=$port
echo "origin 10.77.0.1:$oport (region A), edge 127.0.0.1:$eport behind netem :$nport (region B)"

pl=/hls/demo/240p/index.m3u8
body=""
for _ in $(seq 1 200); do
  body=$(in_b curl -s "http://127.0.0.1:$eport$pl")
  [[ $(grep -c '^#EXTINF' <<<"$body") -ge 2 ]] && break
  sleep 0.1
done
[[ $(grep -c '^#EXTINF' <<<"$body") -ge 2 ]] || fail "no playlist through the edge: $body"
part=$(grep -o 'part-[0-9]*\.[0-9]*\.m4s' <<<"$body" | tail -2 | head -1)
first=$(in_b curl -s -D "$work/h1" -o "$work/p1" "http://127.0.0.1:$eport/hls/demo/240p/$part" -w '%{http_code}')
second=$(in_b curl -s -D "$work/h2" -o "$work/p2" "http://127.0.0.1:$eport/hls/demo/240p/$part" -w '%{http_code}')
ip netns exec "$A" curl -s -o "$work/p0" "http://10.77.0.1:$oport/hls/demo/240p/$part"
[[ $first == 200 && $second == 200 ]] || fail "part answers $first $second"
cmp -s "$work/p0" "$work/p1" || fail "the edge's part differs from the origin's"
grep -qi '^x-cache: HIT' "$work/h2" || fail "the second viewer was not a hit: $(cat "$work/h2")"
echo "ok: a part across regions, the origin's bytes ($(stat -c %s "$work/p1") B); the second viewer a hit"

# 200 viewers of the part the origin hints next.
hinted=$(ip netns exec "$A" curl -s "http://10.77.0.1:$oport$pl" | grep -o 'PRELOAD-HINT:TYPE=PART,URI="[^"]*' | cut -d'"' -f2)
before=$(metric "$A" "10.77.0.1:$oport" 'tutti_hls_requests_total{kind="part"}')
codes=$(in_b bash -c "for i in \$(seq 1 200); do curl -s -o /dev/null -w '%{http_code}\n' http://127.0.0.1:$eport/hls/demo/240p/$hinted & done; wait")
after=$(metric "$A" "10.77.0.1:$oport" 'tutti_hls_requests_total{kind="part"}')
ok=$(grep -c '^200$' <<<"$codes")
delta=$(awk -v a="$after" -v b="$before" 'BEGIN{print a-b}')
[[ $ok -eq 200 ]] || fail "$ok of 200 viewers got the part"
[[ $delta == 1 ]] || fail "200 viewers cost the origin $delta part requests"
echo "ok: 200 viewers of a new part in region B, 1 origin request"

# The edge's health view: the path cut (its netem stopped), then back.
kill "$netem_pid" 2>/dev/null
for _ in $(seq 1 50); do
  [[ $(metric "$B" "127.0.0.1:$eport" "tutti_edge_origin_up{origin=\"127.0.0.1:$nport\"}") == 0 ]] && break
  sleep 0.1
done
[[ $(metric "$B" "127.0.0.1:$eport" "tutti_edge_origin_up{origin=\"127.0.0.1:$nport\"}") == 0 ]] || fail "the edge did not see the origin go"
code=$(in_b curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$eport/hls/demo/240p/$part")
[[ $code == 200 ]] || fail "the cached part is not served with the origin away ($code)"
ip netns exec "$B" "$tutti" netem --listen "127.0.0.1:$nport" --target "10.77.0.1:$oport" --delay-ms 30 \
  >"$work/netem2.out" 2>"$work/netem2.err" &
pids+=($!)
for _ in $(seq 1 100); do
  [[ $(metric "$B" "127.0.0.1:$eport" "tutti_edge_origin_up{origin=\"127.0.0.1:$nport\"}") == 1 ]] && break
  sleep 0.1
done
[[ $(metric "$B" "127.0.0.1:$eport" "tutti_edge_origin_up{origin=\"127.0.0.1:$nport\"}") == 1 ]] || fail "the edge did not see the origin return"
echo "ok: origin away (edge reports it down, serves what it has) and back (up)"
echo PASS
