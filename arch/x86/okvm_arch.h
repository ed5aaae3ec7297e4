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
 * @event:	event queued for the guest
 * @flush_tlb:	flush this vCPU's guest translations before the next entry
 * @tdp_cache:	table pages for the next nested page fault
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
	struct okvm_event event;
	bool flush_tlb;
	struct okvm_tdp_cache tdp_cache;
	void *vendor;
};

#endif
