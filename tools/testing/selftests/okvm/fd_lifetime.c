// SPDX-License-Identifier: GPL-2.0
/*
 * Closing the system, VM and vCPU fds and unmapping kvm_run, in every
 * order, with and without a run in between: nothing crashes, what is
 * still open keeps working, and the guest memory mapping stays the
 * host's.
 */
#include <unistd.h>
#include <sys/mman.h>

#include "kvm_util.h"

/* Counts in AX, stores it at GUEST_DATA_ADDR and reports it. */
GUEST_CODE16(guest_count,
	"1:	inc %ax\n"
	"	mov %ax, 0x8000\n"
	"	out %ax, $0x10\n"
	"	jmp 1b\n");

struct setup {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu[4];
	uint16_t *count;	/* GUEST_DATA_ADDR in the host mapping */
	uint8_t *mem;
};

/* A VM with nr vCPUs all running guest_count, vCPU i from AX = 100 * i. */
static struct setup setup(int nr)
{
	struct setup s;
	struct kvm_regs regs;
	int i;

	s.vm = vm_create_guest(GUEST(guest_count), &s.vcpu[0]);
	for (i = 1; i < nr; i++) {
		s.vcpu[i] = vcpu_add(s.vm, i);
		vcpu_set_real_mode(s.vcpu[i], GUEST_LOAD_ADDR, GUEST_STACK_TOP);
		vcpu_get_regs(s.vcpu[i], &regs);
		regs.rax = 100 * i;
		vcpu_set_regs(s.vcpu[i], &regs);
	}
	s.mem = vm_hva(s.vm, 0);
	s.count = vm_hva(s.vm, GUEST_DATA_ADDR);
	return s;
}

static void run_once(struct setup *s, int i, uint16_t want)
{
	ASSERT_EQ(vcpu_run_expect_out(s->vcpu[i], 0x10, 2), want);
	ASSERT_EQ(*s->count, want);
}

/* The host still owns its memory: read what the guest left, write more. */
static void check_memory(struct setup *s, uint16_t want)
{
	ASSERT_EQ(*s->count, want);
	memset(s->mem + 0x9000, 0xa5, 0x1000);
	ASSERT_EQ(s->mem[0x9fff], 0xa5);
	ASSERT_EQ(s->mem[GUEST_LOAD_ADDR], guest_count_start[0]);
}

static void close_vm_fds(struct setup *s)
{
	close(s->vm->fd);
	close(s->vm->kvm_fd);
}

static void close_vcpu(struct kvm_vcpu *vcpu, bool unmap_first)
{
	if (unmap_first)
		munmap(vcpu->run, vcpu->run_size);
	close(vcpu->fd);
	if (!unmap_first)
		munmap(vcpu->run, vcpu->run_size);
}

TEST(close_vcpu_then_vm)
{
	struct setup s = setup(1);

	run_once(&s, 0, 1);
	close_vcpu(s.vcpu[0], false);
	close_vm_fds(&s);
	check_memory(&s, 1);
}

TEST(close_vm_then_vcpu)
{
	struct setup s = setup(1);

	run_once(&s, 0, 1);
	close_vm_fds(&s);
	run_once(&s, 0, 2);
	close_vcpu(s.vcpu[0], false);
	check_memory(&s, 2);
}

TEST(close_without_running)
{
	struct setup s = setup(2);

	close_vm_fds(&s);
	close_vcpu(s.vcpu[1], true);
	close_vcpu(s.vcpu[0], false);
	check_memory(&s, 0);
}

/* The kvm_run mapping outlives its fd and still shows the last exit. */
TEST(run_mapping_outlives_vcpu_fd)
{
	struct setup s = setup(1);
	struct kvm_run *run = s.vcpu[0]->run;

	run_once(&s, 0, 1);
	close(s.vcpu[0]->fd);
	close_vm_fds(&s);
	ASSERT_EQ(run->exit_reason, KVM_EXIT_IO);
	ASSERT_EQ(run->io.port, 0x10);
	ASSERT_EQ(*(uint16_t *)((uint8_t *)run + run->io.data_offset), 1);
	munmap(run, s.vcpu[0]->run_size);
	check_memory(&s, 1);
}

