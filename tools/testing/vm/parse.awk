# SPDX-License-Identifier: GPL-2.0
#
# Read a test host's serial log and print one result a line:
#   <pass|fail|skip> TAB <case> TAB <detail>
# Variables (awk -v): outdir, where each test's output is saved as
# <name>.log; dmesg, the file the test host's dmesg is saved to;
# timeout, the per-test limit, killed, why the runner killed the
# emulator (emu: QEMU or Bochs), emu_status, its exit status, and
# emu_log, the log it left (for messages).
#
# A case is a top-level KTAP result line ("ok 3 name", "not ok 3 name",
# "ok 3 name # SKIP why").  On top of those, a test binary counts as one
# failure when it exits non-zero (other than 4, "skipped") without any
# "not ok" line, is killed by a signal, times out, stops short of its
# plan or never reaches its end marker.  A failed module load, a boot
# that never reaches init or never finishes, and a kernel log with a
# warning, BUG, oops and the like count as one failure each.  Module
# unloads and init's own checks ("case" markers: what an unload left
# behind, pinned pages, the coexistence steps) are one case each.

function result(status, name, detail) {
	printf "%s\t%s\t%s\n", status, name, detail
}

function kernel_line(line) {
	return line ~ /^\[ *[0-9]+\.[0-9]+\]/
}

# Boot-time notices that match the patterns but report no bug.
function benign(line) {
	return line ~ /Speculative Return Stack Overflow: WARNING: See/
}

function bad_line(line) {
	nbad++
	if (nbad == 1)
		first_bad = line
}

# An OOM report that never named its constraint: its lines count.
function oom_cut_short() {
	if (in_oom && oom_bad > 0) {
		nbad += oom_bad
		if (first_bad == "")
			first_bad = oom_first
	}
	in_oom = 0
}

