/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared x86 code and the contract between it and a vendor backend
 * (arch/x86/svm/ for AMD, arch/x86/vmx/ for Intel).
 *
 * A backend enters the guest and translates the hardware's exit into a
 * struct okvm_exit; everything above it (port I/O, HLT, CPUID, nested
 * page faults, what userspace sees) is vendor-neutral and lives in
 * arch/x86/x86.c.
 */
#ifndef OKVM_X86_H
#define OKVM_X86_H

#include "okvm.h"

/* Segment registers, in the order of struct kvm_sregs. */
enum okvm_seg {
	OKVM_SEG_CS, OKVM_SEG_DS, OKVM_SEG_ES, OKVM_SEG_FS,
	OKVM_SEG_GS, OKVM_SEG_SS, OKVM_SEG_TR, OKVM_SEG_LDTR,
	OKVM_NR_SEGS,
};

/* Control state reached through get_ctl()/set_ctl(). */
enum okvm_ctl {
	OKVM_CTL_CR0,
	OKVM_CTL_CR2,
	OKVM_CTL_CR3,
	OKVM_CTL_CR4,
	OKVM_CTL_EFER,
	OKVM_CTL_DR6,
	OKVM_CTL_DR7,
	OKVM_CTL_CR8,
};

/* Why the guest stopped, independent of the vendor. */
enum okvm_exit_reason {
	OKVM_EXIT_NONE,		/* host interrupt or handled: enter again */
	OKVM_EXIT_IO,		/* IN/OUT/INS/OUTS */
	OKVM_EXIT_HLT,
	OKVM_EXIT_CPUID,
	OKVM_EXIT_MSR,		/* RDMSR/WRMSR */
	OKVM_EXIT_XSETBV,
	OKVM_EXIT_NOP,		/* INVD, WBINVD: complete as no-ops */
	OKVM_EXIT_UD,		/* deliver #UD (VMX/SVM instructions...) */
	OKVM_EXIT_GP,		/* deliver #GP(0) (RDPMC...) */
	OKVM_EXIT_CR_READ,	/* MOV from a control register */
	OKVM_EXIT_CR_WRITE,	/* MOV to a control register */
	OKVM_EXIT_SHUTDOWN,	/* triple fault */
	OKVM_EXIT_TDP_FAULT,	/* nested page fault / EPT violation */
	OKVM_EXIT_SHADOW_FAULT,	/* #PF under shadow paging */
	OKVM_EXIT_EMULATE,	/* carry out the instruction at RIP (MOV CR,
				 * INVLPG... under shadow paging) */
	OKVM_EXIT_INVLPG,	/* INVLPG of the linear address in @tdp.addr */
	OKVM_EXIT_FAIL_ENTRY,	/* the hardware refused the guest state */
	OKVM_EXIT_HW_OFF,	/* virtualization was switched off (reboot) */
	OKVM_EXIT_NO_REAL_MODE,	/* the CPU cannot run this mode natively */
	OKVM_EXIT_VM86_GP,	/* #GP of real mode run in virtual-8086 mode:
				 * okvm_decode_vm86_gp() says what it is */
	OKVM_EXIT_REAL_EVENT,	/* deliver the queued event in software, as
				 * real mode does (not entered) */
	OKVM_EXIT_UNHANDLED,
};

/**
 * struct okvm_exit - a guest exit, normalised by the backend
 * @reason:	what happened
 * @hw_reason:	the vendor's exit code, for error reports
 * @next_rip:	RIP after the intercepted instruction, for exits that
 *		complete an instruction
 * @io:		port, size, direction and string/rep prefixes of an I/O
 * @msr:	index and direction of an MSR access
 * @tdp:	faulting address and access type, and the bytes at RIP when
 *		the hardware gives them (@insn_len 0 when not; SVM decode
 *		assists, APM vol. 2, 15.33).  @addr is guest-physical for
 *		OKVM_EXIT_TDP_FAULT, linear for OKVM_EXIT_SHADOW_FAULT (the
 *		#PF's CR2) and OKVM_EXIT_INVLPG (the operand)
 * @cr:		control register and general purpose register of a MOV
 * @info:	raw exit information for KVM_EXIT_INTERNAL_ERROR
 */
