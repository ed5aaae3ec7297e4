/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Names of the KVM_EXIT_* reasons of <linux/kvm.h>, for the tools that
 * print exits: okvm-run, the selftests and the fuzzers.  Header only, so
 * that each tool's Makefile just adds -I tools/include.
 */
#ifndef OKVM_TOOLS_KVM_EXIT_NAME_H
#define OKVM_TOOLS_KVM_EXIT_NAME_H

#include <stdint.h>
#include <linux/kvm.h>

/* KVM_EXIT_* name without the prefix, or NULL for one not named here. */
static inline const char *kvm_exit_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO",
		[KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG",
		[KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_SET_TPR] = "SET_TPR",
		[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
		[KVM_EXIT_NMI] = "NMI",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
		[KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
		[KVM_EXIT_HYPERV] = "HYPERV",
		[KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
		[KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
		[KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
		[KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
		[KVM_EXIT_NOTIFY] = "NOTIFY",
	};

	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] :
							   NULL;
}

#endif /* OKVM_TOOLS_KVM_EXIT_NAME_H */
