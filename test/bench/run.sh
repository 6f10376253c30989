#!/bin/sh
# run.sh - bulkhead's benchmark (`make bench`; not a test: it prints a table
# and writes build/bench.json, it never fails on a figure).
#
#   BULKHEAD=/path/to/bulkhead sh test/bench/run.sh
#
# Environment: BULKHEAD (the binary, required), BENCH_JSON (output, default
# build/bench.json), BENCH_LIB (default build/libbulkhead.a), BENCH_CC,
# BENCH_LIBS (the engine's link flags; read from config.mk when unset),
# BENCH_QUICK=1 (the two small sizes and short traffic runs: to try the
# script, not to quote).
#
# Everything happens in network namespaces named bhx-bench-PID-*, removed
# on exit (also on ^C or an error), with addresses from 10.213.0.0/16.
# bulkhead runs inside the "hypervisor" namespace of each part
# (`ip netns exec`), so its table never reaches the machine's namespace.
#
# What is measured (each figure a median of several runs):
#  1. apply: the whole ruleset of a config of N NICs, G groups, R rules
#     loaded into a kernel that has no bulkhead table yet, by
#       - `bulkhead -c commit` (the first one: it records the revision),
#       - `bulkhead -c commit` again after deleting the table (a re-apply),
#       - the engine's nft_apply() alone (test/bench/engine.c: no process
#         start, no store),
#     against `nft -f` of the same text (`show ruleset`) in the same run.
#     The commit rows need the enforcer wired into the binary; without it
#     the engine's own commit (policy_commit with the enforcer attached)
#     stands in.
#  2. incremental: one tag change moving a workload into a group and out
#     again, and one NIC added and removed, at each size: as the policy
#     call (store + enforcer), as the enforcer's part alone, and as
#     nft_sync() with the config in memory (the daemon's path); and as a
#     whole `bulkhead -c 'add tag ...'` process.
#  3. traffic between two namespace workloads through their host-side
#     veths and a bridge: established TCP throughput (one stream), 64-byte
#     UDP packet rate (18-byte payloads: 64-byte Ethernet frames, one
#     flow), and new TCP connections per second (connect, one byte each
#     way, close), with no table at all, with 10 rules and with 10,000
#     rules (the allowing rule last, after rules that do not match).
#  4. kernel memory per tracked flow: 20,000 UDP flows (one datagram to
#     each of 20,000 ports) through the 10-rule config; the growth of all
#     slab caches (/proc/slabinfo, active objects x object size) from
#     before the flows to after them, checked against the drop when the
#     flow sets are flushed, divided by the flows and by the set elements
#     the kernel reports (`nft list set`).  The rhashtable bucket arrays
#     (8 bytes a bucket, 1.33-2.67 buckets an element) may come from the
#     page allocator rather than a slab and are not in the figure: the
#     JSON gives them as an estimate beside it.
#  5. the flow log: test/bench/flowlog.sh (new flows and drops through
#     the kernel rate limits, the daemon's records per second with a
#     `monitor flows` client, its memory with a full ring).
#  6. event-to-enforcement latency (test/bench/latency.sh): the qemu
#     start hook, a libvirt metadata change and `add tag`, each until the
#     kernel holds the change, at 10 and 1000 workloads.
set -u

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, nftables)"
BULKHEAD=${BULKHEAD:-}
[ -n "$BULKHEAD" ] && [ -x "$BULKHEAD" ] ||
	die "set BULKHEAD to the bulkhead binary ('make bench' does)"
for p in ip nft awk; do
	command -v $p >/dev/null 2>&1 || die "no $p (apt-get install iproute2 nftables)"
done
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_JSON:-$TOP/build/bench.json}
LIB=${BENCH_LIB:-$TOP/build/libbulkhead.a}
CC=${BENCH_CC:-cc}
QUICK=${BENCH_QUICK:-0}
if [ -z "${BENCH_LIBS:-}" ]; then
	[ -f "$TOP/config.mk" ] || die "no config.mk: run ./configure"
	BENCH_LIBS="$(sed -n 's/^PKG_LIBS *= *//p' "$TOP/config.mk") -lm"
