// SPDX-License-Identifier: GPL-2.0
/*
 * The system and VM level answers: API version, capabilities, VM types,
 * the kvm_run size, and the errnos for unknown ioctls and bad pointers.
 */
#include <stdlib.h>
#include <unistd.h>

#include "kvm_util.h"

/* Capability numbers no kernel knows. */
static const unsigned long unknown_caps[] = {
	1000, 4096, 0x7fffffff, 0x80000000, 0xffffffff,
	0x100000000UL, ~0UL,
};

/* Ioctl numbers no kernel uses on a KVM fd. */
static const unsigned long unknown_ioctls[] = {
	_IO(KVMIO, 0xef),
	_IOW(KVMIO, 0xee, uint64_t),
	_IOR(KVMIO, 0xed, uint32_t),
	_IO(0x4f, 0x12),		/* not even KVMIO */
};

TEST(api_version)
{
	int fd = kvm_open();

	ASSERT_EQ(ioctl(fd, KVM_GET_API_VERSION, 0), KVM_API_VERSION);
	ASSERT_EQ(KVM_API_VERSION, 12);
	close(fd);
}

static void check_caps(int fd)
{
	unsigned int i;
	int nr_vcpus, max_vcpus;

	for (i = 0; i < sizeof(unknown_caps) / sizeof(unknown_caps[0]); i++)
		ASSERT_EQ(ioctl(fd, KVM_CHECK_EXTENSION, unknown_caps[i]), 0);

	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT), 0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM),
		  0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_INTERNAL_ERROR_DATA),
		  0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS), 0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_MMU), 0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_ENABLE_CAP_VM), 0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR), 0);
	ASSERT_GT(ioctl(fd, KVM_CHECK_EXTENSION,
			KVM_CAP_SET_IDENTITY_MAP_ADDR), 0);
	ASSERT_EQ(ioctl(fd, KVM_CHECK_EXTENSION,
			KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
		  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
		  KVM_DIRTY_LOG_INITIALLY_SET);

	nr_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	max_vcpus = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	ASSERT_GT(nr_vcpus, 0);
	ASSERT_LE(nr_vcpus, max_vcpus);
}

TEST(check_extension_system)
{
	int fd = kvm_open();

	check_caps(fd);
	close(fd);
}

TEST(check_extension_vm)
{
	struct kvm_vm *vm = vm_create();

	check_caps(vm->fd);
	vm_free(vm);
}

/* The VM fd answers as the system fd does, for the common capabilities. */
TEST(check_extension_vm_matches_system)
{
	static const long caps[] = {
		KVM_CAP_USER_MEMORY, KVM_CAP_IMMEDIATE_EXIT,
		KVM_CAP_NR_VCPUS, KVM_CAP_MAX_VCPUS, KVM_CAP_MAX_VCPU_ID,
		KVM_CAP_NR_MEMSLOTS, KVM_CAP_MULTI_ADDRESS_SPACE,
		KVM_CAP_READONLY_MEM, KVM_CAP_INTERNAL_ERROR_DATA,
	};
	struct kvm_vm *vm = vm_create();
	unsigned int i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		int sys = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i]);
		int vmr = ioctl(vm->fd, KVM_CHECK_EXTENSION, caps[i]);

		test_log("cap %ld: system %d vm %d", caps[i], sys, vmr);
		ASSERT_EQ(sys, vmr);
	}
	vm_free(vm);
}

TEST(create_vm_bad_type)
{
	/*
	 * Types 1-4 are the software-protected and SEV types of later
	 * kernels; these are rejected by 6.1 and 6.12 alike.
	 */
	static const unsigned long types[] = {
		5, 31, 32, 0x100, 0x80000000, ~0UL,
	};
	int fd = kvm_open();
	unsigned int i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		ASSERT_ERRNO(ioctl(fd, KVM_CREATE_VM, types[i]), EINVAL);
	close(fd);
}

TEST(create_several_vms)
{
	int fd = kvm_open();
	int vm[4], i;

	for (i = 0; i < 4; i++) {
		vm[i] = ioctl(fd, KVM_CREATE_VM, 0);
		ASSERT_GE(vm[i], 0);
	}
	for (i = 0; i < 4; i++)
		close(vm[i]);
	close(fd);
}

TEST(vcpu_mmap_size)
{
	int fd = kvm_open();
	long size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	test_log("KVM_GET_VCPU_MMAP_SIZE = %ld", size);
	ASSERT_GE(size, 2 * PAGE_SIZE);
	ASSERT_EQ(size % PAGE_SIZE, 0);
	ASSERT_GE(size, sizeof(struct kvm_run));
	close(fd);
}

