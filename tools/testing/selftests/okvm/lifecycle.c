// SPDX-License-Identifier: GPL-2.0
/*
 * VM lifecycles under stress: a thousand VMs made and destroyed, a VMM
 * killed with SIGKILL or ending with exit_group while its vCPUs run, and
 * the fds of a VM closed under vCPU threads still in KVM_RUN.  Each time
 * the module's reference count must come back to where it was (every
 * fd, and on KVM every VM, holds one, so a reference left behind is a
 * leaked file or VM) and the next VM must run.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kvm_util.h"

#define MAX_VCPUS	16
#define WAIT_MS		5000

/*
 * Each vCPU counts in the dword at BX, forever.  With SI set it also
 * does an OUT to port 0x20 each time round: an exit to userspace per
 * count instead of none.
 */
GUEST_CODE16(guest_count,
	"1:	incl (%bx)\n"
	"	test %si, %si\n"
	"	jz 1b\n"
	"	out %al, $0x20\n"
	"	jmp 1b\n");

/* A vCPU thread that calls KVM_RUN on fd until told to stop. */
struct runner {
	struct kvm_vcpu *vcpu;
	int fd;			/* the vCPU fd at the start */
	bool once;		/* one KVM_RUN (an I/O exit), then wait */
	volatile bool stop;
	pthread_t thread;
	bool joined;
	int ret, err;		/* of the last KVM_RUN */
	int runs;		/* KVM_RUN calls returned */
};

struct vmm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu[MAX_VCPUS];
	struct runner r[MAX_VCPUS];
	uint32_t *count;	/* count[i] is vCPU i's, in guest memory */
	int nr;
};

/* Only there to interrupt KVM_RUN: the default action would kill. */
static void kick(int sig)
{
}

/*
 * Never touches kvm_run: the tests unmap it under the thread.  Stops at
 * the first failed KVM_RUN, which is how a closed fd ends it.
 */
static void *runner_fn(void *arg)
{
	struct runner *r = arg;

	do {
		r->ret = ioctl(r->fd, KVM_RUN, 0);
		r->err = errno;
		__atomic_add_fetch(&r->runs, 1, __ATOMIC_RELAXED);
	} while (!r->ret && !r->once && !r->stop);
	while (r->once && !r->stop)
		usleep(1000);
	return NULL;
}

/*
 * A VM with nr vCPUs running guest_count, vCPU i counting in count[i];
 * those below nr_io also do an OUT each time round.  Nothing runs yet.
 */
static void vmm_create(struct vmm *v, int nr, int nr_io)
{
	struct kvm_regs regs;
	int i;

	v->nr = nr;
	v->vm = vm_create_guest(GUEST(guest_count), &v->vcpu[0]);
	v->count = vm_hva(v->vm, GUEST_DATA_ADDR);
	for (i = 0; i < nr; i++) {
		if (i) {
			v->vcpu[i] = vcpu_add(v->vm, i);
			vcpu_set_real_mode(v->vcpu[i], GUEST_LOAD_ADDR,
					   GUEST_STACK_TOP);
		}
		vcpu_get_regs(v->vcpu[i], &regs);
		regs.rbx = GUEST_DATA_ADDR + 4 * i;
		regs.rsi = i < nr_io;
		vcpu_set_regs(v->vcpu[i], &regs);
	}
}

/* Start a thread for each vCPU, from first on; pin them if cpus > 0. */
static void vmm_start(struct vmm *v, int first, bool once_io, int nr_io,
		      int cpus)
{
	struct sigaction sa = { .sa_handler = kick };
	int i;

	sigemptyset(&sa.sa_mask);
	ASSERT_OK(sigaction(SIGUSR2, &sa, NULL));
	for (i = first; i < v->nr; i++) {
		struct runner *r = &v->r[i];

		r->vcpu = v->vcpu[i];
		r->fd = v->vcpu[i]->fd;
		r->once = once_io && i < nr_io;
		ASSERT_EQ(pthread_create(&r->thread, NULL, runner_fn, r), 0);
		if (cpus)
			pin_thread(r->thread, i % cpus);
	}
}

