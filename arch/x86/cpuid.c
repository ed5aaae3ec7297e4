// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: the guest's CPUID, answered in the kernel.
 *
 * Until userspace can set CPUID (KVM_SET_CPUID2), every guest sees one
 * default set: the host's CPU, filtered down to what okvm can actually
 * give a guest.  Long mode and NX are offered: the guest turns them on in
 * EFER, the one MSR okvm emulates.  Features that need another MSR
 * (SYSCALL's STAR and LSTAR, PAT, MTRR, SYSENTER, machine check) or a
 * device okvm does not have (the local APIC) are left out.  Feature bit
 * positions are from the Intel SDM vol. 2A (CPUID) and the AMD APM vol. 3
 * appendix E.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/types.h>
#include <asm/fpu/xcr.h>
#include <asm/processor.h>

#include "x86.h"

#define MAX_BASIC_LEAF		0xd
#define MAX_EXT_LEAF		0x80000008

#define L1_EDX	(BIT(0) /* FPU */ | BIT(1) /* VME */ | BIT(2) /* DE */ | \
		 BIT(3) /* PSE */ | BIT(4) /* TSC */ | BIT(6) /* PAE */ | \
		 BIT(8) /* CX8 */ | BIT(13) /* PGE */ | BIT(15) /* CMOV */ | \
		 BIT(17) /* PSE36 */ | \
		 BIT(19) /* CLFLUSH */ | BIT(23) /* MMX */ | \
		 BIT(24) /* FXSR */ | BIT(25) /* SSE */ | BIT(26) /* SSE2 */)
#define L1_ECX	(BIT(0) /* SSE3 */ | BIT(1) /* PCLMULQDQ */ | \
		 BIT(9) /* SSSE3 */ | BIT(12) /* FMA */ | BIT(13) /* CX16 */ | \
		 BIT(19) /* SSE4.1 */ | BIT(20) /* SSE4.2 */ | \
		 BIT(22) /* MOVBE */ | BIT(23) /* POPCNT */ | BIT(25) /* AES */ | \
		 BIT(26) /* XSAVE */ | BIT(28) /* AVX */ | BIT(29) /* F16C */ | \
		 BIT(30) /* RDRAND */)
#define L1_ECX_OSXSAVE		BIT(27)
#define L1_ECX_HYPERVISOR	BIT(31)
#define L1_ECX_XSAVE		BIT(26)
#define L1_ECX_AVX		BIT(28)
#define L7_EBX	(BIT(0) /* FSGSBASE */ | BIT(3) /* BMI1 */ | BIT(5) /* AVX2 */ | \
		 BIT(7) /* SMEP */ | BIT(8) /* BMI2 */ | BIT(9) /* ERMS */ | \
		 BIT(18) /* RDSEED */ | BIT(19) /* ADX */ | BIT(20) /* SMAP */ | \
		 BIT(23) /* CLFLUSHOPT */ | BIT(29) /* SHA */)
#define L7_EBX_FSGSBASE		BIT(0)
#define L7_EBX_SMEP		BIT(7)
#define L7_EBX_SMAP		BIT(20)
#define LD1_EAX	(BIT(0) /* XSAVEOPT */)
#define E1_ECX	(BIT(0) /* LAHF/SAHF */ | BIT(5) /* LZCNT */ | \
		 BIT(6) /* SSE4A */ | BIT(7) /* misaligned SSE */ | \
		 BIT(8) /* PREFETCHW */)
#define E1_EDX_NX		BIT(20)
#define E1_EDX_LM		BIT(29)
#define E1_EDX	(E1_EDX_NX | E1_EDX_LM)

/*
 * CR4 bits a guest may set: those of the base architecture plus those
 * whose feature the default CPUID offers (SDM 2.5).
 */
#define CR4_BASE	(X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE | \
			 X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE | \
			 X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT)

static u32 leaf1_eax, leaf1_ebx, leaf1_ecx, leaf1_edx;
static u32 leaf7_ebx;
static u32 ext1_edx;
static u64 guest_xcr0;

/**
 * okvm_cpuid_init() - compute the default set from the host's CPUID
 */
void okvm_cpuid_init(void)
{
	u32 eax, ebx, ecx, edx;

	cpuid(1, &leaf1_eax, &leaf1_ebx, &leaf1_ecx, &leaf1_edx);
	leaf1_edx &= L1_EDX;
	leaf1_ecx &= L1_ECX;
	/* One logical processor per package; CLFLUSH line size kept. */
	leaf1_ebx &= 0xff00;

	cpuid_count(7, 0, &eax, &ebx, &ecx, &edx);
	leaf7_ebx = cpuid_eax(0) >= 7 ? ebx & L7_EBX : 0;
	ext1_edx = cpuid_eax(0x80000000) >= 0x80000001 ?
		   cpuid_edx(0x80000001) & E1_EDX : 0;

	/* XSAVE only with what okvm switches: x87, SSE, AVX. */
	guest_xcr0 = 0;
	if (boot_cpu_has(X86_FEATURE_OSXSAVE) && (leaf1_ecx & L1_ECX_XSAVE)) {
		guest_xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK) &
			     (XFEATURE_MASK_FP | XFEATURE_MASK_SSE |
			      XFEATURE_MASK_YMM);
	} else {
		leaf1_ecx &= ~L1_ECX_XSAVE;
	}
	if (!(guest_xcr0 & XFEATURE_MASK_YMM)) {
		leaf1_ecx &= ~L1_ECX_AVX;
		leaf7_ebx &= ~BIT(5);
	}
}

