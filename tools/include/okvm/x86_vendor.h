/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which hardware virtualization the host CPU has, from its vendor
 * (CPUID leaf 0): AMD-V (SVM) on AMD and Hygon, VT-x (VMX) on Intel and
 * the Centaur/Zhaoxin parts KVM drives with kvm_intel.  The selftests
 * and fuzzers run on the real KVM and on okvm of either vendor, and
 * where the two architectures differ (the vendor module's name, how a
 * failed VM entry is reported, which instructions exit) they decide by
 * this, never by guessing from what the module under test does.
 */
#ifndef OKVM_TOOLS_X86_VENDOR_H
#define OKVM_TOOLS_X86_VENDOR_H

#include <cpuid.h>
#include <stdbool.h>
#include <string.h>

enum x86_virt {
	X86_VIRT_UNKNOWN,
	X86_VIRT_SVM,		/* AMD-V: kvm_amd, okvm's SVM backend */
	X86_VIRT_VMX,		/* VT-x: kvm_intel, okvm's VMX backend */
};

/* The 12-byte vendor string of CPUID leaf 0, NUL-terminated. */
static inline void x86_vendor_string(char vendor[13])
{
	unsigned int a, b, c, d;

	__cpuid(0, a, b, c, d);
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	vendor[12] = '\0';
}

static inline enum x86_virt x86_host_virt(void)
{
	char v[13];

	x86_vendor_string(v);
	if (!strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine"))
		return X86_VIRT_SVM;
	if (!strcmp(v, "GenuineIntel") || !strcmp(v, "CentaurHauls") ||
	    !strcmp(v, "  Shanghai  "))
		return X86_VIRT_VMX;
	return X86_VIRT_UNKNOWN;
}

static inline bool x86_host_svm(void)
{
	return x86_host_virt() == X86_VIRT_SVM;
}

static inline bool x86_host_vmx(void)
{
	return x86_host_virt() == X86_VIRT_VMX;
}

/* The real KVM's vendor module for this CPU, as in /sys/module. */
static inline const char *x86_kvm_vendor_module(void)
{
	return x86_host_vmx() ? "kvm_intel" : "kvm_amd";
}

/* What the hardware resource is called in okvm's and KVM's messages. */
static inline const char *x86_virt_name(void)
{
	return x86_host_vmx() ? "VT-x" : "AMD-V";
}

#endif /* OKVM_TOOLS_X86_VENDOR_H */
