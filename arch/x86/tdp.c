// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: two-dimensional paging (AMD NPT, Intel EPT), shared by the
 * backends.
 *
 * The tables map guest-physical to host-physical addresses with 4 KiB
 * pages, in 4 or 5 levels, built lazily: a guest access to an unmapped GPA exits, the
 * memslot gives the userspace address, the page behind it is pinned and
 * a leaf entry installed.  The leaf entries are the record of what is
 * pinned: zapping a range first makes its entries non-present (keeping
 * the frame in a software-only form), then, once no vCPU can still hold
 * a stale translation, unpins the frames.  Tables are freed only with
 * the VM.  The entry formats differ per vendor only in their bits
 * (struct okvm_tdp_format); the walk is the same.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/io.h>
#include <asm/pgtable.h>

#include "x86.h"

#define TDP_ENTRIES		512
#define TDP_ADDR_MASK		GENMASK_ULL(51, 12)

/*
 * A zapped leaf: not present for the hardware (every present bit clear),
 * the frame still pinned.  Bits 62 and 61 are ignored by both NPT and EPT
 * in a non-present entry.
 */
#define TDP_ZAPPED		BIT_ULL(62)
#define TDP_ZAPPED_WRITABLE	BIT_ULL(61)

static unsigned int tdp_shift(int level)
{
	return PAGE_SHIFT + 9 * (level - 1);
}

static u64 *tdp_table(u64 entry)
{
	return __va(entry & TDP_ADDR_MASK);
}

/**
 * okvm_max_gpa() - the first guest-physical address okvm cannot map
 *
 * Return: 2^min(host physical address width, what the tables reach).
 */
u64 okvm_max_gpa(void)
{
	/*
	 * The raw CPUID width: the kernel's x86_phys_bits is reduced by
	 * memory encryption, which narrows host, not guest, addresses.
	 */
	return 1ULL << min_t(unsigned int, cpuid_eax(0x80000008) & 0xff,
			     PAGE_SHIFT + 9 * okvm_tdp_levels());
}

/* The backend's entry format, the same for every VM. */
static const struct okvm_tdp_format *tdp_format;

/**
 * okvm_tdp_setup() - take the backend's entry format, at module load
 * @fmt: the format, with @fmt->levels filled in
 */
