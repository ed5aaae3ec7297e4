/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AMD SVM definitions: the VMCB layout (AMD APM vol. 2, appendix B,
 * tables B-1 and B-2), intercept bits, exit codes and CPUID feature bits.
 */
#ifndef OKVM_SVM_H
#define OKVM_SVM_H

#include <linux/build_bug.h>
#include <linux/types.h>

/* CPUID Fn8000_000A: SVM revision, number of ASIDs, features in EDX. */
#define SVM_CPUID_LEAF			0x8000000a
#define SVM_FEATURE_NPT			BIT(0)
#define SVM_FEATURE_NRIPS		BIT(3)
#define SVM_FEATURE_FLUSHBYASID		BIT(6)
#define SVM_FEATURE_DECODE_ASSISTS	BIT(7)

/* VM_CR MSR: SVMDIS set by firmware means SVM cannot be enabled (15.30.1). */
#define SVM_VM_CR_SVMDIS		BIT(4)

/* Intercept vector 0 (offset 0x000): reads of CRn, writes of CRn. */
#define SVM_INTERCEPT_CR_READ(n)	BIT(n)
#define SVM_INTERCEPT_CR_WRITE(n)	BIT(16 + (n))

/* Intercept vector 3 (offset 0x00c), APM table B-1. */
#define SVM_INTERCEPT_INTR		BIT(0)
#define SVM_INTERCEPT_NMI		BIT(1)
#define SVM_INTERCEPT_SMI		BIT(2)
#define SVM_INTERCEPT_RDPMC		BIT(15)
#define SVM_INTERCEPT_CPUID		BIT(18)
#define SVM_INTERCEPT_INVD		BIT(22)
#define SVM_INTERCEPT_HLT		BIT(24)
#define SVM_INTERCEPT_INVLPG		BIT(25)
#define SVM_INTERCEPT_INVLPGA		BIT(26)
#define SVM_INTERCEPT_IOIO		BIT(27)
#define SVM_INTERCEPT_MSR		BIT(28)
#define SVM_INTERCEPT_SHUTDOWN		BIT(31)

/* Intercept vector 4 (offset 0x010). */
#define SVM_INTERCEPT_VMRUN		BIT(0)
#define SVM_INTERCEPT_VMMCALL		BIT(1)
#define SVM_INTERCEPT_VMLOAD		BIT(2)
#define SVM_INTERCEPT_VMSAVE		BIT(3)
#define SVM_INTERCEPT_STGI		BIT(4)
#define SVM_INTERCEPT_CLGI		BIT(5)
#define SVM_INTERCEPT_SKINIT		BIT(6)
#define SVM_INTERCEPT_WBINVD		BIT(9)
#define SVM_INTERCEPT_MONITOR		BIT(10)
#define SVM_INTERCEPT_MWAIT		BIT(11)
#define SVM_INTERCEPT_MWAIT_ARMED	BIT(12)
#define SVM_INTERCEPT_XSETBV		BIT(13)

/* int_ctl (offset 0x060) */
#define SVM_V_TPR_MASK			0xfULL
#define SVM_V_INTR_MASKING		BIT(24)

/* int_state (offset 0x068) */
#define SVM_INTERRUPT_SHADOW		BIT(0)

/* nested_ctl (offset 0x090) */
#define SVM_NESTED_CTL_NP_ENABLE	BIT(0)

/* tlb_ctl (offset 0x05c), APM 15.16.1 */
#define SVM_TLB_FLUSH_NOTHING		0
#define SVM_TLB_FLUSH_ALL		1
#define SVM_TLB_FLUSH_ASID		3

/*
 * VMCB clean bits (APM 15.15.3): a set bit tells the CPU that the fields
 * in that group are unchanged since the last VMRUN of this VMCB on this
 * CPU and may come from its cache.
 */
#define SVM_CLEAN_INTERCEPTS		BIT(0)
#define SVM_CLEAN_IOPM			BIT(1)
#define SVM_CLEAN_ASID			BIT(2)
#define SVM_CLEAN_TPR			BIT(3)
#define SVM_CLEAN_NP			BIT(4)
#define SVM_CLEAN_CR			BIT(5)
#define SVM_CLEAN_DR			BIT(6)
#define SVM_CLEAN_DT			BIT(7)
#define SVM_CLEAN_SEG			BIT(8)
#define SVM_CLEAN_CR2			BIT(9)
#define SVM_CLEAN_ALL			0xfff

