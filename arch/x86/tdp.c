// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: two-dimensional paging (AMD NPT, Intel EPT), shared by the
 * backends.
 *
 * The tables map guest-physical to host-physical addresses in 4 or 5
 * levels, built lazily: a guest access to an unmapped GPA exits, the
 * memslot gives the userspace address, the page behind it is looked up
 * and a leaf installed.  The leaf is 2 MiB where the VMM maps the whole
 * 2 MiB around the address with one leaf of its own page tables (a
 * transparent huge page, hugetlbfs), the slot covers it at the same
 * alignment and logs no dirty pages; else 4 KiB.  okvm keeps no reference
 * to the pages it maps: the MMU notifier (virt/mmu_notifier.c) zaps the
 * leaves of a range before the VMM's mm changes it, and a fault that
 * raced with such a change maps nothing and lets the guest fault again.
 * Tables are freed only with the VM.  The entry formats differ per vendor
 * only in their bits (struct okvm_tdp_format); the walk is the same.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/io.h>
#include <asm/pgtable.h>

#include "x86.h"

#define TDP_ENTRIES		512
#define TDP_ADDR_MASK		GENMASK_ULL(51, 12)
#define TDP_HUGE_ADDR_MASK	GENMASK_ULL(51, 21)

/*
 * Bit 7 of a level-2 entry makes it a 2 MiB leaf in both formats (APM
 * vol. 2, 15.25.5: the host's PDE.PS; SDM vol. 3, 29.3.2, Table 29-4).
 */
#define TDP_LARGE		BIT_ULL(7)

static unsigned int tdp_shift(int level)
{
	return PAGE_SHIFT + 9 * (level - 1);
}

static u64 *tdp_table(u64 entry)
{
	return __va(entry & TDP_ADDR_MASK);
}

static unsigned int tdp_index(u64 gpa, int level)
{
	return (gpa >> tdp_shift(level)) % TDP_ENTRIES;
}

/* The backend's entry format, the same for every VM. */
static const struct okvm_tdp_format *tdp_format;

/* The guest's physical-address width, the same for every VM. */
static unsigned int tdp_phys_bits;

/**
 * okvm_tdp_setup() - take the backend's entry format, at module load
 * @fmt: the format, with @fmt->levels filled in
 */
void okvm_tdp_setup(const struct okvm_tdp_format *fmt)
{
	tdp_format = fmt;
	/*
	 * The host's width as far as the tables reach.  The raw CPUID
	 * width: the kernel's x86_phys_bits is reduced by memory
	 * encryption, which narrows host, not guest, addresses.
	 */
	tdp_phys_bits = min_t(unsigned int, cpuid_eax(0x80000008) & 0xff,
			      PAGE_SHIFT + 9 * okvm_tdp_levels());
}

/**
 * okvm_phys_bits() - the guest's physical-address width (MAXPHYADDR)
 *
 * What CPUID leaf 0x80000008 tells the guest, what its page-table
 * entries and CR3 may address, and what memslots may cover.
 *
 * Return: min(host physical address width, what the tables reach).
 */
unsigned int okvm_phys_bits(void)
{
	return tdp_phys_bits;
}

/**
 * okvm_max_gpa() - the first guest-physical address okvm cannot map
 *
 * Return: 2^okvm_phys_bits().
 */
u64 okvm_max_gpa(void)
{
	return 1ULL << tdp_phys_bits;
}

/**
 * okvm_tdp_init() - give a VM an empty top-level table
 * @vm: the VM
 *
 * Return: 0 or -ENOMEM.
 */
int okvm_tdp_init(struct okvm *vm)
{
	struct okvm_tdp *tdp = &vm->arch.tdp;

	tdp->fmt = tdp_format;
	tdp->root = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	return tdp->root ? 0 : -ENOMEM;
}

/**
 * okvm_tdp_root_pa() - the physical address of a VM's top-level table
 * @vm: the VM
 *
 * Return: the value for nCR3 or the EPT pointer.
 */
u64 okvm_tdp_root_pa(struct okvm *vm)
{
	return __pa(vm->arch.tdp.root);
}

/* Table pages a vCPU keeps ready for its next fault. */
static void tdp_cache_free(struct okvm_tdp_cache *cache)
{
	while (cache->nr)
		free_page((unsigned long)cache->pages[--cache->nr]);
}

/**
 * okvm_tdp_vcpu_destroy() - free the table pages a vCPU kept ready
 * @vcpu: the vCPU
 */
void okvm_tdp_vcpu_destroy(struct okvm_vcpu *vcpu)
{
	tdp_cache_free(&vcpu->arch.tdp_cache);
}

