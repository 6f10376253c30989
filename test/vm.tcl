# vm.tcl - tiny QEMU TCG domains for the libvirt tests.
#
#      source [file join $::T(testdir) vm.tcl]
#
# The domains are as small as libvirt allows: type 'qemu' (TCG, no KVM
# needed), 32 MiB, one vCPU, no disk, no graphics, no USB, no balloon,
# and interfaces of type 'ethernet' (a bare tap, no bridge or network to
# set up).  They start in about 0.3 s and make a tap vnetN per
# interface.  With no guest OS they cannot take part in a hot-unplug (the
# guest must eject the device), so only hot-plug is offered.  Names are bhx-<pid>-<n>, so that the
# domains of a test run are known to be its own.
#
#      vm_unavailable                  "" when libvirt can be used, else why
#      vm_define    ?-nics N? ?-target DEVS? ?-os ID? ?-tags TAGS?
#                   ?-suffix TEXT?     define a domain; returns its name
#      vm_name      ?SUFFIX?           a fresh name bhx-<pid>-<n>SUFFIX
#      vm_start     NAME               virsh start
#      vm_destroy   NAME               virsh destroy (hard stop)
#      vm_undefine  NAME               destroy when running, then undefine
#      vm_attach_nic NAME              hot-plug one more ethernet interface
#      vm_nics      NAME               {{DEV MAC} ...} of the live domain,
#                                      from `virsh domiflist`
#      vm_uuid      NAME               its uuid
#      vm_state     NAME               `virsh domstate`
#      virsh        ARGS...            run virsh on $::VM(uri), return its
#                                      output; an error when it fails
#      vm_cleanup                      destroy and undefine every domain
#                                      made here, and any bhx-<pid>-* left
#                                      by a test process that is gone
#
# -target gives each interface a <target dev> (a name not starting with
# vnet is kept by libvirt); -os writes libosinfo metadata with that id;
# -tags writes bulkhead's metadata (urn:bulkhead:metadata:1); -suffix
# is appended to the name (XML-escaped), to make names bulkhead refuses.
#
# vm_define registers vm_cleanup with at_cleanup the first time in a test
# file, so the domains go when the file ends, also when it failed half-way;
# leftovers of a crashed run are removed by the next run's first
# vm_define.

if {[info exists ::vm_loaded]} return
set ::vm_loaded 1

set ::VM(uri) qemu:///system
set ::VM(n) 0
set ::VM(made) {}
set ::VM(registered) 0

proc virsh {args} {
  exec -ignorestderr virsh -q -c $::VM(uri) {*}$args 2>@1
}

proc vm_unavailable {} {
  if {[exec id -u] != 0} { return "not root" }
  foreach p {virsh qemu-system-x86_64} {
    if {![have_program $p]} {
      return "$p is not installed (apt-get install libvirt-clients qemu-system-x86)"
    }
  }
  if {[catch {exec virsh -q -c $::VM(uri) list 2>@1} msg]} {
    return "libvirtd does not answer at $::VM(uri) (start it with test/libvirt-setup.sh): [lindex [split $msg \n] 0]"
  }
  return ""
}

# The domain XML vm_define writes.
proc vm_xml {name nics targets os tags} {
  set x "<domain type='qemu'>\n  <name>$name</name>\n"
  append x "  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n"
  if {$os ne "" || [llength $tags]} {
    append x "  <metadata>\n"
    if {$os ne ""} {
      append x "    <libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\">\n"
      append x "      <libosinfo:os id=\"$os\"/>\n"
      append x "    </libosinfo:libosinfo>\n"
    }
    if {[llength $tags]} {
      append x "    <bulkhead:tags xmlns:bulkhead=\"urn:bulkhead:metadata:1\">\n"
      foreach t $tags { append x "      <bulkhead:tag>$t</bulkhead:tag>\n" }
      append x "    </bulkhead:tags>\n"
    }
    append x "  </metadata>\n"
  }
  # ACPI: without it the PCI bus takes no hot-plugged NIC.
  append x "  <features><acpi/></features>\n"
  append x "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
  append x "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
  append x "    <controller type='usb' model='none'/>\n"
  for {set i 0} {$i < $nics} {incr i} {
    append x "    <interface type='ethernet'>\n"
    if {$i < [llength $targets]} {
      append x "      <target dev='[lindex $targets $i]'/>\n"
    }
    # No option ROM: nothing to boot from the network, and a faster start.
    append x "      <model type='virtio'/>\n      <rom enabled='no'/>\n"
    append x "    </interface>\n"
  }
  append x "    <memballoon model='none'/>\n  </devices>\n</domain>\n"
  return $x
}

