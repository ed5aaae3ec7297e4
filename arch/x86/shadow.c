// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: shadow paging, for a CPU without nested paging or with tdp=0.
 *
 * The hardware walks tables okvm builds per vCPU, which map guest linear
 * addresses straight to host-physical ones: a "virtual TLB".  They start
 * empty; a guest access that misses them raises #PF, which exits, and
 * okvm walks the guest's own tables (okvm_walk(), setting the accessed
 * and dirty flags as the processor would, SDM vol. 3, 4.8), then either
 * reflects the #PF with the error code the guest's tables give, or maps
 * the page (okvm_map_gfn(), as a nested fault would).  Every leaf is
 * 4 KiB, whatever page size the guest uses.
 *
 * Like a TLB, the tables hold only translations the guest's tables gave
 * at some point, and are dropped whenever the guest may expect its TLB
 * flushed (SDM vol. 3, 4.10.4; APM vol. 2, 5.5): whole on a CR3 load,
 * on a change of CR0.PG or WP, of CR4.PAE, PSE, PGE, SMEP, SMAP, PKE or
 * LA57, of EFER.NXE or LMA, and on KVM_SET_SREGS; one address on INVLPG.
 * A guest that changes a present entry must flush it, as on hardware, so
 * its page tables need no write protection here.  No leaf is global: a
 * CR3 load drops global translations too, which the architecture allows.
 *
 * The format follows the guest's mode, as the hardware walks the tables
 * with the paging mode the backend gives it: 4-level for a guest in long
 * mode; else PAE with a page-directory-pointer table below 4 GiB (CR3 is
 * 32 bits there), also for 32-bit paging and for paging off, which maps
 * the low 4 GiB one to one.  The backend sets CR0.PG (paging off: "paged
 * real mode", APM vol. 2, 15.19), CR0.WP and CR4.PAE for the hardware and
 * shows the guest its own values (SVM: arch/x86/svm/svm.c).  With the
 * guest's CR0.WP clear, a supervisor write to a read-only page is mapped
 * writable and supervisor-only, so that user accesses still fault.  A
 * leaf is writable only when the guest's entry is dirty or the access is
 * a write, so that the guest's dirty flag is set when the processor
 * would set it.
 *
 * Every change to the tables is made under mmu_lock.  When the MMU
 * notifier or dirty logging removes guest memory, every vCPU's tables go
 * (okvm_shadow_zap_all()), freed after okvm_flush_remote_tlbs(): a vCPU
 * in the guest may be walking them until then.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <asm/pgtable_types.h>
#include <asm/processor-flags.h>
#include <asm/traps.h>

#include "x86.h"

#define SPT_ENTRIES		512
#define SPT_ADDR_MASK		GENMASK_ULL(51, 12)
#define SPT_NX			BIT_ULL(63)
#define SPT_NONLEAF		(_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | \
				 _PAGE_ACCESSED)
/*
 * A PAE page-directory-pointer entry has only P and the address: R/W and
 * U/S are reserved there (SDM vol. 3, 4.4.1).
 */
#define SPT_PDPTE		_PAGE_PRESENT

/* Which bits of each control register the shadow tables depend on. */
static const u64 shadow_ctl_bits[] = {
	[OKVM_CTL_CR0]	= X86_CR0_PG | X86_CR0_WP,
	[OKVM_CTL_CR4]	= X86_CR4_PAE | X86_CR4_PSE | X86_CR4_PGE |
			  X86_CR4_SMEP | X86_CR4_SMAP | X86_CR4_PKE |
			  X86_CR4_LA57,
	[OKVM_CTL_EFER]	= EFER_NX | EFER_LMA | EFER_LME,
};

static u64 *spt_table(u64 entry)
{
	return __va(entry & SPT_ADDR_MASK);
}

static unsigned int spt_index(u64 la, int level)
{
	return (la >> (PAGE_SHIFT + 9 * (level - 1))) % SPT_ENTRIES;
}

static void spt_free(u64 *table, int level)
{
	int i;

	for (i = 0; level > 1 && i < SPT_ENTRIES; i++)
		if (table[i] & _PAGE_PRESENT)
			spt_free(spt_table(table[i]), level - 1);
	free_page((unsigned long)table);
}

/**
 * okvm_shadow_init() - give a vCPU an empty shadow root, with tdp=0
 * @vcpu: the vCPU being created
 *
 * Return: 0 or -ENOMEM.
 */
int okvm_shadow_init(struct okvm_vcpu *vcpu)
{
	struct okvm_shadow *s = &vcpu->arch.shadow;

	if (okvm_tdp_enabled)
		return 0;
	/* A PAE CR3 holds a 32-bit address (SDM vol. 3, 4.4.1). */
	s->root = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT | GFP_DMA32);
	if (!s->root)
		return -ENOMEM;
	s->reset = true;
	return 0;
}

