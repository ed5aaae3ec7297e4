// SPDX-License-Identifier: GPL-2.0
/*
 * Guests in C in 64-bit long mode (lib/long_mode.h): arithmetic and
 * memory work reported by ucalls, a failing guest assertion as the host
 * sees it, exceptions (#UD, #GP, #PF, #DE) reported with vector, error
 * code, RIP and CR2, and a global shared through the guest's copy of
 * the binary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

#include "long_mode.h"

#define TEST_MEM_SIZE		(64 * 1024)

/* Unmapped in every guest here: the lib maps nothing near it. */
#define UNMAPPED_GVA		0x4000000000UL

static uint64_t fib(uint64_t n)
{
	uint64_t a = 0, b = 1, t;

	while (n--) {
		t = a + b;
		a = b;
		b = t;
	}
	return a;
}

/* volatile keeps the compiler from doing the work at build time. */
static volatile uint64_t fib_n = 50;

struct blob {
	uint64_t q[25];
};

static void guest_work(void)
{
	uint64_t *mem = (uint64_t *)LM_TEST_GPA;
	uint64_t i, n = TEST_MEM_SIZE / sizeof(*mem), sum = 0;
	struct blob blob;

	GUEST_SYNC(fib(fib_n));
	GUEST_SYNC(1000000007UL * 998244353UL % 0xfffffffbUL);

	for (i = 0; i < n; i++)
		mem[i] = i * i;
	for (i = 0; i < n; i++)
		sum += mem[i];
	GUEST_SYNC(sum);

	/* A struct copy is the compiler's own, inline (Makefile). */
	guest_memset(&blob, 0x5a, sizeof(blob));
	*(struct blob *)mem = blob;
	GUEST_ASSERT_EQ(mem[24], 0x5a5a5a5a5a5a5a5aUL);
	GUEST_DONE();
}

TEST(arithmetic_and_memory)
{
	uint64_t i, n = TEST_MEM_SIZE / 8, sum = 0;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_work, &vcpu);
	uint64_t *mem = vm_add_mem64(vm, 1, LM_TEST_GPA, TEST_MEM_SIZE);

	for (i = 0; i < n; i++)
		sum += i * i;
	vcpu_run_expect_sync(vcpu, 12586269025UL);	/* fib(50) */
	vcpu_run_expect_sync(vcpu, 1000000007UL * 998244353UL % 0xfffffffbUL);
	vcpu_run_expect_sync(vcpu, sum);
	vcpu_run_expect_done(vcpu);
	ASSERT_EQ(mem[0], 0x5a5a5a5a5a5a5a5aUL);
	ASSERT_EQ(mem[25], 25 * 25);
	vcpu_free(vcpu);
	vm_free(vm);
}

/* Set by the guest: where its failing assertion is. */
static uint64_t assert_line;

static void guest_assert_fails(void)
{
	uint64_t x = 6 * 7;

	GUEST_ASSERT(x == 42);
	assert_line = __LINE__ + 1;
	GUEST_ASSERT_EQ(x, 43);
	GUEST_DONE();
}

TEST(assert_reported)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_assert_fails, &vcpu);
	struct ucall uc;

	ASSERT_EQ(vcpu_run_ucall_any(vcpu, &uc), UCALL_ASSERT);
	test_log("guest: %s:%lu: %s: 0x%lx != 0x%lx", uc.file, uc.line,
		 uc.expr, uc.args[0], uc.args[1]);
	ASSERT_EQ(strcmp(uc.file, __FILE__), 0);
	ASSERT_EQ(uc.line, *guest_var(vm, assert_line));
	ASSERT_EQ(strcmp(uc.expr, "x == 43"), 0);
	ASSERT_EQ(uc.has_values, 1);
	ASSERT_EQ(uc.args[0], 42);
	ASSERT_EQ(uc.args[1], 43);
	/* The guest stays halted after it. */
	vcpu_run_expect_hlt(vcpu);
	vcpu_free(vcpu);
	vm_free(vm);
}

/*
 * Each guest below faults at a labelled instruction, whose address is
 * the RIP the exception must report (all four are faults).
 */
