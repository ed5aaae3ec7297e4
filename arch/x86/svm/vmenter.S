/* SPDX-License-Identifier: GPL-2.0 */
/*
 * okvm_svm_vmrun() - run the guest once under AMD SVM
 *
 * VMRUN saves part of the host state in the host save area (VM_HSAVE_PA)
 * and restores it at #VMEXIT: RIP, RSP, RAX, RFLAGS, CR0/3/4, EFER, GDTR,
 * IDTR and CS/SS/DS/ES (AMD APM vol. 2, 15.5.1 and 15.6).  FS, GS, TR and
 * LDTR with their hidden state, KernelGSBase, STAR/LSTAR/CSTAR/SFMASK and
 * the SYSENTER MSRs are left to VMSAVE/VMLOAD (15.5.2): the host's go to a
 * per-CPU area and come back from it, the guest's live in its VMCB.  Every
 * general purpose register but RAX and RSP (which the VMCB holds) is
 * loaded and saved here from the array @regs.
 *
 * Called with interrupts off and GIF clear (CLGI): between the two
 * VMLOADs GS holds the guest's base, so nothing here may touch per-CPU
 * data, and only GIF keeps NMIs out.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>

#include "okvm_vmenter.h"

/* Stack slots below the callee-saved registers. */
#define STACK_REGS	0
#define STACK_VMCB	8
#define STACK_HOST	16

	.section .text, "ax"

/*
 * void okvm_svm_vmrun(unsigned long vmcb_pa,	%rdi
 *		       unsigned long *regs,	%rsi
 *		       unsigned long host_pa)	%rdx
 */
SYM_FUNC_START(okvm_svm_vmrun)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdx
	push	%rdi
	push	%rsi

	/* Host state that VMRUN does not keep, then the guest's. */
	mov	%rdx, %rax
	vmsave	%rax
	mov	%rdi, %rax
	vmload	%rax

	OKVM_LOAD_GUEST_GPRS %rsi
	mov	REG_RDI(%rsi), %rdi
	mov	REG_RSI(%rsi), %rsi

	/*
	 * With V_INTR_MASKING set, physical interrupts are masked by the
	 * host's RFLAGS.IF as it was at VMRUN (APM 15.21.1): it must be 1 for
	 * a host interrupt to end the guest's slice.  GIF is still clear, so
	 * nothing is delivered before VMRUN, and #VMEXIT clears GIF again.
	 */
	sti
	vmrun	%rax
	cli

	/* RAX and RSP are the host's again; RAX is free for the array. */
	mov	STACK_REGS(%rsp), %rax
	OKVM_SAVE_GUEST_GPRS

	mov	STACK_VMCB(%rsp), %rax
	vmsave	%rax
	mov	STACK_HOST(%rsp), %rax
	vmload	%rax

	/*
	 * The guest may have filled the return stack buffer with its own
	 * targets: overwrite it before the first RET (spectre v2, RSB).
	 */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT
#ifdef UNTRAIN_RET_VM
	UNTRAIN_RET_VM
#else
	UNTRAIN_RET
#endif

	OKVM_CLEAR_GUEST_GPRS

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(okvm_svm_vmrun)
