/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which emulator the test host runs in, where one has a bug the tests
 * must keep clear of.  The test hosts are Debian kernels under QEMU's
 * TCG (AMD-V) or Bochs (VT-x), and okvm and the real KVM run nested in
 * their emulated virtualization: a bug there shows on both alike.
 *
 * Bochs 2.7 does not take external interrupts in VMX non-root operation
 * while the guest's RFLAGS.IF is clear, although KVM and okvm set
 * "external-interrupt exiting", under which they must cause a VM exit
 * whatever RFLAGS.IF is (Intel SDM vol. 3C, "Pin-Based VM-Execution
 * Controls" and "Other Causes of VM Exits").  A guest that spins with IF
 * clear then holds the host CPU for good: no timer tick, no signal, no
 * scheduler.  With IF set the same guest exits on the host's interrupts.
 * Seen on kvm_intel in the Bochs test host: a real-mode "jmp ." with IF
 * clear never comes back for SIGALRM, with IF set KVM_RUN returns EINTR.
 */
#ifndef OKVM_TOOLS_EMULATOR_H
#define OKVM_TOOLS_EMULATOR_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
