# tester.tcl - the bulkhead test harness.
#
# Every test/NAME.test file starts with
#
#      source [file join [file dirname [info script]] tester.tcl]
#
# and ends with `finish_test`.  The files run in the testfixture (a tclsh
# with the engine linked in, src/tclbulkhead.c), together through
# test/all.tcl or one at a time:
#
#      build/testfixture test/all.tcl ?FILE.test ...? ?-match GLOB? ?-v?
#      build/testfixture test/policy.test ?-match GLOB? ?-v?
#
# -match runs only the tests whose names match GLOB (repeatable); -v
# prints every test as it passes.  The last line of a run is
# `N passed, N failed`; the exit status is 1 when anything failed.
#
# Test names are FILE-GROUP.CASE (policy-3.2: file policy.test, group 3,
# case 2).  A name used twice in one run is itself a failure.
#
# Commands to run test cases:
#
#      do_test          NAME SCRIPT EXPECTED
#      do_catch_test    NAME SCRIPT EXPECTED
#      do_engine_test   NAME ?-engine E? ?-json? LINE EXPECTED
#      do_refused_test  NAME ?-engine E? LINE EXPECTED
#      do_shell_test    NAME ARGS ?STDIN? EXPECTED
#      omit_test        NAME REASON
#
#   do_test evaluates SCRIPT in the caller's scope and compares its result
#   with EXPECTED.  An error raised by SCRIPT fails the test.
#
#   How EXPECTED is compared (here and in every do_* command):
#      /RE/        the result must match the regular expression RE
#      *GLOB  GLOB*  (a * first or last) the result must match the glob
#                  pattern (string match: escape [ ] ? \ * in it); a
#                  lone * accepts anything
#      ~/RE/ ~*G*  the result must NOT match
#      otherwise   the result must be equal, character for character.
#   An EXPECTED that begins with a newline is a block of text: that
#   newline, the blank last line and the indentation common to all its
#   lines are removed first, so multi-line outputs can be written indented.
#
#   do_catch_test compares {CODE MESSAGE} from catch: {0 result} or
#   {1 {error message}}.  CODE is compared exactly, MESSAGE by the rules
#   above.
#
#   do_engine_test runs LINE in an engine (see engine_open; the default
#   engine is `db`) and compares its output, or "error: MESSAGE" when the
#   command failed, as the shell would print it.  -json asks for JSON.
#
#   do_refused_test runs LINE, which must fail, and compares its error
#   MESSAGE (without "error: ") with EXPECTED; it also checks that the
#   command left the store as it was (the candidate config, the diff, the
#   inventory and the history): when anything changed, the failure report
#   says what.
#
#   do_shell_test runs the real binary ($env(BULKHEAD), set by `make test`)
#   with the arguments of the list ARGS, with STDIN as its standard input
#   (/dev/null when not given), and compares the list {EXIT STDOUT STDERR}
#   with EXPECTED, a list of three elements compared one by one by the rules
#   above: `*` leaves one unchecked.  STDOUT and STDERR lose one final
#   newline before the comparison (shell_run gives them raw).  A binary that
#   runs longer than 60 s is killed and its EXIT reads 124; one killed by a
#   signal reads "signal SIGSEGV" and so on.  ARGS must not start with
#   < > | 2> (Tcl's exec would take them for redirections).
#
#   omit_test records that a test did not run and why (printed, counted
#   neither passed nor failed).
#
# Engines and the binary:
#
#      engine_open  NAME ?-db PATH? ?-user USER?   (closed when the file ends)
#      bh           LINE ?-json?       run LINE in the default engine
#      use_engine   NAME               make NAME the default engine
#      engine_snapshot ?E?             the state do_refused_test compares
#      shell_run    ARGS ?STDIN?       {EXIT STDOUT STDERR}, raw
#      as_user      USER GROUP SCRIPT  the binary runs as USER:GROUP (with
#                                      setpriv) while SCRIPT runs; root only
#      bulkhead_bin                    path of the binary
#
# Temporary files (under test/tmp/run-PID/, removed when the file ends,
# also when it failed; the run's directory goes at the end of the run):
#
#      tmpdir       ?TAG?              a new empty directory
#      new_store    ?TAG?              path of a store not yet created
#      write_file   PATH TEXT          write TEXT (no newline added)
#      read_file    PATH
#
# Environment and skipping:
#
#      with_env     {VAR VALUE ...} SCRIPT   VALUE "-" unsets VAR
#      require_root                    skip the rest of the file unless root
#      have_program NAME               1 when NAME is on PATH
#      at_cleanup   SCRIPT             run when the file ends, also after a
#                                      failure (tmux servers...)
#
# Data:
#
#      json_parse   TEXT               JSON to Tcl: object -> dict, array ->
#                                      list, true/false/null as those words;
#                                      raises an error on malformed JSON
#      json_get     VALUE KEY...       walk a parsed document: an integer
#                                      KEY indexes a list, others a dict
#      json_pluck   LIST KEY           KEY of each object of LIST
#      jeval        LINE KEY...        json_get of LINE's -json output in
#                                      the default engine
#      store_sql    PATH SQL           run SQL on a store with the sqlite3
#                                      program (to fake what no command
#                                      can do: a future schema, time
#                                      passing); see have_program
#      dedent       TEXT               the text-block rule above
#      re_quote     TEXT               TEXT as a regexp matching itself
#      table_rows   TEXT               a `show` table as a list of rows, each
#                                      a list of cells (cells are separated
#                                      by two or more blanks; the header is
#                                      row 0; lines that start with a blank,
#                                      notes under a row, are left out)
#      table_column TEXT HEADING       the cells under HEADING, header left out
#      lines        TEXT ?I? ?J?       the list of lines of TEXT; with I the
#                                      line I, with I J the lines I to J
#
# Command run at the end of each test file:
#
#      finish_test                     marks the file complete (a file that
#                                      stops before it counts a failure);
#                                      the driver then closes its engines,
#                                      runs its cleanups and removes its
#                                      temporary files
#
# The harness runs with a known environment: SSH_CLIENT, SSH_CONNECTION,
# SUDO_USER and BULKHEAD_USER are unset (tests that need them set them with
# with_env), and BULKHEAD_DB points into test/tmp so that nothing can reach
# the system's default store by accident.  ::T(user) is the user name the
# engine will record.