/* IOIO exit information 1 (APM 15.10.2) */
#define SVM_IOIO_IN			BIT(0)
#define SVM_IOIO_STRING			BIT(2)
#define SVM_IOIO_REP			BIT(3)
#define SVM_IOIO_SIZE_SHIFT		4
#define SVM_IOIO_SIZE_MASK		(7 << SVM_IOIO_SIZE_SHIFT)
#define SVM_IOIO_PORT_SHIFT		16

/*
 * CR access EXITINFO1 with decode assists: a MOV names its GPR (APM vol.
 * 2, 15.33); CLTS, LMSW and SMSW leave bit 63 clear.
 */
#define SVM_CR_MOV			BIT_ULL(63)
#define SVM_CR_GPR_MASK			0xfULL

/* Nested page fault exit information 1: the page fault error code. */
#define SVM_NPF_WRITE			BIT(1)

/* Exit codes (APM appendix C) */
#define SVM_EXIT_CR_READ_BASE		0x000	/* + CR number */
#define SVM_EXIT_CR_WRITE_BASE		0x010
#define SVM_EXIT_EXCP_BASE		0x040
#define SVM_EXIT_INTR			0x060
#define SVM_EXIT_NMI			0x061
#define SVM_EXIT_SMI			0x062
#define SVM_EXIT_RDPMC			0x06f
#define SVM_EXIT_CPUID			0x072
#define SVM_EXIT_INVD			0x076
#define SVM_EXIT_HLT			0x078
#define SVM_EXIT_INVLPG			0x079
#define SVM_EXIT_INVLPGA		0x07a
#define SVM_EXIT_IOIO			0x07b
#define SVM_EXIT_MSR			0x07c
#define SVM_EXIT_SHUTDOWN		0x07f
#define SVM_EXIT_VMRUN			0x080
#define SVM_EXIT_VMMCALL		0x081
#define SVM_EXIT_VMLOAD			0x082
#define SVM_EXIT_VMSAVE			0x083
#define SVM_EXIT_STGI			0x084
#define SVM_EXIT_CLGI			0x085
#define SVM_EXIT_SKINIT			0x086
#define SVM_EXIT_WBINVD			0x089
#define SVM_EXIT_MONITOR		0x08a
#define SVM_EXIT_MWAIT			0x08b
#define SVM_EXIT_MWAIT_ARMED		0x08c
#define SVM_EXIT_XSETBV			0x08d
#define SVM_EXIT_NPF			0x400
#define SVM_EXIT_INVALID		0xffffffffU

/* Segment attributes as the VMCB packs them (APM 15.5.1). */
#define SVM_ATTR_TYPE_MASK		0xf
#define SVM_ATTR_S_SHIFT		4
#define SVM_ATTR_DPL_SHIFT		5
#define SVM_ATTR_P_SHIFT		7
#define SVM_ATTR_AVL_SHIFT		8
#define SVM_ATTR_L_SHIFT		9
#define SVM_ATTR_DB_SHIFT		10
#define SVM_ATTR_G_SHIFT		11

struct vmcb_seg {
	u16 selector;
	u16 attrib;
	u32 limit;
	u64 base;
} __packed;

/* VMCB control area, offsets 0x000-0x3ff. */
struct vmcb_control {
	u32 intercept_cr;		/* 0x000 reads 0-15, writes 16-31 */
	u32 intercept_dr;		/* 0x004 */
	u32 intercept_exceptions;	/* 0x008 */
	u32 intercept_misc1;		/* 0x00c */
	u32 intercept_misc2;		/* 0x010 */
	u32 intercept_misc3;		/* 0x014 */
	u8 reserved_018[0x03c - 0x018];
	u16 pause_filter_thresh;	/* 0x03c */
	u16 pause_filter_count;		/* 0x03e */
	u64 iopm_base_pa;		/* 0x040 */
	u64 msrpm_base_pa;		/* 0x048 */
	u64 tsc_offset;			/* 0x050 */
	u32 asid;			/* 0x058 */
	u8 tlb_ctl;			/* 0x05c */
	u8 reserved_05d[3];
	u32 int_ctl;			/* 0x060 */
	u32 int_vector;			/* 0x064 */
	u64 int_state;			/* 0x068 */
	u64 exit_code;			/* 0x070 */
	u64 exit_info1;			/* 0x078 */
	u64 exit_info2;			/* 0x080 */
	u64 exit_int_info;		/* 0x088 */
	u64 nested_ctl;			/* 0x090 */
	u64 avic_apic_bar;		/* 0x098 */
	u64 ghcb_pa;			/* 0x0a0 */
	u64 event_inj;			/* 0x0a8 */
	u64 nested_cr3;			/* 0x0b0 */
	u64 virt_ext;			/* 0x0b8 */
	u32 clean;			/* 0x0c0 */
	u32 reserved_0c4;
	u64 next_rip;			/* 0x0c8 */
	u8 insn_len;			/* 0x0d0 */
	u8 insn_bytes[15];		/* 0x0d1 */
	u8 reserved_0e0[0x400 - 0x0e0];
} __packed;

