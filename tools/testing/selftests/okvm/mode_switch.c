// SPDX-License-Identifier: GPL-2.0
/*
 * Guests that change mode themselves: from real mode through protected
 * mode to long mode, as a boot loader does, and back; and EFER through
 * RDMSR and WRMSR, which okvm emulates (the one MSR it does) and which
 * the climb to long mode needs: EFER.LME is set with WRMSR, and the MOV
 * to CR0 that turns paging on makes EFER.LMA follow (Intel SDM vol. 3,
 * 10.8.5 "Initializing IA-32e Mode"; AMD APM vol. 2, 14.6 "Enabling and
 * Activating Long Mode").
 *
 * The real KVM offers long mode and NX in EFER only to a guest whose
 * CPUID has them, so on KVM each vCPU gets KVM's supported CPUID first
 * (vcpu_set_kvm_cpuid()); okvm's default CPUID has both.
 */
#include "kvm_util.h"

#define MSR_EFER		0xc0000080
#define X86_CR0_MP		(1UL << 1)
#define X86_CR0_NE		(1UL << 5)

/* The host-built tables, in the first 64 KiB (GUEST_MEM_SIZE). */
#define GDT_ADDR		0x8000
#define GDTR_ADDR		0x8040
#define PML4_ADDR		0x9000
#define PDPT_LOW_ADDR		0xa000
#define PD_LOW_ADDR		0xb000
#define PDPT_HIGH_ADDR		0xc000
#define PD_HIGH_ADDR		0xd000
/* The 32-bit paged guest's page directory and IDT. */
#define PD32_ADDR		0x9000
#define IDT32_ADDR		0xa000

#define SEL_CODE32		0x08
#define SEL_DATA		0x10
#define SEL_CODE64		0x18

/*
 * The memory the long-mode guest sums: 4 MiB at GPA 1 GiB, mapped with
 * 2 MiB pages at a virtual address far from it, so that only a guest
 * really running with its own page tables reads it there.
 */
#define SUM_GPA			0x40000000
#define SUM_SIZE		0x400000	/* 4 MiB: the asm takes no UL */
#define SUM_GVA			0x7f0000000000

/*
 * Real mode to long mode and back.  Reports on port 0x11 EFER as read in
 * compatibility mode (LME and LMA), on port 0x10 the 64-bit sum in two
 * halves, low first, then on 0x11 EFER after paging is off (LME alone)
 * and after LME is cleared (0).
 */
GUEST_CODE16(guest_climb,
	"	lgdtl " __stringify(GDTR_ADDR) "\n"
	"	mov %cr0, %eax\n"
	"	or $1, %eax\n"				/* PE */
	"	mov %eax, %cr0\n"
	"	ljmpl $" __stringify(SEL_CODE32) ", $(1f - guest_climb_start + "
		__stringify(GUEST_LOAD_ADDR) ")\n"
	".code32\n"
	"1:	mov $" __stringify(SEL_DATA) ", %ax\n"
	"	mov %ax, %ds\n"
	"	mov %ax, %es\n"
	"	mov %ax, %ss\n"
	"	mov %cr4, %eax\n"
	"	or $0x20, %eax\n"			/* PAE */
	"	mov %eax, %cr4\n"
	"	mov $" __stringify(PML4_ADDR) ", %eax\n"
	"	mov %eax, %cr3\n"
	"	mov $" __stringify(MSR_EFER) ", %ecx\n"
	"	rdmsr\n"
	"	or $0x100, %eax\n"			/* LME */
	"	wrmsr\n"
	"	mov %cr0, %eax\n"
	"	or $0x80000000, %eax\n"			/* PG: long mode */
	"	mov %eax, %cr0\n"
	"	rdmsr\n"
	"	out %eax, $0x11\n"
	"	ljmp $" __stringify(SEL_CODE64) ", $(2f - guest_climb_start + "
		__stringify(GUEST_LOAD_ADDR) ")\n"
	".code64\n"
	"2:	movabs $" __stringify(SUM_GVA) ", %rsi\n"
	"	mov $(" __stringify(SUM_SIZE) " / 8), %ecx\n"
	"	xor %eax, %eax\n"
	"3:	rol $5, %rax\n"
	"	xor (%rsi), %rax\n"
	"	add $8, %rsi\n"
	"	dec %ecx\n"
	"	jnz 3b\n"
	"	out %eax, $0x10\n"
	"	shr $32, %rax\n"
	"	out %eax, $0x10\n"
	/* Back to compatibility mode: paging goes off only there. */
	"	pushq $" __stringify(SEL_CODE32) "\n"
	"	pushq $(4f - guest_climb_start + " __stringify(GUEST_LOAD_ADDR)
		")\n"
	"	lretq\n"
	".code32\n"
	"4:	mov %cr0, %eax\n"
	"	and $0x7fffffff, %eax\n"
	"	mov %eax, %cr0\n"
	"	mov $" __stringify(MSR_EFER) ", %ecx\n"
	"	rdmsr\n"
	"	out %eax, $0x11\n"
	"	and $~0x100, %eax\n"
	"	wrmsr\n"
	"	rdmsr\n"
	"	out %eax, $0x11\n"
	"	hlt\n");