struct okvm_exit {
	enum okvm_exit_reason reason;
	u64 hw_reason;
	u64 next_rip;
	union {
		struct {
			u16 port;
			u8 size;
			bool in;
			bool string;
			bool rep;
		} io;
		struct {
			u32 index;
			bool write;
		} msr;
		struct {
			u64 addr;
			bool write;
			u32 error_code;
			u8 insn_len;
			const u8 *insn;
		} tdp;
		struct {
			u8 cr;
			u8 reg;
		} cr;
	};
	u64 info[2];
};

/**
 * struct okvm_tdp_format - how a backend's paging entries look
 * @nonleaf:	bits of an entry pointing to a lower-level table
 * @leaf_rw:	bits of a writable leaf (write-back memory)
 * @leaf_ro:	bits of a read-only leaf
 * @present:	an entry is present when any of these bits is set
 * @writable:	the bit that makes a leaf writable
 * @levels:	depth of the tables, set by the backend's probe
 * @huge:	2 MiB leaves can be used, set by the backend's probe
 */
struct okvm_tdp_format {
	u64 nonleaf;
	u64 leaf_rw;
	u64 leaf_ro;
	u64 present;
	u64 writable;
	int levels;
	bool huge;
};

/**
 * struct okvm_reset_types - segment types a vCPU has after reset
 * @code:	CS
 * @data:	DS, ES, FS, GS and SS
 * @tr:		TR
 *
 * The architecture leaves the accessed bit of CS and the busy TSS's size
 * to the implementation, and KVM's two backends differ there; okvm gives
 * userspace what KVM gives on the same vendor.
 */
struct okvm_reset_types {
	u8 code;
	u8 data;
	u8 tr;
};

/* What a vCPU has to flush before it enters the guest. */
enum okvm_flush {
	OKVM_FLUSH_NONE,
	OKVM_FLUSH_GUEST,	/* its own guest-virtual translations */
	OKVM_FLUSH_TDP,		/* everything derived from the VM's TDP tables */
};

/*
 * The interruption-information layout shared by AMD's EVENTINJ and
 * EXITINTINFO (APM vol. 2, 15.20 and 15.7.2) and Intel's VM-entry and
 * IDT-vectoring information fields (SDM vol. 3, 24.8.3 and 24.9.3).
 * Types 5 and 6 are Intel's only; AMD reports INT3 and INTO as type 3.
 */
#define OKVM_EVT_VECTOR_MASK		0xffU
#define OKVM_EVT_TYPE_SHIFT		8
#define OKVM_EVT_TYPE_MASK		(7U << OKVM_EVT_TYPE_SHIFT)
#define OKVM_EVT_TYPE_INTR		(0U << OKVM_EVT_TYPE_SHIFT)
#define OKVM_EVT_TYPE_NMI		(2U << OKVM_EVT_TYPE_SHIFT)
#define OKVM_EVT_TYPE_EXCEPTION		(3U << OKVM_EVT_TYPE_SHIFT)
#define OKVM_EVT_ERROR_VALID		BIT(11)
#define OKVM_EVT_VALID			BIT(31)

/**
 * struct okvm_x86_ops - what a vendor backend provides
 * @name:		"svm" or "vmx", for messages
 * @probe:		module load: 0, -ENODEV (no such hardware, or turned
 *			off by firmware), -EBUSY (another hypervisor holds it)
 *			or -ENOMEM
 * @exit:		module unload: free what @probe allocated
 * @hardware_enable:	switch virtualization on on this CPU
 * @hardware_disable:	switch it off on this CPU
 * @vcpu_create:	allocate the VMCB/VMCS and put it in reset state
 * @vcpu_free:		release what @vcpu_create allocated
 * @vcpu_reset:		architectural reset (power-on, or INIT after a
 *			triple fault) of the state the backend holds
 * @run:		enter the guest once and describe the exit
 * @get_segment:	read a segment register in KVM's format
 * @set_segment:	write one
 * @get_dt:		read GDTR (@idt false) or IDTR
 * @set_dt:		write one
 * @get_ctl:		read a control register, EFER, DR6 or DR7
 * @set_ctl:		write one
 * @get_cpl:		current privilege level
 * @set_pdptes:		load the four PAE page-directory-pointer entries
 *			(optional: for a CPU that caches them outside guest
 *			memory, like VMX with EPT)
 * @tdp_fmt:		format of the backend's nested page tables
 * @reset_types:	segment types after reset
 * @init_on_shutdown:	a triple fault leaves the vCPU in INIT state, as
 *			KVM does on this vendor
 */
