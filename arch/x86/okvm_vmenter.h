/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the SVM and VMX entry paths (svm/vmenter.S, vmx/vmenter.S) share:
 * moving the guest's general registers between the CPU and the array
 * vcpu->arch.regs, and leaving none of them behind after the exit.
 * Included by assembly only.
 */
#ifndef OKVM_VMENTER_H
#define OKVM_VMENTER_H

/* Offsets in the array: the enum okvm_reg order (okvm_arch.h). */
#define REG_RAX		(0 * 8)
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

/*
 * Load the guest's registers but RAX, RSP, RSI and RDI from the array at
 * \base: the caller loads those itself, the one holding \base last.
 */
.macro OKVM_LOAD_GUEST_GPRS base
	mov	REG_RCX(\base), %rcx
	mov	REG_RDX(\base), %rdx
	mov	REG_RBX(\base), %rbx
	mov	REG_RBP(\base), %rbp
	mov	REG_R8(\base), %r8
	mov	REG_R9(\base), %r9
	mov	REG_R10(\base), %r10
	mov	REG_R11(\base), %r11
	mov	REG_R12(\base), %r12
	mov	REG_R13(\base), %r13
	mov	REG_R14(\base), %r14
	mov	REG_R15(\base), %r15
.endm

/* After the exit: store the guest's registers but RAX and RSP at %rax. */
.macro OKVM_SAVE_GUEST_GPRS
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
.endm

/*
 * Leave no guest value in a caller-saved register for speculation to
 * use; the callee-saved ones are restored from the stack next.
 */
.macro OKVM_CLEAR_GUEST_GPRS
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
.endm

#endif