/* Unhook the tables below the root onto @list; mmu_lock held. */
static void shadow_detach(struct okvm_shadow *s, struct list_head *list)
{
	struct page *page;
	int i;

	for (i = 0; i < SPT_ENTRIES; i++) {
		if (!(s->root[i] & _PAGE_PRESENT))
			continue;
		page = virt_to_page(spt_table(s->root[i]));
		set_page_private(page, s->levels - 1);
		list_add(&page->lru, list);
		WRITE_ONCE(s->root[i], 0);
	}
}

static void shadow_free_list(struct list_head *list)
{
	struct page *page, *next;
	int level;

	list_for_each_entry_safe(page, next, list, lru) {
		list_del(&page->lru);
		level = page_private(page);
		set_page_private(page, 0);
		spt_free(page_address(page), level);
	}
}

/**
 * okvm_shadow_destroy() - free a vCPU's shadow tables
 * @vcpu: the vCPU, gone from its VM's vCPU array
 *
 * Under mmu_lock, so that an okvm_shadow_zap_all() that found the vCPU
 * before it left the array is done with it first.
 */
void okvm_shadow_destroy(struct okvm_vcpu *vcpu)
{
	struct okvm_shadow *s = &vcpu->arch.shadow;
	LIST_HEAD(list);

	if (!s->root)
		return;
	mutex_lock(&vcpu->vm->mmu_lock);
	shadow_detach(s, &list);
	mutex_unlock(&vcpu->vm->mmu_lock);
	shadow_free_list(&list);
	free_page((unsigned long)s->root);
	s->root = NULL;
}

/**
 * okvm_shadow_root_pa() - the physical address of a vCPU's shadow root
 * @vcpu: the vCPU
 *
 * Return: the CR3 the hardware walks with.
 */
u64 okvm_shadow_root_pa(struct okvm_vcpu *vcpu)
{
	return __pa(vcpu->arch.shadow.root);
}

/**
 * okvm_shadow_ctl_changed() - the backend set a control register
 * @vcpu:	the vCPU
 * @ctl:	which one
 * @old:	its guest value before
 * @val:	and now
 *
 * Any CR3 load, and a change of the bits the tables depend on, throws
 * them away before the next entry and flushes the vCPU's TLB.
 */
void okvm_shadow_ctl_changed(struct okvm_vcpu *vcpu, enum okvm_ctl ctl,
			     u64 old, u64 val)
{
	u64 bits = ctl < ARRAY_SIZE(shadow_ctl_bits) ? shadow_ctl_bits[ctl] : 0;

	if (ctl == OKVM_CTL_CR3 || ((old ^ val) & bits)) {
		vcpu->arch.shadow.reset = true;
		vcpu->arch.flush_tlb = true;
	}
}

/**
 * okvm_shadow_reset() - throw a vCPU's shadow tables away if asked to
 * @vcpu: the vCPU, outside the guest
 *
 * The format of the new tables follows the guest's EFER.LMA now.  The
 * vCPU flushes its TLB before it enters (vcpu->arch.flush_tlb), so the
 * tables can be freed at once.
 */
void okvm_shadow_reset(struct okvm_vcpu *vcpu)
{
	struct okvm_shadow *s = &vcpu->arch.shadow;
	LIST_HEAD(list);

	if (!s->reset)
		return;
	mutex_lock(&vcpu->vm->mmu_lock);
	shadow_detach(s, &list);
	s->levels = (okvm_get_ctl(vcpu, OKVM_CTL_EFER) & EFER_LMA) ? 4 : 3;
	mutex_unlock(&vcpu->vm->mmu_lock);
	s->reset = false;
	shadow_free_list(&list);
}

/**
 * okvm_shadow_zap_all() - drop every vCPU's shadow tables
 * @vm: the VM, with mmu_lock held
 *
 * For the MMU notifier, memslot changes and dirty logging: every
 * translation of the VM goes, and the TLBs are flushed before the tables
 * are freed.
 */
void okvm_shadow_zap_all(struct okvm *vm)
{
	struct okvm_vcpu *vcpu;
	unsigned long i;
	LIST_HEAD(list);

	xa_for_each(&vm->vcpus, i, vcpu)
		if (vcpu->arch.shadow.root)
			shadow_detach(&vcpu->arch.shadow, &list);
	if (list_empty(&list))
		return;
	okvm_flush_remote_tlbs(vm);
	shadow_free_list(&list);
}

/**
 * struct shadow_map - what a guest walk allows, for shadow_map_page()
 * @la:		the linear address
 * @user:	user accesses allowed
 * @writable:	map writable if the host page is
 * @nx:		not executable
 */
struct shadow_map {
	u64 la;
	bool user;
	bool writable;
	bool nx;
};

