/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvhboot's entry from a multiboot (v1) loader: a GDT of our own (the
 * loader's may be gone), a stack, a cleared .bss, then pvhboot_main()
 * with the loader's magic and info pointer.
 */
#define MB_MAGIC	0x1badb002
/* Modules page-aligned, memory map wanted. */
#define MB_FLAGS	0x00000003

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	cld
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	mov $0x10, %ecx
	mov %ecx, %ds
	mov %ecx, %es
	mov %ecx, %fs
	mov %ecx, %gs
	mov %ecx, %ss
	mov %eax, %esi
	mov $__bss_start, %edi
	mov $_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $stack_top, %esp
	push %ebx
	push %esi
	call pvhboot_main
2:	hlt
	jmp 2b

	.section .rodata
	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: flat data */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt

	.bss
	.align 16
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
