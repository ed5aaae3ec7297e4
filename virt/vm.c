// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: the VM file descriptor, memslots and capabilities.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/uaccess.h>

#include "okvm.h"

/* x86 KVM caps a slot at 2^31 - 1 pages; okvm keeps the same limit. */
#define OKVM_MEM_MAX_NR_PAGES	((1UL << 31) - 1)

/*
 * Memslot flags okvm accepts.  A guest write to a KVM_MEM_READONLY slot
 * is MMIO: the instruction emulator hands it to userspace.
 */
#define OKVM_VALID_MEM_FLAGS	(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)

/* What KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) takes. */
#define OKVM_DIRTY_LOG_MANUAL_CAPS	(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | \
					 KVM_DIRTY_LOG_INITIALLY_SET)

/**
 * okvm_check_extension() - answer KVM_CHECK_EXTENSION
 * @ext: a KVM_CAP_* number
 *
 * Only what fully works is reported; unknown numbers answer 0.
 *
 * Return: 0 when not supported, else a positive value.
 */
long okvm_check_extension(long ext)
{
	switch (ext) {
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
	case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
	case KVM_CAP_INTERNAL_ERROR_DATA:
	case KVM_CAP_IMMEDIATE_EXIT:
	case KVM_CAP_CHECK_EXTENSION_VM:
	case KVM_CAP_ENABLE_CAP_VM:
	case KVM_CAP_SYNC_MMU:
	case KVM_CAP_READONLY_MEM:
		return 1;
	case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2:
		return OKVM_DIRTY_LOG_MANUAL_CAPS;
	case KVM_CAP_NR_VCPUS:
		return min_t(unsigned int, num_online_cpus(), OKVM_MAX_VCPUS);
	case KVM_CAP_MAX_VCPUS:
		return OKVM_MAX_VCPUS;
	case KVM_CAP_MAX_VCPU_ID:
		return OKVM_MAX_VCPU_IDS;
	case KVM_CAP_NR_MEMSLOTS:
		return OKVM_USER_MEM_SLOTS;
	default:
		return okvm_arch_check_extension(ext);
	}
}

/**
 * okvm_gfn_to_memslot() - find the slot holding a guest frame
 * @vm:	the VM; the caller holds mmu_lock or slots_lock
 * @gfn: guest frame number
 *
 * Return: the slot, or NULL when @gfn is in none.
 */
struct okvm_memslot *okvm_gfn_to_memslot(struct okvm *vm, u64 gfn)
{
	struct okvm_memslots *s = &vm->slots;
	int lo = 0, hi = s->nr;

	/* The last slot starting at or below @gfn is the only candidate. */
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (s->sorted[mid]->base_gfn <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && gfn - s->sorted[lo - 1]->base_gfn < s->sorted[lo - 1]->npages)
		return s->sorted[lo - 1];
	return NULL;
}

/*
 * The userspace address behind guest-physical @gpa, for @len bytes that
 * stay in its page.  A write is refused (-ENOENT) in a KVM_MEM_READONLY
 * slot, which is MMIO for writes.  Every write okvm makes to guest memory
 * for the guest asks here first, and then okvm_guest_written().
 */
static int okvm_guest_hva(struct okvm *vm, u64 gpa, unsigned int len,
			  bool write, unsigned long *hva)
{
	struct okvm_memslot *slot;
	int r = 0;

	if (offset_in_page(gpa) + len > PAGE_SIZE)
		return -EFAULT;
	mutex_lock(&vm->mmu_lock);
	slot = okvm_gfn_to_memslot(vm, gpa >> PAGE_SHIFT);
	if (!slot || (write && (slot->flags & KVM_MEM_READONLY)))
		r = -ENOENT;
	else
		*hva = okvm_gfn_to_hva(slot, gpa >> PAGE_SHIFT) +
		       offset_in_page(gpa);
	mutex_unlock(&vm->mmu_lock);
	return r;
}

/*
 * Log a write okvm made to guest memory, once it is done: a log taken
 * between the lookup and the store must not miss it.
 */
static void okvm_guest_written(struct okvm *vm, u64 gpa)
{
	struct okvm_memslot *slot;

	mutex_lock(&vm->mmu_lock);
	slot = okvm_gfn_to_memslot(vm, gpa >> PAGE_SHIFT);
	if (slot)
		okvm_mark_page_dirty(slot, gpa >> PAGE_SHIFT);
	mutex_unlock(&vm->mmu_lock);
}