extern const char ud_rip[], gp_rip[], pf_rip[], de_rip[];

static void guest_ud(void)
{
	asm volatile("ud_rip: ud2");
	GUEST_DONE();
}

static void guest_gp(void)
{
	uint64_t noncanonical = 0x8000000000000000UL;

	/* Not through RSP or RBP, which would make it #SS. */
	asm volatile("gp_rip: mov (%0), %0" : "+a"(noncanonical));
	GUEST_DONE();
}

static void guest_pf(void)
{
	asm volatile("pf_rip: movl $1, (%0)" : : "r"(UNMAPPED_GVA + 0x123)
		     : "memory");
	GUEST_DONE();
}

static void guest_de(void)
{
	uint64_t rax = 1, rdx = 0, zero = 0;

	asm volatile("de_rip: div %2" : "+a"(rax), "+d"(rdx) : "r"(zero));
	GUEST_DONE();
}

static void check_exception(void (*guest_code)(void), uint64_t vector,
			    uint64_t error_code, const char *rip,
			    uint64_t cr2)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_code, &vcpu);

	vcpu_run_expect_exception(vcpu, vector, error_code, rip, cr2);
	vcpu_run_expect_hlt(vcpu);
	vcpu_free(vcpu);
	vm_free(vm);
}

TEST(exception_ud)
{
	check_exception(guest_ud, UD_VECTOR, 0, ud_rip, 0);
}

TEST(exception_gp_noncanonical)
{
	check_exception(guest_gp, GP_VECTOR, 0, gp_rip, 0);
}

/* A supervisor write to a page that is not present. */
TEST(exception_pf_unmapped)
{
	check_exception(guest_pf, PF_VECTOR, PFERR_WRITE, pf_rip,
			UNMAPPED_GVA + 0x123);
}

TEST(exception_de)
{
	check_exception(guest_de, DE_VECTOR, 0, de_rip, 0);
}

/*
 * What vcpu_run_ucall() makes of a failed assertion or an exception:
 * run in a child whose output comes back through a pipe, it must fail
 * the case with a message that contains want.
 */
static void expect_case_failure(void (*guest_code)(void), const char *want)
{
	char out[2048];
	size_t len = 0;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	ASSERT_OK(pipe(fds));
	pid = fork();
	ASSERT_OK(pid);
	if (!pid) {
		struct kvm_vcpu *vcpu;
		struct ucall uc;

		dup2(fds[1], STDOUT_FILENO);
		vm_create_guest64(guest_code, &vcpu);
		vcpu_run_ucall(vcpu, &uc);
		exit(KSFT_PASS);
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 &&
	       (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	close(fds[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	test_log("child: %s", out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), KSFT_FAIL);
	ASSERT_TRUE(strstr(out, want));
}

TEST(failures_fail_the_case)
{
	char want[128];

	expect_case_failure(guest_assert_fails,
			    "guest assertion x == 43 failed at " __FILE__);
	snprintf(want, sizeof(want),
		 "guest exception #UD (vector 6) at rip 0x%lx,",
		 (uintptr_t)ud_rip);
	expect_case_failure(guest_ud, want);
}

/* Read by the guest from its copy, which the host set, and written. */
static uint64_t shared_counter = 1;

static void guest_global(void)
{
	GUEST_ASSERT_EQ(shared_counter, 1000);
	shared_counter += 234;
	GUEST_SYNC(0);
	GUEST_ASSERT_EQ(shared_counter, 2000);
	shared_counter *= 3;
}

TEST(global_variable)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_global, &vcpu);
	uint64_t *counter = guest_var(vm, shared_counter);

	ASSERT_EQ(*counter, 1);
	*counter = 1000;
	vcpu_run_expect_sync(vcpu, 0);
	ASSERT_EQ(*counter, 1234);
	*counter = 2000;
	/* guest_global() returns: the lib reports it done. */
	vcpu_run_expect_done(vcpu);
	ASSERT_EQ(*counter, 6000);
	/* The host's own variable is another object. */
	ASSERT_EQ(shared_counter, 1);
	vcpu_free(vcpu);
	vm_free(vm);
}
