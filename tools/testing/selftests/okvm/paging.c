// SPDX-License-Identifier: GPL-2.0
/*
 * A 64-bit guest that edits its own page tables (lib/long_mode.h) and
 * checks what the processor does with them (Intel SDM vol. 3, 4.6 to
 * 4.10; AMD APM vol. 2, 5.4 to 5.5): a changed entry counts after
 * INVLPG or a CR3 load, the accessed and dirty flags are set by reads
 * and writes, CR0.WP=0 lets supervisor writes through read-only pages,
 * a #PF carries the error code and CR2 of the access, and one met on the
 * way to the #PF handler is a double fault.  With nested paging the CPU
 * does all of it; under shadow paging (okvm tdp=0, kvm_amd npt=0) the
 * hypervisor must, which is what these cases are for.
 *
 * The host maps ALIAS_GVA to page A of the test memory, and the lib's
 * memory, page tables included, at SYS_GVA; the guest finds the entry
 * that maps ALIAS_GVA by walking its tables from CR3 through the latter.
 */
#include <okvm/emulator.h>

#include "long_mode.h"

#define CR0_WP		(1UL << 16)

#define PAGE_A		LM_TEST_GPA
#define PAGE_B		(LM_TEST_GPA + PAGE_SIZE)
/* Far from everything the lib maps. */
#define ALIAS_GVA	0x4000000000UL
#define SYS_GVA		0x5000000000UL
#define MARK_A		0xaaaaaaaa00000001UL
#define MARK_B		0xbbbbbbbb00000002UL
#define MARK_C		0xcccccccc00000003UL

static volatile uint64_t *const alias = (volatile uint64_t *)ALIAS_GVA;

/* The 4 KiB page-table entry that maps gva (the lib maps no large pages). */
static volatile uint64_t *guest_pte(uint64_t gva)
{
	volatile uint64_t *e;
	uint64_t table = guest_read_cr3();
	int level;

	for (level = 4; ; level--) {
		e = (volatile uint64_t *)(SYS_GVA + (table & PTE_ADDR_MASK) +
			8 * ((gva >> (12 + 9 * (level - 1))) & 511));
		if (level == 1)
			return e;
		table = *e;
	}
}

static uint64_t read_cr0(void)
{
	uint64_t cr0;

	asm volatile("mov %%cr0, %0" : "=r"(cr0));
	return cr0;
}

static void write_cr0(uint64_t cr0)
{
	asm volatile("mov %0, %%cr0" : : "r"(cr0) : "memory");
}

static struct kvm_vm *paging_vm(void (*guest_code)(void),
				struct kvm_vcpu **vcpu)
{
	struct kvm_vm *vm = vm_create_guest64(guest_code, vcpu);
	uint64_t *mem = vm_add_mem64(vm, 1, LM_TEST_GPA, 2 * PAGE_SIZE);

	mem[0] = MARK_A;
	mem[PAGE_SIZE / 8] = MARK_B;
	virt_map(vm, ALIAS_GVA, PAGE_A, PAGE_SIZE);
	/* Last: the tables made for both mappings are in the lib's memory. */
	virt_map(vm, SYS_GVA, 0, LM_SYS_SIZE);
	return vm;
}

static void run_to_done(void (*guest_code)(void))
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = paging_vm(guest_code, &vcpu);

	vcpu_run_expect_done(vcpu);
	vcpu_free(vcpu);
	vm_free(vm);
}

/* The guest's #PF must come with this error code, at rip, for ALIAS_GVA. */
static void run_to_pf(void (*guest_code)(void), uint64_t error_code,
		      const char *rip)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = paging_vm(guest_code, &vcpu);

	vcpu_run_expect_exception(vcpu, PF_VECTOR, error_code, rip, ALIAS_GVA);
	vcpu_free(vcpu);
	vm_free(vm);
}

static void guest_remap(void)
{
	volatile uint64_t *pte = guest_pte(ALIAS_GVA);

	GUEST_ASSERT_EQ(*alias, MARK_A);
	*pte = (*pte & ~PTE_ADDR_MASK) | PAGE_B;
	guest_invlpg(ALIAS_GVA);
	GUEST_ASSERT_EQ(*alias, MARK_B);
	*pte = (*pte & ~PTE_ADDR_MASK) | PAGE_A;
	guest_write_cr3(guest_read_cr3());
	GUEST_ASSERT_EQ(*alias, MARK_A);
}

/* A changed entry counts after INVLPG, and after a CR3 load. */
TEST(remap_invlpg_and_cr3)
{
	run_to_done(guest_remap);
}

