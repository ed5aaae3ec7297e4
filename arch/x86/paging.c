// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: the guest's own page tables, walked in software.
 *
 * Under nested paging the hardware walks the guest's tables; okvm walks
 * them only when it must turn a guest linear address into a
 * guest-physical one itself: to fetch and carry out an instruction it
 * emulates (arch/x86/emulate.c).  The walk follows the four paging modes
 * of the Intel SDM vol. 3, chapter 4 (AMD APM vol. 2, chapter 5): none,
 * 32-bit (4.3, with 4 MiB pages under CR4.PSE), PAE (4.4) and 4-level or
 * 5-level (4.5), checks the rights of the access (4.6), reserved bits
 * (4.7) and sets the accessed and dirty flags as the processor does
 * (4.8).  A failed walk gives the #PF error code the processor would have
 * pushed.  Protection keys are not checked: the guest's CPUID does not
 * offer them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <asm/pgtable_types.h>
#include <asm/processor-flags.h>

#include "x86.h"

#define PTE_ADDR_MASK		GENMASK_ULL(51, 12)
#define PTE_NX			BIT_ULL(63)
/* Bits of a 32-bit PDE mapping 4 MiB that hold physical address bits 39:32. */
#define PDE32_PSE_HIGH_SHIFT	13
#define PDE32_PSE_HIGH_MASK	GENMASK_ULL(20, 13)
#define PDE32_PSE_RSVD		BIT_ULL(21)
/* A/D updates lost to another vCPU before the walk gives up for now. */
#define WALK_AD_TRIES		4

/**
 * okvm_paging_get() - the paging state of a vCPU, for okvm_walk()
 * @vcpu:	the vCPU
 * @pg:		filled in from its control registers, CPL and RFLAGS.AC
 */
void okvm_paging_get(struct okvm_vcpu *vcpu, struct okvm_paging *pg)
{
	pg->cr0 = okvm_get_ctl(vcpu, OKVM_CTL_CR0);
	pg->cr3 = okvm_get_ctl(vcpu, OKVM_CTL_CR3);
	pg->cr4 = okvm_get_ctl(vcpu, OKVM_CTL_CR4);
	pg->efer = okvm_get_ctl(vcpu, OKVM_CTL_EFER);
	pg->ac = vcpu->arch.rflags & X86_EFLAGS_AC;
}

/* Set @bits in the entry at @gpa if they are not yet; -EAGAIN on a race. */
static int walk_set_bits(struct okvm_vcpu *vcpu, u64 gpa, u64 pte, u64 bits,
			 unsigned int size)
{
	if ((pte & bits) == bits)
		return 0;
	return okvm_cmpxchg_guest(vcpu->vm, gpa, pte, pte | bits, size);
}

/*
 * Reserved bits of an entry at @level (1 for a PTE), @leaf when it maps
 * a page (SDM 4.4.2 and 4.5.4, tables 4-14 to 4-20).
 */
static u64 walk_rsvd(const struct okvm_paging *pg, int level, bool leaf,
		     bool pae)
{
	unsigned int maxphyaddr = okvm_phys_bits();
	u64 rsvd = 0;

	if (!(pg->cr4 & X86_CR4_PAE)) {
		/* 32-bit paging: only a 4 MiB page has reserved bits. */
		if (level == 2 && leaf) {
			rsvd = PDE32_PSE_RSVD;
			if (maxphyaddr < 40)
				rsvd |= GENMASK_ULL(20, PDE32_PSE_HIGH_SHIFT +
						    maxphyaddr - 32);
		}
		return rsvd;
	}
	/* Address bits the processor does not have; PAE entries up to 62. */
	if (maxphyaddr < 52)
		rsvd |= GENMASK_ULL(51, maxphyaddr);
	if (pae)
		rsvd |= GENMASK_ULL(62, 52);
	if (!(pg->efer & EFER_NX))
		rsvd |= PTE_NX;
	if (leaf && level == 2)
		rsvd |= GENMASK_ULL(20, 13);
	else if (leaf && level == 3)
		rsvd |= GENMASK_ULL(29, 13);
	else if (level >= 4)
		rsvd |= _PAGE_PSE;
	return rsvd;
}