/* Every vCPU from first on has counted, i.e. has been in the guest. */
static void vmm_wait_running(struct vmm *v, int first)
{
	int i;

	for (i = first; i < v->nr; i++)
		if (!wait_for_change(&v->count[i], 0, WAIT_MS))
			test_fail("vCPU %d never ran", i);
}

/* Every vCPU from first on counts on now. */
static void vmm_check_counting(struct vmm *v, int first)
{
	uint32_t seen[MAX_VCPUS];
	int i;

	for (i = first; i < v->nr; i++)
		seen[i] = __atomic_load_n(&v->count[i], __ATOMIC_RELAXED);
	for (i = first; i < v->nr; i++)
		if (!wait_for_change(&v->count[i], seen[i], WAIT_MS))
			test_fail("vCPU %d stopped counting at %u", i, seen[i]);
}

/*
 * Stop the threads: immediate_exit for a KVM_RUN about to start (when
 * kvm_run is still mapped), a signal for one under way, again and again
 * as a signal that lands before the ioctl is lost.
 */
static void vmm_stop(struct vmm *v, bool run_mapped)
{
	uint64_t end = now_ms() + WAIT_MS * test_timeout_scale();
	int i, left;

	for (i = 0; i < v->nr; i++) {
		v->r[i].stop = true;
		if (run_mapped)
			v->vcpu[i]->run->immediate_exit = 1;
	}
	do {
		left = 0;
		for (i = 0; i < v->nr; i++) {
			struct runner *r = &v->r[i];

			if (r->joined || !r->thread)
				continue;
			if (!pthread_tryjoin_np(r->thread, NULL)) {
				r->joined = true;
				continue;
			}
			pthread_kill(r->thread, SIGUSR2);
			left++;
		}
		if (left)
			usleep(10000);
	} while (left && now_ms() < end);
	if (left)
		test_fail("%d vCPU threads do not leave KVM_RUN", left);
}

/*
 * The references of the files and VMs of a process are dropped before
 * its parent can reap it, and those of a closed fd before close()
 * returns (or, for a file an ioctl still uses, before that thread goes
 * back to userspace).
 */
static void expect_refcnt(int want)
{
	ASSERT_EQ(kvm_module_refcnt(), want);
}

/*
 * Made and destroyed one after the other, so that on okvm each switches
 * AMD-V (or VT-x) on when it is made and off when it goes.  Every 25th
 * also runs a guest to HLT, which builds the nested (NPT or EPT) root and
 * the tables below it.
 *
 * okvm gets through the thousand in about a second under TCG; kvm_amd
 * takes some 50 ms a VM there, so the loop also ends after BUDGET_MS,
 * having made at least a hundred.
 */
#define NR_VMS		1000
#define MIN_VMS		100
#define BUDGET_MS	15000

TEST_TIMEOUT(create_destroy_1000, 60)
{
	int base = kvm_module_refcnt();
	uint64_t t0 = now_ms();
	uint64_t end = t0 + BUDGET_MS * test_timeout_scale();
	int i;

	for (i = 0; i < NR_VMS && (i < MIN_VMS || now_ms() < end); i++) {
		struct kvm_vcpu *vcpu;
		struct kvm_vm *vm;

		if (i % 25 == 0) {
			run_hello_guest();
			continue;
		}
		vm = vm_create();
		vm_add_mem(vm, 0, 0, GUEST_MEM_SIZE);
		vcpu = vcpu_add(vm, i % 4);
		vcpu_free(vcpu);
		vm_free(vm);
	}
	test_log("%d VMs in %llu ms", i,
		 (unsigned long long)(now_ms() - t0));
	expect_refcnt(base);
	run_hello_guest();
}

/*
 * The VMM of a forked child: nr vCPUs, the first nr_io of them stopped
 * at an OUT exit they never complete, the others counting in the guest,
 * each on a thread of its own.  Says it is ready on fd with one byte,
 * then waits to be killed, or (exit_code >= 0) calls exit_group itself
 * from the main thread.
 */
