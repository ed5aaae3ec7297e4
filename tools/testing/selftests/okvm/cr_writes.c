// SPDX-License-Identifier: GPL-2.0
/*
 * A 64-bit guest's writes to its control registers and EFER, judged as
 * the hardware judges them (Intel SDM vol. 3, 2.5 "Control Registers"
 * and 2.2.1; the MOV CR and WRMSR pages of vol. 2; AMD APM vol. 2, 3.1):
 * a bad value is #GP(0) and changes nothing, a good one takes.  okvm
 * emulates some of these moves (those that exit: CR0 under VMX, CR4
 * always on AMD and on Intel when it sets a bit the guest's CPUID lacks
 * or the CPU fixes, EFER always) and leaves the rest to the CPU; either
 * way the guest must see what it would see on bare metal.
 *
 * Each case is one write in a fresh VM (lib/long_mode.h): the guest
 * makes it, then reports the register as it reads it back with
 * GUEST_SYNC; a #GP arrives as the lib's exception report instead.
 *
 * Under QEMU's TCG (the AMD-V test hosts) the reserved-bit and mode
 * checks on MOV to CR0, CR3, CR4 and CR8 that only the CPU makes are not
 * run: QEMU 7.2 takes CR0 and CR4 bits above 31, CR3 bits above the
 * physical address width and CR8 bits above 3, and CR4.PAE cleared in
 * long mode, without #GP, where AMD hardware faults.  Neither okvm nor
 * kvm_amd intercepts the moves to CR0, CR3 and CR8 (with nested paging
 * there is no need to), so both then see a VMRUN fail or the guest
 * triple-fault.  Both intercept those to CR4, but kvm_amd under QEMU
 * was seen to take a CR4 bit above 31 all the same (Debian's 6.1 and
 * 6.12), so that check stays off there.
 * okvm with shadow paging (tdp=0) intercepts the moves to CR0, CR3 and
 * CR4, and there runs those checks too.  The Bochs (VT-x) hosts run
 * every check.
 */
#include <okvm/emulator.h>

#include "long_mode.h"

#define X86_CR0_WP		(1UL << 16)
#define X86_CR4_PGE		(1UL << 7)
#define MSR_EFER		0xc0000080

enum reg { REG_CR0, REG_CR3, REG_CR4, REG_CR8, REG_EFER };

/* The write the guest makes: set, then clear, these bits of the value. */
static volatile uint64_t w_reg, w_set, w_clear;

static uint64_t read_reg(uint64_t reg)
{
	uint64_t v = 0;
	uint32_t lo, hi;

	switch (reg) {
	case REG_CR0:
		asm volatile("mov %%cr0, %0" : "=r"(v));
		break;
	case REG_CR3:
		asm volatile("mov %%cr3, %0" : "=r"(v));
		break;
	case REG_CR4:
		asm volatile("mov %%cr4, %0" : "=r"(v));
		break;
	case REG_CR8:
		asm volatile("mov %%cr8, %0" : "=r"(v));
		break;
	case REG_EFER:
		asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_EFER));
		v = (uint64_t)hi << 32 | lo;
		break;
	}
	return v;
}

static void write_reg(uint64_t reg, uint64_t v)
{
	switch (reg) {
	case REG_CR0:
		asm volatile("mov %0, %%cr0" : : "r"(v) : "memory");
		break;
	case REG_CR3:
		asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
		break;
	case REG_CR4:
		asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
		break;
	case REG_CR8:
		asm volatile("mov %0, %%cr8" : : "r"(v) : "memory");
		break;
	case REG_EFER:
		asm volatile("wrmsr" : : "a"((uint32_t)v), "d"(v >> 32),
			     "c"(MSR_EFER) : "memory");
		break;
	}
}

static void guest_write(void)
{
	uint64_t reg = w_reg;

	write_reg(reg, (read_reg(reg) | w_set) & ~w_clear);
	GUEST_SYNC(read_reg(reg));
	GUEST_DONE();
}

/*
 * One write in a fresh VM.  Returns true when it took (and *after holds
 * the register as the guest then reads it), false on #GP; any other
 * outcome fails the case.
 */
static bool try_write(enum reg reg, uint64_t set, uint64_t clear,
		      uint64_t *after)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_write, &vcpu);
	struct ucall uc;
	bool took = false;

	vcpu_set_kvm_cpuid(vcpu);
	*guest_var(vm, w_reg) = reg;
	*guest_var(vm, w_set) = set;
	*guest_var(vm, w_clear) = clear;
	switch (vcpu_run_ucall_any(vcpu, &uc)) {
	case UCALL_SYNC:
		took = true;
		*after = uc.args[0];
		vcpu_run_expect_done(vcpu);
		break;
	case UCALL_EXCEPTION:
		ASSERT_EQ(uc.args[0], GP_VECTOR);
		ASSERT_EQ(uc.args[1], 0);
		break;
	default:
		test_fail("guest reported ucall %llu", (unsigned long long)uc.type);
	}
	vm_free(vm);
	return took;
}

/* The register as the lib's long-mode guest starts with it. */
static uint64_t start_value(enum reg reg)
{
	uint64_t v;

	ASSERT_TRUE(try_write(reg, 0, 0, &v));
	return v;
}

#define ASSERT_GP(reg, set, clear) do {					\
	uint64_t __after;						\
	ASSERT_FALSE(try_write(reg, set, clear, &__after));		\
} while (0)

/*
 * A #GP only the CPU raises: not under QEMU's TCG (see the top), unless
 * okvm intercepts the move (CR0, CR3 and CR4 under shadow paging).
 */
