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
 * Memslot flags okvm accepts.  KVM_MEM_LOG_DIRTY_PAGES and KVM_MEM_READONLY
 * come with dirty logging and the instruction emulator: until then they
 * are refused rather than silently ignored.
 */
#define OKVM_VALID_MEM_FLAGS	0

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
		return 1;
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
 * for the guest asks here first, which is where dirty logging will note
 * the page.
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
		*hva = slot->hva +
		       (((gpa >> PAGE_SHIFT) - slot->base_gfn) << PAGE_SHIFT) +
		       offset_in_page(gpa);
	mutex_unlock(&vm->mmu_lock);
	return r;
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
	return copy_to_user((void __user *)hva, data, len) ? -EFAULT : 0;
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
	return r > 0 ? -EAGAIN : r;
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

/* Remove every translation of @slot and let its pages go. */
static void okvm_memslot_unmap(struct okvm *vm, struct okvm_memslot *slot)
{
	okvm_arch_zap_gfn_range(vm, slot->base_gfn, slot->npages);
	okvm_flush_remote_tlbs(vm);
	okvm_arch_release_zapped(vm, slot->base_gfn, slot->npages);
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
	kfree(slot);
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
		if (mem->userspace_addr != old->hva || npages != old->npages) {
			r = -EINVAL;
			goto out;
		}
		if (base_gfn == old->base_gfn) {
			old->flags = mem->flags;
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

	if (old)
		okvm_memslot_move(vm, old, base_gfn);
	else
		r = okvm_memslot_create(vm, id, mem->flags, base_gfn, npages,
					mem->userspace_addr);
out:
	mutex_unlock(&vm->slots_lock);
	return r;
}

static void okvm_memslots_free(struct okvm *vm)
{
	struct okvm_memslot *slot;
	unsigned long id;

	xa_for_each(&vm->slots.by_id, id, slot)
		kfree(slot);
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
	/* Unpins every page the guest had mapped. */
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

	fd = anon_inode_getfd("kvm-vm", &okvm_vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto err_arch;
	}
	return fd;

err_arch:
	okvm_arch_vm_destroy(vm);
err_hardware:
	okvm_hardware_put();
err_free:
	mmdrop(vm->mm);
	kfree(vm);
	return r;
}