if {[info exists ::tester_loaded]} return
set ::tester_loaded 1

#-------------------------------------------------------------------------
# Run state.
#
set ::T(testdir)  [file normalize [file dirname [info script]]]
# Each run has a directory of its own, so that two runs in one tree
# (two engineers, or make test beside an editor's run) never meet.
set ::T(tmproot)  [file join $::T(testdir) tmp]
set ::T(tmp)      [file join $::T(tmproot) run-[pid]]
set ::T(npass)    0
set ::T(nfail)    0
set ::T(nomit)    0
set ::T(failures) {}
set ::T(match)    {}
set ::T(verbose)  0
set ::T(file)     {}
set ::T(engine)   db
set ::T(ntmp)     0
set ::T(prefix)   {}
array set ::T_names {}
# Per-file state, reset by tester_file_begin.
set ::T(engines)  {}
set ::T(tmpdirs)  {}
set ::T(cleanups) {}
set ::T(skipped)  0

# Arguments to the binary and its output are UTF-8 whatever the locale.
encoding system utf-8
foreach v {SSH_CLIENT SSH_CONNECTION SUDO_USER BULKHEAD_USER} {
  unset -nocomplain ::env($v)
}
set ::T(user) [exec id -un]
file mkdir $::T(tmp)
set ::env(BULKHEAD_DB) [file join $::T(tmp) default-store bulkhead.db]

#-------------------------------------------------------------------------
# Comparing.
#
proc dedent {text} {
  if {[string index $text 0] ne "\n"} { return $text }
  set ls [split [string range $text 1 end] "\n"]
  if {[llength $ls] > 0 && [string trim [lindex $ls end]] eq ""} {
    set ls [lrange $ls 0 end-1]
  }
  set indent -1
  foreach l $ls {
    if {[string trim $l] eq ""} continue
    regexp {^[ \t]*} $l lead
    set n [string length $lead]
    if {$indent < 0 || $n < $indent} { set indent $n }
  }
  if {$indent < 0} { set indent 0 }
  set out {}
  foreach l $ls { lappend out [string range $l $indent end] }
  return [join $out "\n"]
}

