/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A 16-bit real-mode guest for okvm-run.  It greets through the serial
 * port, one OUT (and so one exit to the VMM) per byte, shows the code
 * segment the VMM gave it, and halts.  Linked at 0: okvm-run points CS
 * and DS at the load address with IP = 0.
 */
#define SERIAL_PORT	0x3f8

	.code16
	.text
	.globl	start
start:
	cld
	mov	$greeting, %si
	call	puts
	mov	%cs, %ax
	call	puthex16
	mov	$farewell, %si
	call	puts
1:	hlt
	jmp	1b

/* Print the NUL-terminated string at DS:SI. */
puts:
	mov	$SERIAL_PORT, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret

/* Print AX as four hex digits. */
puthex16:
	mov	%ax, %bx
	mov	$4, %cx
	mov	$SERIAL_PORT, %dx
1:	rol	$4, %bx
	mov	%bl, %al
	and	$0xf, %al
	add	$'0', %al
	cmp	$'9', %al
	jbe	2f
	add	$('a' - '0' - 10), %al
2:	outb	%al, %dx
	loop	1b
	ret

greeting:
	.ascii	"Hello from a 16-bit real-mode guest!\n"
	.ascii	"Each byte of this text is one OUT to port 0x3f8,\n"
	.ascii	"and the VMM prints what it catches.\n"
	.asciz	"My code segment is 0x"
farewell:
	.ascii	" and my work is done.\n"
	.asciz	"Goodbye: HLT ends the run.\n"

	.section .note.GNU-stack, "", @progbits
