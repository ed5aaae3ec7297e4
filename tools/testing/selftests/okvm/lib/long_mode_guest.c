// SPDX-License-Identifier: GPL-2.0
/*
 * The guest side of long_mode.h: what runs in the guest, never in the
 * host process.
 */
#include "long_mode.h"

/*
 * The vCPU starts here with the guest function in RSI and RSP 16-byte
 * aligned, as the call wants.  A guest function that returns is done.
 */
asm(".pushsection .text\n"
    ".globl lm_guest_entry\n"
    "lm_guest_entry:\n"
    "	call *%rsi\n"
    "	call guest_done\n"
    ".popsection\n");

/*
 * One 16-byte stub per exception vector 0-31, at lm_vectors + 16 * n:
 * each leaves the same frame for lm_exception_common, a dummy error
 * code where the CPU pushes none (the vectors in the mask: 8, 10-14,
 * 17, 21, 29 and 30 push one).  lm_exception_common saves the registers
 * a C function may change, the nine caller-saved ones and the SSE state
 * (FXSAVE), calls lm_guest_exception() with the frame (and DF clear, as
 * the ABI wants), and when that
 * returns (a handler of the guest's took the exception) restores them,
 * drops vector and error code and returns with IRETQ.
 *
 * The CPU aligned RSP to 16 bytes before its five pushes (SDM vol. 3A,
 * "64-Bit Mode Stack Frame"); with the error code, the vector and the
 * nine registers that makes sixteen quadwords, so RSP is aligned for
 * FXSAVE's 512 bytes and for the call, as the ABI wants it.
 */
asm(".pushsection .text\n"
    ".macro lm_vector n\n"
    "	.align 16\n"
    "	.if ((0x60227d00 >> \\n) & 1) == 0\n"
    "	push $0\n"
    "	.endif\n"
    "	push $\\n\n"
    "	jmp lm_exception_common\n"
    ".endm\n"
    ".align 16\n"
    ".globl lm_vectors\n"
    "lm_vectors:\n"
    "	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
    "	lm_vector \\n\n"
    "	.endr\n"
    "lm_exception_common:\n"
    "	push %rax\n"
    "	push %rcx\n"
    "	push %rdx\n"
    "	push %rsi\n"
    "	push %rdi\n"
    "	push %r8\n"
    "	push %r9\n"
    "	push %r10\n"
    "	push %r11\n"
    "	mov %rsp, %rdi\n"
    "	sub $512, %rsp\n"
    "	fxsave64 (%rsp)\n"
    "	cld\n"
    "	call lm_guest_exception\n"
    "	fxrstor64 (%rsp)\n"
    "	add $512, %rsp\n"
    "	pop %r11\n"
    "	pop %r10\n"
    "	pop %r9\n"
    "	pop %r8\n"
    "	pop %rdi\n"
    "	pop %rsi\n"
    "	pop %rdx\n"
    "	pop %rcx\n"
    "	pop %rax\n"
    "	add $16, %rsp\n"
    "	iretq\n"
    ".popsection\n");

/* The guest's own exception handlers, guest_set_handler(). */
static guest_handler_t lm_handlers[LM_NR_VECTORS];

void guest_set_handler(int vector, guest_handler_t handler)
{
	lm_handlers[vector] = handler;
}

/*
 * HLT exits to userspace (no in-kernel irqchip), so a guest that has
 * reported its end stops there, however often the host runs it again.
 */
static void __attribute__((noreturn)) guest_halt(void)
{
	for (;;)
		asm volatile("hlt");
}

/* The host finds the struct from the 32-bit address: stacks are low. */
static void ucall_send(struct ucall *uc)
{
	asm volatile("outl %%eax, %%dx"
		     : : "a"((uint32_t)(uintptr_t)uc), "d"(UCALL_PORT)
		     : "memory");
}

void guest_ucall(uint64_t type, uint64_t arg)
{
	struct ucall uc = { .type = type, .args = { arg } };

	ucall_send(&uc);
}

void guest_done(void)
{
	guest_ucall(UCALL_DONE, 0);
	guest_halt();
}

void __guest_assert(const char *file, uint64_t line, const char *expr,
		    int has_values, uint64_t a, uint64_t b)
{
	struct ucall uc = {
		.type = UCALL_ASSERT,
		.args = { a, b },
		.file = file,
		.expr = expr,
		.line = line,
		.has_values = has_values,
	};

	ucall_send(&uc);
	guest_halt();
}

/*
 * From lm_exception_common: the guest's handler for the vector when it
 * has one, after which the interrupted code goes on; else a ucall with
 * vector, error code, RIP and CR2, and a halt for good.
 */
void __attribute__((used)) lm_guest_exception(struct guest_exception *f)
{
	struct ucall uc = { .type = UCALL_EXCEPTION };

	if (f->vector < LM_NR_VECTORS && lm_handlers[f->vector]) {
		lm_handlers[f->vector](f);
		return;
	}
	uc.args[0] = f->vector;
	uc.args[1] = f->error_code;
	uc.args[2] = f->rip;
	uc.args[3] = guest_read_cr2();
	ucall_send(&uc);
	guest_halt();
}

void *guest_memset(void *s, int c, uint64_t n)
{
	uint8_t *p = s;

	while (n--)
		*p++ = c;
	return s;
}

void *guest_memcpy(void *d, const void *s, uint64_t n)
{
	const uint8_t *q = s;
	uint8_t *p = d;

	while (n--)
		*p++ = *q++;
	return d;
}