/* VMCB state save area, at offset 0x400 of the VMCB. */
struct vmcb_save {
	struct vmcb_seg es;		/* 0x000 */
	struct vmcb_seg cs;		/* 0x010 */
	struct vmcb_seg ss;		/* 0x020 */
	struct vmcb_seg ds;		/* 0x030 */
	struct vmcb_seg fs;		/* 0x040 */
	struct vmcb_seg gs;		/* 0x050 */
	struct vmcb_seg gdtr;		/* 0x060 */
	struct vmcb_seg ldtr;		/* 0x070 */
	struct vmcb_seg idtr;		/* 0x080 */
	struct vmcb_seg tr;		/* 0x090 */
	u8 reserved_0a0[0x0cb - 0x0a0];
	u8 cpl;				/* 0x0cb */
	u32 reserved_0cc;
	u64 efer;			/* 0x0d0 */
	u8 reserved_0d8[0x148 - 0x0d8];
	u64 cr4;			/* 0x148 */
	u64 cr3;			/* 0x150 */
	u64 cr0;			/* 0x158 */
	u64 dr7;			/* 0x160 */
	u64 dr6;			/* 0x168 */
	u64 rflags;			/* 0x170 */
	u64 rip;			/* 0x178 */
	u8 reserved_180[0x1d8 - 0x180];
	u64 rsp;			/* 0x1d8 */
	u8 reserved_1e0[0x1f8 - 0x1e0];
	u64 rax;			/* 0x1f8 */
	u64 star;			/* 0x200 */
	u64 lstar;			/* 0x208 */
	u64 cstar;			/* 0x210 */
	u64 sfmask;			/* 0x218 */
	u64 kernel_gs_base;		/* 0x220 */
	u64 sysenter_cs;		/* 0x228 */
	u64 sysenter_esp;		/* 0x230 */
	u64 sysenter_eip;		/* 0x238 */
	u64 cr2;			/* 0x240 */
	u8 reserved_248[0x268 - 0x248];
	u64 g_pat;			/* 0x268 */
	u64 dbgctl;			/* 0x270 */
	u8 reserved_278[0xc00 - 0x278];
} __packed;

struct vmcb {
	struct vmcb_control control;
	struct vmcb_save save;
} __packed;

static_assert(offsetof(struct vmcb_control, iopm_base_pa) == 0x040);
static_assert(offsetof(struct vmcb_control, int_ctl) == 0x060);
static_assert(offsetof(struct vmcb_control, exit_code) == 0x070);
static_assert(offsetof(struct vmcb_control, event_inj) == 0x0a8);
static_assert(offsetof(struct vmcb_control, clean) == 0x0c0);
static_assert(offsetof(struct vmcb_control, next_rip) == 0x0c8);
static_assert(sizeof(struct vmcb_control) == 0x400);
static_assert(offsetof(struct vmcb_save, cpl) == 0x0cb);
static_assert(offsetof(struct vmcb_save, efer) == 0x0d0);
static_assert(offsetof(struct vmcb_save, cr4) == 0x148);
static_assert(offsetof(struct vmcb_save, rip) == 0x178);
static_assert(offsetof(struct vmcb_save, rsp) == 0x1d8);
static_assert(offsetof(struct vmcb_save, rax) == 0x1f8);
static_assert(offsetof(struct vmcb_save, cr2) == 0x240);
static_assert(offsetof(struct vmcb_save, g_pat) == 0x268);
static_assert(sizeof(struct vmcb) == 0x1000);

/* svm/vmenter.S */
void okvm_svm_vmrun(unsigned long vmcb_pa, unsigned long *regs,
		    unsigned long host_pa);

#endif