struct okvm_x86_ops {
	const char *name;
	int (*probe)(void);
	void (*exit)(void);
	int (*hardware_enable)(void);
	void (*hardware_disable)(void);
	int (*vcpu_create)(struct okvm_vcpu *vcpu);
	void (*vcpu_free)(struct okvm_vcpu *vcpu);
	void (*vcpu_reset)(struct okvm_vcpu *vcpu);
	void (*run)(struct okvm_vcpu *vcpu, struct okvm_exit *exit);
	void (*get_segment)(struct okvm_vcpu *vcpu, struct kvm_segment *var,
			    enum okvm_seg seg);
	void (*set_segment)(struct okvm_vcpu *vcpu,
			    const struct kvm_segment *var, enum okvm_seg seg);
	void (*get_dt)(struct okvm_vcpu *vcpu, struct kvm_dtable *dt, bool idt);
	void (*set_dt)(struct okvm_vcpu *vcpu, const struct kvm_dtable *dt,
		       bool idt);
	u64 (*get_ctl)(struct okvm_vcpu *vcpu, enum okvm_ctl ctl);
	void (*set_ctl)(struct okvm_vcpu *vcpu, enum okvm_ctl ctl, u64 val);
	int (*get_cpl)(struct okvm_vcpu *vcpu);
	void (*set_pdptes)(struct okvm_vcpu *vcpu, const u64 *pdpte);
	struct okvm_tdp_format *tdp_fmt;
	struct okvm_reset_types reset_types;
	bool init_on_shutdown;
};

extern const struct okvm_x86_ops svm_ops;
extern const struct okvm_x86_ops vmx_ops;
/* The backend of this machine, for the shared code. */
extern const struct okvm_x86_ops *okvm_ops;
/*
 * Nested paging is in use: the tdp module parameter, cleared by the
 * backend's probe on a CPU without it.  Shadow paging (arch/x86/shadow.c)
 * when not.
 */
extern bool okvm_tdp_enabled;

/* arch/x86/x86.c: helpers for backends and the emulator */
bool okvm_enter_guest_mode(struct okvm_vcpu *vcpu);
enum okvm_flush okvm_tlb_flush_pending(struct okvm_vcpu *vcpu);
void okvm_exit_guest_mode(struct okvm_vcpu *vcpu);
void okvm_load_guest_state(struct okvm_vcpu *vcpu);
void okvm_put_guest_state(struct okvm_vcpu *vcpu);
u64 okvm_get_ctl(struct okvm_vcpu *vcpu, enum okvm_ctl ctl);
void okvm_queue_exception(struct okvm_vcpu *vcpu, u8 vector, bool has_error,
			  u32 error_code);
int okvm_queue_fault(struct okvm_vcpu *vcpu, u8 vector, u32 error_code);
u32 okvm_take_event(struct okvm_vcpu *vcpu, bool real_mode, u32 *error_code);
void okvm_requeue_event(struct okvm_vcpu *vcpu, u32 info, u32 error_code);
void okvm_complete_insn(struct okvm_vcpu *vcpu, unsigned long next_rip);
void okvm_emulation_failure(struct okvm_vcpu *vcpu,
			    const struct okvm_exit *exit, const u8 *insn,
			    unsigned int insn_len);
bool okvm_write_cr0(struct okvm_vcpu *vcpu, u64 val);
int okvm_cr_ctl(unsigned int cr);
bool okvm_write_cr(struct okvm_vcpu *vcpu, unsigned int cr, u64 val);

/* #PF error code bits (SDM vol. 3, 4.7), also the access okvm_walk() checks. */
#define OKVM_PF_PRESENT		BIT(0)
#define OKVM_PF_WRITE		BIT(1)
#define OKVM_PF_USER		BIT(2)
#define OKVM_PF_RSVD		BIT(3)
#define OKVM_PF_FETCH		BIT(4)

/* Where CR3 points with PAE paging: 32 bytes, four entries (SDM 4.4.1). */
#define OKVM_PDPT_ADDR_MASK	GENMASK_ULL(31, 5)

