// SPDX-License-Identifier: GPL-2.0
/*
 * What a VM costs the kernel is charged to the memory cgroup of the VMM
 * that made it (okvm allocates with GFP_KERNEL_ACCOUNT, as KVM does):
 * memory.current of a group holding only a forked VMM grows as it
 * creates VMs and vCPUs and as its guest touches memory (the nested
 * page tables), and falls back when the VMM is gone; with a small
 * memory.max, creating vCPUs ends in ENOMEM or the OOM killer taking
 * the VMM, inside the group, and the host goes on.
 *
 * Needs root and a kernel with the memory controller.  The test host's
 * init mounts no cgroup file system: a case then mounts cgroup2 in a
 * mount namespace of its own, which goes when the case ends.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kvm_util.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define KiB		1024L

static char group[128];		/* the case's cgroup directory */
static bool memory_enabled_here;	/* +memory written by this case */

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[256];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		r = -1;
	close(fd);
	return r;
}

static int cg_read(const char *dir, const char *file, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static long cg_read_long(const char *file)
{
	char buf[64];

	if (cg_read(group, file, buf, sizeof(buf)))
		test_fail("read %s/%s: %s", group, file, strerror(errno));
	return atol(buf);
}

/* A "key value" line of a flat-keyed file such as memory.events. */
static long cg_read_key(const char *file, const char *key)
{
	char buf[1024], *p;
	size_t n = strlen(key);

	if (cg_read(group, file, buf, sizeof(buf)))
		test_fail("read %s/%s: %s", group, file, strerror(errno));
	for (p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ' ')
			return atol(p + n + 1);
	test_fail("%s/%s has no %s", group, file, key);
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

static void remove_group(void)
{
	int i;

	/* The last task may still be leaving the group as it is reaped. */
	for (i = 0; i < 100 && rmdir(group) && errno == EBUSY; i++)
		usleep(10000);
	if (memory_enabled_here)
		cg_write(CG_ROOT, "cgroup.subtree_control", "-memory");
}

/*
 * A cgroup2 hierarchy with the memory controller at CG_ROOT, and a new
 * group in it where memory is accounted; skips the case when the
 * kernel has neither.  The group is removed when the case exits.
 */
static void need_memcg(void)
{
	char buf[256];

	if (geteuid())
		test_skip("needs root to manage cgroups");
	if (access(CG_ROOT "/cgroup.controllers", F_OK)) {
		if (unshare(CLONE_NEWNS))
			test_skip("no cgroup2 at %s, and no mount namespace to mount one (%s)",
				  CG_ROOT, strerror(errno));
		ASSERT_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
		if (mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
			test_skip("cannot mount cgroup2 at %s: %s", CG_ROOT,
				  strerror(errno));
	}
	if (cg_read(CG_ROOT, "cgroup.controllers", buf, sizeof(buf)))
		test_fail("read %s/cgroup.controllers: %s", CG_ROOT,
			  strerror(errno));
	if (!has_word(buf, "memory"))
		test_skip("no memory controller in cgroup2 (controllers: %s)",
			  buf);
	if (cg_read(CG_ROOT, "cgroup.subtree_control", buf, sizeof(buf)))
		test_fail("read %s/cgroup.subtree_control: %s", CG_ROOT,
			  strerror(errno));
	if (!has_word(buf, "memory")) {
		if (cg_write(CG_ROOT, "cgroup.subtree_control", "+memory"))
			test_fail("enable the memory controller: %s",
				  strerror(errno));
		memory_enabled_here = true;
	}
	snprintf(group, sizeof(group), "%s/okvm-memcg-%d", CG_ROOT,
		 getpid());
	if (mkdir(group, 0755))
		test_fail("mkdir %s: %s", group, strerror(errno));
	ASSERT_OK(atexit(remove_group));
}

/* Move the calling process into the group. */
static void enter_group(void)
{
	if (cg_write(group, "cgroup.procs", "0"))
		test_fail("move into %s: %s", group, strerror(errno));
}

/* Run fn in a child inside the group; returns its wait status. */
static int run_in_group(void (*fn)(void))
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		enter_group();
		fn();
		fflush(stdout);
		_exit(0);
	}
	if (!wait_child(pid, &status, 20000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		test_fail("the VMM child did not finish in 20 s");
	}
	return status;
}

static void expect_exit_0(int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		test_fail("the VMM child failed (wait status %#x)", status);
}

/*
 * memory.current moves in steps: each CPU keeps up to 64 pages charged
 * ahead of use.  Growth is checked against this much less than the
 * least the objects can take.
 */
#define CHARGE_SLACK	(2 * 64 * 4 * KiB)

#define NR_VMS		32
#define VCPUS_PER_VM	8
/*
 * At the least, per VM its structure, per vCPU its kvm_run and VMCB (or
 * VMCS).
 */
#define VM_MIN_BYTES	(1 * KiB)
#define VCPU_MIN_BYTES	(8 * KiB)

static void make_vms_and_vcpus(void)
{
	struct kvm_vm *vm[NR_VMS];
	long start, vms, vcpus;
	int i, j, fd;

	start = cg_read_long("memory.current");
	for (i = 0; i < NR_VMS; i++) {
		vm[i] = vm_create();
		vm_add_mem(vm[i], 0, 0, GUEST_MEM_SIZE);
	}
	vms = cg_read_long("memory.current");
	for (i = 0; i < NR_VMS; i++) {
		for (j = 0; j < VCPUS_PER_VM; j++) {
			fd = ioctl(vm[i]->fd, KVM_CREATE_VCPU, j);
			if (fd < 0)
				test_fail("VM %d vCPU %d: %s", i, j,
					  errno_name(errno));
			/* The vCPU stays with its VM. */
			close(fd);
		}
	}
	vcpus = cg_read_long("memory.current");
	test_log("memory.current %ld KiB, %ld KiB with %d VMs, %ld KiB with %d vCPUs each (%ld KiB a vCPU)",
		 start / KiB, vms / KiB, NR_VMS, vcpus / KiB, VCPUS_PER_VM,
		 (vcpus - vms) / (NR_VMS * VCPUS_PER_VM) / KiB);
	/* The VMs alone may hide in the charged-ahead pages; not all. */
	ASSERT_GE(vcpus - start,
		  NR_VMS * (VM_MIN_BYTES + VCPUS_PER_VM * VCPU_MIN_BYTES) -
		  CHARGE_SLACK);
	for (i = 0; i < NR_VMS; i++)
		vm_free(vm[i]);
}

/*
 * How long the uncharge may trail the VMM's exit, for what the kernel
 * frees after a grace period or from a worker.  In a shadow-paging test
 * host (kvm_amd npt=0, in a make check) 1296 KiB was once still charged
 * right after the exit; other runs saw 236 KiB.
 */
#define UNCHARGE_MS	5000

/* VMs and vCPUs are charged to the group, uncharged when the VMM is gone. */
TEST(vms_and_vcpus_charged)
{
	uint64_t t, end;
	long left;

	need_memcg();
	expect_exit_0(run_in_group(make_vms_and_vcpus));
	t = now_ms();
	end = t + UNCHARGE_MS * test_timeout_scale();
	while ((left = cg_read_long("memory.current")) > CHARGE_SLACK &&
	       now_ms() < end)
		usleep(20000);
	test_log("memory.current after the VMM: %ld KiB (%lu ms after it)",
		 left / KiB, now_ms() - t);
	ASSERT_LE(left, CHARGE_SLACK);
}

/*
 * The guest stores one byte every 2 MiB of a 1 GiB slot: 512 nested
 * page tables at the lowest level, one for each 2 MiB, and a few above.
 * The host touched those pages first (and keeps transparent huge pages
 * out of the slot), so what the guest's stores add to memory.current is
 * the tables, not the memory.
 */
#define TOUCH_GPA	0x40000000UL
#define TOUCH_SIZE	0x40000000UL
#define TOUCH_STEP	0x200000UL
#define NR_TOUCH	(TOUCH_SIZE / TOUCH_STEP)

GUEST_CODE32(guest_touch,
	"	mov $0x40000000, %ebx\n"
	"	mov $512, %ecx\n"
	"1:	movb $1, (%ebx)\n"
	"	add $0x200000, %ebx\n"
	"	loop 1b\n"
	"	hlt\n");

static void touch_memory(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_touch), &vcpu);
	uint8_t *mem = vm_add_mem(vm, 1, TOUCH_GPA, TOUCH_SIZE);
	long before, after;
	unsigned long i;

	ASSERT_OK(madvise(mem, TOUCH_SIZE, MADV_NOHUGEPAGE));
	for (i = 0; i < TOUCH_SIZE; i += TOUCH_STEP)
		mem[i] = 2;
	before = cg_read_long("memory.current");
	vcpu_run_expect_hlt(vcpu);
	after = cg_read_long("memory.current");
	test_log("guest touched %lu pages: memory.current %ld -> %ld KiB",
		 NR_TOUCH, before / KiB, after / KiB);
	for (i = 0; i < TOUCH_SIZE; i += TOUCH_STEP)
		ASSERT_EQ(mem[i], 1);
	ASSERT_GE(after - before, (long)(NR_TOUCH * PAGE_SIZE) - CHARGE_SLACK);
	vcpu_free(vcpu);
	vm_free(vm);
}