static void set_gdt_entry(struct kvm_vm *vm, int sel, uint64_t desc)
{
	*(uint64_t *)vm_hva(vm, GDT_ADDR + sel) = desc;
}

static void build_gdt(struct kvm_vm *vm)
{
	set_gdt_entry(vm, SEL_CODE32, 0x00cf9b000000ffffULL);
	set_gdt_entry(vm, SEL_DATA, 0x00cf93000000ffffULL);
	set_gdt_entry(vm, SEL_CODE64, 0x00af9b000000ffffULL);
	*(uint16_t *)vm_hva(vm, GDTR_ADDR) = 4 * 8 - 1;
	*(uint32_t *)vm_hva(vm, GDTR_ADDR + 2) = GDT_ADDR;
}

/*
 * Flat 32-bit code and data and a 64-bit code segment; PML4 entry 0
 * maps the first 2 MiB identically (the code, the stack and these
 * tables), entry 254 maps SUM_GVA onto SUM_GPA.
 */
static void build_tables(struct kvm_vm *vm)
{
	uint64_t *pml4 = vm_hva(vm, PML4_ADDR);
	uint64_t *pdpt_low = vm_hva(vm, PDPT_LOW_ADDR);
	uint64_t *pd_low = vm_hva(vm, PD_LOW_ADDR);
	uint64_t *pdpt_high = vm_hva(vm, PDPT_HIGH_ADDR);
	uint64_t *pd_high = vm_hva(vm, PD_HIGH_ADDR);
	unsigned int i;

	build_gdt(vm);
	pml4[0] = PDPT_LOW_ADDR | PTE_P | PTE_RW;
	pdpt_low[0] = PD_LOW_ADDR | PTE_P | PTE_RW;
	pd_low[0] = 0 | PTE_P | PTE_RW | PTE_PS;
	pml4[SUM_GVA >> 39 & 511] = PDPT_HIGH_ADDR | PTE_P | PTE_RW;
	pdpt_high[SUM_GVA >> 30 & 511] = PD_HIGH_ADDR | PTE_P | PTE_RW;
	for (i = 0; i < SUM_SIZE / (2 * MiB); i++)
		pd_high[i] = (SUM_GPA + i * 2 * MiB) | PTE_P | PTE_RW | PTE_PS;
}

TEST(real_to_long_and_back)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_climb), &vcpu);
	uint64_t *data = vm_add_mem(vm, 1, SUM_GPA, SUM_SIZE);
	uint64_t want, got;
	struct kvm_sregs s;

	vcpu_set_kvm_cpuid(vcpu);
	build_tables(vm);
	fill_random(data, SUM_SIZE / 8, 0x9e3779b97f4a7c15ULL);
	/* guest_climb's sum, in assembly. */
	want = checksum64(data, SUM_SIZE / 8);

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x11, 4), EFER_LME | EFER_LMA);
	vcpu_get_sregs(vcpu, &s);
	ASSERT_EQ(s.efer, EFER_LME | EFER_LMA);
	ASSERT_EQ(s.cr0 & (X86_CR0_PG | X86_CR0_PE), X86_CR0_PG | X86_CR0_PE);

	got = vcpu_run_expect_out(vcpu, 0x10, 4);
	got |= (uint64_t)vcpu_run_expect_out(vcpu, 0x10, 4) << 32;
	test_log("sum over %lu MiB: 0x%016llx", SUM_SIZE / MiB,
		 (unsigned long long)got);
	ASSERT_EQ(got, want);
	vcpu_get_sregs(vcpu, &s);
	ASSERT_EQ(s.cs.l, 1);

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x11, 4), EFER_LME);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x11, 4), 0);
	vcpu_run_expect_hlt(vcpu);
	vcpu_get_sregs(vcpu, &s);
	ASSERT_EQ(s.efer, 0);
	ASSERT_EQ(s.cr0 & X86_CR0_PG, 0);
	vm_free(vm);
}

/*
 * A flat 32-bit guest whose IDT sends #GP through a trap gate to
 * @handler (which reports it); @paged: with 4 MiB pages for the first
 * 4 MiB.
 */
static void set_flat32_gp_gate(struct kvm_vm *vm, struct kvm_vcpu *vcpu,
			       uint64_t handler, bool paged)
{
	uint32_t *pd = vm_hva(vm, PD32_ADDR);
	uint64_t *idt = vm_hva(vm, IDT32_ADDR);
	struct kvm_sregs s;

	build_gdt(vm);
	/* Present, DPL 0, type 0xf: IF stays as it was (see emulator.h). */
	idt[13] = (handler & 0xffff) | (uint64_t)SEL_CODE32 << 16 |
		  0x8f00ULL << 32 | (handler >> 16) << 48;
	vcpu_get_sregs(vcpu, &s);
	if (paged) {
		pd[0] = 0 | PTE_P | PTE_RW | PTE_PS;
		s.cr4 |= 0x10;			/* PSE */
		s.cr3 = PD32_ADDR;
		s.cr0 |= X86_CR0_PG;
	}
	s.gdt.base = GDT_ADDR;
	s.gdt.limit = 4 * 8 - 1;
	s.idt.base = IDT32_ADDR;
	s.idt.limit = 256 * 8 - 1;
	vcpu_set_sregs(vcpu, &s);
}

