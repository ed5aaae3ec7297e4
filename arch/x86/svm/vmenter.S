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

/* Offsets in the @regs array: the enum okvm_reg order. */
#define REG_RCX		(1 * 8)
#define REG_RDX		(2 * 8)
#define REG_RBX		(3 * 8)
#define REG_RBP		(5 * 8)
#define REG_RSI		(6 * 8)
#define REG_RDI		(7 * 8)
#define REG_R8		(8 * 8)
#define REG_R9		(9 * 8)
#define REG_R10		(10 * 8)
#define REG_R11		(11 * 8)
#define REG_R12		(12 * 8)
#define REG_R13		(13 * 8)
#define REG_R14		(14 * 8)
#define REG_R15		(15 * 8)

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

	mov	REG_RCX(%rsi), %rcx
	mov	REG_RDX(%rsi), %rdx
	mov	REG_RBX(%rsi), %rbx
	mov	REG_RBP(%rsi), %rbp
	mov	REG_RDI(%rsi), %rdi
	mov	REG_R8(%rsi), %r8
	mov	REG_R9(%rsi), %r9
	mov	REG_R10(%rsi), %r10
	mov	REG_R11(%rsi), %r11
	mov	REG_R12(%rsi), %r12
	mov	REG_R13(%rsi), %r13
	mov	REG_R14(%rsi), %r14
	mov	REG_R15(%rsi), %r15
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
	mov	%rcx, REG_RCX(%rax)
	mov	%rdx, REG_RDX(%rax)
	mov	%rbx, REG_RBX(%rax)
	mov	%rbp, REG_RBP(%rax)
	mov	%rsi, REG_RSI(%rax)
	mov	%rdi, REG_RDI(%rax)
	mov	%r8, REG_R8(%rax)
	mov	%r9, REG_R9(%rax)
	mov	%r10, REG_R10(%rax)
	mov	%r11, REG_R11(%rax)
	mov	%r12, REG_R12(%rax)
	mov	%r13, REG_R13(%rax)
	mov	%r14, REG_R14(%rax)
	mov	%r15, REG_R15(%rax)

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

	/* Leave no guest value in a register for speculation to use. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d

	add	$24, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(okvm_svm_vmrun)
