#!/bin/sh
# flowlog.sh - the flow log's part of `make bench` (run.sh calls it last;
# it also runs alone).  Not a test: it prints a table and writes
# build/bench-flowlog.json, and never fails on a figure.
#
#   BULKHEAD=/path/to/bulkhead sh test/bench/flowlog.sh
#
# Environment: BULKHEAD (required), BENCH_FLOWLOG_JSON (output, default
# build/bench-flowlog.json), BENCH_QUICK=1 (short runs).
#
# Two namespace workloads on a bridge in a "hypervisor" namespace, the
# policy "ga may reach gb on udp 9000,20000-59999, default drop", a
# `bulkhead daemon` in the foreground there (--flow-ring RING) and a
# `monitor flows` client and `bulkhead top` (in a detached tmux terminal)
# attached to it for the whole run.
#  A. new flows through the policy: one UDP datagram to each of N ports
#     (N new allowed flows, logged on both NICs), then as many to a port
#     no rule allows (N drops): how many records the daemon got, how many
#     nflog lost (socket overflow, counted by the daemon) and how many the
#     kernel's rate limit held back (the rest).
#  B. the daemon's own capacity: a bench-only table logs EVERY packet of
#     a UDP flood leaving workload a, without a limit, to the same nflog
#     group: the records per second the daemon took in, and what it lost.
#  C. the daemon's resident memory (VmRSS) before the runs and with the
#     ring full.
# Namespaces are named bhx-benchfl-PID-*, removed on exit.
set -u

say() { printf '%s\n' "$*" >&2; }
die() { say "bench flowlog: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, nftables)"
BULKHEAD=${BULKHEAD:-}
[ -n "$BULKHEAD" ] && [ -x "$BULKHEAD" ] || die "set BULKHEAD to the binary"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_FLOWLOG_JSON:-$TOP/build/bench-flowlog.json}
QUICK=${BENCH_QUICK:-0}
CC=${BENCH_CC:-cc}
export BULKHEAD_USER=bench