static void vmm_child(int fd, int nr, int nr_io, int cpus, int exit_code)
{
	struct vmm v = { 0 };
	int i;

	/* Not left behind, holding a VM, if the case dies first. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	vmm_create(&v, nr, nr_io);
	vmm_start(&v, 0, true, nr_io, cpus);
	vmm_wait_running(&v, 0);
	/* The I/O vCPUs count once before their exit; wait for that too. */
	for (i = 0; i < nr_io; i++)
		while (!__atomic_load_n(&v.r[i].runs, __ATOMIC_RELAXED))
			usleep(1000);
	if (write(fd, "r", 1) != 1)
		test_fail("write: %s", strerror(errno));
	if (exit_code >= 0) {
		usleep(20000);
		syscall(SYS_exit_group, exit_code);
	}
	for (;;)
		pause();
}

/* Fork the VMM; returns once its vCPUs run. */
static pid_t vmm_fork(int nr, int nr_io, int cpus, int exit_code)
{
	struct pollfd pfd;
	int p[2], status;
	char c;
	pid_t pid;

	ASSERT_OK(pipe(p));
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		vmm_child(p[1], nr, nr_io, cpus, exit_code);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 10000 * test_timeout_scale()) != 1 ||
	    read(p[0], &c, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		test_fail("the VMM child did not get its vCPUs running");
	}
	close(p[0]);
	return pid;
}

static int online_cpus(void)
{
	cpu_set_t set;

	ASSERT_OK(sched_getaffinity(0, sizeof(set), &set));
	return CPU_COUNT(&set);
}

/*
 * SIGKILL to a VMM whose vCPU threads are in KVM_RUN, counting in the
 * guest, or stopped at an I/O exit in userspace: it must die at once,
 * its VM go with it, and the next VM run.
 */
TEST(sigkill_vmm_in_run)
{
	int base = kvm_module_refcnt();
	int round, status;
	uint64_t t0;
	pid_t pid;

	for (round = 0; round < 8; round++) {
		pid = vmm_fork(6, 2, round & 1 ? online_cpus() : 0, -1);
		t0 = now_ms();
		ASSERT_OK(kill(pid, SIGKILL));
		if (!wait_child(pid, &status, 2000))
			test_fail("round %d: the VMM still lives 2 s after SIGKILL",
				  round);
		test_log("round %d: VMM gone %llu ms after SIGKILL", round,
			 (unsigned long long)(now_ms() - t0));
		ASSERT_TRUE(WIFSIGNALED(status));
		ASSERT_EQ(WTERMSIG(status), SIGKILL);
		expect_refcnt(base);
		run_hello_guest();
	}
}

/*
 * exit_group from the VMM while a vCPU thread counts on every CPU (two
 * on each), one sits at an I/O exit and the main thread waits.
 */
TEST(exit_group_vcpus_on_all_cpus)
{
	int base = kvm_module_refcnt();
	int cpus = online_cpus();
	int nr = 2 * cpus + 1;
	int round, status;
	pid_t pid;

	if (nr > MAX_VCPUS)
		nr = MAX_VCPUS;
	for (round = 0; round < 3; round++) {
		pid = vmm_fork(nr, 1, cpus, 40 + round);
		if (!wait_child(pid, &status, 2000)) {
			kill(pid, SIGKILL);
			test_fail("round %d: the VMM still lives 2 s after exit_group",
				  round);
		}
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 40 + round);
		expect_refcnt(base);
		run_hello_guest();
	}
}

/* The host's view of guest memory is the host's after all. */
static void check_memory(struct vmm *v)
{
	uint8_t *mem = vm_hva(v->vm, 0);

	ASSERT_EQ(mem[GUEST_LOAD_ADDR], guest_count_start[0]);
	memset(mem + 0x9000, 0xa5, 0x1000);
	ASSERT_EQ(mem[0x9fff], 0xa5);
}

/* Unmap guest memory and free the bookkeeping, all fds being closed. */
static void vmm_free_memory(struct vmm *v)
{
	int i;

	for (i = 0; i < v->vm->nr_mem; i++)
		munmap(v->vm->mem[i].hva, v->vm->mem[i].size);
	free(v->vm);
}

/* The cases that close fds under running vCPUs: the first NR_IO do I/O. */
#define CLOSE_NR	6
#define CLOSE_NR_IO	3

/*
 * The VM and system fds closed while six vCPU threads are in KVM_RUN:
 * the guest goes on (the vCPU fds keep the VM) until the threads are
 * stopped; then the vCPUs still work, and are freed.
 */
