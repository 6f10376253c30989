#!/bin/sh
# quarantine.sh - `make bench`, quarantine part: from a quarantine to the
# last packet of a running TCP stream that gets through (issue 5).  Not a
# test: it prints a table and writes build/bench-quarantine.json, and never
# fails on a figure.
#
#   BULKHEAD=/path/to/bulkhead sh test/bench/quarantine.sh
#
# Environment: BULKHEAD (required), BENCH_QJSON (output, default
# build/bench-quarantine.json), BENCH_LIB, BENCH_CC, BENCH_LIBS (as run.sh),
# BENCH_QROUNDS (rounds per way, default 30).
#
# A lab of two namespace workloads w1, w2 on a bridge in a hypervisor
# namespace (names bhx-bqu-PID-*, addresses 10.213.77.0/24), with 20 extra
# workloads and 200 rules so the ruleset is not trivial.  A stream of
# 256-byte writes every 50 us runs from w1 to w2 (test/bench/quarantine.c)
# and w1 is quarantined, four ways:
#   engine   policy_quarantine() on a long-lived engine: what the daemon
#            does for a client, less the socket
#   tag      the tag "quarantine" added by the engine (bh->tag_write; for a
#            container it goes to the store, for a VM through libvirt)
#   daemon   `bulkhead --socket S -c 'quarantine w1'`: a client process
#            through the daemon (process start included)
#   process  `bulkhead -c 'quarantine w1'` with no daemon: a process that
#            opens the store and the kernel itself
#   virt     a libvirt VM's tags written with virDomainSetMetadata (as
#            `virsh metadata` or a SIEM would) with the tag quarantine, the
#            daemon following libvirt's event (needs libvirtd; domain
#            bhx-quarantine-bench-PID, removed at the end)
# Figures: "cut" = last packet through - the moment the command started;
# "cmd" = how long the command took.  Median and p99 of the rounds.
set -u

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-quarantine: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, nftables)"
BULKHEAD=${BULKHEAD:-}
[ -n "$BULKHEAD" ] && [ -x "$BULKHEAD" ] || die "set BULKHEAD to the binary"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_QJSON:-$TOP/build/bench-quarantine.json}
LIB=${BENCH_LIB:-$TOP/build/libbulkhead.a}
CC=${BENCH_CC:-cc}
ROUNDS=${BENCH_QROUNDS:-30}
if [ -z "${BENCH_LIBS:-}" ]; then
	[ -f "$TOP/config.mk" ] || die "no config.mk: run ./configure"
	BENCH_LIBS="$(sed -n 's/^PKG_LIBS *= *//p' "$TOP/config.mk") -lm"
fi
[ -f "$LIB" ] || die "no $LIB: run 'make' first"

PFX=bhx-bqu-$$
HV=$PFX-hv
TMP=$(mktemp -d /tmp/bhqbench.XXXXXX) || die "mktemp failed"
DB=$TMP/bh.db
SOCK=$TMP/bh.sock
DPID=""

VMUP=""
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	if [ -n "$VMUP" ]; then
		virsh -q -c qemu:///system destroy "$VMUP" >/dev/null 2>&1
		virsh -q -c qemu:///system undefine "$VMUP" >/dev/null 2>&1
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case "$ns" in "$PFX"-*) ip netns del "$ns" 2>/dev/null ;; esac
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say "bench-quarantine: building the helper"
# shellcheck disable=SC2086
$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I"$TOP/include" -pthread \
	-o "$TMP/bhqbench" "$TOP/test/bench/quarantine.c" "$LIB" $BENCH_LIBS ||
	die "cannot build test/bench/quarantine.c"

say "bench-quarantine: the lab"
ip netns add "$HV" || die "ip netns add"
ip -n "$HV" link set lo up
ip -n "$HV" link add br0 type bridge
ip -n "$HV" link set br0 up
for i in 1 2; do
	ns=$PFX-w$i
	ip netns add "$ns"
	ip -n "$HV" link add w$i type veth peer name eth0 netns "$ns"
	ip -n "$HV" link set w$i master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 address 02:bd:00:00:77:0$i
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add 10.213.77.$i/24 dev eth0
done
{
	echo "add workload w1 kind container netns $PFX-w1"
	echo "add nic w1 w1 mac 02:bd:00:00:77:01 address 10.213.77.1"
	echo "add workload w2 kind container netns $PFX-w2"
	echo "add nic w2 w2 mac 02:bd:00:00:77:02 address 10.213.77.2"
	i=10
	while [ $i -lt 30 ]; do
		echo "add workload x$i kind container"
		echo "add nic x$i xv$i address 10.213.78.$i"
		echo "add tag x$i t$((i % 5))"
		i=$((i + 1))
	done
	echo "add tag w1 lab"
	echo "add tag w2 lab"
	echo "add group lab match tag lab"
	echo "add group upd member x10"
	i=0
	while [ $i -lt 5 ]; do echo "add group g$i match tag t$i"; i=$((i + 1)); done
	i=0
	while [ $i -lt 200 ]; do
		echo "add rule application drop from g$((i % 5)) to g$(((i + 1) % 5)) service s$((1000 + i))"
		i=$((i + 1))
	done
	echo "add rule application allow from lab to lab"
	echo "set default drop"
	echo "set quarantine allow upd service https"
	echo "commit"
} >"$TMP/policy.bh"
# the services the rules name
{
	i=0
	while [ $i -lt 200 ]; do echo "add service s$((1000 + i)) tcp $((1000 + i))"; i=$((i + 1)); done
	cat "$TMP/policy.bh"
} >"$TMP/all.bh"
ip netns exec "$HV" "$BULKHEAD" --db "$DB" -f "$TMP/all.bh" >/dev/null ||
	die "loading the lab's policy failed"