# The kind of comparison EXPECTED asks for: regexp, glob or exact.
proc tester_kind {expected} {
  if {[string length $expected] >= 2 && [string index $expected 0] eq "/"
      && [string index $expected end] eq "/"} {
    return regexp
  }
  if {[string index $expected 0] eq "*" || [string index $expected end] eq "*"} {
    return glob
  }
  return exact
}

# 1 when GOT satisfies EXPECTED (the rules at the top of this file).
proc tester_match {expected got} {
  set expected [dedent $expected]
  set negate 0
  if {[string index $expected 0] eq "~"
      && [tester_kind [string range $expected 1 end]] ne "exact"} {
    set negate 1
    set expected [string range $expected 1 end]
  }
  switch -- [tester_kind $expected] {
    regexp { set ok [regexp -- [string range $expected 1 end-1] $got] }
    glob   { set ok [string match $expected $got] }
    exact  { set ok [expr {$expected eq $got}] }
  }
  expr {$negate ? !$ok : $ok}
}

proc re_quote {text} {
  regsub -all {[][\\.*+?(){}|^$]} $text {\\&}
}

proc table_rows {text} {
  set rows {}
  foreach l [split $text "\n"] {
    if {$l eq "" || [string is space [string index $l 0]]} continue
    lappend rows [regexp -all -inline {\S(?:\S| (?! ))*} $l]
  }
  return $rows
}

proc table_column {text heading} {
  set rows [table_rows $text]
  set i [lsearch -exact [lindex $rows 0] $heading]
  if {$i < 0} { error "no column $heading in: [lindex $rows 0]" }
  set r {}
  foreach row [lrange $rows 1 end] { lappend r [lindex $row $i] }
  return $r
}

proc lines {text args} {
  set ls [split $text "\n"]
  if {[llength $args] == 2} { return [lrange $ls {*}$args] }
  if {[llength $args] == 1} { return [lindex $ls [lindex $args 0]] }
  return $ls
}

#-------------------------------------------------------------------------
# Recording results.
#
proc tester_selected {name} {
  if {[llength $::T(match)] == 0} { return 1 }
  foreach g $::T(match) {
    if {[string match $g $name]} { return 1 }
  }
  return 0
}

# Show a value on the lines after a label, indented, so multi-line outputs
# stay readable and trailing blanks are visible.
proc tester_show {label value} {
  puts "  $label"
  foreach l [split $value "\n"] { puts "    |$l" }
}

# Count NAME; when it is already used in this run, count a failure too.
proc tester_name_check {name} {
  if {[info exists ::T_names($name)]} {
    tester_fail $name "a unique test name" "a second test named $name"
    return 0
  }
  set ::T_names($name) 1
  return 1
}

proc tester_pass {name} {
  incr ::T(npass)
  if {$::T(verbose)} { puts "$name ok" }
}

proc tester_fail {name expected got} {
  incr ::T(nfail)
  lappend ::T(failures) $name
  puts "FAILED $name"
  tester_show expected: [dedent $expected]
  tester_show got: $got
  flush stdout
}

proc tester_result {name expected got} {
  if {[tester_match $expected $got]} {
    tester_pass $name
  } else {
    tester_fail $name $expected $got
  }
}

proc omit_test {name reason} {
  if {![tester_selected $name]} return
  incr ::T(nomit)
  puts "omitted $name: $reason"
}

#-------------------------------------------------------------------------
# The do_* commands.
#
proc do_test {name script expected} {
  if {![tester_selected $name] || ![tester_name_check $name]} return
  set rc [catch {uplevel 1 $script} got opts]
  if {$rc == 1} {
    tester_fail $name $expected "(the script raised an error) $got"
    if {$::T(verbose)} { puts [dict get $opts -errorinfo] }
    return
  }
  tester_result $name $expected $got
}