/*
 * Fill the cache with @tables zeroed pages for one mapping, before taking
 * mmu_lock: an allocation under the lock could enter reclaim, and reclaim
 * unmapping a guest page calls the MMU notifier, which takes the lock.
 */
static int tdp_cache_fill(struct okvm_tdp_cache *cache, int tables)
{
	while (cache->nr < tables) {
		void *page = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);

		if (!page)
			return -ENOMEM;
		cache->pages[cache->nr++] = page;
	}
	return 0;
}

static void tdp_free_table(const struct okvm_tdp_format *fmt, u64 *table,
			   int level)
{
	int i;

	for (i = 0; level > 1 && i < TDP_ENTRIES; i++)
		if ((table[i] & fmt->present) && !(table[i] & TDP_LARGE))
			tdp_free_table(fmt, tdp_table(table[i]), level - 1);
	free_page((unsigned long)table);
}

/**
 * okvm_tdp_destroy() - free the tables
 * @vm: the VM; no vCPU of it can run any more
 */
void okvm_tdp_destroy(struct okvm *vm)
{
	struct okvm_tdp *tdp = &vm->arch.tdp;

	if (tdp->root)
		tdp_free_table(tdp->fmt, tdp->root, okvm_tdp_levels());
	tdp->root = NULL;
}

/*
 * Visit every leaf mapping part of [gfn, end), with mmu_lock held.  Large
 * ranges mostly have no tables: a missing entry steps over all it would
 * map, and a 2 MiB leaf is visited once however little of it the range
 * covers.  Return: true when @fn changed an entry (a TLB flush is owed).
 */
static bool tdp_for_each_leaf(struct okvm_tdp *tdp, u64 gfn, u64 end,
			      bool (*fn)(struct okvm_tdp *tdp, u64 *entry))
{
	bool changed = false;

	while (gfn < end) {
		u64 gpa = gfn << PAGE_SHIFT;
		u64 *table = tdp->root, *entry;
		int level = okvm_tdp_levels();

		for (;;) {
			entry = &table[tdp_index(gpa, level)];
			if (!(*entry & tdp->fmt->present) || level == 1 ||
			    (*entry & TDP_LARGE))
				break;
			table = tdp_table(*entry);
			level--;
		}
		if (*entry & tdp->fmt->present)
			changed |= fn(tdp, entry);
		/* On to what the next entry at this level maps. */
		gfn = (gfn | ((1ULL << (tdp_shift(level) - PAGE_SHIFT)) - 1)) + 1;
	}
	return changed;
}

static bool tdp_zap_leaf(struct okvm_tdp *tdp, u64 *entry)
{
	WRITE_ONCE(*entry, 0);
	return true;
}

static bool tdp_write_protect_leaf(struct okvm_tdp *tdp, u64 *entry)
{
	if (!(*entry & tdp->fmt->writable))
		return false;
	WRITE_ONCE(*entry, *entry & ~tdp->fmt->writable);
	return true;
}

/**
 * okvm_arch_zap_gfn_range() - make a range unreachable for the guest
 * @vm:		the VM, with mmu_lock held
 * @gfn:	first guest frame
 * @npages:	number of frames
 *
 * A 2 MiB leaf that maps part of the range goes whole.  When this returns
 * true the caller flushes the TLBs (okvm_flush_remote_tlbs()) before
 * anything may reuse the pages.  Under shadow paging every vCPU's shadow
 * tables go, flushed here already.
 *
 * Return: true when a leaf was removed and the caller owes the flush.
 */
bool okvm_arch_zap_gfn_range(struct okvm *vm, u64 gfn, u64 npages)
{
	if (!okvm_tdp_enabled) {
		okvm_shadow_zap_all(vm);
		return false;
	}
	return tdp_for_each_leaf(&vm->arch.tdp, gfn, gfn + npages,
				 tdp_zap_leaf);
}

/**
 * okvm_arch_write_protect() - make the guest's next write to a range fault
 * @vm:		the VM, with mmu_lock held
 * @gfn:	first guest frame
 * @npages:	number of frames
 *
 * For dirty logging.  A 2 MiB leaf becomes read-only whole; the write
 * that faults on it replaces it with 4 KiB leaves (tdp_map()).  When this
 * returns true the caller flushes the TLBs.  Under shadow paging every
 * vCPU's shadow tables go (flushed here already): the next write faults.
 *
 * Return: true when a leaf lost its write permission and the caller owes
 * the flush.
 */