SRC=$PFX-w1   # the streaming workload's namespace, and its name
WL=w1
run() {  # WAY MODE [ARGV...]
	way=$1
	shift
	ip netns exec "$HV" "$TMP/bhqbench" "$HV" "$SRC" "$PFX-w2" "$DB" "$WL" \
		10.213.77.2 7777 "$ROUNDS" "$@" >"$TMP/$way.out" ||
		{ say "bench-quarantine: $way failed"; return 1; }
}
stats() {  # FILE FIELD -> "median p99"
	awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$1" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (!NR) { print "null null"; exit }
			m = v[int((NR + 1) / 2)]; k = int(NR * 0.99 + 0.999); if (k < 1) k = 1
			print m, v[k] }'
}

say "bench-quarantine: engine ($ROUNDS rounds)"
run engine engine
say "bench-quarantine: tag"
run tag tag
say "bench-quarantine: process (no daemon)"
run process exec "$BULKHEAD" --db "$DB"
say "bench-quarantine: daemon"
ip netns exec "$HV" "$BULKHEAD" --db "$DB" daemon --socket "$SOCK" \
	--foreground --no-libvirt >"$TMP/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.025; done
run daemon exec "$BULKHEAD" --db "$DB" --socket "$SOCK"
kill "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
DPID=""

# virt: a libvirt VM whose tags another tool writes through the libvirt
# API; the daemon, following libvirt, quarantines it.  The VM's tap is in
# the machine's namespace, where bulkhead may not filter; so a veth of the
# same name and MAC stands in for it in the hypervisor namespace, where
# the daemon's chains for the VM's NIC are: the packets take the path a
# tap's would.  Skipped without libvirtd (test/libvirt-setup.sh starts
# one).
if command -v virsh >/dev/null 2>&1 &&
   virsh -q -c qemu:///system version >/dev/null 2>&1; then
	VM=bhx-quarantine-bench-$$
	TAP=bhq$$
	cat >"$TMP/vm.xml" <<XML
<domain type='qemu'>
  <name>$VM</name>
  <memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <metadata>
    <bulkhead:tags xmlns:bulkhead="urn:bulkhead:metadata:1"><bulkhead:tag>lab</bulkhead:tag></bulkhead:tags>
  </metadata>
  <features><acpi/></features>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <interface type='ethernet'>
      <mac address='02:bd:00:00:77:03'/>
      <target dev='$TAP'/>
      <model type='virtio'/><rom enabled='no'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
XML
	VMUP=$VM
	virsh -q -c qemu:///system define "$TMP/vm.xml" >/dev/null &&
	virsh -q -c qemu:///system start "$VM" >/dev/null ||
		say "bench-quarantine: the VM did not start"
	ns=$PFX-v
	ip netns add "$ns"
	ip -n "$HV" link add "$TAP" type veth peer name eth0 netns "$ns"
	ip -n "$HV" link set "$TAP" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 address 02:bd:00:00:77:03
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add 10.213.77.3/24 dev eth0
	say "bench-quarantine: virt (the libvirt API, through the daemon)"
	ip netns exec "$HV" "$BULKHEAD" --db "$DB" daemon --socket "$SOCK" \
		--foreground --libvirt qemu:///system >"$TMP/daemon2.log" 2>&1 &
	DPID=$!
	for _ in $(seq 400); do
		ip netns exec "$HV" "$BULKHEAD" --db "$DB" --socket "$SOCK" \
			-c "show workload $VM" 2>/dev/null | grep -q "nic $TAP" && break
		sleep 0.05
	done
	ip netns exec "$HV" "$BULKHEAD" --db "$DB" --socket "$SOCK" \
		-c "add address $VM 10.213.77.3 nic $TAP" >/dev/null ||
		say "bench-quarantine: binding the VM's address failed"
	SRC=$ns
	WL=$VM
	run virt virt lab
	if [ -n "${BENCH_QDEBUG:-}" ]; then
		ip netns exec "$HV" "$BULKHEAD" --db "$DB" --socket "$SOCK" \
			-c "show workload $VM; show quarantine history" >&2
		tail -20 "$TMP/daemon2.log" >&2
		ip netns exec "$HV" nft list set netdev bulkhead nic_quarantine >&2
	fi
	kill "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=""
else
	say "bench-quarantine: virt skipped: no libvirtd at qemu:///system"
fi

printf '%-8s %12s %12s %12s %12s\n' way cut_median cut_p99 cmd_median cmd_p99
{
	printf '{"rounds":%s' "$ROUNDS"
	for way in engine tag daemon process virt; do
		[ -f "$TMP/$way.out" ] || continue
		set -- $(stats "$TMP/$way.out" cut_ms) $(stats "$TMP/$way.out" cmd_ms)
		printf '%-8s %12s %12s %12s %12s\n' "$way" "$1" "$2" "$3" "$4" >&2
		printf ',"%s":{"cut_ms_median":%s,"cut_ms_p99":%s,"cmd_ms_median":%s,"cmd_ms_p99":%s}' \
			"$way" "$1" "$2" "$3" "$4"
	done
	printf '}\n'
} >"$OUT.tmp" 2>"$TMP/table"
cat "$TMP/table"
mkdir -p "$(dirname "$OUT")"
mv "$OUT.tmp" "$OUT"
say "bench-quarantine: figures in $OUT"