fi
[ -f "$LIB" ] || die "no $LIB: run 'make' first"
export BULKHEAD_USER=bench   # one candidate owner for the engine and the CLI

PFX=bhx-bench-$$
TMP=$(mktemp -d /tmp/bhbench.XXXXXX) || die "mktemp failed"
PIDS=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case "$ns" in "$PFX"-*) ip netns del "$ns" 2>/dev/null ;; esac
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- helpers -----------------------------------------------------------

now_ns() { date +%s%N; }
# ms between two now_ns readings
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }
# median of the numbers on standard input
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "null" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "null") printf "%.2f", a / b; else print "null" }'; }

# bh HV DB COMMANDS: the real binary in namespace HV
bh() { ip netns exec "$1" "$BULKHEAD" --db "$2" -c "$3"; }
# the time of one bh run, in ms (its output discarded; failure is fatal)
bh_ms() {
	_t0=$(now_ns)
	bh "$1" "$2" "$3" >"$TMP/bh.out" 2>&1 || die "bulkhead -c '$3': $(cat "$TMP/bh.out")"
	_t1=$(now_ns)
	ms "$_t0" "$_t1"
}
engine() { "$TMP/bhbench" "$@"; }
# need VALUE WHAT: a figure that must have come out (a failure inside a
# $(...) cannot stop the script by itself)
need() { case "$1" in ""|null) die "no figure for $2 (see the messages above)" ;; esac; }
drop_table() { ip netns exec "$1" nft delete table netdev bulkhead 2>/dev/null; true; }

# ---- build the helpers ------------------------------------------------

say "bench: building the helpers"
$CC -std=c11 -O2 -Wall -Wextra -o "$TMP/bhload" "$TOP/test/bench/load.c" ||
	die "cannot build test/bench/load.c"
# shellcheck disable=SC2086
$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I"$TOP/include" \
	-o "$TMP/bhbench" "$TOP/test/bench/engine.c" "$LIB" $BENCH_LIBS ||
	die "cannot build test/bench/engine.c"

# Is the enforcer wired into the binary's commit?
ip netns add "$PFX-probe" || die "cannot create namespace $PFX-probe"
if bh "$PFX-probe" "$TMP/probe.db" "show ruleset" >/dev/null 2>&1; then
	WIRED=1
else
	WIRED=0
	say "bench: the binary has no enforcer yet: commit rows come from the engine"
fi
ip netns del "$PFX-probe"

# ---- 1 and 2: apply and incremental changes at three sizes ------------

# gen_config N G R: the commands of a config of N workloads (one NIC
# each), G groups (by tag, plus the group "moved"), R rules.
gen_config() {
	awk -v N="$1" -v G="$2" -v R="$3" 'BEGIN {
		for (i = 1; i <= N; i++) {
			printf "add workload w%d kind container\n", i
			printf "add nic w%d bn%d mac 02:bd:01:00:%02x:%02x address 10.213.%d.%d,fd00:bd::1:%x\n",
			    i, i, int(i / 256), i % 256, 1 + int((i - 1) / 250), (i - 1) % 250 + 1, i
			printf "add tag w%d t%d\n", i, i % G
		}
		for (k = 0; k < 10; k++)
			printf "add service s%d tcp %d,%d udp %d\n", k, 2000 + k, 3000 + k, 4000 + k
		for (g = 0; g < G; g++)
			printf "add group g%d match tag t%d\n", g, g
		printf "add group moved match tag moved\n"
		split("https http ssh postgres dns s0 s1 s2 s3 s4 s5 s6 s7 s8 s9", svc, " ")
		for (r = 1; r < R; r++) {
			sec = r % 100 == 0 ? "infrastructure" : r % 50 == 0 ? "environment" : "application"
			act = r % 13 == 0 ? "reject" : r % 7 == 0 ? "drop" : "allow"
			line = sprintf("add rule %s %s from g%d to g%d service %s", sec, act,
			    (r - 1) % G, (r * 7 + 3) % G, svc[r % 15 + 1])
			if (r % 5 == 0)
				line = line sprintf(" applied-to g%d", (r * 3 + 1) % G)
			print line
		}
		print "add rule application allow from moved to g0 service https"
		print "set default drop"
	}'
}

