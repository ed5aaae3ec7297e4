/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Intel VMX definitions: VMCS field encodings (Intel SDM vol. 3, appendix
 * B), the execution, exit and entry control bits (chapter 25), basic exit
 * reasons (appendix C) and the capability MSR layouts (appendix A).
 */
#ifndef OKVM_VMX_H
#define OKVM_VMX_H

#include <linux/bits.h>
#include <linux/types.h>

/* IA32_VMX_BASIC (appendix A.1) */
#define VMX_BASIC_REVISION_MASK		GENMASK_ULL(30, 0)
#define VMX_BASIC_SIZE_SHIFT		32
#define VMX_BASIC_SIZE_MASK		GENMASK_ULL(44, 32)
#define VMX_BASIC_32BIT_ADDRESSES	BIT_ULL(48)
#define VMX_BASIC_MEMTYPE_SHIFT		50
#define VMX_BASIC_MEMTYPE_MASK		GENMASK_ULL(53, 50)
#define VMX_BASIC_HAS_TRUE_CTLS		BIT_ULL(55)

/* IA32_VMX_EPT_VPID_CAP (appendix A.10) */
#define VMX_EPT_WALK_4			BIT_ULL(6)
#define VMX_EPT_WB			BIT_ULL(14)
#define VMX_EPT_2MB			BIT_ULL(16)
#define VMX_EPT_INVEPT			BIT_ULL(20)
#define VMX_EPT_AD			BIT_ULL(21)
#define VMX_EPT_INVEPT_SINGLE		BIT_ULL(25)
#define VMX_EPT_INVEPT_ALL		BIT_ULL(26)
#define VMX_VPID_INVVPID		BIT_ULL(32)
#define VMX_VPID_INVVPID_SINGLE		BIT_ULL(41)
#define VMX_VPID_INVVPID_ALL		BIT_ULL(42)

/* INVEPT and INVVPID types (vol. 3C, "INVEPT", "INVVPID") */
#define VMX_INVEPT_SINGLE		1
#define VMX_INVEPT_ALL			2
#define VMX_INVVPID_SINGLE		1
#define VMX_INVVPID_ALL			2

/* EPT paging-structure entries and the EPT pointer (28.2.2, 24.6.11) */
#define EPT_READ			BIT_ULL(0)
#define EPT_WRITE			BIT_ULL(1)
#define EPT_EXEC			BIT_ULL(2)
#define EPT_MT_WB			(6ULL << 3)
#define EPT_ACCESSED			BIT_ULL(8)
#define EPT_DIRTY			BIT_ULL(9)
#define EPTP_MT_WB			6ULL
#define EPTP_WALK_SHIFT			3
#define EPTP_AD				BIT_ULL(6)

/* Pin-based VM-execution controls (24.6.1) */
#define PIN_EXT_INTR_EXITING		BIT(0)
#define PIN_NMI_EXITING			BIT(3)

/* Primary processor-based VM-execution controls (24.6.2, table 24-6) */
#define CPU_INTR_WINDOW_EXITING		BIT(2)
#define CPU_USE_TSC_OFFSETTING		BIT(3)
#define CPU_HLT_EXITING			BIT(7)
#define CPU_INVLPG_EXITING		BIT(9)
#define CPU_MWAIT_EXITING		BIT(10)
#define CPU_RDPMC_EXITING		BIT(11)
#define CPU_RDTSC_EXITING		BIT(12)
#define CPU_CR3_LOAD_EXITING		BIT(15)
#define CPU_CR3_STORE_EXITING		BIT(16)
#define CPU_CR8_LOAD_EXITING		BIT(19)
#define CPU_CR8_STORE_EXITING		BIT(20)
#define CPU_TPR_SHADOW			BIT(21)
#define CPU_MOV_DR_EXITING		BIT(23)
#define CPU_UNCOND_IO_EXITING		BIT(24)
#define CPU_MONITOR_EXITING		BIT(29)
#define CPU_SECONDARY_CONTROLS		BIT(31)

/* Secondary processor-based VM-execution controls (table 24-7) */
#define CPU2_ENABLE_EPT			BIT(1)
#define CPU2_ENABLE_VPID		BIT(5)
#define CPU2_WBINVD_EXITING		BIT(6)
#define CPU2_UNRESTRICTED_GUEST		BIT(7)

/* VM-exit controls (24.7.1) */
#define EXIT_SAVE_DEBUG_CONTROLS	BIT(2)
#define EXIT_HOST_ADDR_SPACE_SIZE	BIT(9)
#define EXIT_SAVE_PAT			BIT(18)
#define EXIT_LOAD_PAT			BIT(19)
#define EXIT_SAVE_EFER			BIT(20)
#define EXIT_LOAD_EFER			BIT(21)