# What the debug kernel's checkers print (KASAN, UBSAN, lockdep and
# might_sleep() as BUG: or WARNING:, DEBUG_LIST, DEBUG_OBJECTS, kmemleak's
# scans) and what any kernel prints for a bug.
#
# An OOM report dumps a call trace too.  When the constraint it names is
# a memory cgroup, it is a VMM over its own memory.max (the memcg
# selftest provokes one), the outcome the accounting is there for: its
# lines are let off.  Any other OOM kill means the host ran out of
# memory, and counts as one bad line.
function scan_kernel(line) {
	# Bochs's Haswell reports Hyper-Threading and four cores in CPUID
	# leaf 4 with one logical CPU in leaf 1 and no leaf 0xb: 6.12's
	# topology parser warns about the emulated CPU, not about the host
	# under test.  The warning's lines up to its end are let off.
	if (line ~ /WARNING: .* at arch\/x86\/kernel\/cpu\/topology_common\.c:[0-9]+ parse_legacy/) {
		in_topo_warn = 1
		return
	}
	if (in_topo_warn) {
		if (line ~ /---\[ end trace/)
			in_topo_warn = 0
		return
	}
	if (line ~ /invoked oom-killer:/) {
		oom_cut_short()
		in_oom = 1
		oom_bad = 0
		return
	}
	# The constraint line is KERN_INFO, not on the console; the kill
	# line says "Memory cgroup out of memory" for a memcg's OOM.
	if (in_oom && line ~ /oom-kill:constraint=|[Oo]ut of memory/) {
		in_oom = 0
		if (line !~ /constraint=CONSTRAINT_MEMCG|Memory cgroup out of memory: Killed process/)
			bad_line(line)
		return
	}
	if (line ~ /WARNING:|BUG:|Oops|general protection fault|Call Trace|KASAN|UBSAN|ODEBUG:|list_(add|del) (corruption|double add)|suspected memory leak|refcount_t/ &&
	    !benign(line)) {
		if (in_oom) {
			if (oom_bad++ == 0)
				oom_first = line
		} else {
			bad_line(line)
		}
	}
}

function begin_test(name) {
	test = name
	plan = -1
	ncases = 0
	nfail = 0
	skip_all = ""
	outfile = outdir "/" name ".log"
	printf "" > outfile
}

# One KTAP result line at the top level of the current test.
function ktap_case(line,    status, rest, name, directive, i) {
	status = "pass"
	if (line ~ /^not ok/)
		status = "fail"
	rest = line
	sub(/^(not )?ok [0-9]+ ?/, "", rest)
	directive = ""
	i = index(rest, " # ")
	if (i == 0 && rest ~ /^# /)
		i = -1
	if (i != 0) {
		directive = substr(rest, (i < 0 ? 3 : i + 3))
		rest = (i < 0 ? "" : substr(rest, 1, i - 1))
	}
	sub(/^- /, "", rest)
	name = test (rest == "" ? "" : ": " rest)
	if (toupper(directive) ~ /^(SKIP|TODO)/)
		status = "skip"
	else if (toupper(directive) ~ /^XFAIL/)
		status = "pass"
	ncases++
	if (status == "fail")
		nfail++
	result(status, name, directive)
}

function end_test(rc, timed_out) {
	close(outfile)
	if (timed_out)
		result("fail", test, "timed out after " timeout " s")
	else if (rc >= 128)
		result("fail", test, "killed by signal " rc - 128)
	else if (rc == 0 && ncases == 0)
		result("pass", test, "no KTAP output")
	else if (rc == 0 && ncases < plan)
		result("fail", test, "ran " ncases " of " plan " planned cases")
	else if (rc == 4 && ncases == 0)
		result("skip", test, skip_all)
	else if (rc != 0 && rc != 4 && nfail == 0)
		result("fail", test, "exit status " rc)
	test = ""
}

{
	sub(/\r+$/, "")
	line = $0
	# A marker may follow output that lacked a newline, or a kernel
	# message printed in the middle of a line.
	m = index(line, "@@okvm ")
	if (m > 0) {
		marker = substr(line, m + 7)
		line = substr(line, 1, m - 1)
	} else {
		marker = ""
	}
}

in_dmesg && marker == "" {
	print line > dmesg
	scan_kernel(line)
	next
}

line != "" && (test == "" || kernel_line(line)) {
	scan_kernel(line)
}

test != "" && line != "" && !kernel_line(line) {
	print line > outfile
	if (line ~ /^(not )?ok [0-9]+/)
		ktap_case(line)
	else if (match(line, /^1\.\.[0-9]+/)) {
		plan = substr(line, 4, RLENGTH - 3) + 0
		if (plan == 0 && line ~ /# *[Ss][Kk][Ii][Pp]/) {
			skip_all = line
			sub(/^1\.\.0 *# *[Ss][Kk][Ii][Pp] */, "", skip_all)
		}
	}
}

marker == "" { next }

{
	n = split(marker, f, " ")
}

f[1] == "boot" { booted = 1 }
f[1] == "modload-fail" { result("fail", "host: load " substr(marker, 14), "") }
f[1] == "begin" { begin_test(f[2]) }
f[1] == "end" {
	rc = f[3]
	sub(/^rc=/, "", rc)
	end_test(rc + 0, f[4] == "timeout")
}
f[1] == "rmmod-ok" { result("pass", "host: rmmod " f[2], "") }
f[1] == "rmmod-fail" { result("fail", "host: rmmod " f[2], "") }
# "case <status> <name>[ # <detail>]"
f[1] == "case" {
	name = substr(marker, length(f[2]) + 7)
	detail = ""
	i = index(name, " # ")
	if (i > 0) {
		detail = substr(name, i + 3)
		name = substr(name, 1, i - 1)
	}
	result(f[2], name, detail)
}
f[1] == "dmesg-begin" { oom_cut_short(); in_dmesg = 1 }
f[1] == "dmesg-end" { in_dmesg = 0; close(dmesg) }
f[1] == "done" { done = 1 }

END {
	if (killed != "")
		why = emu " killed: " killed
	else if (emu_status != 0)
		why = emu " failed with status " emu_status ", see " emu_log
	else
		why = "the test host died"
	if (test != "")
		result("fail", test, "no end marker: " why)
	if (!booted)
		result("fail", "host: boot", "init never ran: " why)
	else if (!done && test == "")
		result("fail", "host: shutdown", "no final marker: " why)
	oom_cut_short()
	if (nbad > 0)
		result("fail", "host: kernel log", nbad " bad line(s), first: " first_bad)
}
