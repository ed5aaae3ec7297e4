/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest setup the fuzzers share: architectural bits, one GDT layout with
 * flat segments for every mode and ring, descriptor and gate encodings,
 * and the segment registers a VMM hands KVM_SET_SREGS for each mode.
 */
#ifndef FUZZ_LIB_X86_H
#define FUZZ_LIB_X86_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_EM		(1ULL << 2)
#define CR0_TS		(1ULL << 3)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_AM		(1ULL << 18)
#define CR0_NW		(1ULL << 29)
#define CR0_CD		(1ULL << 30)
#define CR0_PG		(1ULL << 31)
#define CR4_VME		(1ULL << 0)
#define CR4_PSE		(1ULL << 4)
#define CR4_PAE		(1ULL << 5)
#define CR4_PGE		(1ULL << 7)
#define CR4_OSFXSR	(1ULL << 9)
#define CR4_OSXMMEXCPT	(1ULL << 10)
#define CR4_FSGSBASE	(1ULL << 16)
#define CR4_OSXSAVE	(1ULL << 18)
#define CR4_SMEP	(1ULL << 20)
#define CR4_SMAP	(1ULL << 21)
#define EFER_SCE	(1ULL << 0)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)
#define EFER_NXE	(1ULL << 11)
#define RFLAGS_FIXED	(1ULL << 1)
#define RFLAGS_TF	(1ULL << 8)
#define RFLAGS_IF	(1ULL << 9)
#define RFLAGS_DF	(1ULL << 10)
#define RFLAGS_NT	(1ULL << 14)
#define RFLAGS_RF	(1ULL << 16)
#define RFLAGS_VM	(1ULL << 17)
#define RFLAGS_AC	(1ULL << 18)
#define RFLAGS_VIF	(1ULL << 19)
#define RFLAGS_VIP	(1ULL << 20)
#define RFLAGS_ID	(1ULL << 21)
#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_US		(1ULL << 2)
#define PTE_PWT		(1ULL << 3)
#define PTE_PCD		(1ULL << 4)
#define PTE_A		(1ULL << 5)
#define PTE_D		(1ULL << 6)
#define PTE_PS		(1ULL << 7)
#define PTE_G		(1ULL << 8)
#define PTE_NX		(1ULL << 63)

/* Segment types (descriptor bits 40-43). */
#define SEG_DATA_RW	0x3	/* read/write, accessed */
#define SEG_CODE_RX	0xb	/* execute/read, accessed */
#define SEG_LDT		0x2
#define SEG_TSS_AVAIL	0x9	/* 32/64-bit TSS; 0xb is busy */
#define SEG_TSS16_BUSY	0x3
#define GATE_TASK	0x5
#define GATE_INTR	0xe	/* 32/64-bit interrupt gate */
#define GATE_TRAP	0xf
#define GATE_CALL	0xc

/*
 * The GDT both fuzzers' guests use: flat code and data segments for
 * every mode and ring, then the system descriptors, 16 bytes each so
 * that they serve long mode too.  x86_gdt_flat() writes entries 0 to
 * GDT_FLAT_ENTRIES - 1; the rest is the caller's.
 */
#define SEL_CODE32	0x08
#define SEL_DATA	0x10
#define SEL_CODE16	0x18
#define SEL_DATA16	0x20
#define SEL_CODE64	0x28
#define SEL_CODE32_U	0x33
#define SEL_DATA_U	0x3b
#define SEL_CODE64_U	0x43
#define GDT_FLAT_ENTRIES 9
#define SEL_TSS		0x48	/* 16 bytes in long mode */
#define SEL_LDT		0x58	/* 16 bytes in long mode */

/* In a 32-bit TSS (ESP0, SS0, CR3) and a 64-bit one (RSP0, IST1-7). */
#define TSS_SP0		0x04
#define TSS32_SS0	0x08
#define TSS32_CR3	0x1c
#define TSS64_IST(n)	(0x24 + ((n) - 1) * 8)
#define TSS_IOMAP	0x66	/* 16-bit offset of the I/O permission map */
#define TSS_SIZE	0x68

/* A code, data or system segment descriptor (the low 8 bytes). */
uint64_t x86_desc(uint32_t base, uint32_t limit, int type, int s, int dpl,
		  int l, int db, int g);

/*
 * An interrupt, trap, task or call gate to sel:off (the low 8 bytes; a
 * 64-bit gate's high 8 are off >> 32), present, of type and dpl.
 */
uint64_t x86_gate(uint64_t off, uint16_t sel, int type, int dpl);

/* Entries 0 to GDT_FLAT_ENTRIES - 1 of the layout above. */
void x86_gdt_flat(uint64_t *gdt);

/*
 * A segment register as KVM_SET_SREGS takes it: present, and with the
 * granularity its limit needs.
 */
struct kvm_segment x86_seg(uint64_t base, uint32_t limit, uint16_t sel,
			   int type, int s, int dpl, int db, int l);

/*
 * The segment registers of real mode (dpl 0) or virtual-8086 mode (dpl
 * 3): CS at cs_sel:0, SS at ss_sel:0, DS, ES, FS and GS at ds_sel:0 with
 * limit ds_limit (0xffff, or more for "unreal" mode).
 */
void x86_sregs_real(struct kvm_sregs *s, uint16_t cs_sel, uint16_t ss_sel,
		    uint16_t ds_sel, uint32_t ds_limit, int dpl);

/*
 * Flat 4 GiB segments of the GDT layout above for 32-bit protected mode
 * (l false) or 64-bit mode (l true), in ring 0 or, with user, ring 3.
 */
void x86_sregs_flat(struct kvm_sregs *s, bool l, bool user);

#endif /* FUZZ_LIB_X86_H */
