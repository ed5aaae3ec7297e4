// SPDX-License-Identifier: GPL-2.0
/*
 * MMIO outside long mode: the emulator's guest page walk under 32-bit
 * paging (a 4 MiB PSE page and a 4 KiB one) and PAE paging (a 2 MiB page
 * and a 4 KiB one), the accessed and dirty flags it sets in the guest's
 * entries, and a segment limit it enforces in real mode.
 *
 * Each paging case runs the same flat 32-bit guest: a MOVSL from MMIO
 * (through the large page) to RAM whose PTE has neither flag set, a
 * store and a load of MMIO through the 4 KiB page.  The CPU stops at the
 * MMIO read before it touches the destination, so the destination's
 * translation, flags included, is the hypervisor's work.
 */
#include <string.h>

#include "kvm_util.h"

#define X86_CR0_WP		(1UL << 16)
#define X86_CR4_PSE		(1UL << 4)

/* Guest-physical addresses in no slot, and where the guest sees them. */
#define MMIO_BIG_GPA		0xc0000000UL	/* behind a large page */
#define MMIO_BIG_GVA		0x400000UL
#define MMIO_SMALL_GPA		0xd0000000UL	/* behind a 4 KiB page */
#define MMIO_SMALL_GVA		0x20000UL
#define DST			0x9000		/* RAM, PTE without A and D */

/* Page tables, in the free pages of the 64 KiB the lib gives. */
#define PT32_PD			0xa000
#define PT32_PT			0xb000
#define PAE_PDPT		0xc000
#define PAE_PD			0xd000
#define PAE_PT			0xe000

GUEST_CODE32(guest_paged,
	"	mov $0x400010, %esi\n"
	"	mov $0x9000, %edi\n"
	"	movsl\n"
	"	movl $0x11223344, 0x20008\n"
	"	mov 0x2000c, %eax\n"
	"	hlt\n");

struct mmio_seen {
	uint64_t read_gpa[4];
	int reads;
	uint64_t write_gpa;
	uint32_t write_val;
};

/* Run to HLT, answering MMIO reads with 0xcafe0000 plus their number. */
static void run_mmio(struct kvm_vcpu *vcpu, struct mmio_seen *seen)
{
	struct kvm_run *run = vcpu->run;
	uint32_t v;

	for (;;) {
		vcpu_run_ok(vcpu);
		if (run->exit_reason == KVM_EXIT_HLT)
			return;
		vcpu_expect_exit(vcpu, KVM_EXIT_MMIO);
		ASSERT_EQ(run->mmio.len, 4);
		if (run->mmio.is_write) {
			seen->write_gpa = run->mmio.phys_addr;
			memcpy(&seen->write_val, run->mmio.data, 4);
			continue;
		}
		ASSERT_LT(seen->reads, 4);
		seen->read_gpa[seen->reads] = run->mmio.phys_addr;
		v = 0xcafe0000 + seen->reads++;
		memcpy(run->mmio.data, &v, 4);
	}
}

static void check_paged(struct kvm_vm *vm, struct kvm_vcpu *vcpu,
			uint64_t dst_pte_gpa, size_t pte_size)
{
	struct mmio_seen seen = {};
	struct kvm_regs regs;
	uint64_t pte = 0;

	run_mmio(vcpu, &seen);
	ASSERT_EQ(seen.reads, 2);
	ASSERT_EQ(seen.read_gpa[0], MMIO_BIG_GPA + 0x10);
	ASSERT_EQ(seen.read_gpa[1], MMIO_SMALL_GPA + 0xc);
	ASSERT_EQ(*(uint32_t *)vm_hva(vm, DST), 0xcafe0000);
	ASSERT_EQ(seen.write_gpa, MMIO_SMALL_GPA + 8);
	ASSERT_EQ(seen.write_val, 0x11223344);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ((uint32_t)regs.rax, 0xcafe0001);
	ASSERT_EQ(regs.rsi, MMIO_BIG_GVA + 0x14);
	ASSERT_EQ(regs.rdi, DST + 4);
	/* The walk of the store set the destination's flags. */
	memcpy(&pte, vm_hva(vm, dst_pte_gpa), pte_size);
	ASSERT_EQ(pte & (PTE_A | PTE_D), PTE_A | PTE_D);
}

static void enable_paging(struct kvm_vcpu *vcpu, uint64_t cr3, uint64_t cr4)
{
	struct kvm_sregs sregs;

	vcpu_get_sregs(vcpu, &sregs);
	sregs.cr3 = cr3;
	sregs.cr4 = cr4;
	sregs.cr0 |= X86_CR0_PE | X86_CR0_PG | X86_CR0_WP;
	vcpu_set_sregs(vcpu, &sregs);
}

/* 4 KiB identity pages for the 64 KiB of RAM, the MMIO page, DST clean. */
static void fill_pt(struct kvm_vm *vm, uint64_t pt, size_t size)
{
	uint64_t e, i;

	for (i = 0; i < GUEST_MEM_SIZE / PAGE_SIZE; i++) {
		e = i * PAGE_SIZE | PTE_P | PTE_RW |
		    (i * PAGE_SIZE == DST ? 0 : PTE_A | PTE_D);
		memcpy(vm_hva(vm, pt + i * size), &e, size);
	}
	e = MMIO_SMALL_GPA | PTE_P | PTE_RW;
	memcpy(vm_hva(vm, pt + (MMIO_SMALL_GVA >> 12) * size), &e, size);
}

