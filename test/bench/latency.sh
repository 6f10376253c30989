#!/bin/sh
# latency.sh - event-to-enforcement latency, part of `make bench` (run.sh
# runs it last and puts its JSON under "latency"); it also runs alone:
#
#   BULKHEAD=/path/to/bulkhead sh test/bench/latency.sh
#
# Environment: BULKHEAD (required), LAT_JSON (output, default
# build/bench-latency.json), LAT_SIZES (default "10 1000"), LAT_RUNS
# (rounds of each figure, default 40), BENCH_CC, BENCH_LIBS as run.sh.
#
# At each size N: a "hypervisor" namespace bhx-bench-PID-lN holding N
# store-only container workloads (one real veth each, their chains in the
# kernel, 10 or 100 tag groups and 100 or 1,000 rules), a libvirtd of the
# benchmark's own running inside it (its own mount namespace for
# /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt,
# /var/log/libvirt, as test/hook.test does, so the machine's libvirtd and
# hooks are never touched) with bulkhead as its qemu hook, and one tiny
# QEMU TCG domain (32 MiB, no disk, one tap).  A group "moved" (match tag
# moved) is the applied-to of a rule, so a workload tagged "moved" puts its
# interface into set at_moved: that element is what "enforced" means below.
# The probe (latency.c) watches the kernel through netlink in a tight loop.
#
#  1. start hook: `virsh start` of the domain with the hook and with the
#     hook switched off (file "off": the script exits at once), rounds
#     interleaved; the difference is what the hook adds.  Also the hook's
#     own time (the binary's wall time as the hook script measures it, and
#     the engine's share from BULKHEAD_HOOK_LOG).
#  2. metadata: with the daemon running (--libvirt on that libvirtd) and
#     the domain running, virDomainSetMetadata writes tag "moved" into the
#     domain (live and persistent) -> the tap is in at_moved; and back.
#  3. add tag: `bulkhead -c 'add tag W moved'` through the daemon's socket
#     -> W's interface in at_moved, for the VM (the daemon writes the
#     domain's metadata; libvirt's event brings it back into the store and
#     the kernel) and for a store-only workload.
# p99 of 40 rounds is the second largest: read it as "the slow end".
set -u

