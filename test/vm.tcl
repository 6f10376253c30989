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