bool okvm_arch_write_protect(struct okvm *vm, u64 gfn, u64 npages)
{
	if (!okvm_tdp_enabled) {
		okvm_shadow_zap_all(vm);
		return false;
	}
	return tdp_for_each_leaf(&vm->arch.tdp, gfn, gfn + npages,
				 tdp_write_protect_leaf);
}

/*
 * Look up the page behind @hva for a guest access, writable if the host
 * mapping allows it and @may_write.  A read may be served from a
 * read-only mapping; a write may not.  The page stays pinned only until
 * the caller has mapped it.
 */
static int tdp_get_page(unsigned long hva, bool write, bool may_write,
			struct page **page, bool *writable)
{
	int n = 0;

	if (may_write)
		n = pin_user_pages_fast(hva, 1, FOLL_WRITE, page);
	*writable = n == 1;
	if (n != 1 && !write)
		n = pin_user_pages_fast(hva, 1, 0, page);
	if (n == 1)
		return 0;
	return n < 0 ? n : -EFAULT;
}

/*
 * Whether the VMM maps the 2 MiB around @hva with one leaf of its own
 * page tables (a PMD or PUD leaf: a transparent huge page, hugetlbfs), so
 * that they are contiguous in host memory.  The walk is lockless with
 * interrupts off, as gup's is, so no table can be freed under it; with
 * mmu_lock held and no invalidation begun since the page was looked up,
 * the mapping of @hva is still the one the page came from.
 */
static bool tdp_host_huge(struct mm_struct *mm, unsigned long hva)
{
	unsigned long flags;
	bool huge = false;
	pgd_t pgd;
	p4d_t p4d;
	pud_t pud;
	pmd_t pmd;

	local_irq_save(flags);
	pgd = READ_ONCE(*pgd_offset(mm, hva));
	if (!pgd_present(pgd))
		goto out;
	p4d = READ_ONCE(*p4d_offset(&pgd, hva));
	if (!p4d_present(p4d))
		goto out;
	pud = READ_ONCE(*pud_offset(&p4d, hva));
	if (!pud_present(pud))
		goto out;
	if (pud_leaf(pud)) {
		huge = true;
		goto out;
	}
	pmd = READ_ONCE(*pmd_offset(&pud, hva));
	huge = pmd_present(pmd) && pmd_leaf(pmd);
out:
	local_irq_restore(flags);
	return huge;
}

/* Whether the fault at @gfn may be mapped with a 2 MiB leaf. */
static bool tdp_can_map_huge(struct okvm *vm, const struct okvm_memslot *slot,
			     u64 gfn, unsigned long hva)
{
	u64 first = ALIGN_DOWN(gfn, TDP_ENTRIES);

	return vm->arch.tdp.fmt->huge && !slot->dirty_bitmap &&
	       first >= slot->base_gfn &&
	       first + TDP_ENTRIES <= slot->base_gfn + slot->npages &&
	       (((gfn << PAGE_SHIFT) ^ hva) & (PMD_SIZE - 1)) == 0 &&
	       tdp_host_huge(vm->mm, hva);
}

/*
 * Install the leaf for @gpa at @level (2: 2 MiB, 1: 4 KiB) onto host
 * address @hpa (the page's, or the 2 MiB's), with mmu_lock held.  A
 * 2 MiB leaf in the way of a 4 KiB one is removed first; a table in the
 * way of a 2 MiB one makes it a 4 KiB one.
 */
static void tdp_map(struct okvm_vcpu *vcpu, u64 gpa, int level, u64 hpa,
		    bool writable)
{
	struct okvm *vm = vcpu->vm;
	struct okvm_tdp *tdp = &vm->arch.tdp;
	const struct okvm_tdp_format *fmt = tdp->fmt;
	struct okvm_tdp_cache *cache = &vcpu->arch.tdp_cache;
	u64 *table = tdp->root, *entry, old, leaf;
	int l;

	for (l = okvm_tdp_levels(); ; l--) {
		entry = &table[tdp_index(gpa, l)];
		old = *entry;
		if (l == 2 && level == 2 && (old & fmt->present) &&
		    !(old & TDP_LARGE)) {
			/* Some of the 2 MiB are mapped already, 4 KiB each. */
			hpa += gpa & (PMD_SIZE - PAGE_SIZE);
			level = 1;
		}
		if (l == level)
			break;
		if ((old & fmt->present) && (old & TDP_LARGE)) {
			WRITE_ONCE(*entry, 0);
			okvm_flush_remote_tlbs(vm);
			old = 0;
		}
		if (!(old & fmt->present))
			WRITE_ONCE(*entry, __pa(cache->pages[--cache->nr]) |
				   fmt->nonleaf);
		table = tdp_table(*entry);
	}

	leaf = hpa | (writable ? fmt->leaf_rw : fmt->leaf_ro) |
	       (level == 2 ? TDP_LARGE : 0);
	/* Another vCPU got there first. */
	if ((old & fmt->present) && (old & TDP_ADDR_MASK) == hpa &&
	    ((old & fmt->writable) || !writable))
		return;
	WRITE_ONCE(*entry, leaf);
	/*
	 * A leaf that pointed elsewhere (the page was replaced since) must
	 * be gone from every TLB before the fault returns; one that only
	 * gains write permission may stay, it faults once more at most.
	 */
	if ((old & fmt->present) && (old & TDP_ADDR_MASK) != hpa)
		okvm_flush_remote_tlbs(vm);
}