void okvm_tdp_setup(const struct okvm_tdp_format *fmt)
{
	tdp_format = fmt;
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

static void tdp_unpin(u64 entry, bool writable)
{
	struct page *page = pfn_to_page((entry & TDP_ADDR_MASK) >> PAGE_SHIFT);

	/* A writable mapping may have been written: tell the page cache. */
	unpin_user_pages_dirty_lock(&page, 1, writable);
}

static void tdp_free_table(const struct okvm_tdp_format *fmt, u64 *table,
			   int level)
{
	int i;

	for (i = 0; i < TDP_ENTRIES; i++) {
		u64 e = table[i];

		if (level > 1 && (e & fmt->present))
			tdp_free_table(fmt, tdp_table(e), level - 1);
		else if (level == 1 && (e & fmt->present))
			tdp_unpin(e, e & fmt->writable);
		else if (level == 1 && (e & TDP_ZAPPED))
			tdp_unpin(e, e & TDP_ZAPPED_WRITABLE);
	}
	free_page((unsigned long)table);
}

/**
 * okvm_tdp_destroy() - unpin every mapped page and free the tables
 * @vm: the VM; no vCPU of it can run any more
 */
void okvm_tdp_destroy(struct okvm *vm)
{
	struct okvm_tdp *tdp = &vm->arch.tdp;

	if (tdp->root)
		tdp_free_table(tdp->fmt, tdp->root, okvm_tdp_levels());
	tdp->root = NULL;
}

/* The leaf entry for @gpa, creating the tables on the way if @alloc. */
static u64 *tdp_walk(struct okvm_tdp *tdp, u64 gpa, bool alloc)
{
	u64 *table = tdp->root;
	int level;

	for (level = okvm_tdp_levels(); level > 1; level--) {
		u64 *entry = &table[(gpa >> tdp_shift(level)) % TDP_ENTRIES];

		if (!(*entry & tdp->fmt->present)) {
			u64 *next;

			if (!alloc)
				return NULL;
			next = (u64 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
			if (!next)
				return NULL;
			WRITE_ONCE(*entry, __pa(next) | tdp->fmt->nonleaf);
		}
		table = tdp_table(*entry);
	}
	return &table[(gpa >> PAGE_SHIFT) % TDP_ENTRIES];
}

/*
 * Visit the leaf entries of [gfn, gfn + npages) that have a table, with
 * mmu_lock held.  Large ranges mostly have none, so whole missing tables
 * are stepped over.
 */
static void tdp_for_each_leaf(struct okvm *vm, u64 gfn, u64 npages,
			      void (*fn)(struct okvm_tdp *tdp, u64 *entry))
{
	struct okvm_tdp *tdp = &vm->arch.tdp;
	u64 end = gfn + npages;

	while (gfn < end) {
		u64 *table = tdp_walk(tdp, gfn << PAGE_SHIFT, false);
		u64 next = (gfn | (TDP_ENTRIES - 1)) + 1;

		if (table) {
			u64 *first = table - gfn % TDP_ENTRIES;
			u64 g;

			for (g = gfn; g < next && g < end; g++)
				fn(tdp, &first[g % TDP_ENTRIES]);
		}
		gfn = next;
	}
}

static void tdp_zap_leaf(struct okvm_tdp *tdp, u64 *entry)
{
	u64 e = *entry;

	if (!(e & tdp->fmt->present))
		return;
	WRITE_ONCE(*entry, (e & TDP_ADDR_MASK) | TDP_ZAPPED |
		   ((e & tdp->fmt->writable) ? TDP_ZAPPED_WRITABLE : 0));
}

static void tdp_release_leaf(struct okvm_tdp *tdp, u64 *entry)
{
	u64 e = *entry;

	if (!(e & TDP_ZAPPED))
		return;
	WRITE_ONCE(*entry, 0);
	tdp_unpin(e, e & TDP_ZAPPED_WRITABLE);
}

/**
 * okvm_arch_zap_gfn_range() - make a range unreachable for the guest
 * @vm:		the VM, with mmu_lock held
 * @gfn:	first guest frame
 * @npages:	number of frames
 *
 * The pages stay pinned until okvm_arch_release_zapped(), which the
 * caller runs after okvm_flush_remote_tlbs().
 */
void okvm_arch_zap_gfn_range(struct okvm *vm, u64 gfn, u64 npages)
{
	tdp_for_each_leaf(vm, gfn, npages, tdp_zap_leaf);
}

/**
 * okvm_arch_release_zapped() - unpin the pages of a zapped range
 * @vm:		the VM, with mmu_lock held
 * @gfn:	first guest frame
 * @npages:	number of frames
 */
void okvm_arch_release_zapped(struct okvm *vm, u64 gfn, u64 npages)
{
	tdp_for_each_leaf(vm, gfn, npages, tdp_release_leaf);
}

/*
 * Pin the page behind @hva, writable if the host mapping allows it and
 * the slot is not read-only (@readonly).  A read may be served from a
 * read-only mapping; a write may not.
 */
static int tdp_pin(unsigned long hva, bool write, bool readonly,
		   struct page **page, bool *writable)
{
	int n = 0;

	if (!readonly)
		n = pin_user_pages_fast(hva, 1, FOLL_WRITE | FOLL_LONGTERM,
					page);
	*writable = n == 1;
	if (n != 1 && !write)
		n = pin_user_pages_fast(hva, 1, FOLL_LONGTERM, page);
	if (n == 1)
		return 0;
	return n < 0 ? n : -EFAULT;
}

/**
 * okvm_tdp_fault() - map the page a guest access faulted on
 * @vcpu:	the vCPU that faulted
 * @gpa:	guest-physical address
 * @write:	the access was a write
 *
 * Return: 0 when mapped (or already mapped by another vCPU), -ENOENT when
 * no memslot holds @gpa or it is a write to a read-only slot (MMIO, for
 * the instruction emulator), -EFAULT when the userspace memory behind it
 * cannot be had, -ENOMEM.
 */
int okvm_tdp_fault(struct okvm_vcpu *vcpu, u64 gpa, bool write)
{
	struct okvm *vm = vcpu->vm;
	struct okvm_tdp *tdp = &vm->arch.tdp;
	const struct okvm_tdp_format *fmt = tdp->fmt;
	struct okvm_memslot *slot;
	struct page *page;
	unsigned long hva;
	bool writable, readonly;
	u64 *entry, old, gen;
	int r;

again:
	mutex_lock(&vm->mmu_lock);
	slot = okvm_gfn_to_memslot(vm, gpa >> PAGE_SHIFT);
	readonly = slot && (slot->flags & KVM_MEM_READONLY);
	if (!slot || (write && readonly)) {
		mutex_unlock(&vm->mmu_lock);
		return -ENOENT;
	}
	hva = slot->hva + (((gpa >> PAGE_SHIFT) - slot->base_gfn) << PAGE_SHIFT);
	gen = vm->slots.generation;
	mutex_unlock(&vm->mmu_lock);

	/* Pinning may sleep for long (swap, userfaultfd): not under the lock. */
	r = tdp_pin(hva, write, readonly, &page, &writable);
	if (r)
		return r;

	mutex_lock(&vm->mmu_lock);
	if (vm->slots.generation != gen) {
		mutex_unlock(&vm->mmu_lock);
		unpin_user_page(page);
		goto again;
	}
	entry = tdp_walk(tdp, gpa, true);
	if (!entry) {
		mutex_unlock(&vm->mmu_lock);
		unpin_user_page(page);
		return -ENOMEM;
	}
	old = *entry;
	if ((old & fmt->present) && ((old & fmt->writable) || !writable)) {
		/* Another vCPU got there first. */
		mutex_unlock(&vm->mmu_lock);
		unpin_user_page(page);
		return 0;
	}
	WRITE_ONCE(*entry, page_to_phys(page) |
		   (writable ? fmt->leaf_rw : fmt->leaf_ro));
	if (old & fmt->present) {
		/*
		 * A read-only mapping became writable, maybe onto another
		 * page (copy on write): drop the old translation everywhere
		 * before letting the old page go.
		 */
		okvm_flush_remote_tlbs(vm);
		tdp_unpin(old, false);
	}
	mutex_unlock(&vm->mmu_lock);
	return 0;
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
