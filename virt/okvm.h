/* SPDX-License-Identifier: GPL-2.0 */
/*
 * okvm core: the VM, the vCPU and the memslots, as seen by every
 * architecture.  The ioctl ABI is the one of <linux/kvm.h>; okvm's own
 * structures live here and in the per-architecture okvm_arch.h.
 */
#ifndef OKVM_H
#define OKVM_H

#include <linux/kvm.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/xarray.h>

#include "okvm_arch.h"

#define OKVM_API_VERSION	12

/* Limits reported through KVM_CHECK_EXTENSION: those of x86 KVM in 6.1. */
#define OKVM_MAX_VCPUS		1024
#define OKVM_MAX_VCPU_IDS	4096
#define OKVM_USER_MEM_SLOTS	32764

/* Page 0 of the vCPU mapping is struct kvm_run, page 1 the PIO data. */
#define OKVM_PIO_PAGE_OFFSET	1
#define OKVM_VCPU_MMAP_PAGES	2

struct okvm;

/**
 * struct okvm_memslot - one KVM_SET_USER_MEMORY_REGION slot
 * @id:		slot number (address space 0 only)
 * @flags:	KVM_MEM_* flags
 * @base_gfn:	first guest frame number
 * @npages:	size in pages
 * @hva:	userspace address of the first page
 * @dirty_bitmap: one bit a page written since userspace last took it,
 *		when @flags has KVM_MEM_LOG_DIRTY_PAGES; changed under
 *		mmu_lock
 */
struct okvm_memslot {
	u16 id;
	u32 flags;
	u64 base_gfn;
	u64 npages;
	unsigned long hva;
	unsigned long *dirty_bitmap;
};

/**
 * struct okvm_memslots - every slot of a VM, sorted by guest address
 * @sorted:	slots ordered by @base_gfn; they never overlap
 * @nr:		number of slots in use
 * @by_id:	slot number -> struct okvm_memslot
 * @generation:	bumped on every change, so that a fault that pinned a
 *		page without the lock can tell whether its slot changed
 */
struct okvm_memslots {
	struct okvm_memslot **sorted;
	int nr;
	struct xarray by_id;
	u64 generation;
};

/* vcpu->mode: whether the vCPU may be using guest translations now. */
enum okvm_vcpu_mode {
	OKVM_OUTSIDE_GUEST,
	OKVM_IN_GUEST,
};

/**
 * struct okvm_vcpu - a virtual CPU
 * @vm:		the VM; a vCPU holds a reference on it through its fd
 * @id:		KVM_CREATE_VCPU argument
 * @mutex:	serialises the vCPU's ioctls, KVM_RUN included
 * @run:	the page userspace maps at offset 0
 * @pio_data:	the page userspace maps at OKVM_PIO_PAGE_OFFSET
 * @mode:	OKVM_IN_GUEST from just before entry to just after exit,
 *		when a remote TLB flush must interrupt the vCPU
 * @cpu:	the CPU the vCPU last entered the guest on
 * @tlb_gen:	the VM's tlb_gen this vCPU last flushed for
 * @arch:	architecture state
 */
struct okvm_vcpu {
	struct okvm *vm;
	u32 id;
	struct mutex mutex;
	struct kvm_run *run;
	void *pio_data;
	int mode;
	int cpu;
	u64 tlb_gen;
	struct okvm_vcpu_arch arch;
};

/**
 * struct okvm - a virtual machine
 * @refs:	the VM fd and every vCPU fd each hold one
 * @mm:		the address space of the process that created the VM;
 *		ioctls from any other one fail with -EIO, as in KVM
 * @lock:	serialises vCPU creation
 * @vcpus:	vCPU id -> struct okvm_vcpu
 * @nr_vcpus:	vCPUs created so far
 * @slots_lock:	serialises memslot changes
 * @mmu_lock:	protects @slots against readers and the paging structures
 *		built from them
 * @slots:	the memslots
 * @tlb_gen:	bumped when a guest translation is removed; a vCPU flushes
 *		its TLB before entering the guest when it sees a new value
 * @mmu_notifier: tells okvm when the VMM's mm is about to change a page
 *		mapping (virt/mmu_notifier.c)
 * @mmu_invalidate_seq: bumped at the end of every such change
 * @mmu_invalidate_in_progress: changes begun and not yet ended; a page
 *		looked up while one ran may be stale and is not mapped
 * @dirty_log_manual: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 flags userspace
 *		enabled
 * @arch:	architecture state
 */
