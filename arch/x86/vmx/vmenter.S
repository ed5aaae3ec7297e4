/* SPDX-License-Identifier: GPL-2.0 */
/*
 * okvm_vmx_vmrun() - run the guest once under Intel VMX
 *
 * VM entry loads the guest's RIP, RSP, RFLAGS, control registers and
 * segments from the current VMCS; every general purpose register but RSP
 * is loaded here from the array @regs.  VM exit does not come back after
 * VMLAUNCH/VMRESUME but jumps to HOST_RIP, okvm_vmx_vmexit, with RSP
 * from HOST_RSP, which this function writes to its own stack pointer
 * just before entering (Intel SDM vol. 3, 27.5.3).  The stack then still
 * holds @regs.  Called with interrupts off and the vCPU's VMCS current.
 *
 * Return: 0 after a VM exit, 1 when VMLAUNCH/VMRESUME failed outright
 * (VMfailValid/VMfailInvalid; VM_INSTRUCTION_ERROR tells why).
 */
#include <linux/linkage.h>
#include <linux/version.h>
#include <asm/asm.h>
#include <asm/ibt.h>
#include <asm/nospec-branch.h>
#include <asm/percpu.h>
#include <asm/segment.h>
#include <asm/unwind_hints.h>

#include "okvm_vmenter.h"

#define VMCS_HOST_RSP	0x6c14

	.section .text, "ax"

/*
 * int okvm_vmx_vmrun(unsigned long *regs,	%rdi
 *		      bool launched)		%sil
 */
SYM_FUNC_START(okvm_vmx_vmrun)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	push	%rdi

	mov	$VMCS_HOST_RSP, %eax
	vmwrite	%rsp, %rax
	jbe	.Lfail

	/* Flags from here to VMLAUNCH/VMRESUME: the MOVs leave them alone. */
	test	%sil, %sil

	OKVM_LOAD_GUEST_GPRS %rdi
	mov	REG_RAX(%rdi), %rax
	mov	REG_RSI(%rdi), %rsi
	mov	REG_RDI(%rdi), %rdi

	/*
	 * A VM entry that works goes on at okvm_vmx_vmexit, not after the
	 * instruction: tell objtool the stack there is the one here.
	 */
	UNWIND_HINT_SAVE
	jnz	.Lresume
	vmlaunch
	jmp	.Lfail
.Lresume:
	vmresume
	jmp	.Lfail

SYM_INNER_LABEL(okvm_vmx_vmexit, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	/* RSP is HOST_RSP: @regs on top.  Save the guest's registers. */
	push	%rax
	mov	8(%rsp), %rax
	OKVM_SAVE_GUEST_GPRS
	pop	REG_RAX(%rax)
	xor	%ebx, %ebx
	jmp	.Lout

.Lfail:
	mov	$1, %ebx

.Lout:
	/*
	 * The guest may have filled the return stack buffer with its own
	 * targets: overwrite it before the first RET (spectre v2, RSB).
	 */
	FILL_RETURN_BUFFER %rax, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT

	mov	%ebx, %eax
	OKVM_CLEAR_GUEST_GPRS

	add	$8, %rsp
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(okvm_vmx_vmrun)

/*
 * okvm_vmx_call_nmi() - run the host's NMI handler for an NMI that
 * caused a VM exit
 *
 * With "NMI exiting" set, an NMI that arrives in the guest becomes a VM
 * exit and is not delivered (SDM 25.2): the host must handle it itself.
 * The kernel has an entry point for exactly this, which runs on the
 * current stack instead of the NMI IST stack, and ends in IRET: build
 * the frame an interrupt would have pushed and call it.  NMIs stay
 * blocked until that IRET, as for a real NMI.
 */
SYM_FUNC_START(okvm_vmx_call_nmi)
	push	%rbp
	mov	%rsp, %rbp
	and	$-16, %rsp
	push	$__KERNEL_DS
	push	%rbp
	pushf
	push	$__KERNEL_CS
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	call	asm_exc_nmi_kvm_vmx
#else
	call	asm_exc_nmi_noist
#endif
	leave
	RET
SYM_FUNC_END(okvm_vmx_call_nmi)