/**
 * okvm_gpa_is_ram() - whether an access to a guest-physical address
 * reaches memory rather than MMIO
 * @vm:		the VM
 * @gpa:	guest-physical address
 * @write:	for a write, which a read-only slot does not take
 *
 * Return: true when a memslot takes the access.
 */
bool okvm_gpa_is_ram(struct okvm *vm, u64 gpa, bool write)
{
	unsigned long hva;

	return !okvm_guest_hva(vm, gpa, 1, write, &hva);
}

/**
 * okvm_read_guest() - copy guest-physical memory out of one page
 * @vm:		the VM; called from one of its ioctls, in the VMM's mm
 * @gpa:	guest-physical address
 * @data:	destination
 * @len:	bytes to copy, not crossing a page boundary
 *
 * Return: 0, -ENOENT when no memslot holds @gpa, -EFAULT when the
 * userspace memory behind it cannot be read.
 */
int okvm_read_guest(struct okvm *vm, u64 gpa, void *data, unsigned int len)
{
	unsigned long hva;
	int r;

	r = okvm_guest_hva(vm, gpa, len, false, &hva);
	if (r)
		return r;
	return copy_from_user(data, (const void __user *)hva, len) ? -EFAULT : 0;
}

/**
 * okvm_write_guest() - copy data into guest-physical memory in one page
 * @vm:		the VM; called from one of its ioctls, in the VMM's mm
 * @gpa:	guest-physical address
 * @data:	source
 * @len:	bytes to copy, not crossing a page boundary
 *
 * The one way okvm stores to guest memory on the guest's behalf (the
 * instruction emulator's stores, string port input), so that dirty
 * logging has one place to hook.
 *
 * Return: 0, -ENOENT when no memslot holds @gpa or its slot is read-only
 * (the store is MMIO then), -EFAULT when the userspace memory behind it
 * cannot be written.
 */
int okvm_write_guest(struct okvm *vm, u64 gpa, const void *data,
		     unsigned int len)
{
	unsigned long hva;
	int r;

	r = okvm_guest_hva(vm, gpa, len, true, &hva);
	if (r)
		return r;
	if (copy_to_user((void __user *)hva, data, len))
		return -EFAULT;
	okvm_guest_written(vm, gpa);
	return 0;
}

/**
 * okvm_cmpxchg_guest() - compare and exchange a guest-physical u32 or u64
 * @vm:		the VM; called from one of its ioctls, in the VMM's mm
 * @gpa:	guest-physical address, aligned to @len
 * @old:	the value expected there
 * @new:	the value to store if it is
 * @len:	4 or 8
 *
 * For the accessed and dirty bits of guest paging entries, which the
 * guest may change on another vCPU meanwhile, as the processor sets them
 * (SDM vol. 3, 4.8): atomically.  Goes through the same check as
 * okvm_write_guest().
 *
 * Return: 0 when stored, -EAGAIN when the memory no longer held @old,
 * -ENOENT, -EFAULT or -EINVAL as for okvm_write_guest().
 */
int okvm_cmpxchg_guest(struct okvm *vm, u64 gpa, u64 old, u64 new,
		       unsigned int len)
{
	unsigned long hva;
	int r;

	if ((len != 4 && len != 8) || (gpa & (len - 1)))
		return -EINVAL;
	r = okvm_guest_hva(vm, gpa, len, true, &hva);
	if (r)
		return r;
	if (!access_ok((void __user *)hva, len))
		return -EFAULT;
	/* 0 when exchanged, 1 when @old was not there, or -EFAULT. */
	if (len == 4) {
		u32 o = old;

		r = __try_cmpxchg_user((u32 __user *)hva, &o, (u32)new,
				       fault32);
	} else {
		r = __try_cmpxchg_user((u64 __user *)hva, &old, new, fault64);
	}
	if (r)
		return r > 0 ? -EAGAIN : r;
	okvm_guest_written(vm, gpa);
	return 0;
}

static void okvm_kick(void *unused)
{
}

/**
 * okvm_flush_remote_tlbs() - make every vCPU drop the VM's translations
 * @vm: the VM, with mmu_lock held
 *
 * Each vCPU flushes before its next entry; one that is in the guest now is
 * interrupted and waited for, so that when this returns no vCPU can still
 * use a translation removed before the call.
 */