APPLY_JSON=""
INCR_JSON=""
APPLY_ROWS=""
INCR_ROWS=""
if [ "$QUICK" = 1 ]; then
	SIZES="10:10:100 100:50:1000"
	REPS=3; INCR_N=21
else
	SIZES="10:10:100 100:50:1000 1000:100:10000"
	REPS=3; INCR_N=51
fi

for size in $SIZES; do
	N=${size%%:*}; rest=${size#*:}; G=${rest%%:*}; R=${rest#*:}
	HV=$PFX-hv$N
	DB=$TMP/size$N.db
	say "bench: $N NICs, $G groups, $R rules"
	ip netns add "$HV" || die "cannot create namespace $HV"
	ip -n "$HV" link set lo up
	# real devices for the NICs' hooks (and bnx for the NIC added)
	awk -v N="$N" 'BEGIN { for (i = 1; i <= N; i++)
		printf "link add bn%d type veth peer name bp%d\n", i, i
		print "link add bnx type veth peer name bpx" }' > "$TMP/links.b"
	ip -n "$HV" -b "$TMP/links.b" || die "cannot create the NICs in $HV"
	gen_config "$N" "$G" "$R" > "$TMP/config$N.bh"
	t0=$(now_ns)
	engine "$DB" batch "$TMP/config$N.bh" || die "cannot build the store of size $N"
	t1=$(now_ns)
	say "bench:   store built in $(ms "$t0" "$t1") ms"

	# the first commit: the candidate becomes revision 1, all of it loaded
	if [ "$WIRED" = 1 ]; then
		commit_ms=$(bh_ms "$HV" "$DB" commit)
	else
		commit_ms=$(ip netns exec "$HV" "$TMP/bhbench" "$DB" commit |
			awk '{ print $2 }')
		[ -n "$commit_ms" ] || die "engine commit failed at size $N"
	fi
	if [ "$WIRED" = 1 ]; then
		bh "$HV" "$DB" "show ruleset" > "$TMP/rs$N.nft" || die "show ruleset failed"
	else
		ip netns exec "$HV" "$TMP/bhbench" "$DB" ruleset > "$TMP/rs$N.nft" ||
			die "engine ruleset failed"
	fi
	# re-applies into an empty kernel
	reapply_ms=null
	if [ "$WIRED" = 1 ]; then
		reapply_ms=$(for i in $(seq "$REPS"); do
			drop_table "$HV"; bh_ms "$HV" "$DB" commit; echo; done | median)
	fi
	engine_ms=$(ip netns exec "$HV" "$TMP/bhbench" "$DB" reapply "$REPS" | median)
	nft_ms=$(for i in $(seq "$REPS"); do
		drop_table "$HV"
		t0=$(now_ns)
		ip netns exec "$HV" nft -f "$TMP/rs$N.nft" || die "nft -f of the ruleset failed at size $N"
		t1=$(now_ns)
		ms "$t0" "$t1"; echo
	done | median)
	# leave the kernel holding the running config for what follows
	drop_table "$HV"
	ip netns exec "$HV" "$TMP/bhbench" "$DB" reapply 1 >/dev/null ||
		die "cannot re-apply at size $N"
	need "$commit_ms" "the commit at size $N"
	need "$engine_ms" "the engine's apply at size $N"
	need "$nft_ms" "nft -f at size $N"
	[ "$WIRED" = 1 ] && need "$reapply_ms" "the re-apply at size $N"
	lines=$(wc -l < "$TMP/rs$N.nft")

	# incremental changes in one long-lived engine
	ip netns exec "$HV" "$TMP/bhbench" "$DB" incr "$INCR_N" w1 moved w2 bnx \
		02:bd:01:ff:00:01 10.213.250.1 > "$TMP/incr$N" || die "incremental run failed at size $N"
	get() { awk -v k="$1" -v w="$2" '$1 == k && $2 == w { print $3 }' "$TMP/incr$N"; }
	# and as whole processes
	cli_tag=null
	if [ "$WIRED" = 1 ]; then
		cli_tag=$(for i in $(seq 5); do
			bh_ms "$HV" "$DB" "add tag w1 moved"; echo
			bh "$HV" "$DB" "delete tag w1 moved" >/dev/null || die "delete tag failed"
		done | median)
	fi

	APPLY_ROWS="$APPLY_ROWS$(printf '%-14s %8s %8s %8s %8s %6s %7s' \
		"$N/$G/$R" "$commit_ms" "$reapply_ms" "$engine_ms" "$nft_ms" \
		"$(ratio "$commit_ms" "$nft_ms")" "$(ratio "$engine_ms" "$nft_ms")")