static void close_vm_fd_once(int base)
{
	struct vmm v = { 0 };
	int i;

	vmm_create(&v, CLOSE_NR, CLOSE_NR_IO);
	vmm_start(&v, 0, false, CLOSE_NR_IO, 0);
	vmm_wait_running(&v, 0);
	close(v.vm->fd);
	close(v.vm->kvm_fd);
	vmm_check_counting(&v, 0);
	vmm_stop(&v, true);
	for (i = 0; i < v.nr; i++) {
		struct runner *r = &v.r[i];

		/*
		 * A counting vCPU's only KVM_RUN ends with the signal; an
		 * I/O one stops after an exit, or is interrupted.
		 */
		if (i < CLOSE_NR_IO ? r->ret && r->err != EINTR :
				      !(r->ret && r->err == EINTR))
			test_fail("vCPU %d: KVM_RUN returned %d (%s)", i,
				  r->ret, errno_name(r->err));
		ASSERT_ERRNO(vcpu_run(v.vcpu[i]), EINTR);
		v.vcpu[i]->run->immediate_exit = 0;
	}
	/* The I/O vCPU 0 goes on from where it was, to its next OUT. */
	vcpu_run_expect_io(v.vcpu[0], 0x20, 1, KVM_EXIT_IO_OUT);
	for (i = 0; i < v.nr; i++)
		vcpu_free(v.vcpu[i]);
	expect_refcnt(base);
	check_memory(&v);
	vmm_free_memory(&v);
}

/*
 * Everything closed and unmapped while six vCPU threads are in KVM_RUN:
 * the VM, system and vCPU fds, and the kvm_run mappings.  The vCPU fds
 * are not closed but replaced by /dev/null with dup2(), which drops the
 * vCPU file just the same but leaves no free fd number that something
 * else could take before a thread's next KVM_RUN on it.  The counting
 * guests go on while their KVM_RUN lasts, a signal ends it, and the I/O
 * ones end at their next ioctl, on /dev/null (ENOTTY).  Then the VM is
 * gone.
 */
static void close_everything_once(int base)
{
	struct vmm v = { 0 };
	int i, null;

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(null, 0);
	vmm_create(&v, CLOSE_NR, CLOSE_NR_IO);
	vmm_start(&v, 0, false, CLOSE_NR_IO, 0);
	vmm_wait_running(&v, 0);
	close(v.vm->fd);
	close(v.vm->kvm_fd);
	for (i = 0; i < v.nr; i++) {
		ASSERT_OK(dup2(null, v.vcpu[i]->fd));
		ASSERT_OK(munmap(v.vcpu[i]->run, v.vcpu[i]->run_size));
	}
	/* The counting vCPUs, still in their first KVM_RUN, go on. */
	vmm_check_counting(&v, CLOSE_NR_IO);
	vmm_stop(&v, false);
	for (i = 0; i < v.nr; i++) {
		struct runner *r = &v.r[i];
		bool io = i < CLOSE_NR_IO;

		/*
		 * A counting vCPU's only KVM_RUN ends with the signal; an
		 * I/O one stops after an exit or fails on /dev/null.
		 */
		if (!(r->ret && r->err == EINTR) &&
		    !(io && (!r->ret || r->err == ENOTTY)))
			test_fail("vCPU %d: KVM_RUN returned %d (%s)", i,
				  r->ret, errno_name(r->err));
		close(v.vcpu[i]->fd);
		free(v.vcpu[i]);
	}
	close(null);
	expect_refcnt(base);
	check_memory(&v);
	vmm_free_memory(&v);
}

/* Each a few times: how far the threads got when the fds went varies. */
#define CLOSE_ROUNDS	5

TEST(close_vm_fd_under_running_vcpus)
{
	int base = kvm_module_refcnt();
	int i;

	for (i = 0; i < CLOSE_ROUNDS; i++)
		close_vm_fd_once(base);
	run_hello_guest();
}

TEST(close_everything_under_running_vcpus)
{
	int base = kvm_module_refcnt();
	int i;

	for (i = 0; i < CLOSE_ROUNDS; i++)
		close_everything_once(base);
	run_hello_guest();
}
