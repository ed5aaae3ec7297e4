// SPDX-License-Identifier: GPL-2.0
/*
 * CPU hotplug while VMs exist: CPU 1 goes offline and comes back after a
 * vCPU ran there, while one runs there, and around the creation of a VM.
 * Virtualization must be off on a CPU that leaves and on again when it
 * returns, and every vCPU must run wherever its thread is put.
 *
 * Needs root and a CPU 1 that can go offline.  Each case puts CPU 1 back
 * online however it ends: returning, failing, or killed by the
 * harness's alarm or a fault.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "kvm_util.h"

#define CPU1_ONLINE	"/sys/devices/system/cpu/cpu1/online"
#define WAIT_MS		5000

/* Counts in EAX and reports each count on port 0x10. */
GUEST_CODE16(guest_tick,
	"	xor %eax, %eax\n"
	"1:	inc %eax\n"
	"	out %eax, $0x10\n"
	"	jmp 1b\n");

/* Async-signal-safe: also runs from the fatal signal handler. */
static int set_cpu1_online(bool online)
{
	int fd = open(CPU1_ONLINE, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, online ? "1" : "0", 1);
	close(fd);
	return n == 1 ? 0 : -1;
}

static void cpu1_back_online(void)
{
	set_cpu1_online(true);
}

static void cpu1_back_online_and_die(int sig)
{
	cpu1_back_online();
	/* SA_RESETHAND made the action the default: die of sig. */
	raise(sig);
}

/*
 * Skip unless CPU 1 can be taken offline; from here on, a failed
 * assertion (exit) or a fatal signal first brings it back.  A passing
 * case brings it back itself: the harness ends it with _exit().
 */
static void need_cpu1(void)
{
	static const int fatal[] = {
		SIGALRM, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM,
	};
	struct sigaction sa = {
		.sa_handler = cpu1_back_online_and_die,
		.sa_flags = SA_RESETHAND,
	};
	char state = 0;
	unsigned int i;
	int fd;

	if (geteuid())
		test_skip("needs root to take CPU 1 offline");
	fd = open(CPU1_ONLINE, O_RDWR);
	if (fd < 0)
		test_skip("cannot open %s (%s): no CPU 1, or it cannot go offline",
			  CPU1_ONLINE, strerror(errno));
	if (read(fd, &state, 1) != 1 || state != '1')
		test_skip("CPU 1 is offline");
	close(fd);

	ASSERT_OK(atexit(cpu1_back_online));
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		ASSERT_OK(sigaction(fatal[i], &sa, NULL));
}

static void pin_to(int cpu)
{
	pin_thread(pthread_self(), cpu);
	ASSERT_EQ(sched_getcpu(), cpu);
}

/* The next count of guest_tick must be n. */
static void expect_tick(struct kvm_vcpu *vcpu, uint32_t n)
{
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), n);
}

/*
 * A vCPU runs on CPU 1, then on CPU 0 while CPU 1 is offline, then on
 * CPU 1 again; twice.  Then a second VM is created while CPU 1 is
 * offline, and first runs once it is back.
 */
TEST(offline_online_with_vm)
{
	struct kvm_vcpu *vcpu, *vcpu2;
	struct kvm_vm *vm, *vm2;
	uint32_t n = 0;
	int round;

	need_cpu1();
	vm = vm_create_guest(GUEST(guest_tick), &vcpu);
	for (round = 0; round < 2; round++) {
		pin_to(1);
		expect_tick(vcpu, ++n);
		pin_to(0);
		ASSERT_OK(set_cpu1_online(false));
		expect_tick(vcpu, ++n);
		ASSERT_OK(set_cpu1_online(true));
		pin_to(1);
		expect_tick(vcpu, ++n);
	}

	pin_to(0);
	ASSERT_OK(set_cpu1_online(false));
	vm2 = vm_create_guest(GUEST(guest_tick), &vcpu2);
	ASSERT_OK(set_cpu1_online(true));
	pin_to(1);
	expect_tick(vcpu2, 1);
	expect_tick(vcpu, ++n);
	pin_to(0);
	expect_tick(vcpu2, 2);
	vm_free(vm2);
	vm_free(vm);
}