proc do_catch_test {name script expected} {
  if {![tester_selected $name] || ![tester_name_check $name]} return
  set rc [catch {uplevel 1 $script} got]
  if {$rc > 1} { set rc 0 }
  if {[llength $expected] != 2} {
    tester_fail $name $expected "(EXPECTED is not a list {CODE MESSAGE})"
    return
  }
  lassign $expected xrc xmsg
  if {$rc == $xrc && [tester_match $xmsg $got]} {
    tester_pass $name
  } else {
    tester_fail $name $expected [list $rc $got]
  }
}

# Split the arguments of do_engine_test / do_refused_test:
# NAME ?-engine E? ?-json? LINE EXPECTED.
proc tester_engine_args {argv} {
  if {[llength $argv] < 3} {
    error "wrong # args: NAME ?-engine E? ?-json? LINE EXPECTED"
  }
  set r [dict create name [lindex $argv 0] engine $::T(engine) json {} \
      line [lindex $argv end-1] expected [lindex $argv end]]
  set opts [lrange $argv 1 end-2]
  while {[llength $opts]} {
    set opts [lassign $opts o]
    switch -- $o {
      -engine { set opts [lassign $opts e]; dict set r engine $e }
      -json   { dict set r json -json }
      default { error "unknown option \"$o\": use -engine E or -json" }
    }
  }
  return $r
}

# Output of LINE in engine E, or "error: MESSAGE".
proc engine_run {e line {json {}}} {
  if {[catch {$e eval $line {*}$json} out]} {
    return "error: $out"
  }
  return $out
}

proc do_engine_test {args} {
  set a [tester_engine_args $args]
  set name [dict get $a name]
  if {![tester_selected $name] || ![tester_name_check $name]} return
  set got [engine_run [dict get $a engine] [dict get $a line] [dict get $a json]]
  tester_result $name [dict get $a expected] $got
}

# What a refused command must leave as it was.
proc engine_snapshot {{e {}}} {
  if {$e eq ""} { set e $::T(engine) }
  set s {}
  foreach cmd {{show config candidate} {show diff} {show workloads -json}
               {show history}} {
    if {[lindex $cmd end] eq "-json"} {
      lappend s [engine_run $e [lrange $cmd 0 end-1] -json]
    } else {
      lappend s [engine_run $e $cmd]
    }
  }
  return $s
}

proc do_refused_test {args} {
  set a [tester_engine_args $args]
  set name [dict get $a name]
  set e [dict get $a engine]
  if {![tester_selected $name] || ![tester_name_check $name]} return
  set expected [dedent [dict get $a expected]]
  set before [engine_snapshot $e]
  set failed [catch {$e eval [dict get $a line]} msg]
  set after [engine_snapshot $e]
  set ok [expr {$failed && [tester_match $expected $msg] && $before eq $after}]
  if {$ok} {
    tester_pass $name
    return
  }
  if {$failed} {
    set got "error: $msg"
  } else {
    set got "(the command succeeded) $msg"
  }
  foreach b $before x $after \
      label {{show config candidate} {show diff} {show workloads} {show history}} {
    if {$b ne $x} {
      append got "\n($label changed from:\n$b\nto:\n$x)"
    }
  }
  tester_fail $name "error: $expected" $got
}

#-------------------------------------------------------------------------
# The real binary.
#
proc bulkhead_bin {} {
  if {[info exists ::env(BULKHEAD)] && $::env(BULKHEAD) ne ""} {
    return $::env(BULKHEAD)
  }
  set b [file join [file dirname $::T(testdir)] bulkhead]
  if {[file executable $b]} { return $b }
  error "set BULKHEAD to the bulkhead binary (make test does)"
}

proc as_user {user group script} {
  set saved $::T(prefix)
  set ::T(prefix) [list setpriv --reuid=$user --regid=$group --clear-groups]
  set rc [catch {uplevel 1 $script} r opts]
  set ::T(prefix) $saved
  return -options $opts $r
}

proc have_program {name} {
  expr {[auto_execok $name] ne ""}
}

