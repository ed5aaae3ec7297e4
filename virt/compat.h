/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place in C where okvm bends to differences between the kernels
 * it builds against (Debian's 6.1 and 6.12 today).  The assembly has two
 * more: arch/x86/svm/vmenter.S picks UNTRAIN_RET_VM where it exists, and
 * arch/x86/vmx/vmenter.S the name of the kernel's NMI entry for VMX.
 */
#ifndef OKVM_COMPAT_H
#define OKVM_COMPAT_H

#include <linux/kvm.h>
#include <linux/version.h>

/* load_gs_index() moved from asm/special_insns.h to its own header in 6.2. */
#if __has_include(<asm/gsseg.h>)
#include <asm/gsseg.h>
#endif

/*
 * Since 6.10 the kernel's own view of the uapi header calls the field
 * immediate_exit__unsafe, so that in-kernel readers are few and read it
 * once; the layout userspace sees is unchanged.
 */
static inline bool okvm_run_immediate_exit(struct kvm_run *run)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	return READ_ONCE(run->immediate_exit__unsafe);
#else
	return READ_ONCE(run->immediate_exit);
#endif
}

#endif
