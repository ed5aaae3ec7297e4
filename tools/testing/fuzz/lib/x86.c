// SPDX-License-Identifier: GPL-2.0
/*
 * Guest setup the fuzzers share: see x86.h.
 */
#include "x86.h"

uint64_t x86_desc(uint32_t base, uint32_t limit, int type, int s, int dpl,
		  int l, int db, int g)
{
	uint64_t d;

	d = (limit & 0xffffULL) | ((uint64_t)(base & 0xffffff) << 16);
	d |= (uint64_t)(type & 0xf) << 40 | (uint64_t)(s & 1) << 44;
	d |= (uint64_t)(dpl & 3) << 45 | 1ULL << 47;
	d |= (uint64_t)((limit >> 16) & 0xf) << 48;
	d |= (uint64_t)(l & 1) << 53 | (uint64_t)(db & 1) << 54;
	d |= (uint64_t)(g & 1) << 55 | (uint64_t)(base >> 24) << 56;
	return d;
}

uint64_t x86_gate(uint64_t off, uint16_t sel, int type, int dpl)
{
	return (off & 0xffff) | (uint64_t)sel << 16 |
	       (uint64_t)(0x80 | (dpl & 3) << 5 | (type & 0xf)) << 40 |
	       (off >> 16 & 0xffff) << 48;
}

void x86_gdt_flat(uint64_t *g)
{
	g[0] = 0;
	g[SEL_CODE32 >> 3] = x86_desc(0, 0xfffff, SEG_CODE_RX, 1, 0, 0, 1, 1);
	g[SEL_DATA >> 3] = x86_desc(0, 0xfffff, SEG_DATA_RW, 1, 0, 0, 1, 1);
	g[SEL_CODE16 >> 3] = x86_desc(0, 0xffff, SEG_CODE_RX, 1, 0, 0, 0, 0);
	g[SEL_DATA16 >> 3] = x86_desc(0, 0xffff, SEG_DATA_RW, 1, 0, 0, 0, 0);
	g[SEL_CODE64 >> 3] = x86_desc(0, 0xfffff, SEG_CODE_RX, 1, 0, 1, 0, 1);
	g[SEL_CODE32_U >> 3] = x86_desc(0, 0xfffff, SEG_CODE_RX, 1, 3, 0, 1, 1);
	g[SEL_DATA_U >> 3] = x86_desc(0, 0xfffff, SEG_DATA_RW, 1, 3, 0, 1, 1);
	g[SEL_CODE64_U >> 3] = x86_desc(0, 0xfffff, SEG_CODE_RX, 1, 3, 1, 0, 1);
}

struct kvm_segment x86_seg(uint64_t base, uint32_t limit, uint16_t sel,
			   int type, int s, int dpl, int db, int l)
{
	return (struct kvm_segment) {
		.base = base, .limit = limit, .selector = sel, .type = type,
		.present = 1, .dpl = dpl, .db = db, .s = s, .l = l,
		.g = limit > 0xfffff,
	};
}

void x86_sregs_real(struct kvm_sregs *s, uint16_t cs_sel, uint16_t ss_sel,
		    uint16_t ds_sel, uint32_t ds_limit, int dpl)
{
	s->cs = x86_seg((uint64_t)cs_sel << 4, 0xffff, cs_sel, SEG_CODE_RX, 1,
			dpl, 0, 0);
	s->ss = x86_seg((uint64_t)ss_sel << 4, 0xffff, ss_sel, SEG_DATA_RW, 1,
			dpl, 0, 0);
	s->ds = x86_seg((uint64_t)ds_sel << 4, ds_limit, ds_sel, SEG_DATA_RW,
			1, dpl, 0, 0);
	s->es = s->fs = s->gs = s->ds;
}

void x86_sregs_flat(struct kvm_sregs *s, bool l, bool user)
{
	int dpl = user ? 3 : 0;
	uint16_t cs = l ? (user ? SEL_CODE64_U : SEL_CODE64) :
			  (user ? SEL_CODE32_U : SEL_CODE32);

	s->cs = x86_seg(0, 0xffffffff, cs, SEG_CODE_RX, 1, dpl, !l, l);
	s->ss = x86_seg(0, 0xffffffff, user ? SEL_DATA_U : SEL_DATA,
			SEG_DATA_RW, 1, dpl, 1, 0);
	s->ds = s->es = s->fs = s->gs = s->ss;
}
