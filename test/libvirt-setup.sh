#!/bin/sh
# libvirt-setup.sh - prepare and start virtlogd and libvirtd on a Debian
# machine where no init system starts them (CI containers, test VMs), so
# that `virsh -c qemu:///system list` answers and the libvirt tests
# (test/libvirt.test) can define and start QEMU TCG domains.
#
#   sh test/libvirt-setup.sh [--install] [--timeout SECONDS]
#
# Idempotent: safe to run again, and when the daemons already run it only
# checks that the connection answers.  It prints one line per thing it did
# or found.  --install first apt-gets the packages when a program is
# missing (otherwise it names them and fails).  Needs root.
#
# What it does, in order (the package scripts that would normally do part
# of this do not run in these containers, and there is no systemd):
#   1. checks virsh, libvirtd, virtlogd and qemu-system-x86_64 are present;
#   2. makes the directories libvirtd and virtlogd expect;
#   3. makes the kvm and libvirt-qemu groups and the libvirt-qemu user that
#      the Debian build of libvirt runs QEMU as, and the libvirt group its
#      socket may be given to;
#   4. gives /dev/kvm, when there is one, to the kvm group (mode 0660), as
#      udev would: libvirt checks that the QEMU user can open it, and when
#      QEMU's own probe says KVM works but that check fails, libvirt
#      believes its capability cache is always stale and probes QEMU again
#      (seconds each) on nearly every call -- `virsh define` then takes
#      half a minute.  The test domains are type 'qemu' (TCG) either way;
#   5. starts virtlogd, then libvirtd, each with -d unless one is running;
#   6. waits until qemu:///system answers.
# Exit status: 0 when qemu:///system answers, 1 otherwise.
set -u

timeout=30
install=0
while [ $# -gt 0 ]; do
	case "$1" in
	--install) install=1 ;;
	--timeout) shift; timeout=${1:?--timeout needs SECONDS} ;;
	-h|--help) sed -n '2,31p' "$0"; exit 0 ;;
	*) echo "libvirt-setup: unknown option \"$1\" (use --install, --timeout SECONDS)" >&2
	   exit 2 ;;
	esac
	shift
done

PKGS="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86"
URI=qemu:///system

say() { echo "libvirt-setup: $*"; }
die() { echo "libvirt-setup: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (it starts libvirtd and makes system users)"

# 1. programs
missing=
for p in virsh libvirtd virtlogd qemu-system-x86_64; do
	command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$install" -eq 1 ]; then
		say "missing:$missing; installing $PKGS"
		# shellcheck disable=SC2086 # one word per package
		apt-get update -qq &&
		apt-get install -y -qq --no-install-recommends $PKGS ||
			die "apt-get failed; see the messages above"
	else
		die "missing:$missing; run: apt-get install -y --no-install-recommends $PKGS (or rerun with --install)"
	fi
fi

# 2. directories
for d in /var/log/libvirt /var/log/libvirt/qemu /run/libvirt \
         /var/lib/libvirt/qemu /var/cache/libvirt /var/cache/libvirt/qemu; do
	if [ ! -d "$d" ]; then
		mkdir -p "$d" || die "cannot make $d"
		say "made $d"
	fi
done

# 3. groups and the user QEMU runs as
for g in kvm libvirt-qemu libvirt; do
	if ! getent group "$g" >/dev/null; then
		groupadd -r "$g" || die "groupadd $g failed"
		say "made group $g"
	fi
done
if ! getent passwd libvirt-qemu >/dev/null; then
	useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin \
		libvirt-qemu || die "useradd libvirt-qemu failed"
	say "made user libvirt-qemu"
fi

# 4. /dev/kvm
if [ -c /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" != kvm ]; then
	chgrp kvm /dev/kvm && chmod 0660 /dev/kvm ||
		die "cannot give /dev/kvm to group kvm"
	say "gave /dev/kvm to group kvm (mode 0660)"
fi

# 5. daemons.  Run as root with -d they write /run/NAME.pid.  A pid file
# whose process is gone is stale (a container restarted): the daemon
# refuses to start over it, so it goes.
# Without an init that reaps them, dead daemons linger as zombies, which
# pgrep and kill -0 still see: a process counts only when not one.
alive() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
}
running() {
	pidfile=/run/$1.pid
	# The pid file's process, if it is still that daemon (pids are reused).
	if [ -s "$pidfile" ]; then
		pid=$(cat "$pidfile")
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && alive "$pid" &&
			return 0
	fi
	# No pgrep in minimal images: read /proc.
	for comm in /proc/[0-9]*/comm; do
		[ "$(cat "$comm" 2>/dev/null)" = "$1" ] || continue
		pid=${comm#/proc/}
		alive "${pid%/comm}" && return 0
	done
	return 1
}
start() {
	if running "$1"; then
		say "$1 already running"
		return 0
	fi
	rm -f "/run/$1.pid"
	# Messages about systemd and D-Bus are expected here: neither exists.
	"$1" -d >/dev/null 2>&1 || die "$1 -d failed; run '$1 -v' to see why"
	say "started $1"
}
start virtlogd
start libvirtd

# 6. wait for the connection
i=0
while ! virsh -q -c "$URI" list >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -gt $((timeout * 10)) ]; then
		virsh -c "$URI" list >&2
		die "$URI does not answer after ${timeout}s"
	fi
	sleep 0.1
done
say "$URI answers (after $((i / 10)).$((i % 10))s)"
exit 0
