// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: the vCPU file descriptor and its shared kvm_run mapping.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "okvm.h"

static vm_fault_t okvm_vcpu_fault(struct vm_fault *vmf)
{
	struct okvm_vcpu *vcpu = vmf->vma->vm_file->private_data;
	void *addr;

	if (vmf->pgoff == 0)
		addr = vcpu->run;
	else if (vmf->pgoff == OKVM_PIO_PAGE_OFFSET)
		addr = vcpu->pio_data;
	else
		return VM_FAULT_SIGBUS;

	vmf->page = virt_to_page(addr);
	get_page(vmf->page);
	return 0;
}

static const struct vm_operations_struct okvm_vcpu_vm_ops = {
	.fault = okvm_vcpu_fault,
};

static int okvm_vcpu_mmap(struct file *filp, struct vm_area_struct *vma)
{
	vma->vm_ops = &okvm_vcpu_vm_ops;
	return 0;
}

static long okvm_vcpu_ioctl(struct file *filp, unsigned int ioctl,
			    unsigned long arg)
{
	struct okvm_vcpu *vcpu = filp->private_data;
	long r;

	if (vcpu->vm->mm != current->mm)
		return -EIO;
	if (mutex_lock_killable(&vcpu->mutex))
		return -EINTR;

	switch (ioctl) {
	case KVM_RUN:
		r = arg ? -EINVAL : okvm_arch_vcpu_run(vcpu);
		break;
	default:
		r = okvm_arch_vcpu_ioctl(vcpu, ioctl, (void __user *)arg);
		break;
	}

	mutex_unlock(&vcpu->mutex);
	return r;
}

/*
 * A vCPU lives as long as its VM: closing its fd only drops the VM
 * reference the fd held (KVM has no way to destroy a single vCPU either).
 */
static int okvm_vcpu_release(struct inode *inode, struct file *filp)
{
	struct okvm_vcpu *vcpu = filp->private_data;

	okvm_put_vm(vcpu->vm);
	return 0;
}

static const struct file_operations okvm_vcpu_fops = {
	.owner		= THIS_MODULE,
	.release	= okvm_vcpu_release,
	.unlocked_ioctl	= okvm_vcpu_ioctl,
	.mmap		= okvm_vcpu_mmap,
	.llseek		= noop_llseek,
};

static void okvm_free_vcpu(struct okvm_vcpu *vcpu)
{
	free_page((unsigned long)vcpu->pio_data);
	free_page((unsigned long)vcpu->run);
	kfree(vcpu);
}

/**
 * okvm_destroy_vcpu() - free a vCPU when its VM is destroyed
 * @vcpu: the vCPU; no fd refers to it any more
 */
void okvm_destroy_vcpu(struct okvm_vcpu *vcpu)
{
	okvm_arch_vcpu_destroy(vcpu);
	okvm_free_vcpu(vcpu);
}

/**
 * okvm_create_vcpu() - KVM_CREATE_VCPU
 * @vm: the VM
 * @id: the vCPU id, below KVM_CAP_MAX_VCPU_ID
 *
 * Return: the vCPU's file descriptor, or -EINVAL (bad id, too many vCPUs),
 * -EEXIST (id in use) or -ENOMEM.
 */
int okvm_create_vcpu(struct okvm *vm, unsigned long id)
{
	struct okvm_vcpu *vcpu;
	char name[24];
	int r;

	if (id >= OKVM_MAX_VCPU_IDS)
		return -EINVAL;

	mutex_lock(&vm->lock);
	if (vm->nr_vcpus >= OKVM_MAX_VCPUS) {
		r = -EINVAL;
		goto out;
	}
	if (xa_load(&vm->vcpus, id)) {
		r = -EEXIST;
		goto out;
	}

	r = -ENOMEM;
	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		goto out;
	vcpu->run = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	vcpu->pio_data = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vcpu->run || !vcpu->pio_data)
		goto err_free;
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->cpu = -1;
	vcpu->mode = OKVM_OUTSIDE_GUEST;
	mutex_init(&vcpu->mutex);

	r = okvm_arch_vcpu_create(vcpu);
	if (r)
		goto err_free;

	r = xa_insert(&vm->vcpus, id, vcpu, GFP_KERNEL_ACCOUNT);
	if (r)
		goto err_arch;

	/* The fd's reference; taken first, as the fd can be closed at once. */
	refcount_inc(&vm->refs);
	snprintf(name, sizeof(name), "kvm-vcpu:%lu", id);
	r = anon_inode_getfd(name, &okvm_vcpu_fops, vcpu, O_RDWR | O_CLOEXEC);
	if (r < 0) {
		refcount_dec(&vm->refs);
		xa_erase(&vm->vcpus, id);
		goto err_arch;
	}
	vm->nr_vcpus++;
	goto out;

err_arch:
	okvm_arch_vcpu_destroy(vcpu);
err_free:
	okvm_free_vcpu(vcpu);
out:
	mutex_unlock(&vm->lock);
	return r;
}