TEST(paging_32bit_pse)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_paged), &vcpu);
	uint32_t *pd = vm_hva(vm, PT32_PD);

	fill_pt(vm, PT32_PT, 4);
	pd[0] = PT32_PT | PTE_P | PTE_RW;
	pd[MMIO_BIG_GVA >> 22] = MMIO_BIG_GPA | PTE_P | PTE_RW | PTE_PS;
	enable_paging(vcpu, PT32_PD, X86_CR4_PSE);
	check_paged(vm, vcpu, PT32_PT + (DST >> 12) * 4, 4);
	vm_free(vm);
}

TEST(paging_pae)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_paged), &vcpu);
	uint64_t *pdpt = vm_hva(vm, PAE_PDPT), *pd = vm_hva(vm, PAE_PD);

	fill_pt(vm, PAE_PT, 8);
	pdpt[0] = PAE_PD | PTE_P;
	pd[0] = PAE_PT | PTE_P | PTE_RW;
	pd[MMIO_BIG_GVA >> 21] = MMIO_BIG_GPA | PTE_P | PTE_RW | PTE_PS;
	enable_paging(vcpu, PAE_PDPT, X86_CR4_PAE);
	check_paged(vm, vcpu, PAE_PT + (DST >> 12) * 8, 8);
	vm_free(vm);
}

/*
 * Real mode: a MOVSW from MMIO to ES:0xffff would write past ES's 64 KiB
 * limit.  The CPU stops at the MMIO read; the emulator raises the #GP,
 * whose handler reports through port 0x13.  SI and DI stay as they were.
 */
GUEST_CODE16(guest_limit,
	"	mov $0x2000, %ax\n"
	"	mov %ax, %ds\n"
	"	xor %ax, %ax\n"
	"	mov %ax, %es\n"
	"	mov $0x10, %si\n"
	"	mov $0xffff, %di\n"
	"	movsw\n"
	"	hlt\n"
	"guest_limit_gp:\n"
	"	mov $13, %al\n"
	"	out %al, $0x13\n"
	"	hlt\n");
extern const uint8_t guest_limit_gp[];

TEST(real_mode_limit_gp)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_limit), &vcpu);
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;

	vm_set_ivt(vm, 13, guest_addr(guest_limit_gp, guest_limit));
	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, 0x20010);
	ASSERT_EQ(run->mmio.is_write, 0);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x13, 1), 13);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rsi, 0x10);
	ASSERT_EQ(regs.rdi, 0xffff);
	vm_free(vm);
}

/*
 * With RFLAGS.TF set, an emulated MMIO load or store ends with the
 * single-step #DB the processor would raise after it (DR6.BS; SDM vol.
 * 3, 17.3.1.4), the load's once the next KVM_RUN has completed it.  POPF
 * setting TF traps after the instruction that follows it.  The #DB
 * handler reports the return IP on port 0x71 and DR6 on port 0x72, then
 * returns with TF clear.
 */
#define MMIO_STEP(name, insn)						\
GUEST_CODE16(name,							\
	"	jmp 1f\n"						\
	#name "_handler:\n"						\
	"	push %bp\n"						\
	"	mov %sp, %bp\n"					\
	"	mov 2(%bp), %ax\n"					\
	"	out %ax, $0x71\n"					\
	"	mov %dr6, %eax\n"					\
	"	out %eax, $0x72\n"					\
	"	andw $0xfeff, 6(%bp)\n"				\
	"	pop %bp\n"						\
	"	iret\n"						\
	"1:\n"								\
	"	mov $0x2000, %ax\n"					\
	"	mov %ax, %ds\n"					\
	"	pushf\n"						\
	"	pop %ax\n"						\
	"	or $0x100, %ax\n"					\
	"	push %ax\n"						\
	"	popf\n"						\
	"	" insn "\n"						\
	#name "_after:\n"						\
	"	hlt\n");						\
extern const uint8_t name##_handler[], name##_after[]

MMIO_STEP(guest_step_load, "mov 0x20, %ebx");
MMIO_STEP(guest_step_store, "movl $0x12345678, 0x10");

/* Run a MMIO_STEP guest through its MMIO exit, its #DB report and HLT. */
static void check_mmio_step(const uint8_t *start, const uint8_t *end,
			    const uint8_t *handler, const uint8_t *after,
			    bool write)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(start, end, &vcpu);
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;

	vm_set_ivt(vm, 1, GUEST_LOAD_ADDR + (handler - start));
	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, write ? 0x20010 : 0x20020);
	ASSERT_EQ(run->mmio.is_write, write);
	if (!write)
		memcpy(run->mmio.data, "\x44\x33\x22\x11", 4);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x71, 2),
		  GUEST_LOAD_ADDR + (after - start));
	ASSERT_TRUE(vcpu_run_expect_out(vcpu, 0x72, 4) & 0x4000);
	vcpu_run_expect_hlt(vcpu);
	vcpu_get_regs(vcpu, &regs);
	if (!write)
		ASSERT_EQ((uint32_t)regs.rbx, 0x11223344);
	vm_free(vm);
}

TEST(single_step_after_mmio_load)
{
	check_mmio_step(GUEST(guest_step_load), guest_step_load_handler,
			guest_step_load_after, false);
}

/*
 * KVM single-steps an emulated instruction only when it goes back to the
 * guest from the emulator, not when the instruction exits to userspace:
 * after an MMIO store its guest runs on and traps one instruction late.
 */
TEST_OKVM_ONLY(single_step_after_mmio_store,
	       "KVM drops the single-step trap of an MMIO store that exits to userspace")
{
	check_mmio_step(GUEST(guest_step_store), guest_step_store_handler,
			guest_step_store_after, true);
}
