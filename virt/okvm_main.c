// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: module entry, /dev/okvm and the system ioctls.
 *
 * Hardware virtualization is switched on on every CPU when the first VM
 * is created and off when the last one goes away, so that okvm holds
 * nothing while it is idle and coexists with kvm_amd/kvm_intel loaded at
 * other times.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpu.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/reboot.h>
#include <linux/syscore_ops.h>
#include <linux/uaccess.h>

#include "okvm.h"

static DEFINE_MUTEX(hardware_lock);
static unsigned int hardware_users;
static int hotplug_state;

static int okvm_cpu_online(unsigned int cpu)
{
	return okvm_arch_hardware_enable();
}

static int okvm_cpu_offline(unsigned int cpu)
{
	okvm_arch_hardware_disable();
	return 0;
}

/**
 * okvm_hardware_get() - switch virtualization on for one more VM
 *
 * The first user turns it on on every online CPU, and on any CPU that
 * comes online later, through a CPU hotplug state.
 *
 * Return: 0, or -EBUSY when another hypervisor holds the hardware.
 */
int okvm_hardware_get(void)
{
	int r = 0;

	mutex_lock(&hardware_lock);
	if (!hardware_users) {
		r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "okvm:online",
				      okvm_cpu_online, okvm_cpu_offline);
		if (r < 0)
			goto out;
		hotplug_state = r;
		r = 0;
	}
	hardware_users++;
out:
	mutex_unlock(&hardware_lock);
	return r;
}

/**
 * okvm_hardware_put() - the counterpart of okvm_hardware_get()
 */
void okvm_hardware_put(void)
{
	mutex_lock(&hardware_lock);
	if (!--hardware_users)
		cpuhp_remove_state(hotplug_state);
	mutex_unlock(&hardware_lock);
}

static void okvm_reboot_disable(void *unused)
{
	okvm_arch_hardware_disable();
}

/*
 * Reboot and kexec leave the CPUs running: switch virtualization off so
 * that the next kernel (or firmware) finds the hardware as it expects.
 * A vCPU still running sees the hardware gone and stops with -EIO.
 */
static int okvm_reboot(struct notifier_block *nb, unsigned long code,
		       void *unused)
{
	mutex_lock(&hardware_lock);
	if (hardware_users)
		on_each_cpu(okvm_reboot_disable, NULL, 1);
	mutex_unlock(&hardware_lock);
	return NOTIFY_OK;
}

static struct notifier_block okvm_reboot_nb = {
	.notifier_call = okvm_reboot,
};

/*
 * Suspend takes the other CPUs down through CPU hotplug, which already
 * switches them off and on; these run on the last CPU, with interrupts
 * off and every other CPU gone, so hardware_users cannot change.
 */
static int okvm_suspend(void)
{
	if (hardware_users)
		okvm_arch_hardware_disable();
	return 0;
}

static void okvm_resume(void)
{
	if (hardware_users && okvm_arch_hardware_enable())
		pr_err("cannot switch virtualization back on after resume\n");
}

static struct syscore_ops okvm_syscore_ops = {
	.suspend	= okvm_suspend,
	.resume		= okvm_resume,
};

static long okvm_dev_ioctl(struct file *filp, unsigned int ioctl,
			   unsigned long arg)
{
	switch (ioctl) {
	case KVM_GET_API_VERSION:
		if (arg)
			return -EINVAL;
		return OKVM_API_VERSION;
	case KVM_CHECK_EXTENSION:
		return okvm_check_extension(arg);
	case KVM_CREATE_VM:
		return okvm_create_vm(arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		if (arg)
			return -EINVAL;
		return OKVM_VCPU_MMAP_PAGES * PAGE_SIZE;
	default:
		return okvm_arch_dev_ioctl(ioctl, arg);
	}
}

static const struct file_operations okvm_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= okvm_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/*
 * Root-only by default, as /dev/kvm is before udev hands it to the kvm
 * group: who may create VMs is the administrator's choice.
 */
static struct miscdevice okvm_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "okvm",
	.fops	= &okvm_dev_fops,
};

static int __init okvm_init(void)
{
	int r;

	r = okvm_arch_init();
	if (r)
		return r;

	r = register_reboot_notifier(&okvm_reboot_nb);
	if (r)
		goto err_arch;

	register_syscore_ops(&okvm_syscore_ops);

	r = misc_register(&okvm_dev);
	if (r) {
		pr_err("cannot register /dev/okvm: %d\n", r);
		goto err_syscore;
	}
	return 0;

err_syscore:
	unregister_syscore_ops(&okvm_syscore_ops);
	unregister_reboot_notifier(&okvm_reboot_nb);
err_arch:
	okvm_arch_exit();
	return r;
}

static void __exit okvm_exit(void)
{
	misc_deregister(&okvm_dev);
	unregister_syscore_ops(&okvm_syscore_ops);
	unregister_reboot_notifier(&okvm_reboot_nb);
	okvm_arch_exit();
}

module_init(okvm_init);
module_exit(okvm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("okvm: a hypervisor speaking the KVM ioctl ABI");
