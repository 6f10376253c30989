#!/bin/sh
# bulkhead's libvirt qemu hook, installed by `make install` as
# /etc/libvirt/hooks/qemu.d/bulkhead (libvirt >= 6.5 runs every executable
# there, beside any /etc/libvirt/hooks/qemu of someone else's).  libvirtd
# runs it at each step of a domain's life with the domain XML on standard
# input; at `start begin` bulkhead puts the domain's NICs under its policy
# before QEMU starts, and a failure there stops the domain from starting
# (see bulkhead(8), HOOK).  libvirtd notices a hook that was not there when
# it started only on reload: `systemctl reload libvirtd` or
# `kill -HUP $(cat /run/libvirtd.pid)`.
#
# Only the phases bulkhead acts on start it: loading the binary costs some
# 10 ms, and libvirt runs its hooks several times per start and stop.
case "$2 $3" in
"start begin"|"stopped end"|"release end")
	exec @SBINDIR@/bulkhead hook qemu "$@" ;;
esac
exit 0