# As root, the real binary runs inside a network namespace of the run's
# own (bhx-tPID), so what a commit loads into nftables never reaches the
# machine's own namespace.  Made on first use; tester_run deletes it.
proc run_netns {} {
  if {![info exists ::T(netns)]} {
    set ::T(netns) ""
    if {[exec id -u] == 0 && [have_program ip]} {
      set ns bhx-t[pid]
      if {![catch {exec ip netns add $ns}]} { set ::T(netns) $ns }
    }
  }
  return $::T(netns)
}

proc shell_run {argv args} {
  set out [file join $::T(tmp) stdout.[pid]]
  set err [file join $::T(tmp) stderr.[pid]]
  set cmd [list exec]
  if {[have_program timeout]} { lappend cmd timeout -k 5 60 }
  set ns [run_netns]
  if {$ns ne ""} { lappend cmd ip netns exec $ns }
  lappend cmd {*}$::T(prefix) [bulkhead_bin] {*}$argv > $out 2> $err
  if {[llength $args]} {
    lappend cmd << [lindex $args 0]
  } else {
    lappend cmd < /dev/null
  }
  set code 0
  if {[catch $cmd msg opts]} {
    set ec [dict get $opts -errorcode]
    switch -- [lindex $ec 0] {
      CHILDSTATUS { set code [lindex $ec 2] }
      CHILDKILLED { set code "signal [lindex $ec 2]" }
      default {
        file delete -force $out $err
        error "could not run [bulkhead_bin]: $msg"
      }
    }
  }
  set o [read_file $out]
  set e [read_file $err]
  file delete -force $out $err
  list $code $o $e
}

proc chop_newline {s} {
  if {[string index $s end] eq "\n"} { return [string range $s 0 end-1] }
  return $s
}

proc do_shell_test {name argv args} {
  if {[llength $args] < 1 || [llength $args] > 2} {
    error "wrong # args: do_shell_test NAME ARGS ?STDIN? EXPECTED"
  }
  if {![tester_selected $name] || ![tester_name_check $name]} return
  set expected [lindex $args end]
  if {[llength $expected] != 3} {
    tester_fail $name $expected "(EXPECTED is not a list {EXIT STDOUT STDERR})"
    return
  }
  if {[catch {shell_run $argv {*}[lrange $args 0 end-1]} got]} {
    tester_fail $name $expected "(could not run) $got"
    return
  }
  lassign $got code out err
  set got [list $code [chop_newline $out] [chop_newline $err]]
  set ok 1
  foreach x $expected g $got {
    if {![tester_match $x $g]} { set ok 0 }
  }
  if {$ok} {
    tester_pass $name
    return
  }
  incr ::T(nfail)
  lappend ::T(failures) $name
  puts "FAILED $name (bulkhead $argv)"
  foreach label {exit stdout stderr} x $expected g $got {
    set mark [expr {[tester_match $x $g] ? "" : "  <- differs"}]
    tester_show "$label expected:$mark" [dedent $x]
    tester_show "$label got:" $g
  }
  flush stdout
}

#-------------------------------------------------------------------------
# Engines.
#
proc engine_open {name args} {
  bulkhead_engine $name {*}$args
  lappend ::T(engines) $name
  return $name
}

proc use_engine {name} {
  set ::T(engine) $name
}

proc bh {line args} {
  $::T(engine) eval $line {*}$args
}

#-------------------------------------------------------------------------
# Files and environment.
#
proc tmpdir {{tag {}}} {
  set base [file rootname [file tail $::T(file)]]
  if {$base eq ""} { set base tmp }
  set d [file join $::T(tmp) "$base-[incr ::T(ntmp)]$tag"]
  file delete -force $d
  file mkdir $d
  lappend ::T(tmpdirs) $d
  return $d
}

proc new_store {{tag {}}} {
  file join [tmpdir $tag] bulkhead.db
}

proc write_file {path text} {
  set f [open $path w]
  fconfigure $f -encoding utf-8 -translation lf
  puts -nonewline $f $text
  close $f
}

proc read_file {path} {
  set f [open $path r]
  fconfigure $f -encoding utf-8 -translation lf
  set t [read $f]
  close $f
  return $t
}