void okvm_flush_remote_tlbs(struct okvm *vm)
{
	struct okvm_vcpu *vcpu;
	unsigned long i;

	WRITE_ONCE(vm->tlb_gen, vm->tlb_gen + 1);
	/* Pairs with the barrier in okvm_enter_guest_mode(). */
	smp_mb();
	xa_for_each(&vm->vcpus, i, vcpu) {
		if (READ_ONCE(vcpu->mode) == OKVM_IN_GUEST)
			smp_call_function_single(READ_ONCE(vcpu->cpu),
						 okvm_kick, NULL, 1);
	}
}

static bool okvm_memslot_overlaps(struct okvm *vm, u16 id, u64 gfn,
				  u64 npages)
{
	int i;

	for (i = 0; i < vm->slots.nr; i++) {
		struct okvm_memslot *s = vm->slots.sorted[i];

		if (s->id != id && gfn < s->base_gfn + s->npages &&
		    s->base_gfn < gfn + npages)
			return true;
	}
	return false;
}

static void okvm_memslots_remove(struct okvm_memslots *s,
				 struct okvm_memslot *slot)
{
	int i;

	for (i = 0; i < s->nr; i++)
		if (s->sorted[i] == slot)
			break;
	memmove(&s->sorted[i], &s->sorted[i + 1],
		(s->nr - i - 1) * sizeof(s->sorted[0]));
	s->nr--;
}

/* The array has room: okvm_memslots_grow() made sure of it. */
static void okvm_memslots_insert(struct okvm_memslots *s,
				 struct okvm_memslot *slot)
{
	int i = s->nr;

	while (i > 0 && s->sorted[i - 1]->base_gfn > slot->base_gfn) {
		s->sorted[i] = s->sorted[i - 1];
		i--;
	}
	s->sorted[i] = slot;
	s->nr++;
}

/*
 * Allocate a sorted array with room for one more slot.  The copy and the
 * switch happen later under mmu_lock, so readers never see a half-made
 * array; the caller frees whichever array is no longer in use.
 */
static struct okvm_memslot **okvm_memslots_grow(struct okvm *vm)
{
	return kvmalloc_array(vm->slots.nr + 1, sizeof(vm->slots.sorted[0]),
			      GFP_KERNEL_ACCOUNT);
}

/* Remove every translation of @slot; mmu_lock held. */
static void okvm_memslot_unmap(struct okvm *vm, struct okvm_memslot *slot)
{
	if (okvm_arch_zap_gfn_range(vm, slot->base_gfn, slot->npages))
		okvm_flush_remote_tlbs(vm);
}

/*
 * The dirty bitmap of a slot that logs dirty pages: all clear, or all set
 * when userspace asked for KVM_DIRTY_LOG_INITIALLY_SET, which spares it
 * write-protecting (and faulting in again) the whole slot at the start.
 */
static unsigned long *okvm_dirty_bitmap_alloc(struct okvm *vm, u64 npages)
{
	unsigned long *bitmap;

	bitmap = kvcalloc(BITS_TO_LONGS(npages), sizeof(long),
			  GFP_KERNEL_ACCOUNT);
	if (bitmap && (vm->dirty_log_manual & KVM_DIRTY_LOG_INITIALLY_SET))
		bitmap_set(bitmap, 0, npages);
	return bitmap;
}

static int okvm_memslot_create(struct okvm *vm, u16 id, u32 flags,
			       u64 base_gfn, u64 npages, unsigned long hva)
{
	struct okvm_memslot *slot, **sorted, **old;
	int r;

	slot = kzalloc(sizeof(*slot), GFP_KERNEL_ACCOUNT);
	sorted = okvm_memslots_grow(vm);
	if (!slot || !sorted) {
		r = -ENOMEM;
		goto err;
	}
	if (flags & KVM_MEM_LOG_DIRTY_PAGES) {
		slot->dirty_bitmap = okvm_dirty_bitmap_alloc(vm, npages);
		if (!slot->dirty_bitmap) {
			r = -ENOMEM;
			goto err;
		}
	}
	slot->id = id;
	slot->flags = flags;
	slot->base_gfn = base_gfn;
	slot->npages = npages;
	slot->hva = hva;

	r = xa_insert(&vm->slots.by_id, id, slot, GFP_KERNEL_ACCOUNT);
	if (r)
		goto err;

	mutex_lock(&vm->mmu_lock);
	old = vm->slots.sorted;
	memcpy(sorted, old, vm->slots.nr * sizeof(sorted[0]));
	vm->slots.sorted = sorted;
	okvm_memslots_insert(&vm->slots, slot);
	vm->slots.generation++;
	mutex_unlock(&vm->mmu_lock);
	kvfree(old);
	return 0;

err:
	kvfree(sorted);
	if (slot)
		kvfree(slot->dirty_bitmap);
	kfree(slot);
	return r;
}