/*
 * WRMSR, from flat protected mode without paging: EBX holds the value,
 * ECX the MSR; #GP reports 13 on port 0x13, success what RDMSR reads
 * back on port 0x11.
 */
GUEST_CODE32(guest_wrmsr,
	"	mov %ebx, %eax\n"
	"	mov $0, %edx\n"
	"	wrmsr\n"
	"	rdmsr\n"
	"	out %eax, $0x11\n"
	"	hlt\n"
	"wrmsr_gp:\n"
	"	mov $13, %eax\n"
	"	out %eax, $0x13\n"
	"	hlt\n");
extern const uint8_t wrmsr_gp[];

/* Runs guest_wrmsr with EFER at @start; returns true if WRMSR took @val. */
static bool try_wrmsr(uint32_t msr, uint64_t start, uint32_t val,
		      uint32_t *read_back)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_wrmsr), &vcpu);
	struct kvm_sregs s;
	struct kvm_regs r;
	bool ok;

	vcpu_set_kvm_cpuid(vcpu);
	set_flat32_gp_gate(vm, vcpu, guest_addr(wrmsr_gp, guest_wrmsr), false);
	vcpu_get_sregs(vcpu, &s);
	s.efer = start;
	vcpu_set_sregs(vcpu, &s);
	vcpu_get_regs(vcpu, &r);
	r.rbx = val;
	r.rcx = msr;
	vcpu_set_regs(vcpu, &r);

	vcpu_run_ok(vcpu);
	vcpu_expect_exit(vcpu, KVM_EXIT_IO);
	ok = vcpu->run->io.port == 0x11;
	if (ok)
		*read_back = *(uint32_t *)((uint8_t *)vcpu->run +
					   vcpu->run->io.data_offset);
	else
		ASSERT_EQ(vcpu->run->io.port, 0x13);
	vm_free(vm);
	return ok;
}

TEST(efer_wrmsr)
{
	uint32_t got;

	/*
	 * SCE and NXE take, whatever EFER held.  LME is left to
	 * real_to_long_and_back, which sets CR4.PAE first: at a #VMEXIT
	 * from a guest with EFER.LME set and CR4.PAE clear (guest_wrmsr's
	 * RDMSR), QEMU's TCG loads the host's CR0 before its CR4 and EFER,
	 * refuses to turn paging back on and hangs the test host, with
	 * kvm_amd as with okvm (tools/testing/fuzz/README).
	 */
	ASSERT_TRUE(try_wrmsr(MSR_EFER, 0, EFER_SCE | EFER_NX, &got));
	ASSERT_EQ(got, EFER_SCE | EFER_NX);
	ASSERT_TRUE(try_wrmsr(MSR_EFER, EFER_SCE | EFER_NX, 0, &got));
	ASSERT_EQ(got, 0);
	/* LMA is the processor's: writing it outside long mode changes nothing. */
	ASSERT_TRUE(try_wrmsr(MSR_EFER, 0, EFER_LMA, &got));
	ASSERT_EQ(got, 0);
	/*
	 * Reserved bits.  Not SVME: kvm_amd offers nested SVM in the CPUID
	 * it supports, and then takes it.
	 */
	ASSERT_FALSE(try_wrmsr(MSR_EFER, 0, 1U << 1, &got));
	ASSERT_FALSE(try_wrmsr(MSR_EFER, 0, 1U << 9, &got));
	/* An MSR nobody emulates: #GP, on okvm as on KVM for one it does not know. */
	ASSERT_FALSE(try_wrmsr(0x4b564dff, 0, 0, &got));
}

/*
 * A 32-bit guest with paging on may not change EFER.LME (SDM vol. 3,
 * 2.2.1: #GP when paging is enabled); #GP reports 13 on port 0x13.
 */
GUEST_CODE32(guest_lme_paged,
	"	mov $" __stringify(MSR_EFER) ", %ecx\n"
	"	rdmsr\n"
	"	or $0x100, %eax\n"
	"	wrmsr\n"
	"	out %eax, $0x11\n"
	"	hlt\n"
	"lme_paged_gp:\n"
	"	mov $13, %eax\n"
	"	out %eax, $0x13\n"
	"	hlt\n");
extern const uint8_t lme_paged_gp[];

TEST(efer_lme_with_paging_gp)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_lme_paged), &vcpu);
	struct kvm_sregs s;

	vcpu_set_kvm_cpuid(vcpu);
	set_flat32_gp_gate(vm, vcpu,
			   guest_addr(lme_paged_gp, guest_lme_paged), true);

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x13, 4), 13);
	vcpu_run_expect_hlt(vcpu);
	vcpu_get_sregs(vcpu, &s);
	ASSERT_EQ(s.efer & EFER_LME, 0);
	vm_free(vm);
}