TEST(nested_page_tables_charged)
{
	need_memcg();
	expect_exit_0(run_in_group(touch_memory));
}

/*
 * memory.max a few MiB above what the VMM uses: vCPUs are made until
 * one fails, which must be with ENOMEM, well before KVM_CAP_MAX_VCPUS;
 * or the OOM killer ends the VMM first.  Either way only the group is
 * affected: the host makes and runs a VM afterwards.
 *
 * On cgroup2 it is the OOM killer, with okvm and KVM alike: a charge
 * over memory.max that reclaim cannot make room for, from a task that
 * is not dying, invokes it synchronously, for kernel allocations in a
 * syscall as for page faults, and ENOMEM comes only when it finds
 * nothing to kill.  Its report in the kernel log has a call trace,
 * which the test host's log check lets off because it names a memory
 * cgroup as the constraint (tools/testing/vm/parse.awk).
 */
#define MAX_ABOVE	(4 * 1024 * KiB)

static int *made;		/* shared with the parent */

static void vcpus_until_enomem(void)
{
	int max = kvm_check_cap(KVM_CAP_MAX_VCPUS);
	struct kvm_vm *vm = vm_create();
	char limit[32];
	int i, fd;

	snprintf(limit, sizeof(limit), "%ld",
		 cg_read_long("memory.current") + MAX_ABOVE);
	if (cg_write(group, "memory.max", limit))
		test_fail("set memory.max: %s", strerror(errno));
	for (i = 0; i < max; i++) {
		fd = ioctl(vm->fd, KVM_CREATE_VCPU, i);
		if (fd < 0)
			break;
		close(fd);
		__atomic_store_n(made, i + 1, __ATOMIC_RELAXED);
	}
	if (i == max)
		test_fail("all %d vCPUs made within memory.max", max);
	if (errno != ENOMEM)
		test_fail("vCPU %d: %s, expected ENOMEM", i, errno_name(errno));
	/* The group gets its memory back with the VM. */
	vm_free(vm);
	test_log("vCPU %d: ENOMEM", i);
}

TEST(vcpus_over_memory_max)
{
	int status;

	need_memcg();
	made = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(made, MAP_FAILED);
	*made = 0;
	status = run_in_group(vcpus_until_enomem);
	test_log("%d vCPUs made; memory.events: max %ld, oom %ld, oom_kill %ld",
		 *made, cg_read_key("memory.events", "max"),
		 cg_read_key("memory.events", "oom"),
		 cg_read_key("memory.events", "oom_kill"));
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		ASSERT_GE(cg_read_key("memory.events", "oom_kill"), 1);
	else
		expect_exit_0(status);
	ASSERT_GE(cg_read_key("memory.events", "max"), 1);
	ASSERT_GT(*made, 0);

	run_hello_guest();
}