/*
 * Whether the rights gathered on the way down allow the access (SDM
 * 4.6): user-mode accesses need U/S everywhere and, for writes, R/W;
 * supervisor writes need R/W when CR0.WP is set; fetches need no XD,
 * and a supervisor fetch from a user page faults under SMEP; a
 * supervisor data access to a user page faults under SMAP unless
 * RFLAGS.AC is set.
 */
static bool walk_allowed(const struct okvm_paging *pg, u32 access,
			 bool writable, bool user, bool nx)
{
	bool write = access & OKVM_PF_WRITE;
	bool fetch = access & OKVM_PF_FETCH;

	if (access & OKVM_PF_USER)
		return user && (!write || writable) && !(fetch && nx);
	if (write && !writable && (pg->cr0 & X86_CR0_WP))
		return false;
	if (fetch)
		return !nx && !(user && (pg->cr4 & X86_CR4_SMEP));
	return !(user && (pg->cr4 & X86_CR4_SMAP) && !pg->ac);
}

/*
 * The error code of a #PF for @access (SDM 4.7): P for a protection
 * or reserved-bit fault, I/D only where the processor reports it (NX
 * enabled under PAE or 4-level paging, or SMEP).
 */
static u32 walk_error(const struct okvm_paging *pg, u32 access, u32 fault)
{
	u32 ec = fault | (access & (OKVM_PF_WRITE | OKVM_PF_USER));

	if ((access & OKVM_PF_FETCH) &&
	    (((pg->efer & EFER_NX) && (pg->cr4 & X86_CR4_PAE)) ||
	     (pg->cr4 & X86_CR4_SMEP)))
		ec |= OKVM_PF_FETCH;
	return ec;
}