/**
 * okvm_map_gfn() - look up the page behind a guest frame and map it
 * @vcpu:	the vCPU that faulted
 * @gfn:	guest frame
 * @write:	the access was a write
 * @tables:	table pages @map may take from vcpu->arch.tdp_cache
 * @map:	installs the mapping, with mmu_lock held
 * @data:	for @map
 *
 * The lookup shared by nested (okvm_tdp_fault()) and shadow paging
 * (arch/x86/shadow.c).  The page is pinned only until @map has run; a
 * read-only slot, and a read in a slot that logs dirty pages, are mapped
 * read-only, so that the first write faults and is logged.  @map is not
 * called when the VMM's mm or the memslots changed meanwhile.
 *
 * Return: 0 when mapped, or when the guest should just try again;
 * -ENOENT when no memslot holds @gfn or it is a write to a read-only slot
 * (MMIO for the caller); -EFAULT when the userspace memory behind it
 * cannot be had; -ENOMEM.
 */
int okvm_map_gfn(struct okvm_vcpu *vcpu, u64 gfn, bool write, int tables,
		 okvm_map_fn map, void *data)
{
	struct okvm *vm = vcpu->vm;
	struct okvm_memslot *slot;
	unsigned long hva, seq;
	struct page *page;
	bool writable, may_write;
	u64 gen;
	int r;

	r = tdp_cache_fill(&vcpu->arch.tdp_cache, tables);
	if (r)
		return r;

	mutex_lock(&vm->mmu_lock);
	slot = okvm_gfn_to_memslot(vm, gfn);
	if (!slot || (write && (slot->flags & KVM_MEM_READONLY))) {
		mutex_unlock(&vm->mmu_lock);
		return -ENOENT;
	}
	hva = okvm_gfn_to_hva(slot, gfn);
	may_write = !(slot->flags & KVM_MEM_READONLY) &&
		    (write || !slot->dirty_bitmap);
	gen = vm->slots.generation;
	seq = vm->mmu_invalidate_seq;
	mutex_unlock(&vm->mmu_lock);

	/* The lookup may sleep for long (swap, userfaultfd): not under the lock. */
	r = tdp_get_page(hva, write, may_write, &page, &writable);
	if (r)
		return r;

	mutex_lock(&vm->mmu_lock);
	if (vm->slots.generation != gen || okvm_mmu_invalidate_retry(vm, seq))
		goto out;
	map(vcpu, slot, gfn, hva, page_to_phys(page), writable, data);
	if (writable)
		okvm_mark_page_dirty(slot, gfn);
out:
	mutex_unlock(&vm->mmu_lock);
	unpin_user_page(page);
	return 0;
}

static void tdp_map_page(struct okvm_vcpu *vcpu,
			 const struct okvm_memslot *slot, u64 gfn,
			 unsigned long hva, u64 hpa, bool writable, void *data)
{
	int level = 1;

	if (tdp_can_map_huge(vcpu->vm, slot, gfn, hva)) {
		level = 2;
		hpa = (hpa - (hva & (PMD_SIZE - 1))) & TDP_HUGE_ADDR_MASK;
	}
	tdp_map(vcpu, gfn << PAGE_SHIFT, level, hpa, writable);
}

/**
 * okvm_tdp_fault() - map the page a guest access faulted on
 * @vcpu:	the vCPU that faulted
 * @gpa:	guest-physical address
 * @write:	the access was a write
 *
 * Return: as okvm_map_gfn().
 */
int okvm_tdp_fault(struct okvm_vcpu *vcpu, u64 gpa, bool write)
{
	return okvm_map_gfn(vcpu, gpa >> PAGE_SHIFT, write,
			    okvm_tdp_levels() - 1, tdp_map_page, NULL);
}

/**
 * okvm_tdp_levels() - depth of the tables, as the backend chose it
 *
 * Return: 4 or 5.
 */
int okvm_tdp_levels(void)
{
	return tdp_format->levels;
}