/**
 * okvm_guest_supported_xcr0() - the XCR0 bits a guest may set
 *
 * Return: a subset of x87 | SSE | AVX, or 0 when XSAVE is not offered.
 */
u64 okvm_guest_supported_xcr0(void)
{
	return guest_xcr0;
}

/**
 * okvm_cr4_reserved_bits() - CR4 bits KVM_SET_SREGS must refuse
 *
 * Return: the complement of what the guest's CPUID allows.
 */
u64 okvm_cr4_reserved_bits(void)
{
	u64 allowed = CR4_BASE;

	if (leaf1_ecx & L1_ECX_XSAVE)
		allowed |= X86_CR4_OSXSAVE;
	if (leaf7_ebx & L7_EBX_FSGSBASE)
		allowed |= X86_CR4_FSGSBASE;
	if (leaf7_ebx & L7_EBX_SMEP)
		allowed |= X86_CR4_SMEP;
	if (leaf7_ebx & L7_EBX_SMAP)
		allowed |= X86_CR4_SMAP;
	return ~allowed;
}

/**
 * okvm_efer_allowed() - the EFER bits a guest may set with WRMSR
 *
 * SCE always, as KVM allows it whatever CPUID says; LME and LMA with long
 * mode, NXE with NX (SDM vol. 3, 2.2.1; APM vol. 2, 3.1.7).  LMA is the
 * processor's to set, but a write may carry it back as read.
 *
 * Return: the bits WRMSR to EFER accepts.
 */
u64 okvm_efer_allowed(void)
{
	u64 allowed = EFER_SCE;

	if (ext1_edx & E1_EDX_LM)
		allowed |= EFER_LME | EFER_LMA;
	if (ext1_edx & E1_EDX_NX)
		allowed |= EFER_NX;
	return allowed;
}

/* The size of the XSAVE area for the features in @xcr0 (leaf 0xD). */
static u32 xsave_size(u64 xcr0)
{
	u32 size = 512 + 64;	/* legacy region and XSAVE header */
	u32 eax, ebx, ecx, edx;
	int i;

	for (i = 2; i < 64; i++) {
		if (!(xcr0 & BIT_ULL(i)))
			continue;
		cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx);
		size = max(size, eax + ebx);
	}
	return size;
}

static void cpuid_xsave_leaf(struct okvm_vcpu *vcpu, u32 subleaf, u32 *eax,
			     u32 *ebx, u32 *ecx, u32 *edx)
{
	u32 unused;

	if (!guest_xcr0)
		return;
	switch (subleaf) {
	case 0:
		*eax = (u32)guest_xcr0;
		*edx = guest_xcr0 >> 32;
		*ebx = xsave_size(vcpu->arch.xcr0);
		*ecx = xsave_size(guest_xcr0);
		break;
	case 1:
		cpuid_count(0xd, 1, eax, &unused, &unused, &unused);
		*eax &= LD1_EAX;
		break;
	default:
		if (subleaf < 64 && (guest_xcr0 & BIT_ULL(subleaf)))
			cpuid_count(0xd, subleaf, eax, ebx, ecx, edx);
		break;
	}
}

/**
 * okvm_cpuid() - what CPUID returns to the guest
 * @vcpu:	the vCPU executing CPUID
 * @leaf:	EAX
 * @subleaf:	ECX
 * @eax:	out
 * @ebx:	out
 * @ecx:	out
 * @edx:	out
 *
 * Leaves outside the default set read as zero, as on AMD processors.
 */
void okvm_cpuid(struct okvm_vcpu *vcpu, u32 leaf, u32 subleaf, u32 *eax,
		u32 *ebx, u32 *ecx, u32 *edx)
{
	*eax = *ebx = *ecx = *edx = 0;

	switch (leaf) {
	case 0:
		cpuid(0, eax, ebx, ecx, edx);
		*eax = min_t(u32, *eax, MAX_BASIC_LEAF);
		break;
	case 1:
		*eax = leaf1_eax;
		*ebx = leaf1_ebx | (vcpu->id & 0xff) << 24;
		*ecx = leaf1_ecx | L1_ECX_HYPERVISOR;
		if (okvm_get_ctl(vcpu, OKVM_CTL_CR4) & X86_CR4_OSXSAVE)
			*ecx |= L1_ECX_OSXSAVE;
		*edx = leaf1_edx;
		break;
	case 7:
		if (subleaf == 0)
			*ebx = leaf7_ebx;
		break;
	case 0xd:
		cpuid_xsave_leaf(vcpu, subleaf, eax, ebx, ecx, edx);
		break;
	case 0x80000000:
		cpuid(leaf, eax, ebx, ecx, edx);
		*eax = min_t(u32, *eax, MAX_EXT_LEAF);
		break;
	case 0x80000001:
		cpuid(leaf, eax, ebx, ecx, edx);
		*ebx = 0;
		*ecx &= E1_ECX;
		*edx = ext1_edx;
		break;
	case 0x80000002 ... 0x80000006:
		/* Brand string, cache and TLB descriptions. */
		if (cpuid_eax(0x80000000) >= leaf)
			cpuid(leaf, eax, ebx, ecx, edx);
		break;
	case 0x80000008:
		/* Physical and linear address widths only. */
		*eax = (cpuid_eax(leaf) & 0xff00) | okvm_phys_bits();
		break;
	default:
		break;
	}
}