proc with_env {pairs script} {
  set saved {}
  foreach {k v} $pairs {
    if {[info exists ::env($k)]} {
      lappend saved $k [list 1 $::env($k)]
    } else {
      lappend saved $k [list 0 {}]
    }
    if {$v eq "-"} { unset -nocomplain ::env($k) } else { set ::env($k) $v }
  }
  set rc [catch {uplevel 1 $script} r opts]
  foreach {k s} $saved {
    lassign $s had old
    if {$had} { set ::env($k) $old } else { unset -nocomplain ::env($k) }
  }
  return -options $opts $r
}

proc at_cleanup {script} {
  lappend ::T(cleanups) $script
}

proc require_root {} {
  if {[exec id -u] == 0} return
  set ::T(skipped) 1
  puts "[file tail $::T(file)]: skipped: needs root (kernel and libvirt tests)"
  return -code return
}

#-------------------------------------------------------------------------
# JSON reading: enough to check the engine's --json output and to refuse
# what is not JSON.
#
namespace eval ::tjson {}

proc ::tjson::ws {} {
  upvar 1 t t p p
  if {[regexp -start $p {\A[ \t\r\n]+} $t m]} { incr p [string length $m] }
}

proc ::tjson::fail {what} {
  upvar 1 t t p p
  error "json: $what at offset $p: [string range $t $p [expr {$p + 20}]]"
}

proc ::tjson::value {} {
  upvar 1 t t p p
  ws
  set c [string index $t $p]
  switch -- $c {
    "\{" {
      incr p
      set d [dict create]
      ws
      if {[string index $t $p] eq "\}"} { incr p; return $d }
      while 1 {
        ws
        if {[string index $t $p] ne "\""} { fail "expected a key" }
        set k [value]
        ws
        if {[string index $t $p] ne ":"} { fail "expected ':'" }
        incr p
        dict set d $k [value]
        ws
        set c [string index $t $p]
        incr p
        if {$c eq "\}"} { return $d }
        if {$c ne ","} { incr p -1; fail "expected ',' or '\}'" }
      }
    }
    "\[" {
      incr p
      set l {}
      ws
      if {[string index $t $p] eq "\]"} { incr p; return $l }
      while 1 {
        lappend l [value]
        ws
        set c [string index $t $p]
        incr p
        if {$c eq "\]"} { return $l }
        if {$c ne ","} { incr p -1; fail "expected ',' or '\]'" }
      }
    }
    "\"" {
      if {![regexp -start $p {\A"((?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*)"} \
          $t m body]} {
        fail "bad string"
      }
      incr p [string length $m]
      return [subst -nocommands -novariables $body]
    }
    default {
      if {[regexp -start $p {\A-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?} \
          $t m]} {
        incr p [string length $m]
        return $m
      }
      foreach w {true false null} {
        if {[string range $t $p [expr {$p + [string length $w] - 1}]] eq $w} {
          incr p [string length $w]
          return $w
        }
      }
      fail "unexpected character"
    }
  }
}

proc ::tjson::parse {t} {
  set p 0
  set v [value]
  ws
  if {$p != [string length $t]} { fail "text after the document" }
  return $v
}

proc json_parse {text} {
  ::tjson::parse $text
}

proc json_get {v args} {
  foreach k $args {
    if {[string is integer -strict $k]} {
      if {$k < 0 || $k >= [llength $v]} { error "json_get: no item $k" }
      set v [lindex $v $k]
    } else {
      set v [dict get $v $k]
    }
  }
  return $v
}

proc json_pluck {list key} {
  set r {}
  foreach o $list { lappend r [dict get $o $key] }
  return $r
}

proc jeval {line args} {
  json_get [json_parse [bh $line -json]] {*}$args
}

proc store_sql {path sql} {
  exec sqlite3 -batch -cmd ".timeout 5000" $path $sql
}

#-------------------------------------------------------------------------
# Running files.
#
proc tester_file_begin {file} {
  set ::T(file) $file
  set ::T(engines) {}
  set ::T(tmpdirs) {}
  set ::T(cleanups) {}
  set ::T(skipped) 0
  set ::T(engine) db
}