proc vm_define {args} {
  set nics 1
  set targets {}
  set os {}
  set tags {}
  set suffix {}
  foreach {o v} $args {
    switch -- $o {
      -nics   { set nics $v }
      -target { set targets $v }
      -os     { set os $v }
      -tags   { set tags $v }
      -suffix { set suffix $v }
      default { error "vm_define: unknown option \"$o\"" }
    }
  }
  if {!$::VM(registered)} {
    vm_cleanup
    at_cleanup vm_cleanup
    set ::VM(registered) 1
  }
  set name [vm_name $suffix]
  set f [file join [tmpdir vm] vm$::VM(n).xml]
  write_file $f [vm_xml [string map {& &amp; < &lt; > &gt;} $name] \
      $nics $targets $os $tags]
  lappend ::VM(made) $name
  virsh define $f
  return $name
}

proc vm_name {{suffix {}}} {
  return bhx-[pid]-[incr ::VM(n)]$suffix
}

proc vm_start {name} { virsh start $name }
proc vm_destroy {name} { virsh destroy $name }
proc vm_state {name} { string trim [virsh domstate $name] }
proc vm_uuid {name} { string trim [virsh domuuid $name] }

proc vm_undefine {name} {
  if {[vm_state $name] ne "shut off"} { catch {virsh destroy $name} }
  virsh undefine $name
}

proc vm_attach_nic {name} {
  set f [file join [tmpdir vm] $name-nic-[incr ::VM(n)].xml]
  write_file $f "<interface type='ethernet'><model type='virtio'/><rom enabled='no'/></interface>"
  virsh attach-device $name $f --live
}

proc vm_nics {name} {
  set out {}
  foreach line [split [virsh domiflist $name] \n] {
    # Interface  Type  Source  Model  MAC
    set f [regexp -all -inline {\S+} $line]
    if {[llength $f] == 5 && [regexp {^([0-9a-f]{2}:){5}[0-9a-f]{2}$} [lindex $f 4]]} {
      lappend out [list [lindex $f 0] [lindex $f 4]]
    }
  }
  return $out
}

# Destroy and undefine the domains this process made, and those of test
# processes that no longer run.  Never fails: it runs from cleanup.
proc vm_cleanup {} {
  set names $::VM(made)
  if {![catch {exec virsh -q -c $::VM(uri) list --all --name 2>/dev/null} all]} {
    foreach n [split $all \n] {
      set n [string trim $n]
      if {[regexp {^bhx-(\d+)-\d+(\D.*)?$} $n -> p] &&
          ($p == [pid] || ![file exists /proc/$p])} {
        lappend names $n
      }
    }
  }
  foreach n [lsort -unique $names] {
    catch {exec virsh -q -c $::VM(uri) destroy $n 2>/dev/null}
    catch {exec virsh -q -c $::VM(uri) undefine $n 2>/dev/null}
  }
  set ::VM(made) {}
  set ::VM(registered) 0
}