"
	INCR_ROWS="$INCR_ROWS$(printf '%-14s %9s %9s %9s %9s %9s %9s %9s' "$N/$G/$R" \
		"$(get tag-add edit)" "$(get tag-add hook)" "$(get tag-add sync)" \
		"$(get nic-add edit)" "$(get nic-add hook)" "$(get nic-add sync)" "$cli_tag")
"
	[ -n "$APPLY_JSON" ] && APPLY_JSON="$APPLY_JSON,"
	APPLY_JSON="$APPLY_JSON
    {\"nics\": $N, \"groups\": $G, \"rules\": $R, \"ruleset_lines\": $lines,
     \"commit_ms\": $commit_ms, \"commit_via\": \"$([ "$WIRED" = 1 ] && echo cli || echo engine)\",
     \"reapply_cli_ms\": $reapply_ms, \"apply_engine_ms\": $engine_ms,
     \"nft_f_ms\": $nft_ms, \"commit_over_nft\": $(ratio "$commit_ms" "$nft_ms"),
     \"apply_over_nft\": $(ratio "$engine_ms" "$nft_ms")}"
	[ -n "$INCR_JSON" ] && INCR_JSON="$INCR_JSON,"
	INCR_JSON="$INCR_JSON
    {\"nics\": $N, \"groups\": $G, \"rules\": $R, \"runs\": $INCR_N"
	for k in tag-add tag-del nic-add nic-del; do
		for w in edit hook sync; do
			INCR_JSON="$INCR_JSON, \"$(echo "${k}_$w" | tr - _)_ms\": $(get $k $w)"
		done
	done
	INCR_JSON="$INCR_JSON, \"cli_tag_add_ms\": $cli_tag}"
	ip netns del "$HV"
done

# ---- 3 and 4: traffic and flow memory ------------------------------------

say "bench: traffic"
HV=$PFX-hvt; NA=$PFX-a; NB=$PFX-b
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
	ip -n "$ns" addr add 10.213.0.$i/24 dev eth0
	ip -n "$ns" link set eth0 up
done

# The two stores: the allowing rule last after 9 or 9,999 that do not
# match (their groups are other /24s of 10.213.0.0/16).
gen_traffic() {
	awk -v R="$1" 'BEGIN {
		print "add workload wa kind container netns '"$NA"'"
		print "add nic wa ta mac 02:bd:00:00:01:01 address 10.213.0.1"
		print "add workload wb kind container netns '"$NB"'"
		print "add nic wb tb mac 02:bd:00:00:01:02 address 10.213.0.2"
		print "add group ga member wa"
		print "add group gb member wb"
		print "add service bench tcp 5201 udp 9000,20000-59999"
		for (k = 0; k < 10; k++)
			printf "add service s%d tcp %d\n", k, 2000 + k
		for (j = 0; j < 100; j++)
			printf "add group f%d address 10.213.%d.0/24\n", j, 100 + j
		for (r = 1; r < R; r++)
			printf "add rule application allow from f%d to f%d service s%d\n",
			    r % 100, (r * 7 + 1) % 100, r % 10
		print "add rule application allow from ga to gb service bench"
		print "set timeout tcp 30s"
		print "set default drop"
	}'
}
gen_traffic 10 > "$TMP/t10.bh"
gen_traffic 10000 > "$TMP/t10000.bh"
engine "$TMP/t10.db" batch "$TMP/t10.bh" || die "cannot build the 10-rule store"
engine "$TMP/t10000.db" batch "$TMP/t10000.bh" || die "cannot build the 10,000-rule store"

ip netns exec "$NB" "$TMP/bhload" tcp-server 5201 &
PIDS="$PIDS $!"
sleep 0.3
if [ "$QUICK" = 1 ]; then SECS=1; RUNS=1; else SECS=3; RUNS=5; fi
# At most 8,000 new connections a run: each leaves two elements in the TCP
# flow set (one per NIC) until its timeout, and the set holds 65,536.
CONNS=8000

commit_traffic() {
	drop_table "$HV"
	if [ "$WIRED" = 1 ]; then
		bh "$HV" "$1" commit >/dev/null || die "commit of $1 failed"
	else
		ip netns exec "$HV" "$TMP/bhbench" "$1" commit >/dev/null ||
			die "engine commit of $1 failed"
	fi
}

# round NAME: one run of each figure, appended to $TMP/NAME.{tcp,udp,crr}
round() {
	ip netns exec "$NA" "$TMP/bhload" tcp-stream 10.213.0.2 5201 "$SECS" |
		awk '{ print $6 }' >> "$TMP/$1.tcp"
	ip netns exec "$NB" "$TMP/bhload" udp-sink 9000 > "$TMP/sink" &
	sp=$!
	sleep 0.2
	ip netns exec "$NA" "$TMP/bhload" udp-flood 10.213.0.2 9000 "$SECS" 18 >/dev/null
	wait "$sp"
	awk '{ print $6 }' "$TMP/sink" >> "$TMP/$1.udp"
	ip netns exec "$NA" "$TMP/bhload" crr 10.213.0.2 5201 "$CONNS" "$SECS" |
		awk '{ print $6 }' >> "$TMP/$1.crr"
}

# The three configurations take turns, so that whatever else the machine
# does during the run weighs on all three alike.
for i in $(seq "$RUNS"); do
	say "bench:   round $i of $RUNS"
	drop_table "$HV"
	round none
	commit_traffic "$TMP/t10.db"
	round r10
	commit_traffic "$TMP/t10000.db"
	round r10000
done
for c in none r10 r10000; do
	eval "TCP_$c=\$(median < \"\$TMP/$c.tcp\")"
	eval "UDP_$c=\$(median < \"\$TMP/$c.udp\")"
	eval "CRR_$c=\$(median < \"\$TMP/$c.crr\")"
done
say "bench:   tcp $TCP_none / $TCP_r10 / $TCP_r10000 Mbit/s, udp $UDP_none / $UDP_r10 / $UDP_r10000 packets/s, $CRR_none / $CRR_r10 / $CRR_r10000 connections/s"

# 4. flow memory, in the 10-rule config
say "bench: flow memory"
slab() { awk 'NR > 2 { s += $2 * $4 } END { printf "%.0f", s }' /proc/slabinfo; }
elems() {
	ip netns exec "$HV" nft list set netdev bulkhead "$1" 2>/dev/null |
		grep -o 'expires' | wc -l
}
FLOWS=20000; MEM_RUNS=3
[ "$QUICK" = 1 ] && { FLOWS=5000; MEM_RUNS=1; }
mem_runs=""
for i in $(seq "$MEM_RUNS"); do
	drop_table "$HV"
	commit_traffic "$TMP/t10.db"
	sleep 1
	s0=$(slab)
	ip netns exec "$NA" "$TMP/bhload" udp-flows 10.213.0.2 20000 "$FLOWS" >/dev/null
	sleep 1
	s1=$(slab)
	e=0
	for set in flow4_udp rel4; do
		n=$(elems $set); e=$((e + n))
	done
	for set in flow4_udp rel4; do
		ip netns exec "$HV" nft flush set netdev bulkhead $set 2>/dev/null
	done
	sleep 3      # elements are freed after an RCU grace period
	s2=$(slab)
	mem_runs="$mem_runs$s0 $s1 $s2 $e
"
done
# per flow: the growth, and the drop on flush, each / FLOWS (medians)
col() { printf '%s' "$mem_runs" | awk -v c="$1" -v F="$FLOWS" '
	{ if (c == 1) print ($2 - $1) / F; else if (c == 2) print ($2 - $3) / F;
	  else print $4 }' | median; }
MEM_UP=$(col 1 | awk '{ printf "%.0f", $1 }')
MEM_DOWN=$(col 2 | awk '{ printf "%.0f", $1 }')
MEM_ELEMS=$(col 3)
MEM_EPF=$(awk -v e="$MEM_ELEMS" -v F="$FLOWS" 'BEGIN { printf "%.2f", e / F }')
MEM_PER_ELEM=$(awk -v u="$MEM_UP" -v e="$MEM_EPF" 'BEGIN { if (e > 0) printf "%.0f", u / e; else print "null" }')
SET_SIZE=$(ip netns exec "$HV" nft list set netdev bulkhead flow4_udp 2>/dev/null |
	awk '/size/ { print $2; exit }')
BUCKETS=$(awk -v e="$MEM_EPF" 'BEGIN { printf "%.0f-%.0f", e * 8 * 4 / 3, e * 8 * 8 / 3 }')

# ---- 5: event-to-enforcement latency ------------------------------------
# test/bench/latency.sh (it says what it measures); BENCH_LATENCY=0 skips
# it.  It needs libvirtd and QEMU; without them the part is left out.
LAT_OUT=null
: > "$TMP/latency.txt"
if [ "${BENCH_LATENCY:-1}" = 1 ]; then
	say "bench: event-to-enforcement latency"
	[ "$QUICK" = 1 ] && LAT_RUNS=${LAT_RUNS:-10} && export LAT_RUNS
	if LAT_JSON="$TMP/latency.json" BENCH_LIBS="$BENCH_LIBS" \
	    sh "$TOP/test/bench/latency.sh" > "$TMP/latency.txt"; then
		LAT_OUT=$(cat "$TMP/latency.json")
	else
		say "bench: the latency part failed (see above): left out"
		: > "$TMP/latency.txt"
	fi
fi

# ---- the report -----------------------------------------------------------

KERNEL=$(uname -r)
NFT=$(nft --version 2>/dev/null | awk '{ print $2 }')
CPUS=$(nproc)
cat <<EOF

bulkhead bench: kernel $KERNEL, nft $NFT, $CPUS CPUs$([ "$QUICK" = 1 ] && echo ", QUICK run (not for quoting)")

Full apply into an empty kernel, ms (median of $REPS; commit = the first,
revision-recording commit$([ "$WIRED" = 1 ] || echo ", by the engine: no enforcer in the binary yet")):
NICS/GRP/RULES   commit  re-apply  engine  nft -f  c/nft  eng/nft
$APPLY_ROWS
One incremental change, ms (median of $INCR_N; edit = policy call with store and
enforcer, hook = enforcer part, sync = nft_sync with the config in memory,
cli = a whole 'bulkhead -c add tag' process):
NICS/GRP/RULES  tag edit  tag hook  tag sync  nic edit  nic hook  nic sync   cli tag
$INCR_ROWS
Traffic between two namespace workloads (median of $RUNS):
                       no filter    10 rules      10,000 rules   10/none  10k/none
TCP stream, Mbit/s   $(printf '%11s %11s %13s %10s %9s' "$TCP_none" "$TCP_r10" "$TCP_r10000" "$(ratio "$TCP_r10" "$TCP_none")" "$(ratio "$TCP_r10000" "$TCP_none")")
UDP 64 B, packets/s  $(printf '%11s %11s %13s %10s %9s' "$UDP_none" "$UDP_r10" "$UDP_r10000" "$(ratio "$UDP_r10" "$UDP_none")" "$(ratio "$UDP_r10000" "$UDP_none")")
TCP connections/s    $(printf '%11s %11s %13s %10s %9s' "$CRR_none" "$CRR_r10" "$CRR_r10000" "$(ratio "$CRR_r10" "$CRR_none")" "$(ratio "$CRR_r10000" "$CRR_none")")

Flow state memory ($FLOWS UDP flows, median of $MEM_RUNS): $MEM_UP B per flow grown in slab caches
($MEM_DOWN B freed per flow on flush), $MEM_EPF set elements per flow, $MEM_PER_ELEM B per element;
rhashtable buckets add about $BUCKETS B per flow; flow set size limit: ${SET_SIZE:-?} elements.
EOF
cat "$TMP/latency.txt"

mkdir -p "$(dirname "$OUT")"
cat > "$OUT" <<EOF
{
  "machine": {"kernel": "$KERNEL", "nft": "$NFT", "cpus": $CPUS, "quick": $([ "$QUICK" = 1 ] && echo true || echo false)},
  "enforcer_in_binary": $([ "$WIRED" = 1 ] && echo true || echo false),
  "apply": [$APPLY_JSON
  ],
  "incremental": [$INCR_JSON
  ],
  "traffic": {
    "tcp_stream_mbit": {"none": $TCP_none, "rules_10": $TCP_r10, "rules_10000": $TCP_r10000},
    "udp_64b_pps": {"none": $UDP_none, "rules_10": $UDP_r10, "rules_10000": $UDP_r10000},
    "tcp_connections_per_s": {"none": $CRR_none, "rules_10": $CRR_r10, "rules_10000": $CRR_r10000},
    "ratios": {"tcp_10_over_none": $(ratio "$TCP_r10" "$TCP_none"), "tcp_10000_over_none": $(ratio "$TCP_r10000" "$TCP_none"),
               "udp_10_over_none": $(ratio "$UDP_r10" "$UDP_none"), "udp_10000_over_none": $(ratio "$UDP_r10000" "$UDP_none"),
               "conn_10_over_none": $(ratio "$CRR_r10" "$CRR_none"), "conn_10000_over_none": $(ratio "$CRR_r10000" "$CRR_none"),
               "conn_10000_over_10": $(ratio "$CRR_r10000" "$CRR_r10")}
  },
  "flow_memory": {"flows": $FLOWS, "slab_bytes_per_flow": $MEM_UP, "slab_bytes_freed_per_flow": $MEM_DOWN,
                  "set_elements_per_flow": $MEM_EPF, "slab_bytes_per_element": $MEM_PER_ELEM,
                  "bucket_bytes_per_flow_estimate": "$BUCKETS", "flow_set_size": ${SET_SIZE:-null},
                  "method": "growth of /proc/slabinfo (active objects x object size) over FLOWS one-datagram UDP flows, and its drop when the flow sets are flushed"},
  "latency": $LAT_OUT
}
EOF
say "bench: wrote $OUT"

# ---- 5: the flow log (its own script: build/bench-flowlog.json) -----------
BENCH_QUICK=$QUICK sh "$TOP/test/bench/flowlog.sh" ||
	say "bench: the flow log part failed (see above)"
