// SPDX-License-Identifier: GPL-2.0
/*
 * KTAP harness for the okvm selftests: see harness.h.
 *
 * The parent prints the plan and one result line per case; each case
 * runs in a child that prints only "# " diagnostics.  A child tells its
 * skip reason through a shared page, and its result through its exit
 * status: KSFT_PASS, KSFT_FAIL or KSFT_SKIP.  Dying by a signal is a
 * failure, by SIGALRM a timeout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <okvm/x86_vendor.h>

#include "harness.h"

#define REASON_MAX	256

static struct test_case *tests, **tests_tail = &tests;
static char *skip_reason;	/* shared with the running child */

void test_register(struct test_case *tc)
{
	*tests_tail = tc;
	tests_tail = &tc->next;
}

bool test_on_okvm(void)
{
	return access("/sys/module/okvm", F_OK) == 0;
}

static void vlog(const char *fmt, va_list ap)
{
	char buf[1024];
	char *line, *save;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
	fflush(stdout);
}

void test_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void test_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
	exit(KSFT_FAIL);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (skip_reason)
		vsnprintf(skip_reason, REASON_MAX, fmt, ap);
	va_end(ap);
	fflush(stdout);
	exit(KSFT_SKIP);
}

const char *errno_name(int err)
{
	static char buf[16];
	const char *name = err ? strerrorname_np(err) : "0";

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "%d", err);
	return buf;
}

void __assert_fail_cmp(const char *file, int line, const char *expr_a,
		       const char *op, const char *expr_b,
		       uint64_t a, uint64_t b)
{
	test_fail("%s:%d: ASSERT(%s %s %s) failed\n"
		  "  %s = 0x%llx\n  %s = 0x%llx", file, line,
		  expr_a, op, expr_b, expr_a, (unsigned long long)a,
		  expr_b, (unsigned long long)b);
}

void __assert_fail_errno(const char *file, int line, const char *expr,
			 long ret, int err, int expected)
{
	if (!expected)
		test_fail("%s:%d: %s failed: %s (%s)", file, line, expr,
			  errno_name(err), strerror(err));
	if (ret != -1)
		test_fail("%s:%d: %s returned %ld, expected -1/%s", file,
			  line, expr, ret, errno_name(expected));
	test_fail("%s:%d: %s failed with %s, expected %s", file, line, expr,
		  errno_name(err), errno_name(expected));
}

unsigned int test_timeout_scale(void)
{
	const char *s = getenv("OKVM_TIMEOUT_SCALE");
	int n = s ? atoi(s) : 1;

	return n > 0 ? n : 1;
}

/* Returns KSFT_PASS, KSFT_FAIL or KSFT_SKIP; fills reason for a skip. */
static int run_case(struct test_case *tc, char *reason)
{
	unsigned int timeout = tc->timeout * test_timeout_scale();
	int status;
	pid_t pid;

	if (tc->restrict_to == TEST_ON_OKVM_ONLY && !test_on_okvm()) {
		snprintf(reason, REASON_MAX, "okvm-only: %s", tc->reason);
		return KSFT_SKIP;
	}
	if (tc->restrict_to == TEST_ON_KVM_ONLY && test_on_okvm()) {
		snprintf(reason, REASON_MAX, "not on okvm: %s", tc->reason);
		return KSFT_SKIP;
	}

	skip_reason[0] = '\0';
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		test_log("fork: %s", strerror(errno));
		return KSFT_FAIL;
	}
	if (pid == 0) {
		alarm(timeout);
		tc->fn();
		fflush(stdout);
		_exit(KSFT_PASS);
	}

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			test_log("waitpid: %s", strerror(errno));
			return KSFT_FAIL;
		}
	}

	if (WIFSIGNALED(status)) {
		if (WTERMSIG(status) == SIGALRM)
			test_log("%s: timed out after %u s", tc->name, timeout);
		else
			test_log("%s: killed by signal %d (%s)", tc->name,
				 WTERMSIG(status), strsignal(WTERMSIG(status)));
		return KSFT_FAIL;
	}
	switch (WEXITSTATUS(status)) {
	case KSFT_PASS:
		return KSFT_PASS;
	case KSFT_SKIP:
		snprintf(reason, REASON_MAX, "%s",
			 skip_reason[0] ? skip_reason : "skipped");
		return KSFT_SKIP;
	default:
		return KSFT_FAIL;
	}
}

static bool selected(const char *name, int argc, char **argv)
{
	int i, any = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t"))
			continue;
		any = 1;
		if (i + 1 < argc && !strcmp(argv[i + 1], name))
			return true;
	}
	return !any;
}

static void usage(const char *prog)
{
	printf("usage: %s [-l] [-t case]...\n"
	       "  -l       list the cases\n"
	       "  -t case  run only this case (repeatable)\n"
	       "env: KVM_DEV (default /dev/kvm), OKVM_TIMEOUT_SCALE\n", prog);
}

int main(int argc, char **argv)
{
	int pass = 0, fail = 0, skip = 0, n = 0, total = 0;
	char reason[REASON_MAX];
	struct test_case *tc;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-l")) {
			for (tc = tests; tc; tc = tc->next)
				printf("%s\n", tc->name);
			return 0;
		} else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			i++;
		} else {
			usage(argv[0]);
			return strcmp(argv[i], "-h") ? KSFT_FAIL : 0;
		}
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	skip_reason = mmap(NULL, REASON_MAX, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (skip_reason == MAP_FAILED) {
		perror("mmap");
		return KSFT_FAIL;
	}

	for (tc = tests; tc; tc = tc->next)
		total += selected(tc->name, argc, argv);

	printf("KTAP version 1\n1..%d\n", total);
	test_log("%s on %s, %s host", argv[0],
		 test_on_okvm() ? "okvm" : x86_kvm_vendor_module(),
		 x86_virt_name());

	for (tc = tests; tc; tc = tc->next) {
		if (!selected(tc->name, argc, argv))
			continue;
		n++;
		switch (run_case(tc, reason)) {
		case KSFT_PASS:
			printf("ok %d %s\n", n, tc->name);
			pass++;
			break;
		case KSFT_SKIP:
			printf("ok %d %s # SKIP %s\n", n, tc->name, reason);
			skip++;
			break;
		default:
			printf("not ok %d %s\n", n, tc->name);
			fail++;
			break;
		}
	}

	printf("# Totals: pass:%d fail:%d skip:%d\n", pass, fail, skip);
	if (fail)
		return KSFT_FAIL;
	if (total && skip == total)
		return KSFT_SKIP;
	return KSFT_PASS;
}