#define ASSERT_CPU_GP(reg, set, clear) do {				\
	if (host_under_tcg() &&						\
	    !(test_on_okvm() && shadow_paging() && (reg) != REG_CR8))	\
		test_log("not under QEMU's TCG: " #reg " set " #set	\
			 " clear " #clear " would not fault");		\
	else								\
		ASSERT_GP(reg, set, clear);				\
} while (0)

#define ASSERT_TAKES(reg, set, clear, want) do {			\
	uint64_t __after;						\
	ASSERT_TRUE(try_write(reg, set, clear, &__after));		\
	ASSERT_EQ(__after, want);					\
} while (0)

TEST(cr0)
{
	uint64_t cr0 = start_value(REG_CR0);

	ASSERT_EQ(cr0 & (X86_CR0_PE | X86_CR0_PG), X86_CR0_PE | X86_CR0_PG);
	ASSERT_TAKES(REG_CR0, 0, X86_CR0_WP, cr0 & ~X86_CR0_WP);
	/* NW without CD; bits 63:32; paging off in 64-bit mode. */
	ASSERT_CPU_GP(REG_CR0, X86_CR0_NW, X86_CR0_CD);
	ASSERT_CPU_GP(REG_CR0, 1UL << 32, 0);
	ASSERT_CPU_GP(REG_CR0, 0, X86_CR0_PG);
}

TEST(cr4)
{
	uint64_t cr4 = start_value(REG_CR4);

	ASSERT_TRUE(cr4 & X86_CR4_PAE);
	ASSERT_TAKES(REG_CR4, X86_CR4_PGE, 0, cr4 | X86_CR4_PGE);
	/* PAE off in long mode; a reserved bit above 31. */
	ASSERT_CPU_GP(REG_CR4, 0, X86_CR4_PAE);
	ASSERT_CPU_GP(REG_CR4, 1UL << 40, 0);
}

/* Leaf 1 ECX, leaf 7 EBX and ECX of the guest's CPUID (0 past its last). */
static void guest_cpuid(void)
{
	uint32_t a, b, c, d, max;

	asm volatile("cpuid" : "=a"(max), "=b"(b), "=c"(c), "=d"(d)
			     : "a"(0), "c"(0));
	asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
			     : "a"(1), "c"(0));
	GUEST_SYNC(c);
	b = c = 0;
	if (max >= 7)
		asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
				     : "a"(7), "c"(0));
	GUEST_SYNC(b);
	GUEST_SYNC(c);
	GUEST_DONE();
}

/* CR4 bits that need a CPUID feature (SDM vol. 3, 2.5; vol. 2A, CPUID). */
static const struct {
	uint64_t cr4;
	int word;	/* 0: leaf 1 ECX, 1: leaf 7 EBX, 2: leaf 7 ECX */
	int bit;
	const char *name;
} cr4_features[] = {
	{ 1UL << 11, 2, 2, "UMIP" },
	{ 1UL << 13, 0, 5, "VMXE" },
	{ 1UL << 14, 0, 6, "SMXE" },
	{ 1UL << 16, 1, 0, "FSGSBASE" },
	{ 1UL << 17, 0, 17, "PCIDE" },
	{ 1UL << 18, 0, 26, "OSXSAVE" },
	{ 1UL << 20, 1, 7, "SMEP" },
	{ 1UL << 21, 1, 20, "SMAP" },
	{ 1UL << 22, 2, 3, "PKE" },
};

/*
 * A CR4 bit whose feature the guest's CPUID lacks is #GP, as on a CPU
 * without it, even where the host CPU has the feature (UMIP under QEMU,
 * PCIDE under Bochs): okvm and KVM intercept such writes with nested
 * paging too.
 */
TEST(cr4_bits_cpuid_lacks)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_cpuid, &vcpu);
	uint32_t words[3];
	struct ucall uc;
	unsigned int i;

	vcpu_set_kvm_cpuid(vcpu);	/* as try_write() */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(vcpu_run_ucall_any(vcpu, &uc), UCALL_SYNC);
		words[i] = uc.args[0];
	}
	vcpu_run_expect_done(vcpu);
	vm_free(vm);
	for (i = 0; i < sizeof(cr4_features) / sizeof(cr4_features[0]); i++) {
		if (words[cr4_features[i].word] >> cr4_features[i].bit & 1)
			continue;
		test_log("CR4.%s: not in CPUID, #GP", cr4_features[i].name);
		ASSERT_GP(REG_CR4, cr4_features[i].cr4, 0);
	}
}

TEST(cr3)
{
	uint64_t cr3 = start_value(REG_CR3);

	ASSERT_TAKES(REG_CR3, 0, 0, cr3);
	/* Beyond any physical address width (52 bits at most). */
	ASSERT_CPU_GP(REG_CR3, 1UL << 52, 0);
}

TEST(cr8)
{
	ASSERT_TAKES(REG_CR8, 5, 0, 5);
	ASSERT_TAKES(REG_CR8, 15, 0, 15);
	/* Bits 63:4 are reserved. */
	ASSERT_CPU_GP(REG_CR8, 1UL << 4, 0);
}

TEST(efer)
{
	uint64_t efer = start_value(REG_EFER);

	ASSERT_EQ(efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
	ASSERT_TAKES(REG_EFER, EFER_SCE, 0, efer | EFER_SCE);
	/* LME off with paging on; a reserved bit; LMA written changes nothing. */
	ASSERT_GP(REG_EFER, 0, EFER_LME);
	ASSERT_GP(REG_EFER, 1UL << 1, 0);
	ASSERT_TAKES(REG_EFER, 0, EFER_LMA, efer);
}