struct okvm {
	refcount_t refs;
	struct mm_struct *mm;
	struct mutex lock;
	struct xarray vcpus;
	unsigned int nr_vcpus;
	struct mutex slots_lock;
	struct mutex mmu_lock;
	struct okvm_memslots slots;
	u64 tlb_gen;
	struct mmu_notifier mmu_notifier;
	unsigned long mmu_invalidate_seq;
	long mmu_invalidate_in_progress;
	u64 dirty_log_manual;
	struct okvm_arch arch;
};

/**
 * okvm_gfn_to_hva() - the userspace address of a guest frame
 * @slot:	the memslot holding it
 * @gfn:	guest frame number
 *
 * Return: the address of the frame's first byte in the VMM.
 */
static inline unsigned long okvm_gfn_to_hva(const struct okvm_memslot *slot,
					    u64 gfn)
{
	return slot->hva + ((gfn - slot->base_gfn) << PAGE_SHIFT);
}

/**
 * okvm_mmu_invalidate_retry() - whether a page looked up may be stale
 * @vm:		the VM, with mmu_lock held
 * @seq:	@vm->mmu_invalidate_seq read before the lookup
 *
 * Return: true when the VMM's mm changed, or is changing, a mapping since.
 */
static inline bool okvm_mmu_invalidate_retry(struct okvm *vm,
					     unsigned long seq)
{
	return vm->mmu_invalidate_in_progress ||
	       vm->mmu_invalidate_seq != seq;
}

/* virt/okvm_main.c */
int okvm_hardware_get(void);
void okvm_hardware_put(void);

/* virt/vm.c */
int okvm_create_vm(unsigned long type);
long okvm_check_extension(long ext);
void okvm_put_vm(struct okvm *vm);
struct okvm_memslot *okvm_gfn_to_memslot(struct okvm *vm, u64 gfn);
bool okvm_gpa_is_ram(struct okvm *vm, u64 gpa, bool write);
int okvm_read_guest(struct okvm *vm, u64 gpa, void *data, unsigned int len);
int okvm_write_guest(struct okvm *vm, u64 gpa, const void *data,
		     unsigned int len);
int okvm_cmpxchg_guest(struct okvm *vm, u64 gpa, u64 old, u64 new,
		       unsigned int len);
void okvm_flush_remote_tlbs(struct okvm *vm);
void okvm_mark_page_dirty(struct okvm_memslot *slot, u64 gfn);

/* virt/mmu_notifier.c */
int okvm_mmu_notifier_register(struct okvm *vm);
void okvm_mmu_notifier_unregister(struct okvm *vm);

/* virt/vcpu.c */
int okvm_create_vcpu(struct okvm *vm, unsigned long id);
void okvm_destroy_vcpu(struct okvm_vcpu *vcpu);

/*
 * What virt/ asks of the architecture.  x86 is the only one, but keeping
 * the line here keeps the core readable on its own.
 */
int okvm_arch_init(void);
void okvm_arch_exit(void);
int okvm_arch_hardware_enable(void);
void okvm_arch_hardware_disable(void);
long okvm_arch_check_extension(long ext);
int okvm_arch_vm_init(struct okvm *vm);
void okvm_arch_vm_destroy(struct okvm *vm);
int okvm_arch_vcpu_create(struct okvm_vcpu *vcpu);
void okvm_arch_vcpu_destroy(struct okvm_vcpu *vcpu);
int okvm_arch_vcpu_run(struct okvm_vcpu *vcpu);
long okvm_arch_vcpu_ioctl(struct okvm_vcpu *vcpu, unsigned int ioctl,
			  void __user *argp);
long okvm_arch_vm_ioctl(struct okvm *vm, unsigned int ioctl,
			void __user *argp);
long okvm_arch_dev_ioctl(unsigned int ioctl, unsigned long arg);
int okvm_arch_validate_memslot(struct okvm *vm, u64 gpa, u64 size);
bool okvm_arch_zap_gfn_range(struct okvm *vm, u64 gfn, u64 npages);
bool okvm_arch_write_protect(struct okvm *vm, u64 gfn, u64 npages);

#endif
