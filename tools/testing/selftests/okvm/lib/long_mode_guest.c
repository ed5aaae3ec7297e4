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
 * 17, 21, 29 and 30 push one).  The CPU aligned RSP to 16 bytes before
 * its pushes (SDM vol. 3A, "64-Bit Mode Stack Frame"), and the stub's
 * pushes make eight quadwords in all, so RSP is still aligned for the
 * call.
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
    "	mov %rsp, %rdi\n"
    "	call lm_guest_exception\n"
    ".popsection\n");

struct lm_exception_frame {
	uint64_t vector;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};

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

void __attribute__((noreturn, used))
lm_guest_exception(struct lm_exception_frame *f)
{
	struct ucall uc = { .type = UCALL_EXCEPTION };
	uint64_t cr2;

	asm volatile("mov %%cr2, %0" : "=r"(cr2));
	uc.args[0] = f->vector;
	uc.args[1] = f->error_code;
	uc.args[2] = f->rip;
	uc.args[3] = cr2;
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