/**
 * struct okvm_paging - what a guest page walk depends on
 * @cr0:	CR0 (PG, WP)
 * @cr3:	CR3
 * @cr4:	CR4 (PSE, PAE, SMEP, SMAP, LA57)
 * @efer:	EFER (LMA, NXE)
 * @ac:		RFLAGS.AC, which lifts SMAP for explicit supervisor accesses
 */
struct okvm_paging {
	u64 cr0;
	u64 cr3;
	u64 cr4;
	u64 efer;
	bool ac;
};

/**
 * struct okvm_walk - the outcome of a guest page walk
 * @gpa:	guest-physical address of the linear address walked
 * @level:	level of the entry that maps the page (1: 4 KiB; 0 when
 *		paging is off)
 * @writable:	the page may be written (R/W on every level)
 * @user:	the page is a user page (U/S on every level)
 * @nx:		the page is not executable
 * @dirty:	the dirty flag of the page's entry is set (by this walk
 *		for a write)
 * @error_code:	the #PF error code when the walk faults
 */
struct okvm_walk {
	u64 gpa;
	int level;
	bool writable;
	bool user;
	bool nx;
	bool dirty;
	u32 error_code;
};

#define OKVM_WALK_PF		1

/* arch/x86/paging.c */
void okvm_paging_get(struct okvm_vcpu *vcpu, struct okvm_paging *pg);
int okvm_walk(struct okvm_vcpu *vcpu, const struct okvm_paging *pg, u64 la,
	      u32 access, struct okvm_walk *w);

/* arch/x86/emulate.c */
int okvm_emulate_mmio(struct okvm_vcpu *vcpu, const struct okvm_exit *exit);
int okvm_emulate_string_io(struct okvm_vcpu *vcpu,
			   const struct okvm_exit *exit);
int okvm_emulate_complete(struct okvm_vcpu *vcpu);
int okvm_emulate_insn(struct okvm_vcpu *vcpu, const struct okvm_exit *exit);
void okvm_decode_vm86_gp(struct okvm_vcpu *vcpu, struct okvm_exit *exit);

/* arch/x86/cpuid.c */
void okvm_cpuid_init(void);
void okvm_cpuid(struct okvm_vcpu *vcpu, u32 leaf, u32 subleaf, u32 *eax,
		u32 *ebx, u32 *ecx, u32 *edx);
u64 okvm_guest_supported_xcr0(void);
u64 okvm_cr4_reserved_bits(void);
u64 okvm_efer_allowed(void);

/* arch/x86/tdp.c */
/*
 * Called by okvm_map_gfn() with mmu_lock held to install the mapping of
 * @gfn (in @slot, at @hva) onto host address @hpa, @writable or not.
 */
typedef void (*okvm_map_fn)(struct okvm_vcpu *vcpu,
			    const struct okvm_memslot *slot, u64 gfn,
			    unsigned long hva, u64 hpa, bool writable,
			    void *data);
int okvm_map_gfn(struct okvm_vcpu *vcpu, u64 gfn, bool write, int tables,
		 okvm_map_fn map, void *data);
void okvm_tdp_setup(const struct okvm_tdp_format *fmt);
int okvm_tdp_init(struct okvm *vm);
void okvm_tdp_destroy(struct okvm *vm);
int okvm_tdp_fault(struct okvm_vcpu *vcpu, u64 gpa, bool write);
void okvm_tdp_vcpu_destroy(struct okvm_vcpu *vcpu);
u64 okvm_tdp_root_pa(struct okvm *vm);
int okvm_tdp_levels(void);
unsigned int okvm_phys_bits(void);
u64 okvm_max_gpa(void);

/* arch/x86/shadow.c */
int okvm_shadow_init(struct okvm_vcpu *vcpu);
void okvm_shadow_destroy(struct okvm_vcpu *vcpu);
u64 okvm_shadow_root_pa(struct okvm_vcpu *vcpu);
void okvm_shadow_ctl_changed(struct okvm_vcpu *vcpu, enum okvm_ctl ctl,
			     u64 old, u64 val);
void okvm_shadow_reset(struct okvm_vcpu *vcpu);
int okvm_shadow_fault(struct okvm_vcpu *vcpu, const struct okvm_exit *exit);
void okvm_shadow_invlpg(struct okvm_vcpu *vcpu, u64 la);
void okvm_shadow_zap_all(struct okvm *vm);

#endif
