# all.tcl - run the bulkhead test suite.
#
#      build/testfixture test/all.tcl ?FILE.test ...? ?-match GLOB? ?-v?
#
# Sources every test/*.test in name order, or only the files named (with or
# without the test/ directory), in this one interpreter.  -match GLOB runs
# only the tests whose names match (it may be given more than once); -v
# prints each test as it passes.  A file that raises an error counts as one
# failure and the run goes on with the next file.  The last line is
# `N passed, N failed`; the exit status is 1 when any test failed.
#
# The harness itself (do_test and friends) is documented at the top of
# test/tester.tcl.

set ::T(driver) all.tcl
source [file join [file dirname [info script]] tester.tcl]

set names [tester_options $::argv]
if {[llength $names] == 0} {
  set files [lsort [glob -nocomplain -directory $::T(testdir) *.test]]
} else {
  set files {}
  foreach n $names {
    if {[file exists $n]} {
      lappend files $n
    } elseif {[file exists [file join $::T(testdir) $n]]} {
      lappend files [file join $::T(testdir) $n]
    } elseif {[file exists [file join $::T(testdir) $n.test]]} {
      lappend files [file join $::T(testdir) $n.test]
    } else {
      puts stderr "all.tcl: no test file \"$n\" in $::T(testdir)"
      exit 2
    }
  }
}
exit [tester_run $files]
