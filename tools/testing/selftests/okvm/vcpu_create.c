// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_CREATE_VCPU: the id range, duplicates, the vCPU count limit, and a
 * vCPU fd outliving its VM fd.
 */
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"

static int create_vcpu(struct kvm_vm *vm, unsigned long id)
{
	return ioctl(vm->fd, KVM_CREATE_VCPU, id);
}

TEST(max_vcpu_id_cap)
{
	int max_id = kvm_check_cap(KVM_CAP_MAX_VCPU_ID);
	int max = kvm_check_cap(KVM_CAP_MAX_VCPUS);

	test_log("KVM_CAP_MAX_VCPU_ID %d, KVM_CAP_MAX_VCPUS %d", max_id, max);
	ASSERT_GE(max_id, max);
	ASSERT_GT(max, 0);
}

TEST(vcpu_id_edges)
{
	int max_id = kvm_check_cap(KVM_CAP_MAX_VCPU_ID);
	struct kvm_vm *vm = vm_create();
	unsigned long ok_ids[] = { 0, 1, 2, max_id / 2, max_id - 2,
				   max_id - 1 };
	unsigned long bad_ids[] = { max_id, max_id + 1, 0x10000, 0x7fffffff,
				    0xffffffff };
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(ok_ids) / sizeof(ok_ids[0]); i++) {
		fd = create_vcpu(vm, ok_ids[i]);
		if (fd < 0)
			test_fail("vcpu id %lu: %s", ok_ids[i],
				  errno_name(errno));
		close(fd);
	}
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		test_log("vcpu id 0x%lx", bad_ids[i]);
		ASSERT_ERRNO(create_vcpu(vm, bad_ids[i]), EINVAL);
	}
	vm_free(vm);
}

/* The highest id is usable, not only creatable. */
GUEST_CODE16(guest_out,
	"	mov $0x99, %al\n"
	"	out %al, $0x10\n"
	"	hlt\n");

TEST(highest_id_runs)
{
	int max_id = kvm_check_cap(KVM_CAP_MAX_VCPU_ID);
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu;

	vm_add_mem(vm, 0, 0, GUEST_MEM_SIZE);
	vm_load(vm, GUEST_LOAD_ADDR, GUEST(guest_out));
	vcpu = vcpu_add(vm, max_id - 1);
	vcpu_set_real_mode(vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 1), 0x99);
	vcpu_run_expect_hlt(vcpu);
	vcpu_free(vcpu);
	vm_free(vm);
}

TEST(duplicate_id)
{
	int max_id = kvm_check_cap(KVM_CAP_MAX_VCPU_ID);
	struct kvm_vm *vm = vm_create();
	int fd0, fd1;

	fd0 = create_vcpu(vm, 0);
	ASSERT_GE(fd0, 0);
	ASSERT_ERRNO(create_vcpu(vm, 0), EEXIST);
	fd1 = create_vcpu(vm, max_id - 1);
	ASSERT_GE(fd1, 0);
	ASSERT_ERRNO(create_vcpu(vm, max_id - 1), EEXIST);
	/* Closing the fd does not free the id: the vCPU lives on. */
	close(fd0);
	ASSERT_ERRNO(create_vcpu(vm, 0), EEXIST);
	close(fd1);
	vm_free(vm);
}

/* Same ids in another VM are another matter. */
TEST(same_id_two_vms)
{
	struct kvm_vm *a = vm_create(), *b = vm_create();
	int fa = create_vcpu(a, 0), fb = create_vcpu(b, 0);

	ASSERT_GE(fa, 0);
	ASSERT_GE(fb, 0);
	close(fa);
	close(fb);
	vm_free(a);
	vm_free(b);
}

/*
 * KVM_CAP_MAX_VCPUS vCPUs, then one more: EINVAL.  The fds are closed as
 * they come, the vCPUs stay (they go with the VM), so the fd limit does
 * not matter.
 */
TEST_TIMEOUT(more_than_max_vcpus, 300)
{
	int max = kvm_check_cap(KVM_CAP_MAX_VCPUS);
	int max_id = kvm_check_cap(KVM_CAP_MAX_VCPU_ID);
	struct kvm_vm *vm = vm_create();
	struct timespec t0, t1;
	int i, fd;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < max; i++) {
		fd = create_vcpu(vm, i);
		if (fd < 0)
			test_fail("vcpu %d of %d: %s", i, max,
				  errno_name(errno));
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	test_log("%d vCPUs created in %.2f s", max,
		 (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (max < max_id)
		ASSERT_ERRNO(create_vcpu(vm, max), EINVAL);
	ASSERT_ERRNO(create_vcpu(vm, max_id - 1), EINVAL);
	/* An existing id is still refused for the count, not as EEXIST. */
	ASSERT_ERRNO(create_vcpu(vm, 0), EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	vm_free(vm);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	test_log("VM with %d vCPUs destroyed in %.2f s", max,
		 (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

GUEST_CODE16(guest_count,
	"	xor %ax, %ax\n"
	"1:	inc %ax\n"
	"	out %ax, $0x10\n"
	"	jmp 1b\n");

/* The vCPU keeps the VM alive: after the VM fd is closed it still runs. */
TEST(vcpu_outlives_vm_fd)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_count), &vcpu);
	struct kvm_regs regs;

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 2), 1);
	close(vm->fd);
	close(vm->kvm_fd);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 2), 2);
	vcpu_get_regs(vcpu, &regs);
	regs.rax = 100;
	vcpu_set_regs(vcpu, &regs);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 2), 101);
	vcpu_free(vcpu);
}

/* The VM fd closed before the vCPU's first run, too. */
TEST(vcpu_first_run_after_vm_fd_closed)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_count), &vcpu);

	close(vm->fd);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 2), 1);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 2), 2);
	vcpu_free(vcpu);
}