say() { printf '%s\n' "$*" >&2; }
die() { say "bench latency: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root"
BULKHEAD=${BULKHEAD:-}
[ -n "$BULKHEAD" ] && [ -x "$BULKHEAD" ] || die "set BULKHEAD to the bulkhead binary"
for p in ip nft awk virsh libvirtd qemu-system-x86_64 unshare; do
	command -v $p >/dev/null 2>&1 ||
		die "no $p (apt-get install iproute2 nftables libvirt-daemon libvirt-clients qemu-system-x86)"
done
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${LAT_JSON:-$TOP/build/bench-latency.json}
SIZES=${LAT_SIZES:-10 1000}
RUNS=${LAT_RUNS:-40}
CC=${BENCH_CC:-cc}
if [ -z "${BENCH_LIBS:-}" ]; then
	[ -f "$TOP/config.mk" ] || die "no config.mk: run ./configure"
	BENCH_LIBS="$(sed -n 's/^PKG_LIBS *= *//p' "$TOP/config.mk")"
fi
BULKHEAD=$(cd "$(dirname "$BULKHEAD")" && pwd)/$(basename "$BULKHEAD")
export BULKHEAD_USER=bench

PFX=bhx-bench-$$
TMP=$(mktemp -d /tmp/bhlat.XXXXXX) || die "mktemp failed"
LVPID=""
DPID=""
HV=""

lv_stop() {
	if [ -n "$LVPID" ]; then
		for f in "$TMP"/lv/run/qemu/*.pid; do
			[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
		done
		kill "$LVPID" 2>/dev/null
		i=0
		while [ $i -lt 50 ] && [ -e /proc/"$LVPID" ]; do sleep 0.1; i=$((i + 1)); done
		LVPID=""
	fi
}
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	lv_stop
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case "$ns" in "$PFX"-*) ip netns del "$ns" 2>/dev/null ;; esac
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now_ns() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }
# median and p99 (nearest rank) of the numbers on standard input
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "null" }'; }
p99() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "null"; exit }
	r = int(NR * 0.99 + 0.999); if (r > NR) r = NR; print v[r] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "null") printf "%.2f", a / b; else print "null" }'; }
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null") print "null"; else printf "%.3f", a - b }'; }

# shellcheck disable=SC2086
$CC -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$TMP/bhlat" \
	"$TOP/test/bench/latency.c" $BENCH_LIBS || die "cannot build test/bench/latency.c"

# The config: N container workloads on veths bnI, G tag groups, R rules,
# and the group "moved" as the applied-to of a rule.
gen() {
	awk -v N="$1" -v G="$2" -v R="$3" 'BEGIN {
		for (i = 1; i <= N; i++) {
			printf "add workload w%d kind container\n", i
			printf "add nic w%d bn%d mac 02:bd:02:00:%02x:%02x address 10.213.%d.%d\n",
			    i, i, int(i / 256), i % 256, 1 + int((i - 1) / 250), (i - 1) % 250 + 1
			printf "add tag w%d t%d\n", i, i % G
		}
		for (g = 0; g < G; g++)
			printf "add group g%d match tag t%d\n", g, g
		printf "add group moved match tag moved\n"
		for (r = 1; r < R; r++)
			printf "add rule application allow from g%d to g%d service https\n", (r - 1) % G, (r * 7 + 3) % G
		print "add rule application allow from any to g0 service ssh applied-to moved"
		print "set default drop"
		print "commit"
	}'
}

# A libvirtd of our own inside namespace $HV (see the top).
lv_start() {
	w=$TMP/lv
	rm -rf "$w"
	for d in etc/hooks/qemu.d etc/qemu run lib cache log; do mkdir -p "$w/$d"; done
	printf 'stdio_handler = "file"\nsecurity_driver = "none"\nuser = "root"\ngroup = "root"\n' > "$w/etc/qemu.conf"
	# The hook: the binary at the phases the shipped script runs it,
	# timed at start begin; a file "off" switches it off.
	cat > "$w/etc/hooks/qemu.d/bulkhead" <<EOF
#!/bin/sh
[ -e $TMP/off ] && exit 0
export BULKHEAD_HOOK_LOG=$TMP/hook.log BULKHEAD_USER=bench
case "\$2 \$3" in
"start begin")
	t0=\$(date +%s%N)
	"$BULKHEAD" --db "$DB" hook qemu "\$@"
	rc=\$?
	echo "\$(( (\$(date +%s%N) - t0) / 1000 ))" >> $TMP/wall.log
	exit \$rc ;;
"stopped end"|"release end")
	exec "$BULKHEAD" --db "$DB" hook qemu "\$@" ;;
esac
exit 0
EOF
	chmod 755 "$w/etc/hooks/qemu.d/bulkhead"
	ln -s "$(command -v libvirtd)" "$w/bhx-libvirtd"
	m=""
	for x in etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt \
	         cache:/var/cache/libvirt log:/var/log/libvirt; do
		m="$m mount --bind $w/${x%%:*} ${x#*:} &&"
	done
	ip netns exec "$HV" unshare -m sh -c \
		"mount --make-rprivate / && $m exec $w/bhx-libvirtd -d -p $w/libvirtd.pid" \
		> "$w/libvirtd.out" 2>&1 || die "libvirtd did not start: $(cat "$w/libvirtd.out")"
	URI="qemu+unix:///system?socket=$w/run/libvirt-sock"
	i=0
	until virsh -q -c "$URI" list >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 300 ] && die "libvirtd does not answer"
		sleep 0.1
	done
	LVPID=$(cat "$w/libvirtd.pid")
}

dom_xml() {
	cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <features><acpi/></features>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <interface type='ethernet'><model type='virtio'/><rom enabled='no'/></interface>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

v() { virsh -q -c "$URI" "$@"; }
bh() { ip netns exec "$HV" "$BULKHEAD" --db "$DB" --socket "$SOCK" -c "$1"; }
lat() { ip netns exec "$HV" "$TMP/bhlat" "$@"; }
# ms of one `virsh start`
start_ms() {
	t0=$(now_ns)
	v start "$VM" >/dev/null 2>"$TMP/start.err" || die "virsh start: $(cat "$TMP/start.err")"
	t1=$(now_ns)
	ms "$t0" "$t1"
}

JSON=""
ROWS=""
for N in $SIZES; do
	case $N in
	10) G=10; R=100 ;;
	*) G=100; R=1000 ;;
	esac
	HV=$PFX-l$N
	DB=$TMP/l$N.db
	SOCK=$TMP/l$N.sock
	VM=$PFX-vm$N
	rm -f "$TMP/off" "$TMP/wall.log" "$TMP/hook.log"
	say "bench latency: $N workloads, $G groups, $R rules"
	ip netns add "$HV" || die "cannot create namespace $HV"
	ip -n "$HV" link set lo up
	awk -v N="$N" 'BEGIN { for (i = 1; i <= N; i++)
		printf "link add bn%d type veth peer name bp%d\n", i, i }' > "$TMP/links.b"
	ip -n "$HV" -b "$TMP/links.b" || die "cannot create the NICs"
	gen "$N" "$G" "$R" > "$TMP/l$N.bh"
	ip netns exec "$HV" "$BULKHEAD" --db "$DB" --socket none -f "$TMP/l$N.bh" >/dev/null ||
		die "cannot build the store of size $N"
	lv_start
	dom_xml "$VM" > "$TMP/vm.xml"
	v define "$TMP/vm.xml" >/dev/null || die "virsh define failed"

	# 1. the start hook: on and off, interleaved
	: > "$TMP/on"; : > "$TMP/offt"
	for i in $(seq 10); do
		rm -f "$TMP/off"
		start_ms >> "$TMP/on"; echo >> "$TMP/on"
		v destroy "$VM" >/dev/null
		: > "$TMP/off"
		start_ms >> "$TMP/offt"; echo >> "$TMP/offt"
		v destroy "$VM" >/dev/null
	done
	rm -f "$TMP/off"
	start_on=$(median < "$TMP/on"); start_off=$(median < "$TMP/offt")
	hook_add=$(diff_ms "$start_on" "$start_off")
	hook_wall=$(awk '{ print $1 / 1000 }' "$TMP/wall.log" | median)
	hook_wall99=$(awk '{ print $1 / 1000 }' "$TMP/wall.log" | p99)
	hook_engine=$(awk '$3 == "start" && $4 == "begin" { sub("ms=", "", $6); print $6 }' "$TMP/hook.log" | median)

	# the domain running, the daemon on its libvirtd
	v start "$VM" >/dev/null || die "virsh start failed"
	TAP=$(v domiflist "$VM" | awk '$1 ~ /^vnet/ { print $1; exit }')
	[ -n "$TAP" ] || die "no tap for $VM"
	ip netns exec "$HV" "$BULKHEAD" --db "$DB" daemon --socket "$SOCK" \
		--foreground --libvirt "$URI" > "$TMP/daemon$N.log" 2>&1 &
	DPID=$!
	i=0
	until [ -S "$SOCK" ] && bh "show status" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 200 ] && die "the daemon did not start: $(cat "$TMP/daemon$N.log")"
		sleep 0.05
	done
	lat wait at_moved "$TAP" absent 2000 || die "the VM is already in at_moved"

	# 2. metadata through the libvirt API
	lat meta "$URI" "$VM" at_moved "$TAP" "$RUNS" > "$TMP/meta" ||
		die "metadata rounds failed"
	meta_add=$(awk '$1 == "add" { print $2 }' "$TMP/meta" | median)
	meta_add99=$(awk '$1 == "add" { print $2 }' "$TMP/meta" | p99)
	meta_del=$(awk '$1 == "del" { print $2 }' "$TMP/meta" | median)
	meta_api=$(awk '$1 == "add" { print $3 }' "$TMP/meta" | median)

	# 3. add tag through the daemon, for the VM and for w1
	: > "$TMP/tagvm"; : > "$TMP/tagw"
	for i in $(seq "$RUNS"); do
		lat exec at_moved "$TAP" present "$BULKHEAD" --db "$DB" --socket "$SOCK" \
			-c "add tag $VM moved" >> "$TMP/tagvm" || die "add tag $VM failed"
		bh "delete tag $VM moved" >/dev/null || die "delete tag failed"
		lat wait at_moved "$TAP" absent 5000 || die "the tag did not go"
		lat exec at_moved bn1 present "$BULKHEAD" --db "$DB" --socket "$SOCK" \
			-c "add tag w1 moved" >> "$TMP/tagw" || die "add tag w1 failed"
		bh "delete tag w1 moved" >/dev/null || die "delete tag failed"
		lat wait at_moved bn1 absent 5000 || die "the tag did not go"
	done
	tag_vm=$(awk '{ print $1 }' "$TMP/tagvm" | median)
	tag_vm99=$(awk '{ print $1 }' "$TMP/tagvm" | p99)
	tag_w=$(awk '{ print $1 }' "$TMP/tagw" | median)
	tag_w99=$(awk '{ print $1 }' "$TMP/tagw" | p99)
	tag_exit=$(awk '{ print $2 }' "$TMP/tagw" | median)

	kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=""
	v destroy "$VM" >/dev/null 2>&1
	v undefine "$VM" >/dev/null 2>&1
	lv_stop
	ip netns del "$HV"

	eval "META_$N=$meta_add TAGVM_$N=$tag_vm TAGW_$N=$tag_w HOOK_$N=$hook_add HOOKW_$N=$hook_wall"
	ROWS="$ROWS$(printf '%6s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s' "$N" \
		"$start_off" "$hook_add" "$hook_wall" "$hook_engine" \
		"$meta_add" "$meta_add99" "$tag_vm" "$tag_vm99" "$tag_w" "$tag_w99")
"
	[ -n "$JSON" ] && JSON="$JSON,"
	JSON="$JSON
    {\"workloads\": $N, \"groups\": $G, \"rules\": $R, \"runs\": $RUNS,
     \"virsh_start_ms\": {\"hook_off\": $start_off, \"hook_on\": $start_on, \"added_by_hook\": $hook_add},
     \"hook_ms\": {\"wall_median\": $hook_wall, \"wall_p99\": $hook_wall99, \"engine_median\": $hook_engine},
     \"metadata_to_kernel_ms\": {\"median\": $meta_add, \"p99\": $meta_add99, \"removal_median\": $meta_del, \"api_call_median\": $meta_api},
     \"add_tag_vm_to_kernel_ms\": {\"median\": $tag_vm, \"p99\": $tag_vm99},
     \"add_tag_container_to_kernel_ms\": {\"median\": $tag_w, \"p99\": $tag_w99, \"process_exit_median\": $tag_exit}}"
done

first=${SIZES%% *}; last=${SIZES##* }
r_meta=$(eval ratio "\${META_$last}" "\${META_$first}")
r_tagvm=$(eval ratio "\${TAGVM_$last}" "\${TAGVM_$first}")
r_tagw=$(eval ratio "\${TAGW_$last}" "\${TAGW_$first}")
r_hook=$(eval ratio "\${HOOKW_$last}" "\${HOOKW_$first}")

cat <<EOF

Event to enforcement, ms (median / p99 of $RUNS rounds; start: median of 10):
  start = virsh start with the hook off; +hook = what the hook adds to it;
  hook = the hook binary's wall time; engine = its share inside bulkhead;
  meta = virDomainSetMetadata -> set element; tag = bulkhead -c 'add tag'
  through the daemon -> set element (VM: via the domain's metadata)
     N     start     +hook      hook    engine      meta   meta p99    tag vm  tagvm p99    tag ct  tagct p99
$ROWS
$last/$first ratios: metadata $r_meta, add tag (VM) $r_tagvm, add tag (container) $r_tagw, hook $r_hook
Targets: metadata -> enforced <= 3 ms median; the hook adds <= 20 ms; $last <= 1.5 x $first.
EOF

mkdir -p "$(dirname "$OUT")"
cat > "$OUT" <<EOF
{
  "sizes": [$JSON
  ],
  "ratios_${last}_over_${first}": {"metadata": $r_meta, "add_tag_vm": $r_tagvm,
      "add_tag_container": $r_tagw, "hook_wall": $r_hook},
  "method": "store-only container workloads on real veths for the size; one running QEMU TCG domain under a libvirtd of the benchmark's own in the namespace; the kernel watched with netlink dumps of set at_moved in a tight loop"
}
EOF
say "bench latency: wrote $OUT"