# Undo what a file left: engines, cleanup scripts, temporary directories.
# Runs whether the file finished or died half-way.
proc tester_file_end {} {
  foreach e $::T(engines) {
    if {[llength [info commands $e]]} { catch {$e close} }
  }
  foreach s [lreverse $::T(cleanups)] {
    if {[catch {uplevel #0 $s} msg]} {
      puts "[file tail $::T(file)]: cleanup failed: $msg"
    }
  }
  foreach d $::T(tmpdirs) { catch {file delete -force $d} }
  set ::T(engines) {}
  set ::T(cleanups) {}
  set ::T(tmpdirs) {}
}

# Called at the end of each test file; the driver does the cleaning, so
# that a file that dies before reaching this line is cleaned too.
proc finish_test {} {
  set ::T(finished) 1
}

# Source each of FILES in the global scope, isolated: an error that escapes
# a file is a failure of that file and the run goes on.  Prints the summary
# and returns the exit status.
# 1 when table netdev bulkhead exists in the namespace the suite runs in
# (the machine's own, in CI): tests must leave nothing there.
proc host_table_exists {} {
  if {[exec id -u] != 0 || ![have_program nft]} { return 0 }
  expr {![catch {exec nft list table netdev bulkhead >/dev/null 2>@1}]}
}

proc tester_run {files} {
  set host_table_before [host_table_exists]
  foreach f $files {
    set f [file normalize $f]
    tester_file_begin $f
    set ::T(finished) 0
    set tail [file tail $f]
    set pass0 $::T(npass)
    set fail0 $::T(nfail)
    set t0 [clock milliseconds]
    if {[catch {uplevel #0 [list source $f]} msg opts]} {
      incr ::T(nfail)
      lappend ::T(failures) "$tail (error)"
      puts "FAILED $tail: an error escaped the file: $msg"
      if {$::T(verbose)} { puts [dict get $opts -errorinfo] }
    } elseif {!$::T(finished) && !$::T(skipped)} {
      incr ::T(nfail)
      lappend ::T(failures) "$tail (no finish_test)"
      puts "FAILED $tail: the file stopped before finish_test"
    }
    tester_file_end
    set ms [expr {[clock milliseconds] - $t0}]
    if {!$::T(skipped)} {
      puts [format "%-16s %4d ok %4d failing  (%.1fs)" $tail \
          [expr {$::T(npass) - $pass0}] [expr {$::T(nfail) - $fail0}] \
          [expr {$ms / 1000.0}]]
    }
    flush stdout
  }
  catch {file delete -force [file join $::T(tmp) default-store]}
  if {!$host_table_before && [host_table_exists]} {
    incr ::T(nfail)
    lappend ::T(failures) "(table left in the machine's namespace)"
    puts "FAILED: a test left table netdev bulkhead in the namespace the\
        suite runs in; tests must load nftables only inside namespaces\
        they made"
  }
  if {[info exists ::T(netns)] && $::T(netns) ne ""} {
    catch {exec ip netns del $::T(netns)}
  }
  # The run's directory goes when the files left nothing in it (they
  # clean their own), and test/tmp when no other run is using it.
  catch {file delete $::T(tmp)}
  catch {file delete $::T(tmproot)}
  if {$::T(nfail)} {
    puts "failures: [join $::T(failures) {, }]"
  }
  if {$::T(nomit)} {
    puts "$::T(nomit) omitted (see the lines starting 'omitted')"
  }
  puts "$::T(npass) passed, $::T(nfail) failed"
  expr {$::T(nfail) ? 1 : 0}
}

# Take -match GLOB and -v from ARGV; return the rest.
proc tester_options {argv} {
  set rest {}
  while {[llength $argv]} {
    set argv [lassign $argv a]
    switch -- $a {
      -match {
        if {![llength $argv]} { error "-match needs a GLOB" }
        set argv [lassign $argv g]
        lappend ::T(match) $g
      }
      -v { set ::T(verbose) 1 }
      default { lappend rest $a }
    }
  }
  return $rest
}

# A test file run on its own (testfixture test/FILE.test): run it through
# the same driver, so it is isolated and cleaned the same way.  The
# second `source tester.tcl` inside it returns at once.
if {![info exists ::T(driver)]} {
  set ::T(driver) [file tail $::argv0]
  tester_options $::argv
  exit [tester_run [list $::argv0]]
}
