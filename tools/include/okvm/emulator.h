/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which emulator the test host runs in, where one has a bug the tests
 * must keep clear of.  The test hosts are Debian kernels under QEMU's
 * TCG (AMD-V) or Bochs (VT-x), and okvm and the real KVM run nested in
 * their emulated virtualization: a bug there shows on both alike.
 *
 * Bochs 2.7 takes no external interrupt in VMX non-root operation after
 * a VM entry with the guest's RFLAGS.IF clear, until the guest sets or
 * clears IF itself, although KVM and okvm set "external-interrupt
 * exiting", under which an external interrupt must cause a VM exit
 * whatever RFLAGS.IF is (Intel SDM vol. 3C, "Pin-Based VM-Execution
 * Controls" and "Other Causes of VM Exits").  It recomputes which events
 * IF masks while it loads the guest state, before it counts itself in
 * non-root operation, and afterwards only when IF changes.  A guest that
 * then spins with IF clear holds the host CPU for good: no timer tick, no
 * signal, no scheduler.  With IF set the same guest exits on the host's
 * interrupts.  Seen on kvm_intel in the Bochs test host: a real-mode
 * "jmp ." with IF clear never comes back for SIGALRM, with IF set
 * KVM_RUN returns EINTR.
 */
#ifndef OKVM_TOOLS_EMULATOR_H
#define OKVM_TOOLS_EMULATOR_H

#include <cpuid.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* CPUID leaf 0x40000000 says "TCGTCGTCGTCG": a test host under QEMU's TCG. */
static inline bool host_under_tcg(void)
{
	unsigned int a, b, c, d;
	char sig[12];

	__cpuid(0x40000000, a, b, c, d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	return !memcmp(sig, "TCGTCGTCGTCG", 12);
}

/* The Bochs BIOS names itself in the DMI tables (bios_vendor). */
static inline bool host_under_bochs(void)
{
	static int cached = -1;
	char buf[64] = "";
	FILE *f;

	if (cached >= 0)
		return cached;
	f = fopen("/sys/class/dmi/id/bios_vendor", "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	cached = !strncmp(buf, "The Bochs Project", 17);
	return cached;
}

#endif /* OKVM_TOOLS_EMULATOR_H */
