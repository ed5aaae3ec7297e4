/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The x86 part of struct okvm and struct okvm_vcpu, included by the
 * arch-neutral core through virt/okvm.h.
 */
#ifndef OKVM_ARCH_H
#define OKVM_ARCH_H

#include <linux/types.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>

/* General purpose registers, numbered as in the instruction encoding. */
enum okvm_reg {
	OKVM_RAX, OKVM_RCX, OKVM_RDX, OKVM_RBX,
	OKVM_RSP, OKVM_RBP, OKVM_RSI, OKVM_RDI,
	OKVM_R8, OKVM_R9, OKVM_R10, OKVM_R11,
	OKVM_R12, OKVM_R13, OKVM_R14, OKVM_R15,
	OKVM_NR_REGS,
};

/**
 * struct okvm_tdp - the two-dimensional paging structure of a VM (AMD
 * nested page table or Intel EPT), built lazily from the memslots
 * @root:	top-level table
 * @fmt:	the backend's entry format
 */
struct okvm_tdp {
	u64 *root;
	const struct okvm_tdp_format *fmt;
};

/* A vCPU fault adds at most one table a level below the top. */
#define OKVM_TDP_CACHE_PAGES	4

/**
 * struct okvm_tdp_cache - zeroed table pages a vCPU sets aside before a
 * fault takes mmu_lock (arch/x86/tdp.c)
 * @nr:		how many
 * @pages:	the pages
 */
struct okvm_tdp_cache {
	int nr;
	void *pages[OKVM_TDP_CACHE_PAGES];
};

/**
 * struct okvm_shadow - a vCPU's shadow page tables (arch/x86/shadow.c)
 * @root:	top-level table: a PML4 for a guest in long mode, else the
 *		PAE page-directory-pointer table; below 4 GiB for the latter
 * @levels:	4 or 3 (PAE), chosen when the tables were last thrown away
 * @reset:	throw the tables away before the next entry
 */
struct okvm_shadow {
	u64 *root;
	int levels;
	bool reset;
};

/**
 * struct okvm_arch - per-VM x86 state
 * @tdp:	guest-physical to host-physical translation
 * @tsc_offset:	added to the host TSC to give the guest's, for every vCPU
 */
struct okvm_arch {
	struct okvm_tdp tdp;
	u64 tsc_offset;
};

/**
 * struct okvm_pio - a port access handed to userspace
 * @size:	1, 2 or 4 bytes
 * @in:		true for IN: RAX takes the data on the next KVM_RUN
 * @pending:	the next KVM_RUN completes the instruction
 * @rip:	RIP of the instruction
 * @next_rip:	RIP after it
 */
struct okvm_pio {
	u8 size;
	bool in;
	bool pending;
	unsigned long rip;
	unsigned long next_rip;
};

/*
 * MMIO accesses one instruction may make: a read and a write of at most
 * 8 bytes, each split in two by a page boundary.
 */
#define OKVM_EMUL_FRAGS		4
/* Longest x86 instruction (SDM vol. 2, chapter 2). */
#define OKVM_MAX_INSN_LEN	15

/* What an instruction okvm emulates waits for from userspace. */
enum okvm_emul_wait {
	OKVM_EMUL_IDLE,
	OKVM_EMUL_MMIO_READ,	/* run->mmio.data of a read */
	OKVM_EMUL_MMIO_WRITE,	/* the next KVM_RUN, to hand out more writes */
	OKVM_EMUL_PIO_IN,	/* the data of a string input in the PIO page */
};

/**
 * struct okvm_mmio_frag - one MMIO access of at most 8 bytes in one page
 * @gpa:	guest-physical address
 * @len:	1 to 8
 * @data:	the bytes, for a write
 */
struct okvm_mmio_frag {
	u64 gpa;
	u8 len;
	u8 data[8];
};

/**
 * struct okvm_emul - an emulated instruction waiting on userspace
 * @wait:	what it waits for
 * @rip:	its RIP: a KVM_RUN that finds RIP moved drops it, as for port I/O
 * @insn:	its bytes, decoded again when it resumes
 * @insn_len:	how many of @insn are valid
 * @nr_reads:	MMIO reads userspace has answered so far
 * @reads:	their data, in the order the instruction makes them
 * @read_gpa:	their addresses
 * @nr_writes:	MMIO writes the completed instruction made
 * @next_write:	the next of them to hand to userspace
 * @writes:	the writes
 * @pio_count:	elements of a string input
 * @exit_info:	exit reason and information words of the exit that began
 *		it, for an emulation failure reported when it resumes
 */
struct okvm_emul {
	enum okvm_emul_wait wait;
	unsigned long rip;
	u8 insn[OKVM_MAX_INSN_LEN];
	u8 insn_len;
	u8 nr_reads;
	u64 reads[OKVM_EMUL_FRAGS];
	u64 read_gpa[OKVM_EMUL_FRAGS];
	u8 nr_writes;
	u8 next_write;
	struct okvm_mmio_frag writes[OKVM_EMUL_FRAGS];
	u32 pio_count;
	u64 exit_info[3];
};

enum okvm_event_type {
	OKVM_EVENT_EXCEPTION,
	OKVM_EVENT_INTR,
	OKVM_EVENT_NMI,
};

/**
 * struct okvm_event - an event to deliver through the guest's IDT on the
 * next entry: an exception okvm raises, an interrupt userspace queued, or
 * one whose delivery a VM exit cut short
 * @pending:	nothing to deliver when false
 * @type:	enum okvm_event_type
 * @vector:	vector
 * @has_error:	push @error_code (exceptions in protected mode only)
 * @error_code:	error code
 */
struct okvm_event {
	bool pending;
	u8 type;
	u8 vector;
	bool has_error;
	u32 error_code;
};

/**
 * struct okvm_vcpu_arch - per-vCPU x86 state kept outside the VMCB/VMCS
 * @regs:	general purpose registers
 * @rip:	instruction pointer
 * @rflags:	flags
 * @dr:		guest DR0-DR3, which neither VMRUN nor VM entry switch
 * @xcr0:	guest XCR0
 * @pkru:	guest PKRU
 * @host_pkru:	host PKRU while the guest runs
 * @apic_base:	IA32_APIC_BASE as userspace sees it through SREGS
 * @fpu:	guest FPU/SSE/AVX state, swapped with the host's around KVM_RUN
 * @pio:	port access in flight to userspace
 * @emul:	emulated instruction in flight to userspace
 * @event:	event queued for the guest
 * @flush_tlb:	flush this vCPU's guest translations before the next entry
 * @tdp_cache:	table pages for the next nested or shadow page fault
 * @shadow:	shadow page tables, with tdp=0
 * @vendor:	the backend's per-vCPU data
 */
struct okvm_vcpu_arch {
	unsigned long regs[OKVM_NR_REGS];
	unsigned long rip;
	unsigned long rflags;
	unsigned long dr[4];
	u64 xcr0;
	u32 pkru;
	u32 host_pkru;
	u64 apic_base;
	struct fpu_guest fpu;
	struct okvm_pio pio;
	struct okvm_emul emul;
	struct okvm_event event;
	bool flush_tlb;
	struct okvm_tdp_cache tdp_cache;
	struct okvm_shadow shadow;
	void *vendor;
};

#endif