/* VM-entry controls (24.8.1) */
#define ENTRY_LOAD_DEBUG_CONTROLS	BIT(2)
#define ENTRY_IA32E_MODE		BIT(9)
#define ENTRY_LOAD_PAT			BIT(14)
#define ENTRY_LOAD_EFER			BIT(15)

/* Guest interruptibility state (table 24-3) */
#define INTR_BLOCKING_STI		BIT(0)
#define INTR_BLOCKING_MOV_SS		BIT(1)
#define INTR_BLOCKING_NMI		BIT(3)

/*
 * Interruption information of an exit (24.9.2): the same layout as the
 * event it is derived from, plus "NMI unblocking due to IRET".
 */
#define INTR_INFO_TYPE_MASK		(7U << 8)
#define INTR_INFO_TYPE_NMI		(2U << 8)
#define INTR_INFO_TYPE_PRIV_SOFT	(5U << 8)
#define INTR_INFO_TYPE_SOFT_EXC		(6U << 8)
#define INTR_INFO_NMI_UNBLOCKED		BIT(12)

/* Segment access rights (table 24-2) */
#define VMX_AR_G			BIT(15)
#define VMX_AR_UNUSABLE			BIT(16)

/* Exit qualifications (27.2.1, tables 27-3, 27-5, 27-7) */
#define QUAL_CR_NUMBER_MASK		0xfU
#define QUAL_CR_ACCESS_SHIFT		4
#define QUAL_CR_ACCESS_MASK		(3U << QUAL_CR_ACCESS_SHIFT)
#define QUAL_CR_MOV_TO			(0U << QUAL_CR_ACCESS_SHIFT)
#define QUAL_CR_MOV_FROM		(1U << QUAL_CR_ACCESS_SHIFT)
#define QUAL_CR_GPR_SHIFT		8
#define QUAL_CR_GPR_MASK		(0xfU << QUAL_CR_GPR_SHIFT)
#define QUAL_IO_SIZE_MASK		7U
#define QUAL_IO_IN			BIT(3)
#define QUAL_IO_STRING			BIT(4)
#define QUAL_IO_REP			BIT(5)
#define QUAL_IO_PORT_SHIFT		16
#define QUAL_EPT_WRITE			BIT(1)
#define QUAL_EPT_NMI_UNBLOCKED		BIT(12)
#define QUAL_DB_MASK			(0xfU | BIT(13) | BIT(14))

/* Basic exit reasons (appendix C) */
#define EXIT_REASON_EXCEPTION_NMI	0
#define EXIT_REASON_EXTERNAL_INTERRUPT	1
#define EXIT_REASON_TRIPLE_FAULT	2
#define EXIT_REASON_INTERRUPT_WINDOW	7
#define EXIT_REASON_TASK_SWITCH		9
#define EXIT_REASON_CPUID		10
#define EXIT_REASON_GETSEC		11
#define EXIT_REASON_HLT			12
#define EXIT_REASON_INVD		13
#define EXIT_REASON_INVLPG		14
#define EXIT_REASON_RDPMC		15
#define EXIT_REASON_VMCALL		18
#define EXIT_REASON_VMCLEAR		19
#define EXIT_REASON_VMLAUNCH		20
#define EXIT_REASON_VMPTRLD		21
#define EXIT_REASON_VMPTRST		22
#define EXIT_REASON_VMREAD		23
#define EXIT_REASON_VMRESUME		24
#define EXIT_REASON_VMWRITE		25
#define EXIT_REASON_VMXOFF		26
#define EXIT_REASON_VMXON		27
#define EXIT_REASON_CR_ACCESS		28
#define EXIT_REASON_IO			30
#define EXIT_REASON_RDMSR		31
#define EXIT_REASON_WRMSR		32
#define EXIT_REASON_INVALID_STATE	33
#define EXIT_REASON_MWAIT		36
#define EXIT_REASON_MONITOR		39
#define EXIT_REASON_MCE_DURING_ENTRY	41
#define EXIT_REASON_EPT_VIOLATION	48
#define EXIT_REASON_INVEPT		50
#define EXIT_REASON_INVVPID		53
#define EXIT_REASON_WBINVD		54
#define EXIT_REASON_XSETBV		55
#define EXIT_REASON_BASIC_MASK		0xffffU
#define EXIT_REASON_FAILED_ENTRY	BIT(31)

