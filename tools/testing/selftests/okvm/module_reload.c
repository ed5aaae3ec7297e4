// SPDX-License-Identifier: GPL-2.0
/*
 * The hypervisor module unloaded and loaded again, a hundred times, with
 * a VM made, run to HLT and destroyed after each load: whatever a load
 * sets up (the device, AMD-V or VT-x on 6.12's KVM, okvm's CPU hotplug
 * state and notifiers) and a VM's life changes must be undone by the
 * unload, or a later load or VM fails (or the kernel log says why).
 *
 * Runs in a test host (tools/testing/vm/run), where init staged the
 * module files in /modules: okvm as 99-okvm.ko, the real KVM's vendor
 * module as NN-kvm-amd.ko or NN-kvm-intel.ko.  On okvm it reloads okvm;
 * on the real KVM it reloads the vendor module (kvm_vendor_module(),
 * from the host CPU) and leaves kvm loaded.  Skipped outside a test
 * host, with both modules loaded, or with neither.  The module is
 * loaded again however the case ends, as init unloads it after the
 * tests.
 *
 * Each load passes the module the parameters init loaded it with,
 * $OKVM_MODULE_PARAMS ("npt=0" in a shadow-paging test host), so that
 * the tests after this one run as the host was meant to.
 *
 * A reload takes some 0.1 s under QEMU's TCG and much longer in slower
 * emulators (Bochs), so the loop also ends after BUDGET_MS (times
 * OKVM_TIMEOUT_SCALE), having done at least MIN_ROUNDS.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "kvm_util.h"

#define MODULES_DIR	"/modules"
#define ROUNDS		100
#define MIN_ROUNDS	10
#define BUDGET_MS	60000
#define WAIT_MS		5000

static const char *mod_name;	/* as in /sys/module */
static char mod_path[256];	/* the file to load */
static const char *mod_params = "";	/* what to load it with */

static bool mod_loaded(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/module/%s", mod_name);
	return access(path, F_OK) == 0;
}

/* Async-signal-safe: also runs from the fatal signal handler. */
static int mod_load(void)
{
	int fd = open(mod_path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = syscall(SYS_finit_module, fd, mod_params, 0);
	close(fd);
	return r;
}

static void load_again(void)
{
	if (!mod_loaded())
		mod_load();
}

static void load_again_and_die(int sig)
{
	load_again();
	/* SA_RESETHAND made the action the default: die of sig. */
	raise(sig);
}

/*
 * The staged vendor module: the one file in MODULES_DIR ending in
 * "-<name>.ko", its name with dashes (the runner names files after the
 * module's file, kvm-amd.ko or kvm-intel.ko).
 */
static bool find_vendor_module(char *suffix, size_t size)
{
	struct dirent *d;
	bool found = false;
	size_t n;
	DIR *dir;
	char *p;

	snprintf(suffix, size, "-%s.ko", kvm_vendor_module());
	for (p = suffix; *p; p++)
		if (*p == '_')
			*p = '-';
	n = strlen(suffix);

	dir = opendir(MODULES_DIR);
	if (!dir)
		return false;
	while ((d = readdir(dir))) {
		size_t len = strlen(d->d_name);

		if (len > n && !strcmp(d->d_name + len - n, suffix)) {
			snprintf(mod_path, sizeof(mod_path), "%s/%s",
				 MODULES_DIR, d->d_name);
			found = true;
			break;
		}
	}
	closedir(dir);
	return found;
}

/*
 * Pick the module to reload, or skip; from here on, a failed assertion
 * (exit) or a fatal signal first loads it again.
 */
static void need_module(void)
{
	static const int fatal[] = {
		SIGALRM, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM,
	};
	struct sigaction sa = {
		.sa_handler = load_again_and_die,
		.sa_flags = SA_RESETHAND,
	};
	const char *vendor = kvm_vendor_module();
	bool okvm = access("/sys/module/okvm", F_OK) == 0;
	bool kvm;
	char path[64], suffix[32];
	unsigned int i;

	snprintf(path, sizeof(path), "/sys/module/%s", vendor);
	kvm = access(path, F_OK) == 0;
	if (access(MODULES_DIR, F_OK))
		test_skip("no %s: not in a test host", MODULES_DIR);
	if (okvm && kvm)
		test_skip("okvm and %s are both loaded", vendor);
	if (!okvm && !kvm)
		test_skip("neither okvm nor %s is loaded", vendor);
	if (geteuid())
		test_skip("needs root to load modules");
	if (okvm) {
		mod_name = "okvm";
		snprintf(mod_path, sizeof(mod_path), "%s/99-okvm.ko",
			 MODULES_DIR);
	} else {
		mod_name = vendor;
		if (!find_vendor_module(suffix, sizeof(suffix)))
			test_skip("no *%s in %s", suffix, MODULES_DIR);
	}
	if (access(mod_path, R_OK))
		test_skip("cannot read %s", mod_path);
	if (getenv("OKVM_MODULE_PARAMS"))
		mod_params = getenv("OKVM_MODULE_PARAMS");

	ASSERT_OK(atexit(load_again));
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		ASSERT_OK(sigaction(fatal[i], &sa, NULL));
}

/*
 * delete_module() without O_TRUNC's force; O_NONBLOCK fails at once
 * while references remain, which none should: every fd of this process
 * is closed and its release done by the time close() returns.
 */
static void mod_unload(int round)
{
	if (syscall(SYS_delete_module, mod_name, O_NONBLOCK))
		test_fail("round %d: delete_module(%s): %s (refcnt %d)", round,
			  mod_name, errno_name(errno), kvm_module_refcnt());
	if (mod_loaded())
		test_fail("round %d: /sys/module/%s still there after unload",
			  round, mod_name);
}

/* devtmpfs makes the node from a kernel thread: wait for it. */
static void wait_for_device(int round)
{
	uint64_t end = now_ms() + WAIT_MS * test_timeout_scale();
	const char *path = kvm_dev_path();

	while (access(path, F_OK)) {
		if (now_ms() > end)
			test_fail("round %d: no %s %d ms after loading %s",
				  round, path, WAIT_MS, mod_name);
		usleep(2000);
	}
}

TEST_TIMEOUT(reload_100, 120)
{
	uint64_t t0, end;
	int round;

	need_module();
	run_hello_guest();
	t0 = now_ms();
	end = t0 + BUDGET_MS * test_timeout_scale();
	for (round = 0; round < ROUNDS &&
	     (round < MIN_ROUNDS || now_ms() < end); round++) {
		mod_unload(round);
		if (mod_load())
			test_fail("round %d: finit_module(%s): %s", round,
				  mod_path, errno_name(errno));
		wait_for_device(round);
		run_hello_guest();
	}
	test_log("%d reloads of %s%s%s in %llu ms", round, mod_name,
		 *mod_params ? " " : "", mod_params,
		 (unsigned long long)(now_ms() - t0));
	ASSERT_EQ(kvm_module_refcnt(), 0);
}
