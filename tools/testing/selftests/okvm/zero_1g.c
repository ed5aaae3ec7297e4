// SPDX-License-Identifier: GPL-2.0
/*
 * A 64-bit guest zeroes 1 GiB of memory that the host filled with a
 * pattern, and the host finds every page zero afterwards.  Each of the
 * 262144 pages is a fault for the hypervisor's MMU: okvm maps guest
 * memory with 4 KiB nested (or, later, shadow) page table entries, so a
 * page the guest's stores miss, or one mapped to the wrong host page,
 * shows as a page that still holds the pattern.  Before zeroing, the
 * guest checks that each page begins with its own guest physical
 * address, as the host wrote it: reads go through the same translations.
 *
 * The guest maps the memory with 2 MiB pages (1 GiB of 4 KiB ones would
 * need 2 MiB of page tables, all the lib has), zeroes the first half
 * with REP STOSQ and the second with a loop of 8-byte stores.
 */
#include "long_mode.h"

#define ZERO_GPA		LM_TEST_GPA
#define ZERO_SIZE		(1024 * MiB)
#define ZERO_PAGES		(ZERO_SIZE / PAGE_SIZE)
#define PATTERN			0xa5a5a5a5a5a5a5a5UL

/*
 * REP STOSQ, for the guest's zeroing and the host's fill alike.  In the
 * Bochs test hosts, whose clock counts instructions (clock: sync=none),
 * a REP iteration counts as one: the compiler's own fills, REP STOSB in
 * this file (the Makefile's flags for guest code), took 22 s for the
 * GiB there, as glibc's memset() did.
 */
static void fill_qwords(uint64_t *p, uint64_t v, uint64_t n)
{
	asm volatile("rep stosq" : "+D"(p), "+c"(n) : "a"(v) : "memory");
}

static void guest_zero(void)
{
	volatile uint64_t *q = (uint64_t *)(ZERO_GPA + ZERO_SIZE / 2);
	uint64_t *p = (uint64_t *)ZERO_GPA;
	uint64_t i;

	for (i = 0; i < ZERO_PAGES; i++)
		GUEST_ASSERT_EQ(p[i * PAGE_SIZE / 8], ZERO_GPA + i * PAGE_SIZE);
	GUEST_SYNC(1);

	fill_qwords(p, 0, ZERO_SIZE / 2 / 8);
	for (i = 0; i < ZERO_SIZE / 2 / 8; i++)
		q[i] = 0;
	GUEST_DONE();
}

/* How long each step took, for the log: a figure for Bochs and TCG. */
static uint64_t lap(uint64_t *t)
{
	uint64_t now = now_ms(), d = now - *t;

	*t = now;
	return d;
}

/*
 * The whole case took 10 to 18 s under QEMU's TCG (okvm, kvm_amd with
 * and without npt=0) and some 30 to 36 s in the Bochs test host (okvm,
 * kvm_intel with and without ept=0), whose alarms are twice as long.
 */
TEST_TIMEOUT(zero_1g, 90)
{
	static const uint8_t zero_page[PAGE_SIZE];
	uint64_t t, fill, check, zero, verify, i;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_zero, &vcpu);
	uint64_t *mem = vm_add_mem(vm, 1, ZERO_GPA, ZERO_SIZE);

	virt_map_2m(vm, ZERO_GPA, ZERO_GPA, ZERO_SIZE);
	t = now_ms();
	fill_qwords(mem, PATTERN, ZERO_SIZE / 8);
	for (i = 0; i < ZERO_PAGES; i++)
		mem[i * PAGE_SIZE / 8] = ZERO_GPA + i * PAGE_SIZE;
	fill = lap(&t);

	vcpu_run_expect_sync(vcpu, 1);
	check = lap(&t);
	vcpu_run_expect_done(vcpu);
	zero = lap(&t);

	for (i = 0; i < ZERO_PAGES; i++)
		if (memcmp(mem + i * PAGE_SIZE / 8, zero_page, PAGE_SIZE))
			test_fail("the page at gpa %#lx is not zero",
				  ZERO_GPA + i * PAGE_SIZE);
	verify = lap(&t);
	test_log("host fill %lu ms, guest check %lu ms, guest zeroing %lu ms, host check %lu ms",
		 fill, check, zero, verify);
	vm_free(vm);
}