static void okvm_memslot_delete(struct okvm *vm, struct okvm_memslot *slot)
{
	mutex_lock(&vm->mmu_lock);
	okvm_memslots_remove(&vm->slots, slot);
	vm->slots.generation++;
	okvm_memslot_unmap(vm, slot);
	mutex_unlock(&vm->mmu_lock);

	xa_erase(&vm->slots.by_id, slot->id);
	kvfree(slot->dirty_bitmap);
	kfree(slot);
}

/*
 * Turn dirty logging on or off for an existing slot, the one flag that
 * may change (KVM_MEM_READONLY may not).  On: from here on a write to any
 * page of it must be seen, so every page is write-protected (the guest's
 * next write faults and is logged) unless the bitmap starts full.  Off:
 * the slot is zapped, so that it is mapped again with large pages where
 * it can be.
 */
static int okvm_memslot_set_flags(struct okvm *vm, struct okvm_memslot *slot,
				  u32 flags)
{
	bool on = flags & KVM_MEM_LOG_DIRTY_PAGES;
	unsigned long *bitmap = NULL, *old = slot->dirty_bitmap;
	bool flush = false;

	if (on) {
		bitmap = okvm_dirty_bitmap_alloc(vm, slot->npages);
		if (!bitmap)
			return -ENOMEM;
	}

	mutex_lock(&vm->mmu_lock);
	slot->flags = flags;
	slot->dirty_bitmap = bitmap;
	if (!on)
		flush = okvm_arch_zap_gfn_range(vm, slot->base_gfn,
						slot->npages);
	else if (!(vm->dirty_log_manual & KVM_DIRTY_LOG_INITIALLY_SET))
		flush = okvm_arch_write_protect(vm, slot->base_gfn,
						slot->npages);
	if (flush)
		okvm_flush_remote_tlbs(vm);
	mutex_unlock(&vm->mmu_lock);
	kvfree(old);
	return 0;
}

static void okvm_memslot_move(struct okvm *vm, struct okvm_memslot *slot,
			      u64 base_gfn)
{
	mutex_lock(&vm->mmu_lock);
	okvm_memslots_remove(&vm->slots, slot);
	vm->slots.generation++;
	okvm_memslot_unmap(vm, slot);
	slot->base_gfn = base_gfn;
	okvm_memslots_insert(&vm->slots, slot);
	mutex_unlock(&vm->mmu_lock);
}

/*
 * KVM_SET_USER_MEMORY_REGION, with KVM's checks in KVM's order so that
 * the same bad request gets the same errno.
 */
