# lab.tcl - namespace labs for the enforcement tests: real packets, real
# kernel, nothing outside namespaces this file creates.
#
# A lab is one "hypervisor" network namespace holding a bridge and the host
# ends of veth pairs, plus one namespace per workload holding the other end
# (named eth0) with addresses from 10.213.0.0/16 and fd00:bd::/64.  bulkhead
# manages the namespace it runs in, so every bulkhead command of a lab runs
# inside the lab's hypervisor namespace (`ip netns exec HV bulkhead ...`)
# and its table lives there, gone with the namespace.
#
#      lab_create N ?-nomac?    build a lab of N workloads; returns its name
#      lab_register LAB ?I...?  add workloads wI with their NICs to the store
#      lab_bh LAB LINE          run LINE with the real binary in the lab;
#                               returns stdout, raises stderr on failure
#      lab_hv LAB CMD...        run a command in the hypervisor namespace
#      lab_in LAB I CMD...      run a command in workload I's namespace
#      lab_addr LAB I ?-6?      workload I's address
#      lab_ping LAB I J ?-6?    1 when I's ping reaches J and comes back
#      lab_tcp LAB I J PORT ?-6? ?-src ADDR?
#                               ok | refused | unreachable | reset | timeout
#      lab_udp LAB I J PORT ?-6?
#                               ok | refused | unreachable | timeout
#      lab_serve LAB J PORT ?tcp|udp|echo?
#                               start a server in J (stopped at cleanup)
#      lab_connect LAB I J PORT  open a long-lived TCP connection to an echo
#                               server; returns a channel
#      lab_say CHAN TEXT        send a line, return the echo ("" on timeout)
#      lab_counter LAB NAME     packets of named counter NAME
#      lab_nft LAB ARGS...      nft in the hypervisor namespace
#
# Everything a lab makes (namespaces, servers, channels) is removed by
# at_cleanup scripts, so a test file that fails half-way leaves nothing.
# Workload I: namespace bhx-PID-LK-wI, host interface wI (in the lab's
# hypervisor namespace), MAC 02:bd:00:00:00:0I, 10.213.0.I/24,
# fd00:bd::I/64.  Workload names in the store are wI as well.
#
# Needs root, iproute2, nftables, socat and ping (Debian: iproute2 nftables
# socat iputils-ping).

set ::LAB(n) 0

proc lab_ns {lab what} {
  return "$lab-$what"
}

proc lab_create {n args} {
  set lab "bhx-[pid]-L[incr ::LAB(n)]"
  set hv [lab_ns $lab hv]
  set ::LAB($lab,n) $n
  set ::LAB($lab,db) [file join [tmpdir -$lab] bulkhead.db]
  set ::LAB($lab,servers) {}
  set ::LAB($lab,chans) {}
  at_cleanup [list lab_destroy $lab]
  exec ip netns add $hv
  exec ip -n $hv link set lo up
  exec ip -n $hv link add br0 type bridge
  exec ip -n $hv link set br0 up
  for {set i 1} {$i <= $n} {incr i} {
    set ns [lab_ns $lab w$i]
    exec ip netns add $ns
    # No IPv6 router solicitations: nothing here answers them, and the
    # default would count and log them at random moments in every test
    exec ip netns exec $ns sh -c \
        {echo 0 > /proc/sys/net/ipv6/conf/default/router_solicitations}
    # Another process adding or deleting namespaces at the same moment
    # can make the kernel refuse the fresh one ("Peer netns reference
    # is invalid"); it takes it a moment later.
    for {set try 0} {1} {incr try} {
      if {![catch {exec ip -n $hv link add w$i type veth peer name eth0 \
                       netns $ns} err] || $try >= 5} break
      after 100
    }
    if {$try >= 5} { error $err }
    exec ip -n $hv link set w$i master br0 up
    exec ip -n $ns link set lo up
    if {[lsearch $args -nomac] < 0} {
      exec ip -n $ns link set eth0 address [lab_mac $i]
    }
    exec ip -n $ns link set eth0 up
    exec ip -n $ns addr add 10.213.0.$i/24 dev eth0
    # nodad: the address is usable at once; the tests run DAD-free.
    exec ip -n $ns addr add fd00:bd::$i/64 dev eth0 nodad
  }
  # Link-local addresses come up with the link; wait until they are no
  # longer tentative so ND works from the first test.
  for {set t 0} {$t < 50} {incr t} {
    set tentative 0
    for {set i 1} {$i <= $n} {incr i} {
      if {[string match *tentative* [exec ip -n [lab_ns $lab w$i] -6 addr show dev eth0]]} {
        set tentative 1
      }
    }
    if {!$tentative} break
    after 100
  }
  return $lab
}

proc lab_destroy {lab} {
  foreach c $::LAB($lab,chans) { catch {close $c} }
  # A forked server child whose connection the policy cut never sees the
  # end of it: stop the children (by the server's pid) and the server.
  foreach p $::LAB($lab,servers) {
    if {![catch {exec pgrep -P $p} kids]} {
      foreach k $kids { catch {exec kill $k} }
    }
    catch {exec kill $p}
  }
  for {set i 1} {$i <= $::LAB($lab,n)} {incr i} {
    catch {exec ip netns del [lab_ns $lab w$i]}
  }
  catch {exec ip netns del [lab_ns $lab hv]}
}

proc lab_mac {i} {
  format "02:bd:00:00:00:%02x" $i
}