static void shadow_map_page(struct okvm_vcpu *vcpu,
			    const struct okvm_memslot *slot, u64 gfn,
			    unsigned long hva, u64 hpa, bool writable,
			    void *data)
{
	const struct shadow_map *m = data;
	struct okvm_shadow *s = &vcpu->arch.shadow;
	struct okvm_tdp_cache *cache = &vcpu->arch.tdp_cache;
	u64 *table = s->root, *entry, leaf;
	int level;

	for (level = s->levels; level > 1; level--) {
		entry = &table[spt_index(m->la, level)];
		if (!(*entry & _PAGE_PRESENT))
			WRITE_ONCE(*entry, __pa(cache->pages[--cache->nr]) |
				   (level == 3 && s->levels == 3 ?
				    SPT_PDPTE : SPT_NONLEAF));
		table = spt_table(*entry);
	}
	/* Accessed and dirty preset: the guest's own flags are set already. */
	leaf = hpa | _PAGE_PRESENT | _PAGE_ACCESSED;
	if (writable && m->writable)
		leaf |= _PAGE_RW | _PAGE_DIRTY;
	if (m->user)
		leaf |= _PAGE_USER;
	if (m->nx)
		leaf |= SPT_NX;
	WRITE_ONCE(table[spt_index(m->la, 1)], leaf);
}

/**
 * okvm_shadow_fault() - a #PF under shadow paging
 * @vcpu:	the vCPU
 * @exit:	the fault: linear address and error code
 *
 * Return: 1 to enter the guest again (page mapped, or the #PF queued for
 * the guest), 0 to return to userspace (MMIO or an emulation failure),
 * or an errno.
 */
int okvm_shadow_fault(struct okvm_vcpu *vcpu, const struct okvm_exit *exit)
{
	u32 access = exit->tdp.error_code &
		     (OKVM_PF_WRITE | OKVM_PF_USER | OKVM_PF_FETCH);
	struct okvm_paging pg;
	struct shadow_map m;
	struct okvm_walk w;
	bool wp_trick;
	u64 la;
	int r;

	okvm_paging_get(vcpu, &pg);
	la = (pg.efer & EFER_LMA) ? exit->tdp.addr : (u32)exit->tdp.addr;
	r = okvm_walk(vcpu, &pg, la, access, &w);
	switch (r) {
	case 0:
		break;
	case OKVM_WALK_PF:
		/* Also on the way to another event's handler: #DF or worse. */
		okvm_ops->set_ctl(vcpu, OKVM_CTL_CR2, la);
		return okvm_queue_fault(vcpu, X86_TRAP_PF, w.error_code);
	case -EAGAIN:
		return 1;
	case -ENOENT:
		/* Guest page tables in MMIO: KVM cannot walk those either. */
		okvm_emulation_failure(vcpu, exit, NULL, 0);
		return 0;
	default:
		return r;
	}

	/* CR0.WP clear: a supervisor write to a read-only page (SDM 4.6.1). */
	wp_trick = (access & OKVM_PF_WRITE) && !(access & OKVM_PF_USER) &&
		   !w.writable;
	m = (struct shadow_map) {
		.la = la,
		.user = w.user && !wp_trick,
		.writable = (w.writable || wp_trick) && w.dirty,
		.nx = w.nx,
	};
	r = okvm_map_gfn(vcpu, w.gpa >> PAGE_SHIFT, access & OKVM_PF_WRITE,
			 vcpu->arch.shadow.levels - 1, shadow_map_page, &m);
	/* No memslot, or a write to a read-only one: MMIO. */
	if (r == -ENOENT)
		return okvm_emulate_mmio(vcpu, exit);
	return r ? r : 1;
}

/**
 * okvm_shadow_invlpg() - INVLPG, for shadow paging
 * @vcpu:	the vCPU
 * @la:		the linear address
 *
 * Drops the translation of @la and flushes the vCPU's TLB (SDM vol. 3,
 * 4.10.4.1).  The paging-structure caches INVLPG also empties have no
 * counterpart here: every leaf was made from a whole walk.
 */
void okvm_shadow_invlpg(struct okvm_vcpu *vcpu, u64 la)
{
	struct okvm_shadow *s = &vcpu->arch.shadow;
	u64 *table = s->root, *entry;
	int level;

	vcpu->arch.flush_tlb = true;
	/* Nested paging (the emulator met INVLPG on an MMIO exit): no tables. */
	if (!table)
		return;
	mutex_lock(&vcpu->vm->mmu_lock);
	for (level = s->levels; level > 1; level--) {
		entry = &table[spt_index(la, level)];
		if (!(*entry & _PAGE_PRESENT))
			goto out;
		table = spt_table(*entry);
	}
	WRITE_ONCE(table[spt_index(la, 1)], 0);
out:
	mutex_unlock(&vcpu->vm->mmu_lock);
}
