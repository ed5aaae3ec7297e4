// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: following the VMM's address space.
 *
 * Guest memory is the VMM's own anonymous, file or hugetlbfs memory, and
 * the kernel may unmap, move, swap, merge (KSM), split or write-protect
 * any page of it at any time, or the VMM may munmap, remap or madvise it.
 * okvm holds no page: the architecture's tables map a page only between
 * two such changes.  The mm announces each change to its MMU notifiers
 * before it makes it (invalidate_range_start) and after (..._end): okvm
 * zaps the guest translations of every memslot page in the range at the
 * start, and a guest fault that looked a page up meanwhile does not map
 * it (okvm_mmu_invalidate_retry()), so the guest faults again and finds
 * the new page.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/mmu_notifier.h>

#include "okvm.h"

static struct okvm *mn_to_vm(struct mmu_notifier *mn)
{
	return container_of(mn, struct okvm, mmu_notifier);
}

/* Zap what the memslots map of [start, end) in the VMM; mmu_lock held. */
static bool okvm_zap_hva_range(struct okvm *vm, unsigned long start,
			       unsigned long end)
{
	bool zapped = false;
	int i;

	for (i = 0; i < vm->slots.nr; i++) {
		struct okvm_memslot *s = vm->slots.sorted[i];
		unsigned long s_end = s->hva + (s->npages << PAGE_SHIFT);
		unsigned long from = max(start, s->hva);
		unsigned long to = min(end, s_end);

		if (from >= to)
			continue;
		from = (from - s->hva) >> PAGE_SHIFT;
		to = (to - s->hva + PAGE_SIZE - 1) >> PAGE_SHIFT;
		zapped |= okvm_arch_zap_gfn_range(vm, s->base_gfn + from,
						  to - from);
	}
	return zapped;
}

static int okvm_mn_invalidate_range_start(struct mmu_notifier *mn,
					  const struct mmu_notifier_range *range)
{
	struct okvm *vm = mn_to_vm(mn);

	/*
	 * The OOM reaper may not sleep: it gets -EAGAIN when a vCPU holds
	 * the lock and tries the mm again later.
	 */
	if (mmu_notifier_range_blockable(range))
		mutex_lock(&vm->mmu_lock);
	else if (!mutex_trylock(&vm->mmu_lock))
		return -EAGAIN;
	vm->mmu_invalidate_in_progress++;
	if (okvm_zap_hva_range(vm, range->start, range->end))
		okvm_flush_remote_tlbs(vm);
	mutex_unlock(&vm->mmu_lock);
	return 0;
}

/*
 * Only called for a start that returned 0 (mm/mmu_notifier.c), so the
 * count stays balanced; the lock is taken even for a non-blockable range,
 * which holds it only for a moment.
 */
static void okvm_mn_invalidate_range_end(struct mmu_notifier *mn,
					 const struct mmu_notifier_range *range)
{
	struct okvm *vm = mn_to_vm(mn);

	mutex_lock(&vm->mmu_lock);
	vm->mmu_invalidate_seq++;
	vm->mmu_invalidate_in_progress--;
	mutex_unlock(&vm->mmu_lock);
}

/*
 * The mm is going away (the VMM exited with the VM still referenced
 * elsewhere): its pages go with it, so no translation may remain.  A
 * vCPU can no longer enter the guest (its ioctls come from another mm
 * and fail), and none will map anything again.
 */
static void okvm_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct okvm *vm = mn_to_vm(mn);

	mutex_lock(&vm->mmu_lock);
	vm->mmu_invalidate_in_progress++;
	if (okvm_zap_hva_range(vm, 0, ULONG_MAX))
		okvm_flush_remote_tlbs(vm);
	mutex_unlock(&vm->mmu_lock);
}

static const struct mmu_notifier_ops okvm_mmu_notifier_ops = {
	.invalidate_range_start	= okvm_mn_invalidate_range_start,
	.invalidate_range_end	= okvm_mn_invalidate_range_end,
	.release		= okvm_mn_release,
};

/**
 * okvm_mmu_notifier_register() - follow the creating process's mm
 * @vm: a new VM, created by current
 *
 * Return: 0 or a negative errno.
 */
int okvm_mmu_notifier_register(struct okvm *vm)
{
	vm->mmu_notifier.ops = &okvm_mmu_notifier_ops;
	return mmu_notifier_register(&vm->mmu_notifier, vm->mm);
}

/**
 * okvm_mmu_notifier_unregister() - stop following it
 * @vm: the VM being destroyed
 *
 * Waits for callbacks running on other CPUs, so the VM may be freed after.
 */
void okvm_mmu_notifier_unregister(struct okvm *vm)
{
	mmu_notifier_unregister(&vm->mmu_notifier, vm->mm);
}