TEST(unknown_ioctl_system)
{
	int fd = kvm_open();
	unsigned int i;

	for (i = 0; i < sizeof(unknown_ioctls) / sizeof(unknown_ioctls[0]);
	     i++)
		ASSERT_ERRNO(ioctl(fd, unknown_ioctls[i], 0), EINVAL);
	close(fd);
}

TEST(unknown_ioctl_vm)
{
	struct kvm_vm *vm = vm_create();
	unsigned int i;

	for (i = 0; i < sizeof(unknown_ioctls) / sizeof(unknown_ioctls[0]);
	     i++)
		ASSERT_ERRNO(ioctl(vm->fd, unknown_ioctls[i], 0), ENOTTY);
	vm_free(vm);
}

TEST(unknown_ioctl_vcpu)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	unsigned int i;

	for (i = 0; i < sizeof(unknown_ioctls) / sizeof(unknown_ioctls[0]);
	     i++)
		ASSERT_ERRNO(ioctl(vcpu->fd, unknown_ioctls[i], 0), EINVAL);
	vcpu_free(vcpu);
	vm_free(vm);
}

/*
 * Ioctls of one kind of fd sent to another: each fd answers as for an
 * unknown number, EINVAL from the system and vCPU fds, ENOTTY from the
 * VM fd.
 */
TEST(ioctl_on_wrong_fd)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_regs regs;

	ASSERT_ERRNO(ioctl(vm->kvm_fd, KVM_CREATE_VCPU, 1), EINVAL);
	ASSERT_ERRNO(ioctl(vm->kvm_fd, KVM_SET_USER_MEMORY_REGION, &region),
		     EINVAL);
	ASSERT_ERRNO(ioctl(vm->kvm_fd, KVM_RUN, 0), EINVAL);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_GET_API_VERSION, 0), ENOTTY);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VM, 0), ENOTTY);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_GET_REGS, &regs), ENOTTY);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_RUN, 0), ENOTTY);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_CREATE_VCPU, 1), EINVAL);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_USER_MEMORY_REGION, &region),
		     EINVAL);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_CREATE_VM, 0), EINVAL);
	vcpu_free(vcpu);
	vm_free(vm);
}

TEST(bad_pointer_efault)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	void *bad = (void *)8;
	void *kernel = (void *)0xffffffff81000000UL;

	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, bad), EFAULT);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, kernel),
		     EFAULT);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_REGS, bad), EFAULT);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_REGS, bad), EFAULT);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_SREGS, bad), EFAULT);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_SREGS, bad), EFAULT);
	ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_REGS, kernel), EFAULT);
	vcpu_free(vcpu);
	vm_free(vm);
}

/* Where QEMU puts the identity map and, a page up, the three TSS pages. */
#define QEMU_IDENTITY_BASE	0xfeffc000UL

GUEST_CODE16(guest_real_hlt,
	"	mov $0x42, %al\n"
	"	out %al, $0x10\n"
	"	hlt\n");

/*
 * KVM_SET_TSS_ADDR takes the address itself: three pages that end at
 * 4 GiB at the latest, at any time.  Called once only: kvm_intel with
 * ept=0 adds a private slot there, which a second call finds in place.
 * A real-mode guest runs after it (kvm_intel without unrestricted guest
 * puts its virtual-8086 TSS there).
 */
TEST(set_tss_addr)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_real_hlt), &vcpu);

	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xffffd001UL), EINVAL);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffff000UL), EINVAL);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_TSS_ADDR, 1UL << 32), EINVAL);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_TSS_ADDR, ~0UL), EINVAL);
	ASSERT_OK(ioctl(vm->fd, KVM_SET_TSS_ADDR, QEMU_IDENTITY_BASE + 0x1000));
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 1), 0x42);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/*
 * KVM_SET_IDENTITY_MAP_ADDR reads a __u64 and is refused once the VM has
 * a vCPU, before the pointer is read.
 */
TEST(set_identity_map_addr)
{
	uint64_t addr = QEMU_IDENTITY_BASE;
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu;

	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, (void *)8),
		     EFAULT);
	ASSERT_OK(ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr));
	ASSERT_OK(ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr));
	vcpu = vcpu_add(vm, 0);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr), EINVAL);
	ASSERT_ERRNO(ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, (void *)8),
		     EINVAL);
	vcpu_free(vcpu);
	vm_free(vm);
}