PFX=bhx-benchfl-$$
TMP=$(mktemp -d /tmp/bhbenchfl.XXXXXX) || die "mktemp failed"
PIDS=""
TOPSESS=""
cleanup() {
	[ -n "$TOPSESS" ] && tmux kill-session -t "$TOPSESS" 2>/dev/null
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for ns in "$PFX-hv" "$PFX-a" "$PFX-b"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now_ns() { date +%s%N; }

if [ "$QUICK" = 1 ]; then N=2000; SECS=1; else N=20000; SECS=3; fi
RING=100000

$CC -std=c11 -O2 -Wall -Wextra -o "$TMP/bhload" "$TOP/test/bench/load.c" ||
	die "cannot build test/bench/load.c"

HV=$PFX-hv; NA=$PFX-a; NB=$PFX-b
for ns in "$HV" "$NA" "$NB"; do
	ip netns add "$ns" || die "cannot create namespace $ns"
	ip -n "$ns" link set lo up
done
ip -n "$HV" link add br0 type bridge
ip -n "$HV" link set br0 addrgenmode none
ip -n "$HV" link set br0 up
for x in a:1 b:2; do
	n=${x%:*}; i=${x#*:}; ns=$PFX-$n
	ip -n "$HV" link add t$n type veth peer name eth0 netns "$ns" address 02:bd:00:00:01:0$i ||
		die "cannot create the veth of $n"
	ip -n "$HV" link set t$n master br0 addrgenmode none up
	ip -n "$ns" link set eth0 addrgenmode none
	ip -n "$ns" addr add 10.213.0.$i/24 dev eth0
	ip -n "$ns" link set eth0 up
done
# neighbours known: ARP must not be what is measured
ip -n "$NA" neigh replace 10.213.0.2 lladdr 02:bd:00:00:01:02 dev eth0
ip -n "$NB" neigh replace 10.213.0.1 lladdr 02:bd:00:00:01:01 dev eth0
# an address nobody has: the drops go there
ip -n "$NA" neigh replace 10.213.0.3 lladdr 02:bd:00:00:01:03 dev eth0

DB=$TMP/fl.db
SOCK=$TMP/bh.sock
cat > "$TMP/policy.bh" <<EOF
add workload wa kind container netns $NA
add nic wa ta mac 02:bd:00:00:01:01 address 10.213.0.1
add workload wb kind container netns $NB
add nic wb tb mac 02:bd:00:00:01:02 address 10.213.0.2
add group ga member wa
add group gb member wb
add service bench udp 9000,20000-59999
add rule application allow from ga to gb service bench
set timeout udp 30s
set default drop
commit
EOF
ip netns exec "$HV" "$BULKHEAD" --db "$DB" --socket none -f "$TMP/policy.bh" \
	>/dev/null || die "cannot load the policy"

ip netns exec "$HV" "$BULKHEAD" --db "$DB" daemon --socket "$SOCK" \
	--foreground --no-libvirt --flow-ring "$RING" 2>"$TMP/daemon.log" &
DPID=$!
PIDS="$PIDS $DPID"
for i in $(seq 100); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done
[ -S "$SOCK" ] || die "the daemon did not start: $(cat "$TMP/daemon.log")"
sleep 0.5
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status"; }
RSS0=$(rss)

bhc() { ip netns exec "$HV" "$BULKHEAD" --db "$DB" --socket "$SOCK" "$@"; }
# the daemon's last record number and its lost count
seq_now() { bhc --json -c 'show flows last 1' | sed -n 's/.*"seq":\([0-9]*\).*/\1/p'; }
lost_now() { bhc --json -c 'show flows last 1' | sed -n 's/.*"lost":\([0-9]*\).*/\1/p'; }
num() { [ -n "$1" ] && echo "$1" || echo 0; }

bhc -c 'monitor flows' > "$TMP/monitor.out" 2>&1 &
MPID=$!
PIDS="$PIDS $MPID"
# and `bulkhead top`, as an admin watches it, in a detached 80x24 tmux
# terminal (its flows pane polls 'show flows after SEQ' every second)
TOPCLIENT="no"
if command -v tmux >/dev/null 2>&1; then
	TOPSESS=$PFX-top
	tmux new-session -d -s "$TOPSESS" -x 80 -y 24 \
		"ip netns exec $HV $BULKHEAD --db $DB --socket $SOCK top" &&
		TOPCLIENT="yes" || TOPSESS=""
fi
sleep 0.5

# ---- A: new flows and drops through the policy ----------------------------
say "bench flowlog: $N new flows, then $N drops"
s0=$(num "$(seq_now)"); l0=$(num "$(lost_now)")
t0=$(now_ns)
ip netns exec "$NA" "$TMP/bhload" udp-flows 10.213.0.2 20000 "$N" >/dev/null ||
	die "udp-flows failed"
t1=$(now_ns)
sleep 1.5
s1=$(num "$(seq_now)"); l1=$(num "$(lost_now)")
# drops: N datagrams toward an address in no group (each a logged drop)
ip netns exec "$NA" "$TMP/bhload" udp-flows 10.213.0.3 20000 "$N" >/dev/null ||
	die "udp-flows (drops) failed"
t2=$(now_ns)
sleep 1.5
s2=$(num "$(seq_now)"); l2=$(num "$(lost_now)")
A_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
A_RATE=$(awk -v n="$N" -v s="$A_SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
# each allowed flow is logged leaving a and entering b
A_EVENTS=$((2 * N))
A_GOT=$((s1 - s0)); A_LOST=$((l1 - l0)); A_LIMITED=$((A_EVENTS - A_GOT - A_LOST))
# the default drops them leaving a: one record each
D_GOT=$((s2 - s1)); D_LOST=$((l2 - l1)); D_LIMITED=$((N - D_GOT - D_LOST))

# ---- B: the daemon's capacity, every packet logged ------------------------
say "bench flowlog: capacity, $SECS s of logging every packet"
ip netns exec "$HV" nft -f - <<EOF || die "cannot load the bench table"
table netdev bhxbenchfl {
	chain every {
		type filter hook ingress device ta priority -300; policy accept;
		meta l4proto udp log prefix "bh:1:allow " group 100
	}
}
EOF
# the sink keeps b's answers from mattering; packets are what counts
ip netns exec "$NB" "$TMP/bhload" udp-sink 9000 > "$TMP/sink" &
SP=$!
PIDS="$PIDS $SP"
sleep 0.2
b0=$(num "$(seq_now)"); bl0=$(num "$(lost_now)")
m0=$(wc -l < "$TMP/monitor.out")
SENT=$(ip netns exec "$NA" "$TMP/bhload" udp-flood 10.213.0.2 9000 "$SECS" 18 |
	awk '{ print $2 }')
sleep 1.5
b1=$(num "$(seq_now)"); bl1=$(num "$(lost_now)")
m1=$(wc -l < "$TMP/monitor.out")
wait "$SP" 2>/dev/null
ip netns exec "$HV" nft delete table netdev bhxbenchfl
B_GOT=$((b1 - b0)); B_LOST=$((bl1 - bl0)); B_MON=$((m1 - m0))
B_RATE=$(awk -v n="$B_GOT" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')
B_OFFERED=$(awk -v n="$(num "$SENT")" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')
B_MONRATE=$(awk -v n="$B_MON" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }')

RSS1=$(rss)
RING_FILL=$(bhc -c 'show flows' | wc -l)
# top still drawing after the flood: its screen has its header
TOPALIVE="no"
if [ -n "$TOPSESS" ] &&
   tmux capture-pane -p -t "$TOPSESS" 2>/dev/null | grep -q 'bulkhead top'; then
	TOPALIVE="yes"
fi
kill "$MPID" 2>/dev/null
kill "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null

cat <<EOF

Flow log (daemon with a 'monitor flows' client and 'bulkhead top' ($TOPCLIENT; still drawing after: $TOPALIVE) attached; ring of $RING records$([ "$QUICK" = 1 ] && echo "; QUICK run, not for quoting")):
  new flows: $N sent in $A_SECS s ($A_RATE/s), $A_EVENTS records due (both NICs):
      $A_GOT taken, $A_LOST lost in nflog, $A_LIMITED held back by the kernel's rate limit
  drops:     $N sent (default drop): $D_GOT taken, $D_LOST lost in nflog, $D_LIMITED held back by the kernel's rate limit
  capacity:  every packet logged, $B_OFFERED packets/s offered for $SECS s:
      $B_RATE records/s taken by the daemon, $B_LOST lost in nflog,
      $B_MONRATE records/s printed by the 'monitor flows' client
  memory:    VmRSS $RSS0 KiB at start, $RSS1 KiB with $RING_FILL records in the ring
EOF

mkdir -p "$(dirname "$OUT")"
cat > "$OUT" <<EOF
{
  "quick": $([ "$QUICK" = 1 ] && echo true || echo false),
  "ring": $RING,
  "top_attached": $([ "$TOPCLIENT" = yes ] && echo true || echo false),
  "top_alive_after": $([ "$TOPALIVE" = yes ] && echo true || echo false),
  "new_flows": {"sent": $N, "seconds": $A_SECS, "per_second": $A_RATE, "records_due": $A_EVENTS,
                "taken": $A_GOT, "nflog_lost": $A_LOST, "rate_limited": $A_LIMITED},
  "drops": {"sent": $N, "taken": $D_GOT, "nflog_lost": $D_LOST, "rate_limited": $D_LIMITED},
  "capacity": {"seconds": $SECS, "offered_per_second": $B_OFFERED, "taken_per_second": $B_RATE,
               "nflog_lost": $B_LOST, "monitor_lines_per_second": $B_MONRATE},
  "rss_kib": {"start": $RSS0, "ring_full": $RSS1, "ring_records": $RING_FILL}
}
EOF
say "bench flowlog: wrote $OUT"