static void guest_accessed_dirty(void)
{
	volatile uint64_t *pte = guest_pte(ALIAS_GVA);

	*pte &= ~(PTE_A | PTE_D);
	guest_invlpg(ALIAS_GVA);
	GUEST_ASSERT_EQ(*alias, MARK_A);
	GUEST_ASSERT_EQ(*pte & (PTE_A | PTE_D), PTE_A);
	*alias = MARK_C;
	GUEST_ASSERT_EQ(*pte & (PTE_A | PTE_D), PTE_A | PTE_D);
	/* Cleared and flushed again: a write alone sets both. */
	*pte &= ~(PTE_A | PTE_D);
	guest_invlpg(ALIAS_GVA);
	*alias = MARK_B;
	GUEST_ASSERT_EQ(*pte & (PTE_A | PTE_D), PTE_A | PTE_D);
}

/* The accessed flag on a read, the dirty flag on a write (SDM 4.8). */
TEST(accessed_dirty)
{
	run_to_done(guest_accessed_dirty);
}

static void guest_wp(void)
{
	volatile uint64_t *pte = guest_pte(ALIAS_GVA);
	uint64_t cr0 = read_cr0();

	GUEST_ASSERT(cr0 & CR0_WP);
	*pte &= ~(PTE_RW | PTE_D);
	guest_invlpg(ALIAS_GVA);
	GUEST_ASSERT_EQ(*alias, MARK_A);
	write_cr0(cr0 & ~CR0_WP);
	*alias = MARK_C;
	GUEST_ASSERT_EQ(*(volatile uint64_t *)PAGE_A, MARK_C);
	GUEST_ASSERT_EQ(*pte & (PTE_RW | PTE_D), PTE_D);
	write_cr0(cr0);
	asm volatile("wp_rip: movq $1, (%0)" : : "r"(ALIAS_GVA) : "memory");
	GUEST_DONE();
}

/*
 * CR0.WP clear: a supervisor write to a read-only page goes through (and
 * sets the dirty flag); set again, the same write is #PF(P|W) (SDM
 * 4.6.1).
 */
TEST(cr0_wp)
{
	extern const char wp_rip[];

	run_to_pf(guest_wp, PFERR_PRESENT | PFERR_WRITE, wp_rip);
}

static void guest_not_present(void)
{
	volatile uint64_t *pte = guest_pte(ALIAS_GVA);

	GUEST_ASSERT_EQ(*alias, MARK_A);
	*pte &= ~PTE_P;
	guest_invlpg(ALIAS_GVA);
	asm volatile("np_rip: movq $1, (%0)" : : "r"(ALIAS_GVA) : "memory");
	GUEST_DONE();
}

/* A write to a page made not present and flushed: #PF(W), CR2. */
TEST(not_present_after_invlpg)
{
	extern const char np_rip[];

	run_to_pf(guest_not_present, PFERR_WRITE, np_rip);
}

extern const char lm_vectors[];

/* Make the page of gva not present and flush it. */
static void guest_unmap(uint64_t gva)
{
	*guest_pte(gva) &= ~PTE_P;
	guest_invlpg(gva);
}

static void guest_handler_unmapped(void)
{
	/* The lib's stubs, 16 bytes a vector, may straddle two pages. */
	guest_unmap((uintptr_t)lm_vectors + 16 * PF_VECTOR);
	guest_unmap((uintptr_t)lm_vectors + 16 * DF_VECTOR);
	guest_unmap(ALIAS_GVA);
	*alias = MARK_C;
	GUEST_DONE();
}

/*
 * The pages of the lib's #PF and #DF stubs made not present, then a write
 * to a page made not present too (or, when the guest's code shares a
 * page with a stub, its next fetch): the #PF's delivery faults fetching
 * its stub, which is #DF, whose delivery faults again: a triple fault
 * (SDM vol. 3, 6.15).
 */
TEST(pf_handler_unmapped)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = paging_vm(guest_handler_unmapped, &vcpu);

	vcpu_run_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	vcpu_free(vcpu);
	vm_free(vm);
}

static void guest_reserved(void)
{
	volatile uint64_t *pte = guest_pte(ALIAS_GVA);
	uint64_t v;

	*pte |= 1UL << 51;
	guest_invlpg(ALIAS_GVA);
	asm volatile("rsvd_rip: mov (%1), %0" : "=r"(v) : "r"(ALIAS_GVA)
		     : "memory");
	GUEST_DONE();
}

/*
 * Bit 51 of an entry, beyond the guest's physical address width (QEMU's
 * EPYC and Bochs' Haswell have 48 bits at most): #PF(P|RSVD) on a read
 * (SDM 4.7).  QEMU 7.2's TCG walker, which walks the guest's tables
 * under nested paging, leaves P clear.
 */
TEST(reserved_bit)
{
	extern const char rsvd_rip[];
	uint64_t want = PFERR_PRESENT | PFERR_RSVD;

	if (host_under_tcg() && !shadow_paging()) {
		test_log("QEMU's TCG walks the guest's tables: no P with RSVD");
		want = PFERR_RSVD;
	}
	run_to_pf(guest_reserved, want, rsvd_rip);
}