/* VMCS field encodings (appendix B) */
enum vmcs_field {
	VIRTUAL_PROCESSOR_ID		= 0x0000,
	GUEST_ES_SELECTOR		= 0x0800,	/* + 2 * segment */
	HOST_ES_SELECTOR		= 0x0c00,
	HOST_CS_SELECTOR		= 0x0c02,
	HOST_SS_SELECTOR		= 0x0c04,
	HOST_DS_SELECTOR		= 0x0c06,
	HOST_FS_SELECTOR		= 0x0c08,
	HOST_GS_SELECTOR		= 0x0c0a,
	HOST_TR_SELECTOR		= 0x0c0c,
	TSC_OFFSET			= 0x2010,
	VIRTUAL_APIC_PAGE_ADDR		= 0x2012,
	EPT_POINTER			= 0x201a,
	GUEST_PHYSICAL_ADDRESS		= 0x2400,
	VMCS_LINK_POINTER		= 0x2800,
	GUEST_IA32_DEBUGCTL		= 0x2802,
	GUEST_IA32_PAT			= 0x2804,
	GUEST_IA32_EFER			= 0x2806,
	GUEST_PDPTE0			= 0x280a,	/* + 2 * n */
	HOST_IA32_PAT			= 0x2c00,
	HOST_IA32_EFER			= 0x2c02,
	PIN_BASED_CONTROLS		= 0x4000,
	CPU_BASED_CONTROLS		= 0x4002,
	EXCEPTION_BITMAP		= 0x4004,
	PAGE_FAULT_ERROR_CODE_MASK	= 0x4006,
	PAGE_FAULT_ERROR_CODE_MATCH	= 0x4008,
	CR3_TARGET_COUNT		= 0x400a,
	VM_EXIT_CONTROLS		= 0x400c,
	VM_ENTRY_CONTROLS		= 0x4012,
	VM_ENTRY_INTR_INFO		= 0x4016,
	VM_ENTRY_EXCEPTION_ERROR_CODE	= 0x4018,
	TPR_THRESHOLD			= 0x401c,
	SECONDARY_CONTROLS		= 0x401e,
	VM_INSTRUCTION_ERROR		= 0x4400,
	VM_EXIT_REASON			= 0x4402,
	VM_EXIT_INTR_INFO		= 0x4404,
	VM_EXIT_INTR_ERROR_CODE		= 0x4406,
	IDT_VECTORING_INFO		= 0x4408,
	IDT_VECTORING_ERROR_CODE	= 0x440a,
	VM_EXIT_INSTRUCTION_LEN		= 0x440c,
	GUEST_ES_LIMIT			= 0x4800,	/* + 2 * segment */
	GUEST_GDTR_LIMIT		= 0x4810,
	GUEST_IDTR_LIMIT		= 0x4812,
	GUEST_ES_AR			= 0x4814,	/* + 2 * segment */
	GUEST_INTERRUPTIBILITY		= 0x4824,
	GUEST_ACTIVITY_STATE		= 0x4826,
	GUEST_SYSENTER_CS		= 0x482a,
	HOST_SYSENTER_CS		= 0x4c00,
	CR0_GUEST_HOST_MASK		= 0x6000,
	CR4_GUEST_HOST_MASK		= 0x6002,
	CR0_READ_SHADOW			= 0x6004,
	CR4_READ_SHADOW			= 0x6006,
	EXIT_QUALIFICATION		= 0x6400,
	GUEST_CR0			= 0x6800,
	GUEST_CR3			= 0x6802,
	GUEST_CR4			= 0x6804,
	GUEST_ES_BASE			= 0x6806,	/* + 2 * segment */
	GUEST_GDTR_BASE			= 0x6816,
	GUEST_IDTR_BASE			= 0x6818,
	GUEST_DR7			= 0x681a,
	GUEST_RSP			= 0x681c,
	GUEST_RIP			= 0x681e,
	GUEST_RFLAGS			= 0x6820,
	GUEST_PENDING_DBG_EXCEPTIONS	= 0x6822,
	GUEST_SYSENTER_ESP		= 0x6824,
	GUEST_SYSENTER_EIP		= 0x6826,
	HOST_CR0			= 0x6c00,
	HOST_CR3			= 0x6c02,
	HOST_CR4			= 0x6c04,
	HOST_FS_BASE			= 0x6c06,
	HOST_GS_BASE			= 0x6c08,
	HOST_TR_BASE			= 0x6c0a,
	HOST_GDTR_BASE			= 0x6c0c,
	HOST_IDTR_BASE			= 0x6c0e,
	HOST_SYSENTER_ESP		= 0x6c10,
	HOST_SYSENTER_EIP		= 0x6c12,
	HOST_RSP			= 0x6c14,
	HOST_RIP			= 0x6c16,
};

/*
 * The guest segment fields are laid out per segment in this order; the
 * selector, limit, access rights and base of segment n are n fields (2n
 * in the encoding) after ES's.
 */
enum vmx_seg {
	VMX_ES, VMX_CS, VMX_SS, VMX_DS, VMX_FS, VMX_GS, VMX_LDTR, VMX_TR,
};

/* arch/x86/vmx/vmenter.S */
int okvm_vmx_vmrun(unsigned long *regs, bool launched);
void okvm_vmx_vmexit(void);
void okvm_vmx_call_nmi(void);

#endif