proc lab_addr {lab i {fam {}}} {
  if {$fam eq "-6"} { return fd00:bd::$i }
  return 10.213.0.$i
}

proc lab_hv {lab args} {
  exec ip netns exec [lab_ns $lab hv] {*}$args
}

proc lab_in {lab i args} {
  exec ip netns exec [lab_ns $lab w$i] {*}$args
}

proc lab_nft {lab args} {
  lab_hv $lab nft {*}$args
}

# Run LINE with the real binary inside the lab's hypervisor namespace.
proc lab_bh {lab line} {
  set saved $::T(prefix)
  set ::T(prefix) [list ip netns exec [lab_ns $lab hv]]
  set rc [catch {shell_run [list --db $::LAB($lab,db) -c $line]} r]
  set ::T(prefix) $saved
  if {$rc} { error $r }
  lassign $r code out err
  if {$code != 0} {
    error [string trim [regsub {^error: } [string trim $err] {}]]
  }
  return [string trim $out]
}

proc lab_register {lab args} {
  if {![llength $args]} {
    for {set i 1} {$i <= $::LAB($lab,n)} {incr i} { lappend args $i }
  }
  set cmds {}
  foreach i $args {
    lappend cmds "add workload w$i kind container netns [lab_ns $lab w$i]"
    lappend cmds "add nic w$i w$i mac [lab_mac $i] address 10.213.0.$i,fd00:bd::$i"
  }
  lab_bh $lab [join $cmds "; "]
}

proc lab_ping {lab i j {fam {}}} {
  set cmd [list ping -c 1 -W 1]
  if {$fam eq "-6"} { lappend cmd -6 }
  expr {[catch {lab_in $lab $i {*}$cmd [lab_addr $lab $j $fam]}] == 0}
}

# Servers: tcp answers "hello" and closes; udp answers "pong"; echo
# copies lines back (for long-lived connections).
proc lab_serve {lab j port {kind tcp} {fam {}}} {
  set ns [lab_ns $lab w$j]
  set pf [expr {$fam eq "-6" ? "6" : "4"}]
  # separate v4 and v6 servers on one port: the v6 one must not claim v4
  set v6only [expr {$fam eq "-6" ? ",ipv6only=1" : ""}]
  switch -- $kind {
    tcp  {
      # read the client's line first: closing with unread data would
      # send a reset that can overtake the answer
      set spec [list TCP$pf-LISTEN:$port,reuseaddr,fork$v6only "SYSTEM:read l; echo hello"]
    }
    udp  { set spec [list UDP$pf-RECVFROM:$port,reuseaddr,fork$v6only SYSTEM:echo\ pong] }
    echo { set spec [list -T 60 TCP$pf-LISTEN:$port,reuseaddr,fork$v6only PIPE] }
  }
  set pid [exec ip netns exec $ns socat {*}$spec >/dev/null 2>/dev/null &]
  lappend ::LAB($lab,servers) $pid
  after 150
  return $pid
}

# Classify a socat client's outcome.
proc lab_outcome {rc out err want} {
  if {$rc == 0 && [string match *$want* $out]} { return ok }
  if {[string match {*Connection refused*} $err]} { return refused }
  if {[string match {*reset by peer*} $err]} { return reset }
  if {[string match {*No route to host*} $err] ||
      [string match {*unreachable*} $err] ||
      [string match {*Permission denied*} $err] ||
      [string match {*prohibited*} $err]} { return unreachable }
  return timeout
}

proc lab_client {lab i spec want} {
  set ns [lab_ns $lab w$i]
  set rc [catch {exec echo ping | timeout 5 ip netns exec $ns socat -t2 -T3 - $spec 2>@1} out]
  set ::LAB(last) $out
  lab_outcome $rc $out $out $want
}

proc lab_tcp {lab i j port args} {
  set fam [expr {[lsearch $args -6] >= 0 ? "-6" : ""}]
  set opt ""
  if {[set k [lsearch $args -src]] >= 0} {
    set opt ",bind=[lindex $args [expr {$k + 1}]]"
  }
  set a [lab_addr $lab $j $fam]
  if {$fam eq "-6"} { set a "\[$a\]" }
  lab_client $lab $i "TCP:$a:$port,connect-timeout=2$opt" hello
}

proc lab_udp {lab i j port args} {
  set fam [expr {[lsearch $args -6] >= 0 ? "-6" : ""}]
  set a [lab_addr $lab $j $fam]
  if {$fam eq "-6"} { set a "\[$a\]" }
  lab_client $lab $i "UDP:$a:$port" pong
}

# A long-lived connection from I to J's echo server on PORT.
proc lab_connect {lab i j port} {
  set ns [lab_ns $lab w$i]
  set c [open "|ip netns exec $ns socat - TCP:[lab_addr $lab $j]:$port,connect-timeout=2 2>@1" r+]
  fconfigure $c -buffering line -blocking 0
  lappend ::LAB($lab,chans) $c
  return $c
}

proc lab_say {c text {ms 2000}} {
  puts $c $text
  set deadline [expr {[clock milliseconds] + $ms}]
  set got ""
  while {[clock milliseconds] < $deadline} {
    if {[gets $c line] >= 0} { return $line }
    if {[eof $c]} { return "" }
    after 20
  }
  return ""
}

proc lab_counter {lab name} {
  set t [lab_nft $lab list counter netdev bulkhead $name]
  if {[regexp {packets (\d+)} $t -> p]} { return $p }
  return -1
}
