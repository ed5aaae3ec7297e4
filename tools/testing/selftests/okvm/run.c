// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_RUN itself: immediate_exit, a signal while the guest runs, and a
 * call from a process other than the VM's creator.
 */
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include "kvm_util.h"

GUEST_CODE16(guest_in_out,
	"	in $0x20, %al\n"
	"	out %al, $0x21\n"
	"	hlt\n");

/* KVM returns at once and leaves exit_reason as it was. */
TEST(immediate_exit)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_in_out), &vcpu);
	int i;

	ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_UNKNOWN);
	vcpu->run->immediate_exit = 1;
	for (i = 0; i < 3; i++) {
		ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
		ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_UNKNOWN);
		ASSERT_EQ(vcpu_get_rip(vcpu), GUEST_LOAD_ADDR);
	}
	vcpu->run->exit_reason = 0x1234;
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	ASSERT_EQ(vcpu->run->exit_reason, 0x1234);

	vcpu->run->immediate_exit = 0;
	vcpu_run_expect_in(vcpu, 0x20, 1, 0x5a);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x21, 1), 0x5a);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/*
 * A pending IN is completed by the KVM_RUN that has immediate_exit set:
 * RAX takes the data and RIP moves past the IN before KVM_RUN returns
 * EINTR; exit_reason still says KVM_EXIT_IO.
 */
TEST(immediate_exit_completes_in)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_in_out), &vcpu);
	struct kvm_regs regs;

	vcpu_get_regs(vcpu, &regs);
	regs.rax = 0xffffffffffffffffULL;
	vcpu_set_regs(vcpu, &regs);

	vcpu_run_expect_in(vcpu, 0x20, 1, 0x42);
	vcpu->run->immediate_exit = 1;
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_IO);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rax, 0xffffffffffffff42ULL);
	ASSERT_EQ(regs.rip, GUEST_LOAD_ADDR + 2);

	/* Again: nothing is pending now, nothing changes. */
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rip, GUEST_LOAD_ADDR + 2);

	vcpu->run->immediate_exit = 0;
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x21, 1), 0x42);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/*
 * The guest counts in ECX and keeps EAX = 3 * ECX until the host sets
 * the flag at GUEST_DATA_ADDR, then reports both.
 */
GUEST_CODE16(guest_loop,
	"	xor %eax, %eax\n"
	"	xor %ecx, %ecx\n"
	"1:	inc %ecx\n"
	"	add $3, %eax\n"
	"	cmpb $0, 0x8000\n"
	"	je 1b\n"
	"	out %eax, $0x30\n"
	"	mov %ecx, %eax\n"
	"	out %eax, $0x31\n"
	"	hlt\n");

static volatile sig_atomic_t signals_seen;
static volatile int stop_kicking;

static void on_sigusr1(int sig)
{
	signals_seen++;
}

static void *kicker(void *arg)
{
	pthread_t target = *(pthread_t *)arg;

	while (!stop_kicking) {
		usleep(20000);
		pthread_kill(target, SIGUSR1);
	}
	return NULL;
}

/*
 * Interrupts the spinning guest with SIGUSR1 from another thread, times
 * times in a row: each KVM_RUN returns EINTR with KVM_EXIT_INTR.  Then
 * the guest is let out of its loop and must report consistent counts.
 */
static void interrupt_guest_loop(int times)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_loop), &vcpu);
	pthread_t self = pthread_self(), thread;
	uint32_t sum, count;
	int i;

	sigemptyset(&sa.sa_mask);
	ASSERT_OK(sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(pthread_create(&thread, NULL, kicker, &self), 0);
	for (i = 0; i < times; i++) {
		ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
		ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_INTR);
	}
	ASSERT_GT(signals_seen, 0);
	stop_kicking = 1;
	pthread_join(thread, NULL);

	*(uint8_t *)vm_hva(vm, GUEST_DATA_ADDR) = 1;
	sum = vcpu_run_expect_out(vcpu, 0x30, 4);
	count = vcpu_run_expect_out(vcpu, 0x31, 4);
	test_log("guest looped %u times, %d signals", count, signals_seen);
	ASSERT_GT(count, 0);
	ASSERT_EQ(sum, 3 * count);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

TEST(signal_interrupts_run)
{
	interrupt_guest_loop(1);
}

TEST(signal_interrupts_run_repeatedly)
{
	interrupt_guest_loop(5);
}

/* Only the process that created the VM may use it: others get EIO. */
TEST(forked_child_gets_eio)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_in_out), &vcpu);
	struct kvm_regs regs;
	int status, fd;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		ASSERT_ERRNO(vcpu_run(vcpu), EIO);
		ASSERT_ERRNO(ioctl(vcpu->fd, KVM_GET_REGS, &regs), EIO);
		ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_REGS, &regs), EIO);
		ASSERT_ERRNO(ioctl(vm->fd, KVM_CREATE_VCPU, 1), EIO);
		ASSERT_ERRNO(vm_set_region(vm->fd, 1, 0, 0x100000, PAGE_SIZE,
					   (uintptr_t)vm_hva(vm, 0)), EIO);
		ASSERT_ERRNO(ioctl(vm->fd, KVM_CHECK_EXTENSION,
				   KVM_CAP_USER_MEMORY), EIO);
		/* The system fd is not tied to a process. */
		ASSERT_EQ(ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0), 12);
		fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
		ASSERT_GE(fd, 0);
		close(fd);
		exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);

	/* The parent is unaffected. */
	vcpu_run_expect_in(vcpu, 0x20, 1, 0x77);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x21, 1), 0x77);
	vm_free(vm);
}