/* KVM_RUN does not need kvm_run mapped; a new mapping shows the exit. */
TEST(run_without_run_mapping)
{
	struct setup s = setup(1);
	struct kvm_vcpu *vcpu = s.vcpu[0];
	struct kvm_run *run;

	run_once(&s, 0, 1);
	munmap(vcpu->run, vcpu->run_size);
	ASSERT_OK(vcpu_run(vcpu));
	ASSERT_EQ(*s.count, 2);
	run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu->fd, 0);
	ASSERT_NE(run, MAP_FAILED);
	vcpu->run = run;
	vcpu_expect_io(vcpu, 0x10, 2, KVM_EXIT_IO_OUT);
	ASSERT_EQ(*(uint16_t *)((uint8_t *)run + run->io.data_offset), 2);
	run_once(&s, 0, 3);
	close_vm_fds(&s);
	close_vcpu(vcpu, true);
	check_memory(&s, 3);
}

/* Two mappings of one kvm_run are the same page. */
TEST(two_run_mappings)
{
	struct setup s = setup(1);
	struct kvm_vcpu *vcpu = s.vcpu[0];
	struct kvm_run *run2 = mmap(NULL, vcpu->run_size,
				    PROT_READ | PROT_WRITE, MAP_SHARED,
				    vcpu->fd, 0);

	ASSERT_NE(run2, MAP_FAILED);
	run_once(&s, 0, 1);
	ASSERT_EQ(run2->exit_reason, KVM_EXIT_IO);
	run2->immediate_exit = 1;
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	run2->immediate_exit = 0;
	munmap(vcpu->run, vcpu->run_size);
	vcpu->run = run2;
	run_once(&s, 0, 2);
	close_vcpu(vcpu, false);
	close_vm_fds(&s);
	check_memory(&s, 2);
}

/* Four vCPUs, closed in a mixed order with runs in between. */
TEST(several_vcpus_mixed_order)
{
	struct setup s = setup(4);

	run_once(&s, 0, 1);
	run_once(&s, 3, 301);
	close_vcpu(s.vcpu[2], false);		/* never ran */
	run_once(&s, 1, 101);
	close(s.vm->fd);
	run_once(&s, 3, 302);
	close_vcpu(s.vcpu[0], true);
	run_once(&s, 1, 102);
	close(s.vm->kvm_fd);
	close_vcpu(s.vcpu[3], false);
	run_once(&s, 1, 103);
	close_vcpu(s.vcpu[1], true);
	check_memory(&s, 103);
}

/* The system fd first: the VM does not need it. */
TEST(close_system_fd_first)
{
	struct setup s = setup(2);

	close(s.vm->kvm_fd);
	run_once(&s, 0, 1);
	run_once(&s, 1, 101);
	close_vcpu(s.vcpu[0], false);
	run_once(&s, 1, 102);
	close(s.vm->fd);
	run_once(&s, 1, 103);
	close_vcpu(s.vcpu[1], false);
	check_memory(&s, 103);
}

/* A VM torn down while one of its vCPUs sits in an unfinished IN. */
GUEST_CODE16(guest_in,
	"	in $0x20, %al\n"
	"	hlt\n");

TEST(close_with_io_pending)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_in), &vcpu);

	vcpu_run_expect_io(vcpu, 0x20, 1, KVM_EXIT_IO_IN);
	close(vm->fd);
	close(vcpu->fd);
	munmap(vcpu->run, vcpu->run_size);
	close(vm->kvm_fd);
	ASSERT_EQ(*(uint8_t *)vm_hva(vm, GUEST_LOAD_ADDR), 0xe4);
}