static int okvm_set_memory_region(struct okvm *vm,
				  const struct kvm_userspace_memory_region *mem)
{
	u16 id = (u16)mem->slot;
	u16 as_id = mem->slot >> 16;
	u64 base_gfn, npages;
	struct okvm_memslot *old;
	int r = 0;

	if (mem->flags & ~OKVM_VALID_MEM_FLAGS)
		return -EINVAL;
	if (!PAGE_ALIGNED(mem->memory_size) ||
	    !PAGE_ALIGNED(mem->guest_phys_addr))
		return -EINVAL;
	if (!PAGE_ALIGNED(mem->userspace_addr) ||
	    mem->userspace_addr != untagged_addr(mem->userspace_addr) ||
	    !access_ok((void __user *)(unsigned long)mem->userspace_addr,
		       mem->memory_size))
		return -EINVAL;
	/* One address space: okvm has no SMM. */
	if (as_id || id >= OKVM_USER_MEM_SLOTS)
		return -EINVAL;
	if (mem->guest_phys_addr + mem->memory_size < mem->guest_phys_addr)
		return -EINVAL;
	npages = mem->memory_size >> PAGE_SHIFT;
	if (npages > OKVM_MEM_MAX_NR_PAGES)
		return -EINVAL;
	base_gfn = mem->guest_phys_addr >> PAGE_SHIFT;

	mutex_lock(&vm->slots_lock);
	old = xa_load(&vm->slots.by_id, id);

	if (!npages) {
		if (old)
			okvm_memslot_delete(vm, old);
		else
			r = -EINVAL;
		goto out;
	}

	if (old) {
		if (mem->userspace_addr != old->hva || npages != old->npages ||
		    ((mem->flags ^ old->flags) & KVM_MEM_READONLY)) {
			r = -EINVAL;
			goto out;
		}
		if (base_gfn == old->base_gfn) {
			if (mem->flags != old->flags)
				r = okvm_memslot_set_flags(vm, old, mem->flags);
			goto out;
		}
	}

	if (okvm_memslot_overlaps(vm, id, base_gfn, npages)) {
		r = -EEXIST;
		goto out;
	}
	r = okvm_arch_validate_memslot(vm, mem->guest_phys_addr,
				       mem->memory_size);
	if (r)
		goto out;

	if (old) {
		okvm_memslot_move(vm, old, base_gfn);
		if (mem->flags != old->flags)
			r = okvm_memslot_set_flags(vm, old, mem->flags);
	} else
		r = okvm_memslot_create(vm, id, mem->flags, base_gfn, npages,
					mem->userspace_addr);
out:
	mutex_unlock(&vm->slots_lock);
	return r;
}

/**
 * okvm_mark_page_dirty() - log a write to a guest page
 * @slot:	the memslot holding it
 * @gfn:	the page's guest frame number
 *
 * For every write okvm itself makes to guest memory, and for the guest's
 * own when a page is mapped writable; nothing when the slot logs nothing.
 */
void okvm_mark_page_dirty(struct okvm_memslot *slot, u64 gfn)
{
	if (slot->dirty_bitmap)
		set_bit(gfn - slot->base_gfn, slot->dirty_bitmap);
}

/*
 * The dirty-logging slot a KVM_GET_DIRTY_LOG or KVM_CLEAR_DIRTY_LOG names,
 * with KVM's errors: EINVAL for a slot number that cannot exist (okvm has
 * one address space), ENOENT for one that does not log.
 */
static struct okvm_memslot *okvm_dirty_log_slot(struct okvm *vm, u32 slot_arg,
						int *err)
{
	struct okvm_memslot *slot;

	if ((slot_arg >> 16) || (u16)slot_arg >= OKVM_USER_MEM_SLOTS) {
		*err = -EINVAL;
		return NULL;
	}
	slot = xa_load(&vm->slots.by_id, (u16)slot_arg);
	if (!slot || !slot->dirty_bitmap) {
		*err = -ENOENT;
		return NULL;
	}
	return slot;
}

/*
 * Pages taken from a dirty bitmap in one KVM_GET_DIRTY_LOG or
 * KVM_CLEAR_DIRTY_LOG, as the span [lo, hi) of their frames, so that
 * they are write-protected with one call.  A page in the span that was
 * not taken either has its bit clear, and is write-protected already (a
 * page is mapped writable only by a write fault, which sets its bit, or
 * before logging began with INITIALLY_SET, which sets them all), or keeps
 * its bit set, and its next write faults once more and sets it again:
 * nothing written goes unlogged.  Under shadow paging, where
 * write-protecting drops every shadow table, one call is one drop instead
 * of one a page.
 */
struct okvm_dirty_span {
	u64 lo, hi;
};

/*
 * Take the bits of @mask from word @i of @slot's bitmap and widen @span
 * over the pages they name.  mmu_lock held.
 */
static void okvm_dirty_log_take(struct okvm_memslot *slot, unsigned long i,
				unsigned long mask, struct okvm_dirty_span *span)
{
	u64 gfn = slot->base_gfn + i * BITS_PER_LONG;

	mask &= slot->dirty_bitmap[i];
	if (!mask)
		return;
	slot->dirty_bitmap[i] &= ~mask;
	if (span->lo == span->hi)
		span->lo = gfn + __ffs(mask);
	span->hi = gfn + __fls(mask) + 1;
}

/*
 * Write-protect the pages of @span so that the next write to each is
 * logged again, and flush the TLBs if that took a write permission away.
 * mmu_lock held.
 */
static void okvm_dirty_log_reprotect(struct okvm *vm,
				     const struct okvm_dirty_span *span)
{
	if (span->lo != span->hi &&
	    okvm_arch_write_protect(vm, span->lo, span->hi - span->lo))
		okvm_flush_remote_tlbs(vm);
}