/*
 * The first VM of the process, and likely of the host, made while CPU 1
 * is offline: virtualization must come on there when CPU 1 returns.
 */
TEST(first_vm_while_offline)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	need_cpu1();
	pin_to(0);
	ASSERT_OK(set_cpu1_online(false));
	vm = vm_create_guest(GUEST(guest_tick), &vcpu);
	expect_tick(vcpu, 1);
	ASSERT_OK(set_cpu1_online(true));
	pin_to(1);
	expect_tick(vcpu, 2);
	pin_to(0);
	expect_tick(vcpu, 3);
	vm_free(vm);
}

/*
 * The last VM goes away while CPU 1 is offline, which switches
 * virtualization off everywhere else; the next VM, made once CPU 1 is
 * back, must find it on there too.
 */
TEST(last_vm_freed_while_offline)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	need_cpu1();
	vm = vm_create_guest(GUEST(guest_tick), &vcpu);
	pin_to(1);
	expect_tick(vcpu, 1);
	pin_to(0);
	ASSERT_OK(set_cpu1_online(false));
	vm_free(vm);
	ASSERT_OK(set_cpu1_online(true));

	vm = vm_create_guest(GUEST(guest_tick), &vcpu);
	pin_to(1);
	expect_tick(vcpu, 1);
	pin_to(0);
	expect_tick(vcpu, 2);
	vm_free(vm);
}

struct ticks {
	uint32_t last;		/* the last count seen */
	volatile bool stop;
};

static bool tick_on_exit(struct vcpu_thread *t)
{
	struct kvm_run *run = t->vcpu->run;
	struct ticks *ticks = t->data;
	uint32_t val;

	if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x10 ||
	    run->io.size != 4 || run->io.direction != KVM_EXIT_IO_OUT)
		return false;
	memcpy(&val, (uint8_t *)run + run->io.data_offset, 4);
	if (val != ticks->last + 1)
		return false;
	__atomic_store_n(&ticks->last, val, __ATOMIC_RELAXED);
	return !ticks->stop;
}

/*
 * CPU 1 goes offline under a vCPU thread that runs there: the thread is
 * moved to CPU 0 and its guest goes on counting, and on again once CPU 1
 * is back.
 */
TEST(offline_under_running_vcpu)
{
	struct ticks ticks = { 0 };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct vcpu_thread t;
	cpu_set_t set;
	uint32_t seen;

	need_cpu1();
	vm = vm_create_guest(GUEST(guest_tick), &vcpu);
	pin_to(1);
	/* The thread inherits CPU 1 only, and first runs there. */
	vcpu_thread_start(&t, vcpu, tick_on_exit, &ticks);
	ASSERT_TRUE(wait_for_change(&ticks.last, 0, WAIT_MS));
	pin_to(0);
	/* Free to go to CPU 0, but left on CPU 1 until it must leave. */
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CPU_SET(1, &set);
	ASSERT_EQ(pthread_setaffinity_np(t.thread, sizeof(set), &set), 0);

	ASSERT_OK(set_cpu1_online(false));
	seen = __atomic_load_n(&ticks.last, __ATOMIC_RELAXED);
	ASSERT_TRUE(wait_for_change(&ticks.last, seen, WAIT_MS));
	ASSERT_OK(set_cpu1_online(true));
	seen = __atomic_load_n(&ticks.last, __ATOMIC_RELAXED);
	ASSERT_TRUE(wait_for_change(&ticks.last, seen, WAIT_MS));

	ticks.stop = true;
	vcpu_thread_join(&t, WAIT_MS);
	vcpu_expect_io(vcpu, 0x10, 4, KVM_EXIT_IO_OUT);
	ASSERT_EQ(*(uint32_t *)((uint8_t *)vcpu->run +
				vcpu->run->io.data_offset), ticks.last);
	test_log("%u counts", ticks.last);
	vm_free(vm);
}