#-------------------------------------------------------------------------
# A real guest: a Debian kernel booting a busybox initramfs under TCG,
# for tests that need a guest's own traffic.
#
#      vm_guest_unavailable            "" when an image can be had, else why
#      vm_guest_image                  {KERNEL INITRD}, built once and cached
#      vm_guest_define -bridge BR -addr ADDR/LEN -peer ADDR -console FILE
#                      ?-tags TAGS?    define it; returns its name
#
# The image is built from Debian packages fetched with `apt-get download`
# (nothing is installed): linux-image-amd64's kernel (its vmlinuz and
# e1000.ko; virtio is a module in that kernel, e1000 needs only this one)
# and busybox-static.  The initramfs is written here (newc cpio, gzip:
# no cpio program needed).  It is kept in $::VM(cache)
# (/var/cache/bulkhead-test by default, env BULKHEAD_TEST_CACHE), so only
# the first run downloads (about 72 MB).
#
# The guest's /init loads e1000.ko, gives eth0 the address of bhx.addr= on
# the kernel command line and, as soon as the link is up, pings bhx.peer=,
# then once a second
# for ever, printing to ttyS0 one line per ping:
#      bhx-guest: ping N ok      bhx-guest: ping N lost
# after "bhx-guest: eth0 ADDR up, pinging PEER".  The domain: 128 MiB, one
# vCPU, direct kernel boot, one e1000 interface on bridge BR (type
# 'bridge': libvirt makes the tap and enslaves it), ttyS0 into FILE.  Its
# first ping comes some 5-10 s after `virsh start` under TCG.

set ::VM(cache) [expr {[info exists ::env(BULKHEAD_TEST_CACHE)] ?
    $::env(BULKHEAD_TEST_CACHE) : "/var/cache/bulkhead-test"}]

proc vm_guest_unavailable {} {
  if {[file exists [file join $::VM(cache) guest initrd.gz]]} { return "" }
  foreach p {apt-get apt-cache dpkg-deb tar} {
    if {![have_program $p]} { return "$p is not installed" }
  }
  if {[catch {vm_guest_kernel_pkg} msg]} { return $msg }
  return ""
}

# The versioned package linux-image-amd64 depends on.
proc vm_guest_kernel_pkg {} {
  set out [exec apt-cache depends linux-image-amd64 2>/dev/null]
  if {![regexp {Depends: (linux-image-[0-9][^\s]*-amd64)} $out -> pkg]} {
    error "no linux-image-amd64 in the apt lists (run apt-get update)"
  }
  return $pkg
}

# One newc cpio entry.
proc vm_cpio_entry {name mode data {rdev {0 0}}} {
  set n [string length $name]
  set h [format "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" \
      [incr ::VM(ino)] $mode 0 0 1 0 [string length $data] 0 0 \
      [lindex $rdev 0] [lindex $rdev 1] [expr {$n + 1}] 0]
  set b [binary format a*a*x $h $name]
  append b [string repeat \0 [expr {(4 - [string length $b] % 4) % 4}]]
  append b $data
  append b [string repeat \0 [expr {(4 - [string length $data] % 4) % 4}]]
  return $b
}

proc vm_read_bin {path} {
  set f [open $path rb]
  set d [read $f]
  close $f
  return $d
}

set ::VM(init) {#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for w in $(cat /proc/cmdline); do
  case "$w" in
  bhx.addr=*) addr=${w#bhx.addr=} ;;
  bhx.peer=*) peer=${w#bhx.peer=} ;;
  esac
done
insmod /e1000.ko
ip link set lo up
ip link set eth0 up
ip addr add "$addr" dev eth0
n=0
while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $n -lt 50 ]; do
  sleep 0.1
  n=$((n + 1))
done
echo "bhx-guest: eth0 $addr up, pinging $peer"
i=0
while :; do
  i=$((i + 1))
  if ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then
    echo "bhx-guest: ping $i ok"
    sleep 1
  else
    echo "bhx-guest: ping $i lost"
  fi
done
}