/*
 * KVM_GET_DIRTY_LOG: the slot's bitmap, one bit a page, in longs.  Unless
 * userspace enabled KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, the bits it gets
 * are cleared and their pages write-protected at once; with it, that waits
 * for KVM_CLEAR_DIRTY_LOG.
 */
static int okvm_get_dirty_log(struct okvm *vm, const struct kvm_dirty_log *log)
{
	struct okvm_memslot *slot;
	unsigned long *copy, n, i;
	struct okvm_dirty_span span = {};
	int r = 0;

	mutex_lock(&vm->slots_lock);
	slot = okvm_dirty_log_slot(vm, log->slot, &r);
	if (!slot)
		goto out;
	n = BITS_TO_LONGS(slot->npages);
	copy = kvmalloc_array(n, sizeof(long), GFP_KERNEL_ACCOUNT);
	if (!copy) {
		r = -ENOMEM;
		goto out;
	}
	mutex_lock(&vm->mmu_lock);
	memcpy(copy, slot->dirty_bitmap, n * sizeof(long));
	if (!(vm->dirty_log_manual & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		for (i = 0; i < n; i++)
			okvm_dirty_log_take(slot, i, copy[i], &span);
		okvm_dirty_log_reprotect(vm, &span);
	}
	mutex_unlock(&vm->mmu_lock);
	if (copy_to_user(log->dirty_bitmap, copy, n * sizeof(long)))
		r = -EFAULT;
	kvfree(copy);
out:
	mutex_unlock(&vm->slots_lock);
	return r;
}

/*
 * KVM_CLEAR_DIRTY_LOG: clear the bits userspace passes for
 * [first_page, first_page + num_pages) of a slot, write-protecting the
 * pages whose bit was set.  The range starts at a multiple of 64 pages
 * and is a multiple of 64 long unless it ends with the slot, as in KVM.
 */
static int okvm_clear_dirty_log(struct okvm *vm,
				const struct kvm_clear_dirty_log *log)
{
	struct okvm_memslot *slot;
	unsigned long *mask = NULL, n, i;
	struct okvm_dirty_span span = {};
	int r = 0;

	if (log->first_page & 63)
		return -EINVAL;
	mutex_lock(&vm->slots_lock);
	slot = okvm_dirty_log_slot(vm, log->slot, &r);
	if (!slot)
		goto out;
	if (log->first_page > slot->npages ||
	    log->num_pages > slot->npages - log->first_page ||
	    (log->num_pages < slot->npages - log->first_page &&
	     (log->num_pages & 63))) {
		r = -EINVAL;
		goto out;
	}
	n = BITS_TO_LONGS(log->num_pages);
	mask = kvmalloc_array(n, sizeof(long), GFP_KERNEL_ACCOUNT);
	if (!mask) {
		r = -ENOMEM;
		goto out;
	}
	if (copy_from_user(mask, log->dirty_bitmap, n * sizeof(long))) {
		r = -EFAULT;
		goto out;
	}
	mutex_lock(&vm->mmu_lock);
	for (i = 0; i < n; i++)
		okvm_dirty_log_take(slot, log->first_page / BITS_PER_LONG + i,
				    mask[i], &span);
	okvm_dirty_log_reprotect(vm, &span);
	mutex_unlock(&vm->mmu_lock);
out:
	mutex_unlock(&vm->slots_lock);
	kvfree(mask);
	return r;
}

/*
 * KVM_ENABLE_CAP on the VM.  Only KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 has
 * something to enable; KVM answers any other with EINVAL.  INITIALLY_SET
 * makes sense only with MANUAL_PROTECT_ENABLE and is refused alone.
 */
static int okvm_vm_enable_cap(struct okvm *vm, const struct kvm_enable_cap *cap)
{
	u64 allowed = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;

	if (cap->cap != KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 || cap->flags)
		return -EINVAL;
	if (cap->args[0] & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)
		allowed = OKVM_DIRTY_LOG_MANUAL_CAPS;
	if (cap->args[0] & ~allowed)
		return -EINVAL;
	mutex_lock(&vm->slots_lock);
	vm->dirty_log_manual = cap->args[0];
	mutex_unlock(&vm->slots_lock);
	return 0;
}

static void okvm_memslots_free(struct okvm *vm)
{
	struct okvm_memslot *slot;
	unsigned long id;

	xa_for_each(&vm->slots.by_id, id, slot) {
		kvfree(slot->dirty_bitmap);
		kfree(slot);
	}
	xa_destroy(&vm->slots.by_id);
	kvfree(vm->slots.sorted);
}

static void okvm_destroy_vm(struct okvm *vm)
{
	struct okvm_vcpu *vcpu;
	unsigned long i;

	xa_for_each(&vm->vcpus, i, vcpu)
		okvm_destroy_vcpu(vcpu);
	xa_destroy(&vm->vcpus);
	okvm_mmu_notifier_unregister(vm);
	okvm_arch_vm_destroy(vm);
	okvm_memslots_free(vm);
	mmdrop(vm->mm);
	kfree(vm);
	okvm_hardware_put();
}

/**
 * okvm_put_vm() - drop a reference; the last one destroys the VM
 * @vm: the VM
 */
void okvm_put_vm(struct okvm *vm)
{
	if (refcount_dec_and_test(&vm->refs))
		okvm_destroy_vm(vm);
}

static long okvm_vm_ioctl(struct file *filp, unsigned int ioctl,
			  unsigned long arg)
{
	struct okvm *vm = filp->private_data;
	void __user *argp = (void __user *)arg;

	if (vm->mm != current->mm)
		return -EIO;

	switch (ioctl) {
	case KVM_CREATE_VCPU:
		return okvm_create_vcpu(vm, arg);
	case KVM_SET_USER_MEMORY_REGION: {
		struct kvm_userspace_memory_region mem;

		if (copy_from_user(&mem, argp, sizeof(mem)))
			return -EFAULT;
		return okvm_set_memory_region(vm, &mem);
	}
	case KVM_CHECK_EXTENSION:
		return okvm_check_extension(arg);
	case KVM_ENABLE_CAP: {
		struct kvm_enable_cap cap;

		if (copy_from_user(&cap, argp, sizeof(cap)))
			return -EFAULT;
		return okvm_vm_enable_cap(vm, &cap);
	}
	case KVM_GET_DIRTY_LOG: {
		struct kvm_dirty_log log;

		if (copy_from_user(&log, argp, sizeof(log)))
			return -EFAULT;
		return okvm_get_dirty_log(vm, &log);
	}
	case KVM_CLEAR_DIRTY_LOG: {
		struct kvm_clear_dirty_log log;

		if (copy_from_user(&log, argp, sizeof(log)))
			return -EFAULT;
		return okvm_clear_dirty_log(vm, &log);
	}
	default:
		return okvm_arch_vm_ioctl(vm, ioctl, argp);
	}
}

static int okvm_vm_release(struct inode *inode, struct file *filp)
{
	okvm_put_vm(filp->private_data);
	return 0;
}

static const struct file_operations okvm_vm_fops = {
	.owner		= THIS_MODULE,
	.release	= okvm_vm_release,
	.unlocked_ioctl	= okvm_vm_ioctl,
	.llseek		= noop_llseek,
};

/**
 * okvm_create_vm() - KVM_CREATE_VM
 * @type: machine type; only 0, the default x86 VM, exists
 *
 * Return: the new VM's file descriptor, or a negative errno.
 */
int okvm_create_vm(unsigned long type)
{
	struct okvm *vm;
	int r, fd;

	if (type)
		return -EINVAL;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return -ENOMEM;
	refcount_set(&vm->refs, 1);
	vm->mm = current->mm;
	mmgrab(vm->mm);
	mutex_init(&vm->lock);
	mutex_init(&vm->slots_lock);
	mutex_init(&vm->mmu_lock);
	xa_init(&vm->vcpus);
	xa_init(&vm->slots.by_id);

	r = okvm_hardware_get();
	if (r)
		goto err_free;
	r = okvm_arch_vm_init(vm);
	if (r)
		goto err_hardware;
	r = okvm_mmu_notifier_register(vm);
	if (r)
		goto err_arch;

	fd = anon_inode_getfd("kvm-vm", &okvm_vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto err_notifier;
	}
	return fd;

err_notifier:
	okvm_mmu_notifier_unregister(vm);
err_arch:
	okvm_arch_vm_destroy(vm);
err_hardware:
	okvm_hardware_put();
err_free:
	mmdrop(vm->mm);
	kfree(vm);
	return r;
}