static int walk_once(struct okvm_vcpu *vcpu, const struct okvm_paging *pg,
		     u64 la, u32 access, struct okvm_walk *w)
{
	bool pae = !(pg->efer & EFER_LMA);
	bool wide = pg->cr4 & X86_CR4_PAE;
	unsigned int size = wide ? 8 : 4;
	unsigned int bits = wide ? 9 : 10;
	bool writable = true, user = true, nx = false;
	u64 pte_gpa[5], pte[5], table;
	int level, top, r;

	if (!wide) {
		top = 2;
		table = pg->cr3 & PTE_ADDR_MASK & GENMASK_ULL(31, 0);
	} else if (pae) {
		u64 pdpte;

		/* The PDPTE: rights come from the levels below (SDM 4.4.1). */
		r = okvm_read_guest(vcpu->vm, (pg->cr3 & OKVM_PDPT_ADDR_MASK) +
				    ((la >> 30) & 3) * 8, &pdpte, 8);
		if (r)
			return r;
		if (!(pdpte & _PAGE_PRESENT)) {
			w->error_code = walk_error(pg, access, 0);
			return OKVM_WALK_PF;
		}
		top = 2;
		table = pdpte & PTE_ADDR_MASK;
	} else {
		top = (pg->cr4 & X86_CR4_LA57) ? 5 : 4;
		table = pg->cr3 & PTE_ADDR_MASK;
	}

	for (level = top; level >= 1; level--) {
		unsigned int shift = PAGE_SHIFT + bits * (level - 1);
		u64 index = (la >> shift) & ((1ULL << bits) - 1);
		bool leaf;
		u64 e = 0;	/* 32-bit paging reads 4 bytes: bits 63:32 stay 0 */

		pte_gpa[level - 1] = table + index * size;
		r = okvm_read_guest(vcpu->vm, pte_gpa[level - 1], &e, size);
		if (r)
			return r;
		pte[level - 1] = e;
		if (!(e & _PAGE_PRESENT)) {
			w->error_code = walk_error(pg, access, 0);
			return OKVM_WALK_PF;
		}
		leaf = level == 1 ||
		       ((e & _PAGE_PSE) && level <= 3 &&
			(wide || (pg->cr4 & X86_CR4_PSE)));
		if (e & walk_rsvd(pg, level, leaf, pae)) {
			w->error_code = walk_error(pg, access,
						   OKVM_PF_PRESENT |
						   OKVM_PF_RSVD);
			return OKVM_WALK_PF;
		}
		writable &= !!(e & _PAGE_RW);
		user &= !!(e & _PAGE_USER);
		/* Set only where allowed (else reserved, above): PAE, NXE. */
		nx |= !!(e & PTE_NX);
		if (leaf) {
			u64 mask = (1ULL << shift) - 1;
			u64 base = e & PTE_ADDR_MASK & ~mask;

			if (!wide && level == 2)
				base = (e & GENMASK_ULL(31, 22)) |
				       ((e & PDE32_PSE_HIGH_MASK) <<
					(32 - PDE32_PSE_HIGH_SHIFT));
			w->gpa = base | (la & mask);
			w->level = level;
			break;
		}
		table = e & PTE_ADDR_MASK;
	}

	if (!walk_allowed(pg, access, writable, user, nx)) {
		w->error_code = walk_error(pg, access, OKVM_PF_PRESENT);
		return OKVM_WALK_PF;
	}
	w->writable = writable;
	w->user = user;
	w->nx = nx;
	w->dirty = (pte[w->level - 1] & _PAGE_DIRTY) || (access & OKVM_PF_WRITE);

	/* Accessed on every level used, dirty on the leaf of a write. */
	for (level = top; level > w->level; level--) {
		r = walk_set_bits(vcpu, pte_gpa[level - 1], pte[level - 1],
				  _PAGE_ACCESSED, size);
		if (r)
			return r;
	}
	return walk_set_bits(vcpu, pte_gpa[level - 1], pte[level - 1],
			     _PAGE_ACCESSED |
			     ((access & OKVM_PF_WRITE) ? _PAGE_DIRTY : 0), size);
}

/**
 * okvm_walk() - translate a guest linear address through the guest's
 * page tables
 * @vcpu:	the vCPU whose VM's memory holds the tables
 * @pg:		its paging state, from okvm_paging_get()
 * @la:		linear address; outside long mode only its low 32 bits
 *		count, and the caller passes them so
 * @access:	OKVM_PF_WRITE, OKVM_PF_USER (a CPL 3 access) and
 *		OKVM_PF_FETCH as they apply; a read by default
 * @w:		the translation, or the #PF error code
 *
 * With paging off the linear address is the physical one.  The accessed
 * flags of the entries used, and the dirty flag of the last for a write,
 * are set only when the access is allowed.
 *
 * Return: 0 with @w->gpa and the rights of the page in @w;
 * OKVM_WALK_PF when the processor would raise #PF, with
 * @w->error_code; -ENOENT when a paging structure lies outside every
 * memslot (okvm cannot walk MMIO); -EAGAIN when another vCPU kept
 * changing an entry while the flags were set; -EFAULT when the memory
 * behind a slot cannot be accessed.
 */
int okvm_walk(struct okvm_vcpu *vcpu, const struct okvm_paging *pg, u64 la,
	      u32 access, struct okvm_walk *w)
{
	int tries, r = -EAGAIN;

	memset(w, 0, sizeof(*w));
	if (!(pg->cr0 & X86_CR0_PG)) {
		w->gpa = la;
		w->writable = true;
		w->user = true;
		w->dirty = true;
		return 0;
	}
	for (tries = 0; tries < WALK_AD_TRIES && r == -EAGAIN; tries++)
		r = walk_once(vcpu, pg, la, access, w);
	return r;
}