proc vm_guest_image {} {
  set dir [file join $::VM(cache) guest]
  set kernel [file join $dir vmlinuz]
  set initrd [file join $dir initrd.gz]
  if {[file exists $initrd] && [file exists $kernel]} {
    return [list $kernel $initrd]
  }
  set why [vm_guest_unavailable]
  if {$why ne ""} { error "no guest image: $why" }
  set work [file join $::VM(cache) build-[pid]]
  file delete -force $work
  file mkdir $work/x
  set pkg [vm_guest_kernel_pkg]
  exec sh -c "cd '$work' && apt-get download -q $pkg busybox-static" 2>@1
  set kdeb [glob $work/linux-image-*.deb]
  set bdeb [glob $work/busybox-static*.deb]
  exec sh -c "dpkg-deb --fsys-tarfile '$kdeb' | tar -x -C '$work/x' --wildcards './boot/vmlinuz-*' '*/e1000/e1000.ko'"
  exec sh -c "dpkg-deb --fsys-tarfile '$bdeb' | tar -x -C '$work/x' ./bin/busybox"
  set ::VM(ino) 0
  set c ""
  foreach d {bin dev proc sys} {
    append c [vm_cpio_entry $d [expr {040755}] ""]
  }
  append c [vm_cpio_entry dev/console [expr {020600}] "" {5 1}]
  append c [vm_cpio_entry bin/busybox [expr {0100755}] [vm_read_bin $work/x/bin/busybox]]
  append c [vm_cpio_entry e1000.ko [expr {0100644}] \
      [vm_read_bin [lindex [glob $work/x/lib/modules/*/kernel/drivers/net/ethernet/intel/e1000/e1000.ko] 0]]]
  append c [vm_cpio_entry init [expr {0100755}] [encoding convertto utf-8 $::VM(init)]]
  append c [vm_cpio_entry TRAILER!!! 0 ""]
  file mkdir $dir
  set f [open $initrd.tmp wb]
  puts -nonewline $f [zlib gzip $c]
  close $f
  file copy -force [lindex [glob $work/x/boot/vmlinuz-*] 0] $kernel.tmp
  file rename -force $kernel.tmp $kernel
  file rename -force $initrd.tmp $initrd
  file delete -force $work
  return [list $kernel $initrd]
}

proc vm_guest_define {args} {
  array set o {-tags {} -bridge {} -addr {} -peer {} -console {}}
  array set o $args
  lassign [vm_guest_image] kernel initrd
  if {!$::VM(registered)} {
    vm_cleanup
    at_cleanup vm_cleanup
    set ::VM(registered) 1
  }
  set name [vm_name]
  set x "<domain type='qemu'>\n  <name>$name</name>\n"
  append x "  <memory unit='MiB'>128</memory>\n  <vcpu>1</vcpu>\n"
  if {[llength $o(-tags)]} {
    append x "  <metadata>\n    <bulkhead:tags xmlns:bulkhead=\"urn:bulkhead:metadata:1\">\n"
    foreach t $o(-tags) { append x "      <bulkhead:tag>$t</bulkhead:tag>\n" }
    append x "    </bulkhead:tags>\n  </metadata>\n"
  }
  append x "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n"
  append x "    <kernel>$kernel</kernel>\n    <initrd>$initrd</initrd>\n"
  append x "    <cmdline>console=ttyS0 quiet panic=-1 bhx.addr=$o(-addr) bhx.peer=$o(-peer)</cmdline>\n  </os>\n"
  append x "  <features><acpi/></features>\n  <on_reboot>destroy</on_reboot>\n"
  append x "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
  append x "    <controller type='usb' model='none'/>\n"
  append x "    <interface type='bridge'>\n      <source bridge='$o(-bridge)'/>\n"
  append x "      <model type='e1000'/>\n      <rom enabled='no'/>\n    </interface>\n"
  append x "    <serial type='file'>\n      <source path='$o(-console)'/>\n      <target port='0'/>\n    </serial>\n"
  append x "    <memballoon model='none'/>\n  </devices>\n</domain>\n"
  set f [file join [tmpdir vm] $name.xml]
  write_file $f $x
  lappend ::VM(made) $name
  virsh define $f
  return $name
}
