// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl_fuzz: random and structure-aware sequences of KVM ioctls against
 * /dev/kvm, which is okvm or the real kvm_amd, from several threads at
 * once on the same VMs and vCPUs.  See README for the options.
 *
 * The fuzzer keeps a pool of objects: file descriptors of each kind (the
 * system fd, VMs, vCPUs, anything else), and "zones", 2 MiB windows of a
 * reserved address range holding guest memory or a vCPU's kvm_run
 * mapping.  Every worker thread draws operations from a weighted table:
 * the ioctls okvm implements with arguments at the edges, every other
 * KVM ioctl number with random payloads, random numbers, ioctls on the
 * wrong kind of fd, mmap and munmap of kvm_run and of guest memory,
 * closes in the middle, tiny guests (ioctl_guest.c) and KVM_RUN bounded
 * by a per-thread timer signal, forks, file-descriptor exhaustion.
 *
 * The fuzzer must survive what it does to itself.  So:
 *  - every pointer it hands the kernel, and every memslot, lies in the
 *    reserved range, in the binary's read-only text, or where the kernel
 *    must refuse it (NULL, kernel and non-canonical addresses, the end of
 *    the address space): a guest or an ioctl can scribble on scratch and
 *    guest memory, never on the fuzzer's heap, stacks or data;
 *  - after start-up it maps nothing outside that range (malloc is kept
 *    off mmap), so an unmapped hole in it is not reused behind its back;
 *  - it reads and writes guest memory and kvm_run pages, which another
 *    thread may unmap at any time, only with the pool lock held and
 *    under a SIGSEGV/SIGBUS guard.
 *
 * One seed gives each worker one stream of decisions; with --threads 1
 * a run repeats itself up to timing (where a timer signal lands).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <okvm/emulator.h>
#include <okvm/kvm_exit_name.h>

#include "ioctl_fuzz.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif

/* Added after the 6.1 uapi headers this builds against. */
#ifndef KVM_SET_USER_MEMORY_REGION2
#define KVM_SET_USER_MEMORY_REGION2	_IOC(_IOC_WRITE, KVMIO, 0x49, 160)
#endif
#ifndef KVM_SET_MEMORY_ATTRIBUTES
#define KVM_SET_MEMORY_ATTRIBUTES	_IOC(_IOC_WRITE, KVMIO, 0xd2, 32)
#endif
#ifndef KVM_CREATE_GUEST_MEMFD
#define KVM_CREATE_GUEST_MEMFD		_IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0xd4, 64)
#endif
#ifndef KVM_PRE_FAULT_MEMORY
#define KVM_PRE_FAULT_MEMORY		_IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0xd5, 64)
#endif

#define MAX_THREADS	16
#define NR_FDS		64
#define NR_ZONES	48
#define ZONE_SIZE	(2UL << 20)
#define NR_VMS		8
#define VM_SLOTS	8
#define NR_ERRNO	134
#define NR_EXITS	64

/* Per thread: 2 scratch pages, a guard page, a read-only page. */
#define THREAD_AREA	(4 * PAGE_SIZE)
#define ARENA_HEAD	(2 * MiB)
#define ARENA_SIZE	(ARENA_HEAD + NR_ZONES * ZONE_SIZE + 2 * MiB)

/* The first address the kernel refuses as user memory (x86-64, 4 levels). */
#define USER_END	0x7ffffffff000ULL

#define DEFAULT_OPS	200000
#define DEFAULT_SECONDS	60
#define DEFAULT_THREADS	4

static struct {
	uint64_t seed;
	uint64_t max_ops;
	uint64_t max_ioctls;	/* 0: no bound */
	unsigned int seconds;
	unsigned int threads;
	bool ktap;
	bool trace;
	int tcg_safe;		/* -1: decide from CPUID */
	int bochs_safe;		/* -1: decide from the DMI tables */
	const char *dev;
} opt = {
	.tcg_safe = -1,
	.bochs_safe = -1,
	.max_ops = DEFAULT_OPS,
	.seconds = DEFAULT_SECONDS,
	.threads = DEFAULT_THREADS,
};

/* ------------------------------------------------------------------ */
/* What is counted: every ioctl number, and the other system calls.    */

struct ioctl_desc {
	const char *name;
	unsigned long nr;
};

#define IOCTL(x)	{ #x, x }

/* The ioctls okvm implements come first, in this order. */
enum {
	I_GET_API_VERSION,
	I_CHECK_EXTENSION,
	I_CREATE_VM,
	I_GET_VCPU_MMAP_SIZE,
	I_CREATE_VCPU,
	I_SET_USER_MEMORY_REGION,
	I_RUN,
	I_GET_REGS,
	I_SET_REGS,
	I_GET_SREGS,
	I_SET_SREGS,
	NR_OKVM_IOCTLS,
};

static const struct ioctl_desc ioctls[] = {
	IOCTL(KVM_GET_API_VERSION),
	IOCTL(KVM_CHECK_EXTENSION),
	IOCTL(KVM_CREATE_VM),
	IOCTL(KVM_GET_VCPU_MMAP_SIZE),
	IOCTL(KVM_CREATE_VCPU),
	IOCTL(KVM_SET_USER_MEMORY_REGION),
	IOCTL(KVM_RUN),
	IOCTL(KVM_GET_REGS),
	IOCTL(KVM_SET_REGS),
	IOCTL(KVM_GET_SREGS),
	IOCTL(KVM_SET_SREGS),
	/* Every other one of <linux/kvm.h> that builds on x86. */
	IOCTL(KVM_GET_MSR_INDEX_LIST),
	IOCTL(KVM_S390_ENABLE_SIE),
	IOCTL(KVM_GET_SUPPORTED_CPUID),
	IOCTL(KVM_GET_EMULATED_CPUID),
	IOCTL(KVM_GET_MSR_FEATURE_INDEX_LIST),
	IOCTL(KVM_SET_MEMORY_REGION),
	IOCTL(KVM_GET_DIRTY_LOG),
	IOCTL(KVM_SET_MEMORY_ALIAS),
	IOCTL(KVM_SET_NR_MMU_PAGES),
	IOCTL(KVM_GET_NR_MMU_PAGES),
	IOCTL(KVM_SET_TSS_ADDR),
	IOCTL(KVM_SET_IDENTITY_MAP_ADDR),
	IOCTL(KVM_S390_UCAS_MAP),
	IOCTL(KVM_S390_UCAS_UNMAP),
	IOCTL(KVM_S390_VCPU_FAULT),
	IOCTL(KVM_CREATE_IRQCHIP),
	IOCTL(KVM_IRQ_LINE),
	IOCTL(KVM_GET_IRQCHIP),
	IOCTL(KVM_SET_IRQCHIP),
	IOCTL(KVM_CREATE_PIT),
	IOCTL(KVM_GET_PIT),
	IOCTL(KVM_SET_PIT),
	IOCTL(KVM_IRQ_LINE_STATUS),
	IOCTL(KVM_ASSIGN_PCI_DEVICE),
	IOCTL(KVM_SET_GSI_ROUTING),
	IOCTL(KVM_ASSIGN_DEV_IRQ),
	IOCTL(KVM_REINJECT_CONTROL),
	IOCTL(KVM_DEASSIGN_PCI_DEVICE),
	IOCTL(KVM_ASSIGN_SET_MSIX_NR),
	IOCTL(KVM_ASSIGN_SET_MSIX_ENTRY),
	IOCTL(KVM_DEASSIGN_DEV_IRQ),
	IOCTL(KVM_IRQFD),
	IOCTL(KVM_CREATE_PIT2),
	IOCTL(KVM_SET_BOOT_CPU_ID),
	IOCTL(KVM_IOEVENTFD),
	IOCTL(KVM_XEN_HVM_CONFIG),
	IOCTL(KVM_SET_CLOCK),
	IOCTL(KVM_GET_CLOCK),
	IOCTL(KVM_GET_PIT2),
	IOCTL(KVM_SET_PIT2),
	IOCTL(KVM_PPC_GET_PVINFO),
	IOCTL(KVM_SET_TSC_KHZ),
	IOCTL(KVM_GET_TSC_KHZ),
	IOCTL(KVM_ASSIGN_SET_INTX_MASK),
	IOCTL(KVM_SIGNAL_MSI),
	IOCTL(KVM_PPC_GET_SMMU_INFO),
	IOCTL(KVM_PPC_ALLOCATE_HTAB),
	IOCTL(KVM_ARM_SET_DEVICE_ADDR),
	IOCTL(KVM_PPC_RESIZE_HPT_PREPARE),
	IOCTL(KVM_PPC_RESIZE_HPT_COMMIT),
	IOCTL(KVM_SET_PMU_EVENT_FILTER),
	IOCTL(KVM_PPC_SVM_OFF),
	IOCTL(KVM_CREATE_DEVICE),
	IOCTL(KVM_SET_DEVICE_ATTR),
	IOCTL(KVM_GET_DEVICE_ATTR),
	IOCTL(KVM_HAS_DEVICE_ATTR),
	IOCTL(KVM_TRANSLATE),
	IOCTL(KVM_INTERRUPT),
	IOCTL(KVM_GET_MSRS),
	IOCTL(KVM_SET_MSRS),
	IOCTL(KVM_SET_CPUID),
	IOCTL(KVM_SET_SIGNAL_MASK),
	IOCTL(KVM_GET_FPU),
	IOCTL(KVM_SET_FPU),
	IOCTL(KVM_GET_LAPIC),
	IOCTL(KVM_SET_LAPIC),
	IOCTL(KVM_SET_CPUID2),
	IOCTL(KVM_GET_CPUID2),
	IOCTL(KVM_TPR_ACCESS_REPORTING),
	IOCTL(KVM_SET_VAPIC_ADDR),
	IOCTL(KVM_S390_INTERRUPT),
	IOCTL(KVM_S390_STORE_STATUS),
	IOCTL(KVM_S390_SET_INITIAL_PSW),
	IOCTL(KVM_S390_INITIAL_RESET),
	IOCTL(KVM_GET_MP_STATE),
	IOCTL(KVM_SET_MP_STATE),
	IOCTL(KVM_NMI),
	IOCTL(KVM_SET_GUEST_DEBUG),
	IOCTL(KVM_X86_SETUP_MCE),
	IOCTL(KVM_X86_GET_MCE_CAP_SUPPORTED),
	IOCTL(KVM_X86_SET_MCE),
	IOCTL(KVM_GET_VCPU_EVENTS),
	IOCTL(KVM_SET_VCPU_EVENTS),
	IOCTL(KVM_GET_DEBUGREGS),
	IOCTL(KVM_SET_DEBUGREGS),
	IOCTL(KVM_ENABLE_CAP),
	IOCTL(KVM_GET_XSAVE),
	IOCTL(KVM_SET_XSAVE),
	IOCTL(KVM_GET_XCRS),
	IOCTL(KVM_SET_XCRS),
	IOCTL(KVM_DIRTY_TLB),
	IOCTL(KVM_GET_ONE_REG),
	IOCTL(KVM_SET_ONE_REG),
	IOCTL(KVM_KVMCLOCK_CTRL),
	IOCTL(KVM_GET_REG_LIST),
	IOCTL(KVM_S390_MEM_OP),
	IOCTL(KVM_S390_GET_SKEYS),
	IOCTL(KVM_S390_SET_SKEYS),
	IOCTL(KVM_S390_IRQ),
	IOCTL(KVM_S390_SET_IRQ_STATE),
	IOCTL(KVM_S390_GET_IRQ_STATE),
	IOCTL(KVM_SMI),
	IOCTL(KVM_S390_GET_CMMA_BITS),
	IOCTL(KVM_S390_SET_CMMA_BITS),
	IOCTL(KVM_MEMORY_ENCRYPT_OP),
	IOCTL(KVM_MEMORY_ENCRYPT_REG_REGION),
	IOCTL(KVM_MEMORY_ENCRYPT_UNREG_REGION),
	IOCTL(KVM_HYPERV_EVENTFD),
	IOCTL(KVM_GET_NESTED_STATE),
	IOCTL(KVM_SET_NESTED_STATE),
	IOCTL(KVM_CLEAR_DIRTY_LOG),
	IOCTL(KVM_GET_SUPPORTED_HV_CPUID),
	IOCTL(KVM_ARM_VCPU_FINALIZE),
	IOCTL(KVM_S390_NORMAL_RESET),
	IOCTL(KVM_S390_CLEAR_RESET),
	IOCTL(KVM_S390_PV_COMMAND),
	IOCTL(KVM_X86_SET_MSR_FILTER),
	IOCTL(KVM_RESET_DIRTY_RINGS),
	IOCTL(KVM_XEN_HVM_GET_ATTR),
	IOCTL(KVM_XEN_HVM_SET_ATTR),
	IOCTL(KVM_XEN_VCPU_GET_ATTR),
	IOCTL(KVM_XEN_VCPU_SET_ATTR),
	IOCTL(KVM_XEN_HVM_EVTCHN_SEND),
	IOCTL(KVM_GET_SREGS2),
	IOCTL(KVM_SET_SREGS2),
	IOCTL(KVM_GET_STATS_FD),
	IOCTL(KVM_GET_XSAVE2),
	IOCTL(KVM_S390_PV_CPU_COMMAND),
	IOCTL(KVM_S390_ZPCI_OP),
	IOCTL(KVM_SET_USER_MEMORY_REGION2),
	IOCTL(KVM_SET_MEMORY_ATTRIBUTES),
	IOCTL(KVM_CREATE_GUEST_MEMFD),
	IOCTL(KVM_PRE_FAULT_MEMORY),
};

#define NR_IOCTLS	(sizeof(ioctls) / sizeof(ioctls[0]))

/* Counters after the ioctls: everything else the fuzzer calls. */
enum {
	ST_RANDOM_IOCTL = NR_IOCTLS,	/* a random number */
	ST_MUTATED_IOCTL,		/* a KVM number with size or direction changed */
	ST_VFS_IOCTL,			/* FIONBIO and friends, on KVM fds */
	ST_OPEN,
	ST_CLOSE,
	ST_DUP,
	ST_MMAP_VCPU,
	ST_MMAP_MEM,
	ST_MUNMAP,
	ST_MPROTECT,
	ST_MADVISE,
	ST_MREMAP,
	ST_MEMFD,
	ST_FTRUNCATE,
	ST_FORK,
	ST_SETRLIMIT,
	ST_TOUCH,			/* a load or store to kvm_run or guest memory */
	NR_STATS,
};

static const char *const extra_names[] = {
	"random ioctl number", "mutated KVM ioctl number", "VFS ioctl",
	"open", "close", "dup", "mmap(vCPU fd)", "mmap(memory)", "munmap",
	"mprotect", "madvise", "mremap", "memfd_create", "ftruncate", "fork",
	"setrlimit(NOFILE)", "load/store",
};

static const char *stat_name(int st)
{
	return st < (int)NR_IOCTLS ? ioctls[st].name :
				     extra_names[st - NR_IOCTLS];
}

struct op_stat {
	uint64_t calls;
	uint64_t ok;
	uint32_t err[NR_ERRNO];	/* the last one counts larger errnos */
};

/* ------------------------------------------------------------------ */
/* The pool.                                                           */

enum fd_kind { FD_FREE, FD_SYS, FD_VM, FD_VCPU, FD_OTHER };

struct pool_fd {
	int fd;
	enum fd_kind kind;
	int vm;			/* index in vms[], or -1 */
	uint32_t vcpu_id;
};

enum zone_kind {
	Z_FREE,		/* a hole, or reserved PROT_NONE */
	Z_ANON,		/* private anonymous memory */
	Z_SHARED,	/* shared anonymous memory */
	Z_MEMFD,	/* a memfd, shared */
	Z_THP,		/* private anonymous, 2 MiB, MADV_HUGEPAGE */
	Z_RO,		/* read-only anonymous memory with random contents */
	Z_NONE,		/* PROT_NONE anonymous memory */
	Z_RUN,		/* a vCPU fd's mapping: kvm_run, PIO page */
	Z_BUSY,		/* one worker's alone for a while (op_vm_churn) */
	NR_ZONE_KINDS,
};

struct zone {
	enum zone_kind kind;
	size_t len;
	int prot;
	int memfd;		/* Z_MEMFD while open, else -1 */
	int vm;			/* Z_RUN: the vCPU's VM in vms[], or -1 */
	uint32_t vcpu_id;
};

struct slot_rec {
	bool used;
	uint32_t slot;
	uint64_t gpa;
	uint64_t size;
	uint64_t hva;
};

/* What the fuzzer knows of a VM, for structure-aware operations. */
struct vm_rec {
	bool used;
	struct slot_rec slots[VM_SLOTS];
	uint32_t next_vcpu_id;
	uint32_t nr_vcpus;	/* created through the pool */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_fd fds[NR_FDS];
static struct zone zones[NR_ZONES];
static struct vm_rec vms[NR_VMS];

static uint8_t *arena, *arena_end, *zone_base;
extern char __executable_start[], etext[];

struct worker {
	int idx;
	pthread_t thread;
	pid_t tid;
	struct rng rng;
	timer_t timer;
	uint8_t *scratch;	/* 2 pages, then a guard page */
	uint8_t *ro;		/* one read-only page */
	uint8_t *image;		/* guest_build() output, GUEST_SETUP_SIZE */
	volatile bool done;		/* left worker_main() */
	volatile uint64_t op_start;	/* ns, 0 outside a call */
	volatile uint64_t op_begin;	/* ns, when the current operation began */
	const char *volatile op_kind;	/* and its name */
	uint64_t stuck_reported;	/* the op_start last reported stuck */
	const char *volatile op_name;
	uint64_t ops;
	volatile uint64_t ioctls;	/* read by the main thread */
	uint64_t exits[NR_EXITS];
	struct op_stat stats[NR_STATS];
};

static struct worker workers[MAX_THREADS];
static pthread_barrier_t start_line;	/* workers and main: all created */
static uint64_t ops_started;	/* atomic */
static volatile int stop;
static struct timespec start_time;
static int children;		/* forked, not yet reaped; atomic */
static int unpooled;		/* workers holding fds outside the pool; atomic */
static int crashes;		/* children killed by a signal they should not get */
static struct kmsg kmsg;	/* the main thread's, for debug reports */
static unsigned int reports;	/* bad kernel log lines seen */
static unsigned int timeout_scale = 1;

/*
 * The guard of the access in progress, for fault_handler().  Volatile:
 * the compiler must not drop the store as dead before a memcpy() it
 * believes cannot fault.
 */
static __thread sigjmp_buf *volatile fault_jmp;

/* ------------------------------------------------------------------ */
/* Small helpers.                                                      */

static double elapsed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec - start_time.tv_sec +
	       (ts.tv_nsec - start_time.tv_nsec) / 1e9;
}

static const char *prefix(void)
{
	return opt.ktap ? "# " : "";
}

static void __attribute__((format(printf, 2, 3)))
trace(struct worker *w, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	if (!opt.trace)
		return;
	n = snprintf(buf, sizeof(buf), "%st%d: ", prefix(), w->idx);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line, so that threads do not interleave within one. */
	if (write(STDOUT_FILENO, buf, n) < 0)
		return;
}

static void record(struct worker *w, int st, int err)
{
	struct op_stat *s = &w->stats[st];

	s->calls++;
	if (st <= ST_VFS_IOCTL)
		w->ioctls++;
	if (!err)
		s->ok++;
	else
		s->err[err < NR_ERRNO ? err : NR_ERRNO - 1]++;
}

static void begin_call(struct worker *w, int st)
{
	w->op_name = stat_name(st);
	w->op_start = fuzz_now_ns();
}

static void end_call(struct worker *w, int st, long r)
{
	int err = errno;

	w->op_start = 0;
	record(w, st, r < 0 ? err : 0);
	errno = err;
}

static long do_ioctl(struct worker *w, int st, int fd, unsigned long nr,
		     unsigned long arg)
{
	long r;

	trace(w, "ioctl(%d, %s %#lx, %#lx)", fd, stat_name(st), nr, arg);
	begin_call(w, st);
	r = ioctl(fd, nr, arg);
	end_call(w, st, r);
	return r;
}

/* A system call other than ioctl: r < 0 (or MAP_FAILED) is errno's. */
static void count_sys(struct worker *w, int st, long r)
{
	end_call(w, st, r);
}

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
	ucontext_t *ctx = uc;
	char buf[160];
	int n;

	if (fault_jmp)
		siglongjmp(*fault_jmp, 1);
	/*
	 * A fault outside a guarded access is the fuzzer's own bug: say
	 * where, then die of it with the default action when the
	 * instruction runs again.
	 */
	n = snprintf(buf, sizeof(buf),
		     "ioctl_fuzz: BUG: signal %d at address %p, ip %#llx\n",
		     sig, si->si_addr,
		     (unsigned long long)ctx->uc_mcontext.gregs[REG_RIP]);
	if (write(STDERR_FILENO, buf, n) < 0)
		n = 0;
	signal(sig, SIG_DFL);
}

static void nop_handler(int sig)
{
}

/*
 * Copy to or from memory another thread may unmap, or that may raise
 * SIGBUS (a kvm_run mapping past its two pages, a truncated memfd).
 * Returns false if the access faulted.
 */
static bool guarded_copy(struct worker *w, void *dst, const void *src,
			 size_t len)
{
	sigjmp_buf jb;
	volatile bool ok = false;

	if (!sigsetjmp(jb, 1)) {
		fault_jmp = &jb;
		memcpy(dst, src, len);
		ok = true;
	}
	fault_jmp = NULL;
	begin_call(w, ST_TOUCH);
	errno = EFAULT;
	end_call(w, ST_TOUCH, ok ? 0 : -1);
	return ok;
}

static uint8_t *zone_addr(int z)
{
	return zone_base + (size_t)z * ZONE_SIZE;
}

static int zone_of(uint64_t hva)
{
	if (hva < (uint64_t)zone_base ||
	    hva >= (uint64_t)zone_base + NR_ZONES * ZONE_SIZE)
		return -1;
	return (hva - (uint64_t)zone_base) / ZONE_SIZE;
}

/* ------------------------------------------------------------------ */
/* Pool bookkeeping; all with pool_lock held.                          */

static bool vm_referenced(int vm)
{
	int i;

	for (i = 0; i < NR_FDS; i++)
		if (fds[i].kind != FD_FREE && fds[i].vm == vm)
			return true;
	for (i = 0; i < NR_ZONES; i++)
		if (zones[i].kind == Z_RUN && zones[i].vm == vm)
			return true;
	return false;
}

static void vm_maybe_forget(int vm)
{
	if (vm >= 0 && !vm_referenced(vm))
		vms[vm].used = false;
}

static int vm_alloc(void)
{
	int i;

	for (i = 0; i < NR_VMS; i++) {
		if (!vms[i].used) {
			memset(&vms[i], 0, sizeof(vms[i]));
			vms[i].used = true;
			return i;
		}
	}
	return -1;
}

static int pool_count(enum fd_kind kind)
{
	int i, n = 0;

	for (i = 0; i < NR_FDS; i++)
		n += fds[i].kind == kind;
	return n;
}

/* A random fd of one of the kinds in mask (1 << kind), or -1. */
static int pick_fd(struct worker *w, unsigned int mask)
{
	int i, n = 0, pick = -1;

	for (i = 0; i < NR_FDS; i++) {
		if (fds[i].kind == FD_FREE || !(mask & (1u << fds[i].kind)))
			continue;
		/* Reservoir sampling: each candidate equally likely. */
		if (rng_below(&w->rng, ++n) == 0)
			pick = i;
	}
	return pick;
}

#define ANY_FD	((1u << FD_SYS) | (1u << FD_VM) | (1u << FD_VCPU) | (1u << FD_OTHER))

/* Mostly the right kind, sometimes any kind at all. */
static int pick_fd_mostly(struct worker *w, enum fd_kind kind)
{
	int i = -1;

	if (!rng_chance(&w->rng, 1, 10))
		i = pick_fd(w, 1u << kind);
	if (i < 0)
		i = pick_fd(w, ANY_FD);
	return i;
}

static int pick_zone(struct worker *w, unsigned int mask)
{
	int i, n = 0, pick = -1;

	for (i = 0; i < NR_ZONES; i++) {
		if (!(mask & (1u << zones[i].kind)))
			continue;
		if (rng_below(&w->rng, ++n) == 0)
			pick = i;
	}
	return pick;
}

#define MAPPED_ZONES	(((1u << NR_ZONE_KINDS) - 1) & \
			 ~((1u << Z_FREE) | (1u << Z_BUSY)))
#define WRITABLE_ZONES	((1u << Z_ANON) | (1u << Z_SHARED) | (1u << Z_MEMFD) | \
			 (1u << Z_THP))

/* Take fd into the pool; closes it when the pool is full. */
static void adopt_fd(struct worker *w, int fd, enum fd_kind kind, int vm,
		     uint32_t vcpu_id)
{
	int i;

	if (fd < 0)
		return;
	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < NR_FDS; i++) {
		if (fds[i].kind == FD_FREE) {
			fds[i] = (struct pool_fd) {
				.fd = fd, .kind = kind, .vm = vm,
				.vcpu_id = vcpu_id,
			};
			pthread_mutex_unlock(&pool_lock);
			return;
		}
	}
	vm_maybe_forget(vm);
	pthread_mutex_unlock(&pool_lock);
	begin_call(w, ST_CLOSE);
	count_sys(w, ST_CLOSE, close(fd));
}

static bool pool_has_fd(int fd)
{
	int i;

	for (i = 0; i < NR_FDS; i++)
		if (fds[i].kind != FD_FREE && fds[i].fd == fd)
			return true;
	for (i = 0; i < NR_ZONES; i++)
		if (zones[i].kind == Z_MEMFD && zones[i].memfd == fd)
			return true;
	return false;
}

/* Make room before creating something, so the pool keeps churning. */
static void close_one_if_crowded(struct worker *w)
{
	int i, fd, vm;

	pthread_mutex_lock(&pool_lock);
	if (NR_FDS - pool_count(FD_FREE) < NR_FDS * 3 / 4) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	i = pick_fd(w, ANY_FD);
	fd = fds[i].fd;
	vm = fds[i].vm;
	fds[i].kind = FD_FREE;
	vm_maybe_forget(vm);
	pthread_mutex_unlock(&pool_lock);
	trace(w, "close(%d) (crowded)", fd);
	begin_call(w, ST_CLOSE);
	count_sys(w, ST_CLOSE, close(fd));
}

/* ------------------------------------------------------------------ */
/* Arguments.                                                          */

enum ptr_class {
	P_VALID,	/* scratch, at its start */
	P_VALID_END,	/* scratch, ending right at the guard page */
	P_STRADDLE,	/* half in scratch, half in the guard page */
	P_MISALIGNED,	/* scratch + 1..7 */
	P_NULL,
	P_LOW,		/* the first page */
	P_GUARD,	/* a PROT_NONE page */
	P_RO,		/* a read-only page */
	P_KERNEL,
	P_NONCANON,
	P_USER_END,	/* runs past the end of user space */
	P_ZONE,		/* guest memory, kvm_run, or a hole */
	NR_PTR_CLASSES,
};

static const uint64_t kernel_ptrs[] = {
	0xffff888000000000ULL, 0xffffffff81000000ULL, 0xffffffffff600000ULL,
	0xffffc90000000000ULL, 0xffffea0000000000ULL, 0xfffffe0000000000ULL,
	0xffffffffffffffffULL, 0xfffffffffffff000ULL,
};

static const uint64_t noncanon_ptrs[] = {
	0x0000800000000000ULL, 0x8000000000000000ULL, 0xdead000000000000ULL,
	0x00007fffffffffffULL + 1, 0x7fffffffffffffffULL,
	0x0001000000000000ULL,
};

/*
 * An argument pointer for a size-byte structure, and where its contents
 * should be written (NULL: the class has no writable place for them).
 * valid_bias: out of 8, how often a plain valid pointer is chosen.
 */
static uint64_t pick_ptr(struct worker *w, size_t size, int valid_bias,
			 uint8_t **payload)
{
	struct rng *r = &w->rng;
	uint8_t *p = NULL;
	uint64_t v;
	int cls = rng_chance(r, valid_bias, 8) ? P_VALID :
						 rng_below(r, NR_PTR_CLASSES);
	int z;

	if (size > 2 * PAGE_SIZE)
		size = 2 * PAGE_SIZE;
	switch (cls) {
	case P_VALID:
		p = w->scratch;
		break;
	case P_VALID_END:
		p = w->scratch + 2 * PAGE_SIZE - size;
		break;
	case P_STRADDLE:
		p = w->scratch + 2 * PAGE_SIZE - (size + 1) / 2;
		break;
	case P_MISALIGNED:
		p = w->scratch + 1 + rng_below(r, 7);
		break;
	case P_NULL:
		return 0;
	case P_LOW:
		return 1 + rng_below(r, PAGE_SIZE - 1);
	case P_GUARD:
		return (uint64_t)w->scratch + 2 * PAGE_SIZE +
		       rng_below(r, PAGE_SIZE);
	case P_RO:
		return (uint64_t)w->ro + rng_below(r, 2) * (PAGE_SIZE - size / 2);
	case P_KERNEL:
		v = kernel_ptrs[rng_below(r, sizeof(kernel_ptrs) / 8)];
		return v + (rng_chance(r, 1, 2) ? rng_below(r, 1 << 20) : 0);
	case P_NONCANON:
		return noncanon_ptrs[rng_below(r, sizeof(noncanon_ptrs) / 8)] -
		       rng_below(r, 2) * (size / 2);
	case P_USER_END:
		return USER_END - size / 2;
	default:
		/* Guest memory, kvm_run: whatever is there or not. */
		z = rng_below(r, NR_ZONES);
		return (uint64_t)zone_addr(z) + rng_below(r, 4) * PAGE_SIZE;
	}
	*payload = p;
	return (uint64_t)p;
}

/*
 * Write a structure to where pick_ptr() said, as far as scratch goes: a
 * payload straddling the guard page gets its first part only.
 */
static void put_payload(struct worker *w, uint8_t *p, const void *src,
			size_t size)
{
	size_t room = w->scratch + 2 * PAGE_SIZE - p;

	memcpy(p, src, size < room ? size : room);
}

/*
 * QEMU's TCG, which runs the test hosts, has bugs in its nested SVM that
 * kill the whole test host whatever the hypervisor, for guest states and
 * guests that are fine on hardware:
 *
 * - it aborts ("qemu: fatal: invalid tss type") when a nested guest
 *   takes an interrupt that needs a stack from the TSS while TR is not
 *   present or not of an "available" type (seg_helper.c:
 *   get_ss_esp_from_tss(), get_rsp_from_tss()): it caches TR without the
 *   busy bit, whereas VMLOAD brings in what the VMCB has, and both okvm
 *   and KVM report and take TR as busy;
 *
 * - at #VMEXIT it restores the host's CR0 before its CR4 and EFER, so
 *   with the guest's EFER.LME set and CR4.PAE clear, turning paging back
 *   on is silently refused: the host goes on with the guest's CR0, paging
 *   off, and its CPU hangs (an RCU stall, then nothing);
 *
 * - VMRUN and #VMEXIT load DR7 without updating QEMU's own breakpoint
 *   list, so a later write to a debug register segfaults QEMU in
 *   cpu_breakpoint_remove_by_ref() (okvm lets guests at their debug
 *   registers, KVM intercepts the first accesses);
 *
 * - long-mode guests hang a CPU now and then, with kvm_amd as with okvm;
 *   not narrowed down further.
 *
 * Under TCG every state the fuzzer sets keeps TR present and available,
 * and EFER.LME only together with CR0.PG and CR4.PAE; no guest writes a
 * debug register on purpose; and unless --guests says otherwise there
 * are no long-mode guests.  --no-tcg-safe shows the QEMU bugs.
 */
static void tcg_fix_sregs(struct kvm_sregs *s)
{
	if (opt.tcg_safe)
		fuzz_tcg_fix_sregs(s);
}

/*
 * The same in a kvm_sregs (or kvm_sregs2: the same start, up to
 * apic_base) being written at p, as far as scratch goes.
 */
static void tcg_fix_payload(struct worker *w, uint8_t *p)
{
	struct kvm_sregs s;
	size_t room = w->scratch + 2 * PAGE_SIZE - p;
	size_t end = offsetof(struct kvm_sregs, apic_base);

	if (!opt.tcg_safe || room < end)
		return;
	memcpy(&s, p, end);
	tcg_fix_sregs(&s);
	memcpy(p, &s, end);
}

/* Whether arg points at contents the fuzzer did not write (RO page, zones). */
static bool unknown_contents(struct worker *w, uint64_t arg)
{
	return (arg >= (uint64_t)w->ro && arg < (uint64_t)w->ro + PAGE_SIZE) ||
	       (arg >= (uint64_t)zone_base && arg < (uint64_t)arena_end);
}

/* Fill size bytes at p (from pick_ptr) with random bytes. */
static void random_payload(struct worker *w, uint8_t *p, size_t size)
{
	size_t room = w->scratch + 2 * PAGE_SIZE - p;

	rng_fill(&w->rng, p, size < room ? size : room);
	/*
	 * Sprinkle safe pointers at a few aligned places, for the structs
	 * that carry one: scratch, a zone, or one the kernel must refuse.
	 */
	if (size >= 16 && rng_chance(&w->rng, 1, 2)) {
		int i, n = 1 + rng_below(&w->rng, 3);

		for (i = 0; i < n; i++) {
			size_t off = rng_below(&w->rng, size / 8) * 8;
			uint64_t v;

			if (off + 8 > room)
				continue;
			switch (rng_below(&w->rng, 3)) {
			case 0:
				v = (uint64_t)w->scratch + rng_below(&w->rng, PAGE_SIZE);
				break;
			case 1:
				v = (uint64_t)zone_addr(rng_below(&w->rng, NR_ZONES));
				break;
			default:
				v = kernel_ptrs[rng_below(&w->rng, 8)];
				break;
			}
			memcpy(p + off, &v, 8);
		}
	}
	/* Small counts in the first words, where many structs keep them. */
	if (size >= 4 && rng_chance(&w->rng, 1, 3)) {
		uint32_t n = rng_below(&w->rng, 1 << rng_below(&w->rng, 16));

		put_payload(w, p, &n, 4);
	}
}

static void arm_timer(struct worker *w)
{
	/* Long enough for a few guest entries, short enough to keep going. */
	uint64_t first = (200 + rng_below(&w->rng, 10000)) * 1000ULL *
			 timeout_scale;
	struct itimerspec its = {
		.it_value = { first / 1000000000, first % 1000000000 },
		.it_interval = { 0, 5000000ULL * timeout_scale },
	};

	timer_settime(w->timer, 0, &its, NULL);
}

static void disarm_timer(struct worker *w)
{
	struct itimerspec its = { 0 };

	timer_settime(w->timer, 0, &its, NULL);
}

/* ------------------------------------------------------------------ */
/* Memory slots.                                                       */

/*
 * Whether a KVM_SET_USER_MEMORY_REGION the fuzzer is about to issue is
 * harmless to the fuzzer itself: the kernel refuses it on grounds okvm
 * and KVM share, or the whole range is guest-writable memory of the
 * fuzzer's (the arena) or read-only text.  Anything else could let a
 * guest write over the fuzzer's heap or stacks.
 */
static bool region_safe(const struct kvm_userspace_memory_region *m)
{
	uint64_t end = m->userspace_addr + m->memory_size;

	if (!m->memory_size)
		return true;
	if ((m->userspace_addr | m->memory_size | m->guest_phys_addr) &
	    (PAGE_SIZE - 1))
		return true;
	if (end < m->userspace_addr || end > USER_END)
		return true;
	if ((m->memory_size >> 12) > 0x7fffffffULL)
		return true;
	if (m->userspace_addr >= (uint64_t)arena && end <= (uint64_t)arena_end)
		return true;
	if (m->userspace_addr >= (uint64_t)__executable_start &&
	    end <= ((uint64_t)etext & ~(PAGE_SIZE - 1)))
		return true;
	return false;
}

static uint64_t pick_slot_size(struct rng *r)
{
	static const uint64_t sizes[] = {
		PAGE_SIZE, 2 * PAGE_SIZE, 0x10000, 0x40000, 2 * MiB, 4 * MiB,
		16 * MiB, 1ULL << 30, 1ULL << 32, 0x7fffffffULL << 12,
		0x80000000ULL << 12, 0xfffffffffffff000ULL,
	};

	switch (rng_below(r, 4)) {
	case 0:
		return sizes[rng_below(r, sizeof(sizes) / 8)];
	case 1:
		return rng_edge(r);
	default:
		return (1 + rng_below(r, 64)) * PAGE_SIZE;
	}
}

static uint64_t pick_gpa(struct rng *r, bool below_4g)
{
	static const uint64_t gpas[] = {
		0, 0x1000, 0xa0000, 0xf0000, 0x100000, 0xfee00000, 0xfec00000,
		0xffff0000, 0xfffff000, 0x100000000ULL, 0xfd00000000ULL,
		(1ULL << 40) - 0x10000, (1ULL << 46) - 0x10000,
		(1ULL << 47) - 0x10000, (1ULL << 48) - 0x10000, 1ULL << 48,
		(1ULL << 52) - 0x1000, 0xfffffffffffff000ULL,
	};
	uint64_t v;

	if (below_4g) {
		if (rng_chance(r, 1, 3))
			return gpas[rng_below(r, 8)];
		return rng_below(r, 0x100000000ULL - GUEST_SETUP_SIZE) &
		       ~(GUEST_SETUP_SIZE - 1);
	}
	switch (rng_below(r, 4)) {
	case 0:
		return gpas[rng_below(r, sizeof(gpas) / 8)];
	case 1:
		v = rng_edge(r);
		return rng_chance(r, 7, 8) ? v & ~(PAGE_SIZE - 1) : v;
	default:
		return rng_below(r, 1ULL << (20 + rng_below(r, 29))) &
		       ~(PAGE_SIZE - 1);
	}
}

static uint64_t pick_hva(struct worker *w, uint64_t size)
{
	struct rng *r = &w->rng;
	uint64_t v;

	switch (rng_below(r, 10)) {
	case 0:
		/* Read-only text. */
		v = (uint64_t)__executable_start +
		    rng_below(r, 16) * PAGE_SIZE;
		return v;
	case 1:
		return (uint64_t)w->scratch;
	case 2:
		return kernel_ptrs[rng_below(r, sizeof(kernel_ptrs) / 8)];
	case 3:
		return noncanon_ptrs[rng_below(r, sizeof(noncanon_ptrs) / 8)];
	case 4:
		return rng_chance(r, 1, 2) ? USER_END - size : rng_edge(r);
	default:
		v = (uint64_t)zone_addr(rng_below(r, NR_ZONES));
		if (rng_chance(r, 1, 4))
			v += rng_below(r, ZONE_SIZE / PAGE_SIZE) * PAGE_SIZE;
		if (rng_chance(r, 1, 32))
			v += 1 + rng_below(r, PAGE_SIZE - 1);
		return v;
	}
}

static void slot_recorded(int vm, const struct kvm_userspace_memory_region *m)
{
	struct slot_rec *s, *free_rec = NULL;
	int i;

	if (vm < 0 || !vms[vm].used)
		return;
	for (i = 0; i < VM_SLOTS; i++) {
		s = &vms[vm].slots[i];
		if (s->used && s->slot == m->slot) {
			if (!m->memory_size)
				s->used = false;
			else
				s->gpa = m->guest_phys_addr;
			return;
		}
		if (!s->used && !free_rec)
			free_rec = s;
	}
	if (!m->memory_size)
		return;
	if (!free_rec)
		free_rec = &vms[vm].slots[0];
	*free_rec = (struct slot_rec) {
		.used = true, .slot = m->slot, .gpa = m->guest_phys_addr,
		.size = m->memory_size, .hva = m->userspace_addr,
	};
}

static long set_region(struct worker *w, int fd, int vm,
		       struct kvm_userspace_memory_region *m, int valid_bias)
{
	uint8_t *payload = NULL;
	uint64_t arg;
	long r;

	if (!region_safe(m))
		return -1;
	arg = pick_ptr(w, sizeof(*m), valid_bias, &payload);
	if (payload)
		put_payload(w, payload, m, sizeof(*m));
	trace(w, "  region slot %#x flags %#x gpa %#llx size %#llx hva %#llx",
	      m->slot, m->flags, (unsigned long long)m->guest_phys_addr,
	      (unsigned long long)m->memory_size,
	      (unsigned long long)m->userspace_addr);
	r = do_ioctl(w, I_SET_USER_MEMORY_REGION, fd,
		     KVM_SET_USER_MEMORY_REGION, arg);
	if (r == 0 && payload == w->scratch) {
		pthread_mutex_lock(&pool_lock);
		slot_recorded(vm, m);
		pthread_mutex_unlock(&pool_lock);
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* Operations.                                                         */

static int open_dev(struct worker *w, int flags)
{
	int fd;

	trace(w, "open(%s, %#x)", opt.dev, flags);
	begin_call(w, ST_OPEN);
	fd = open(opt.dev, flags);
	count_sys(w, ST_OPEN, fd);
	return fd;
}

static void op_open(struct worker *w)
{
	static const int flags[] = {
		O_RDWR | O_CLOEXEC, O_RDWR, O_RDONLY | O_CLOEXEC,
		O_WRONLY | O_CLOEXEC, O_PATH | O_CLOEXEC,
		O_RDWR | O_NONBLOCK | O_CLOEXEC,
	};
	int f = rng_chance(&w->rng, 3, 4) ? flags[0] :
		flags[rng_below(&w->rng, 6)];
	int fd;

	close_one_if_crowded(w);
	if (rng_chance(&w->rng, 1, 8)) {
		/* Not a KVM fd at all. */
		trace(w, "open(/dev/null)");
		begin_call(w, ST_OPEN);
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		count_sys(w, ST_OPEN, fd);
		adopt_fd(w, fd, FD_OTHER, -1, 0);
		return;
	}
	fd = open_dev(w, f);
	adopt_fd(w, fd, (f & O_PATH) ? FD_OTHER : FD_SYS, -1, 0);
}

static void op_sys_ioctl(struct worker *w)
{
	struct rng *r = &w->rng;
	unsigned long arg = rng_chance(r, 3, 4) ? 0 : rng_edge(r);
	int i, fd, which = rng_below(r, 3);

	pthread_mutex_lock(&pool_lock);
	/* KVM_CHECK_EXTENSION is a VM ioctl too. */
	if (which == 2 && rng_chance(r, 1, 2))
		i = pick_fd_mostly(w, FD_VM);
	else
		i = pick_fd_mostly(w, FD_SYS);
	fd = i >= 0 ? fds[i].fd : -1;
	pthread_mutex_unlock(&pool_lock);
	if (fd < 0)
		return;

	switch (which) {
	case 0:
		do_ioctl(w, I_GET_API_VERSION, fd, KVM_GET_API_VERSION, arg);
		break;
	case 1:
		do_ioctl(w, I_GET_VCPU_MMAP_SIZE, fd, KVM_GET_VCPU_MMAP_SIZE,
			 arg);
		break;
	default:
		/* Every capability below 300, and a few far away. */
		arg = rng_chance(r, 3, 4) ? rng_below(r, 300) : rng_edge(r);
		do_ioctl(w, I_CHECK_EXTENSION, fd, KVM_CHECK_EXTENSION, arg);
		break;
	}
}

static void op_create_vm(struct worker *w)
{
	struct rng *r = &w->rng;
	unsigned long type = rng_chance(r, 7, 8) ? 0 : rng_edge(r);
	int i, fd, vm;

	close_one_if_crowded(w);
	pthread_mutex_lock(&pool_lock);
	i = pick_fd_mostly(w, FD_SYS);
	fd = i >= 0 ? fds[i].fd : -1;
	pthread_mutex_unlock(&pool_lock);
	if (fd < 0) {
		fd = open_dev(w, O_RDWR | O_CLOEXEC);
		adopt_fd(w, fd, FD_SYS, -1, 0);
		if (fd < 0)
			return;
	}
	fd = do_ioctl(w, I_CREATE_VM, fd, KVM_CREATE_VM, type);
	if (fd < 0)
		return;
	pthread_mutex_lock(&pool_lock);
	vm = vm_alloc();
	pthread_mutex_unlock(&pool_lock);
	adopt_fd(w, fd, FD_VM, vm, 0);
}

/*
 * A vCPU id: the next one, one in use, or one at an edge.  Past 64 vCPUs
 * a pool VM gets only ids that must fail, so that VMs stay small (a
 * kvm_amd vCPU costs tens of KiB); op_vcpu_flood goes to the limits.
 */
static unsigned long pick_vcpu_id(struct worker *w, int vm)
{
	static const unsigned long ids[] = {
		0, 1, 254, 255, 256, 1023, 1024, 4095, 4096, 4097, 16383,
		16384, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000UL,
		0x100000001UL, ~0UL,
	};
	struct rng *r = &w->rng;

	if (vm >= 0 && vms[vm].nr_vcpus >= 64)
		return rng_chance(r, 1, 2) ? rng_below(r, vms[vm].next_vcpu_id) :
					     16384 + rng_below(r, 1 << 20);
	switch (rng_below(r, 6)) {
	case 0:
		return ids[rng_below(r, sizeof(ids) / sizeof(ids[0]))];
	case 1:
		return rng_below(r, 4096);
	case 2:
		return rng_below(r, 8);
	default:
		return vm >= 0 ? vms[vm].next_vcpu_id++ : rng_below(r, 16);
	}
}

static int create_vcpu(struct worker *w, int fd, int vm, unsigned long id)
{
	int vfd;

	vfd = do_ioctl(w, I_CREATE_VCPU, fd, KVM_CREATE_VCPU, id);
	if (vfd >= 0 && vm >= 0) {
		pthread_mutex_lock(&pool_lock);
		if (vms[vm].used)
			vms[vm].nr_vcpus++;
		pthread_mutex_unlock(&pool_lock);
	}
	return vfd;
}

static void op_create_vcpu(struct worker *w)
{
	unsigned long id;
	int i, fd, vm;

	close_one_if_crowded(w);
	pthread_mutex_lock(&pool_lock);
	i = pick_fd_mostly(w, FD_VM);
	if (i < 0) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	fd = fds[i].fd;
	vm = fds[i].kind == FD_VM ? fds[i].vm : -1;
	id = pick_vcpu_id(w, vm);
	pthread_mutex_unlock(&pool_lock);

	fd = create_vcpu(w, fd, vm, id);
	adopt_fd(w, fd, FD_VCPU, vm, id);
}

/* Map something at zone z; with pool_lock held, z being Z_FREE. */
static void *map_zone(struct worker *w, int z, enum zone_kind kind, size_t len)
{
	uint8_t *addr = zone_addr(z);
	int memfd = -1, prot = PROT_READ | PROT_WRITE;
	int flags = MAP_FIXED | MAP_ANONYMOUS;
	void *p;

	switch (kind) {
	case Z_SHARED:
		flags |= MAP_SHARED;
		break;
	case Z_MEMFD:
		begin_call(w, ST_MEMFD);
		memfd = memfd_create("ioctl_fuzz", MFD_CLOEXEC);
		count_sys(w, ST_MEMFD, memfd);
		if (memfd < 0)
			return NULL;
		begin_call(w, ST_FTRUNCATE);
		count_sys(w, ST_FTRUNCATE, ftruncate(memfd, len));
		flags = MAP_FIXED | MAP_SHARED;
		break;
	case Z_NONE:
		prot = PROT_NONE;
		/* fall through */
	default:
		flags |= MAP_PRIVATE;
		break;
	}
	trace(w, "mmap(zone %d, %#zx, kind %d)", z, len, kind);
	begin_call(w, ST_MMAP_MEM);
	p = mmap(addr, len, prot, flags, memfd, 0);
	count_sys(w, ST_MMAP_MEM, p == MAP_FAILED ? -1 : 0);
	if (p == MAP_FAILED) {
		if (memfd >= 0)
			close(memfd);
		return NULL;
	}
	if (kind == Z_THP) {
		begin_call(w, ST_MADVISE);
		count_sys(w, ST_MADVISE, madvise(p, len, MADV_HUGEPAGE));
	}
	if (kind == Z_RO) {
		/* Random contents, then read-only: code a guest can only run. */
		rng_fill(&w->rng, p, len < 4 * PAGE_SIZE ? len : 4 * PAGE_SIZE);
		begin_call(w, ST_MPROTECT);
		count_sys(w, ST_MPROTECT, mprotect(p, len, PROT_READ));
		prot = PROT_READ;
	}
	/* Half the memfds stay open, for ftruncate under a guest. */
	if (memfd >= 0 && rng_chance(&w->rng, 1, 2)) {
		close(memfd);
		memfd = -1;
	}
	zones[z] = (struct zone) {
		.kind = kind, .len = len, .prot = prot, .memfd = memfd,
		.vm = -1,
	};
	return p;
}

static size_t pick_zone_len(struct rng *r)
{
	switch (rng_below(r, 5)) {
	case 0:
		return PAGE_SIZE;
	case 1:
		return ZONE_SIZE;
	case 2:
		return GUEST_SETUP_SIZE;
	default:
		return (1 + rng_below(r, ZONE_SIZE / PAGE_SIZE)) * PAGE_SIZE;
	}
}

static void op_map_memory(struct worker *w)
{
	struct rng *r = &w->rng;
	enum zone_kind kind = Z_ANON + rng_below(r, Z_RUN - Z_ANON);
	size_t len = kind == Z_THP ? ZONE_SIZE : pick_zone_len(r);
	int z;

	pthread_mutex_lock(&pool_lock);
	z = pick_zone(w, 1u << Z_FREE);
	if (z >= 0)
		map_zone(w, z, kind, len);
	pthread_mutex_unlock(&pool_lock);
}

/* Forget zone z (pool_lock held) after it was unmapped. */
static void zone_forget(int z)
{
	int vm = zones[z].kind == Z_RUN ? zones[z].vm : -1;

	if (zones[z].memfd >= 0)
		close(zones[z].memfd);
	zones[z] = (struct zone) { .kind = Z_FREE, .memfd = -1, .vm = -1 };
	vm_maybe_forget(vm);
}

static void op_unmap(struct worker *w)
{
	struct rng *r = &w->rng;
	uint8_t *addr;
	size_t len, off = 0;
	bool whole;
	int z;

	pthread_mutex_lock(&pool_lock);
	z = pick_zone(w, MAPPED_ZONES);
	if (z < 0) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	addr = zone_addr(z);
	len = zones[z].len;
	whole = rng_chance(r, 3, 4) || len <= PAGE_SIZE;
	if (!whole) {
		/* A page or a few out of the middle: the rest stays. */
		off = rng_below(r, len / PAGE_SIZE) * PAGE_SIZE;
		len = PAGE_SIZE * (1 + rng_below(r, (len - off) / PAGE_SIZE));
	}
	trace(w, "munmap(zone %d + %#zx, %#zx)", z, off, len);
	begin_call(w, ST_MUNMAP);
	count_sys(w, ST_MUNMAP, munmap(addr + off, len));
	if (whole) {
		zone_forget(z);
		/* Now a hole, or reserved again: both are "unmapped". */
		if (rng_chance(r, 1, 2))
			mmap(addr, ZONE_SIZE, PROT_NONE, MAP_PRIVATE |
			     MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
			     -1, 0);
	}
	pthread_mutex_unlock(&pool_lock);
}

static void op_mm_misc(struct worker *w)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_FREE, MADV_REMOVE, MADV_HUGEPAGE,
		MADV_NOHUGEPAGE, MADV_WIPEONFORK, MADV_DONTFORK, MADV_DOFORK,
		MADV_COLD, MADV_PAGEOUT, MADV_MERGEABLE, MADV_WILLNEED,
		MADV_POPULATE_READ, MADV_POPULATE_WRITE,
	};
	static const int prots[] = {
		PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
		PROT_READ | PROT_EXEC, PROT_WRITE,
	};
	struct rng *r = &w->rng;
	struct zone *zn;
	uint8_t *addr;
	size_t len;
	void *p;
	int z, prot;

	pthread_mutex_lock(&pool_lock);
	z = pick_zone(w, MAPPED_ZONES);
	if (z < 0)
		goto out;
	zn = &zones[z];
	addr = zone_addr(z);
	len = zn->len;
	switch (rng_below(r, 5)) {
	case 0:
		prot = prots[rng_below(r, 5)];
		trace(w, "mprotect(zone %d, %#x)", z, prot);
		begin_call(w, ST_MPROTECT);
		if (mprotect(addr, len, prot) == 0) {
			count_sys(w, ST_MPROTECT, 0);
			zn->prot = prot;
			if (zn->kind != Z_RUN && zn->kind != Z_MEMFD &&
			    zn->kind != Z_SHARED)
				zn->kind = (prot & PROT_WRITE) ? Z_ANON :
					   (prot ? Z_RO : Z_NONE);
		} else {
			count_sys(w, ST_MPROTECT, -1);
		}
		break;
	case 1:
		begin_call(w, ST_MADVISE);
		count_sys(w, ST_MADVISE,
			  madvise(addr, len, advice[rng_below(r, 14)]));
		break;
	case 2:
		if (zn->memfd < 0)
			break;
		/* Shrink or grow the file under the mapping (and a guest). */
		begin_call(w, ST_FTRUNCATE);
		count_sys(w, ST_FTRUNCATE,
			  ftruncate(zn->memfd, rng_below(r, len / PAGE_SIZE + 2) *
					       PAGE_SIZE));
		break;
	case 3:
		/* Grow or shrink in place, within the zone. */
		len = pick_zone_len(r);
		begin_call(w, ST_MREMAP);
		p = mremap(addr, zn->len, len, 0);
		count_sys(w, ST_MREMAP, p == MAP_FAILED ? -1 : 0);
		if (p != MAP_FAILED)
			zn->len = len;
		break;
	default:
		begin_call(w, ST_MADVISE);
		count_sys(w, ST_MADVISE, rng_chance(r, 1, 2) ?
			  mlock(addr, len) : munlock(addr, len));
		break;
	}
out:
	pthread_mutex_unlock(&pool_lock);
}

static void op_mmap_vcpu(struct worker *w)
{
	static const int prots[] = {
		PROT_READ | PROT_WRITE, PROT_READ, PROT_WRITE, PROT_NONE,
		PROT_READ | PROT_WRITE | PROT_EXEC,
	};
	struct rng *r = &w->rng;
	size_t len = rng_chance(r, 3, 4) ? 2 * PAGE_SIZE :
		     (1 + rng_below(r, rng_chance(r, 1, 2) ? 4 : 512)) * PAGE_SIZE;
	off_t off = rng_chance(r, 3, 4) ? 0 : rng_below(r, 4) * PAGE_SIZE;
	int prot = rng_chance(r, 3, 4) ? prots[0] : prots[rng_below(r, 5)];
	int flags = MAP_FIXED | (rng_chance(r, 7, 8) ? MAP_SHARED : MAP_PRIVATE);
	int i, z, fd, vm;
	uint32_t id;
	void *p;

	if (rng_chance(r, 1, 8))
		flags |= MAP_POPULATE;
	if (rng_chance(r, 1, 32))
		off = rng_edge(r) & ~(PAGE_SIZE - 1);
	pthread_mutex_lock(&pool_lock);
	i = pick_fd_mostly(w, FD_VCPU);
	z = pick_zone(w, 1u << Z_FREE);
	if (i < 0 || z < 0)
		goto out;
	fd = fds[i].fd;
	vm = fds[i].kind == FD_VCPU ? fds[i].vm : -1;
	id = fds[i].vcpu_id;
	trace(w, "mmap(zone %d, %#zx, prot %#x, flags %#x, fd %d, off %#llx)",
	      z, len, prot, flags, fd, (unsigned long long)off);
	begin_call(w, ST_MMAP_VCPU);
	p = mmap(zone_addr(z), len, prot, flags, fd, off);
	count_sys(w, ST_MMAP_VCPU, p == MAP_FAILED ? -1 : 0);
	if (p != MAP_FAILED)
		zones[z] = (struct zone) {
			.kind = Z_RUN, .len = len, .prot = prot, .memfd = -1,
			.vm = off == 0 ? vm : -1, .vcpu_id = id,
		};
out:
	pthread_mutex_unlock(&pool_lock);
}

/* Loads and stores to kvm_run and guest memory, past their ends too. */
static void op_touch(struct worker *w)
{
	struct rng *r = &w->rng;
	uint8_t buf[64];
	uint8_t *addr;
	size_t off, len;
	int z;

	pthread_mutex_lock(&pool_lock);
	z = rng_chance(r, 3, 4) ? pick_zone(w, 1u << Z_RUN) : -1;
	if (z < 0)
		z = pick_zone(w, MAPPED_ZONES);
	if (z < 0)
		goto out;
	addr = zone_addr(z);
	len = zones[z].len;
	/* Mostly within, sometimes a page or two past the end. */
	off = rng_below(r, len + (rng_chance(r, 1, 8) ? 2 * PAGE_SIZE : 0));
	if (off + sizeof(buf) > ZONE_SIZE)
		off = ZONE_SIZE - sizeof(buf);
	if (zones[z].kind == Z_RUN && rng_chance(r, 1, 2)) {
		/* The fields KVM_RUN reads: immediate_exit, cr8, sync regs. */
		static const size_t fields[] = {
			offsetof(struct kvm_run, request_interrupt_window),
			offsetof(struct kvm_run, immediate_exit),
			offsetof(struct kvm_run, cr8),
			offsetof(struct kvm_run, kvm_valid_regs),
			offsetof(struct kvm_run, kvm_dirty_regs),
			offsetof(struct kvm_run, exit_reason),
			PAGE_SIZE,
		};
		uint64_t v = rng_chance(r, 1, 2) ? rng_below(r, 2) : rng_edge(r);

		off = fields[rng_below(r, 7)];
		guarded_copy(w, addr + off, &v, rng_chance(r, 1, 2) ? 1 : 8);
		goto out;
	}
	if (rng_chance(r, 1, 2)) {
		guarded_copy(w, buf, addr + off, 1 + rng_below(r, sizeof(buf)));
	} else {
		rng_fill(r, buf, sizeof(buf));
		guarded_copy(w, addr + off, buf, 1 + rng_below(r, sizeof(buf)));
	}
out:
	pthread_mutex_unlock(&pool_lock);
}

static void op_memslot(struct worker *w)
{
	static const uint32_t slot_ids[] = {
		0, 1, 31, 32, 509, 510, 511, 512, 32763, 32764, 32765, 32767,
		0xffff, 0x10000, 0x10001, 0x1ffff, 0x20000, 0x7fffffff,
		0x80000000, 0xffffffff,
	};
	static const uint32_t flag_set[] = { 1, 2, 3, 4, 8, 0x80000000, ~0u };
	struct rng *r = &w->rng;
	struct kvm_userspace_memory_region m = { 0 };
	struct slot_rec *s = NULL;
	int i, fd, vm, z;

	pthread_mutex_lock(&pool_lock);
	i = pick_fd_mostly(w, FD_VM);
	if (i < 0) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	fd = fds[i].fd;
	vm = fds[i].kind == FD_VM ? fds[i].vm : -1;
	if (vm >= 0 && rng_chance(r, 1, 2)) {
		s = &vms[vm].slots[rng_below(r, VM_SLOTS)];
		if (!s->used)
			s = NULL;
	}
	if (s) {
		/* Change a known slot: move, delete, resize, set again. */
		m.slot = s->slot;
		m.guest_phys_addr = s->gpa;
		m.memory_size = s->size;
		m.userspace_addr = s->hva;
		switch (rng_below(r, 5)) {
		case 0:
			m.memory_size = 0;
			break;
		case 1:
		case 2:
			m.guest_phys_addr = pick_gpa(r, rng_chance(r, 1, 2));
			break;
		case 3:
			m.memory_size = pick_slot_size(r);
			break;
		default:
			break;
		}
	} else {
		m.slot = rng_chance(r, 3, 4) ? rng_below(r, 16) :
			 slot_ids[rng_below(r, sizeof(slot_ids) / 4)];
		m.memory_size = pick_slot_size(r);
		m.guest_phys_addr = pick_gpa(r, rng_chance(r, 1, 2));
		m.userspace_addr = pick_hva(w, m.memory_size);
	}
	/* Keep arena-backed slots inside the arena: see region_safe(). */
	z = zone_of(m.userspace_addr);
	if (z >= 0 && rng_chance(r, 3, 4) && zones[z].len &&
	    m.memory_size > zones[z].len)
		m.memory_size = zones[z].len;
	if (!region_safe(&m))
		m.memory_size = (uint64_t)arena_end - m.userspace_addr;
	if (!region_safe(&m))
		m.memory_size = PAGE_SIZE;
	if (rng_chance(r, 1, 16))
		m.flags = flag_set[rng_below(r, 7)];
	if (rng_chance(r, 1, 32))
		m.slot |= rng_chance(r, 1, 2) ? 0x10000 : rng_next(r) << 16;
	pthread_mutex_unlock(&pool_lock);
	set_region(w, fd, vm, &m, 7);
}

/* Guest memory in vm that a guest can be built in, or NULL. */
static uint8_t *guest_memory(int vm, uint64_t *gpa)
{
	int i, z;

	for (i = 0; i < VM_SLOTS; i++) {
		struct slot_rec *s = &vms[vm].slots[i];

		if (!s->used || s->size < GUEST_SETUP_SIZE)
			continue;
		z = zone_of(s->hva);
		if (z < 0 || !((1u << zones[z].kind) & WRITABLE_ZONES) ||
		    !(zones[z].prot & PROT_WRITE) ||
		    s->hva - (uint64_t)zone_addr(z) + GUEST_SETUP_SIZE > zones[z].len)
			continue;
		*gpa = s->gpa;
		return (uint8_t *)s->hva;
	}
	return NULL;
}

/*
 * Give vm fresh memory for a guest: a zone of anonymous memory and a
 * memslot over it.  Returns false if it did not work out.
 */
static bool add_guest_memory(struct worker *w, int vm_fd, int vm)
{
	struct rng *r = &w->rng;
	struct kvm_userspace_memory_region m = { 0 };
	enum zone_kind kind;
	size_t len;
	uint8_t *p;
	int z;

	switch (rng_below(r, 6)) {
	case 0:
		kind = Z_THP;
		len = ZONE_SIZE;
		break;
	case 1:
		kind = Z_MEMFD;
		len = GUEST_SETUP_SIZE * (1 + rng_below(r, 4));
		break;
	case 2:
		kind = Z_SHARED;
		len = GUEST_SETUP_SIZE;
		break;
	default:
		kind = Z_ANON;
		len = GUEST_SETUP_SIZE * (1 + rng_below(r, 2));
		break;
	}
	pthread_mutex_lock(&pool_lock);
	z = pick_zone(w, 1u << Z_FREE);
	p = z >= 0 ? map_zone(w, z, kind, len) : NULL;
	m.slot = rng_below(r, 32);
	pthread_mutex_unlock(&pool_lock);
	if (!p)
		return false;
	m.memory_size = len;
	m.userspace_addr = (uint64_t)p;
	m.guest_phys_addr = pick_gpa(r, rng_chance(r, 7, 8));
	m.guest_phys_addr &= ~(GUEST_SETUP_SIZE - 1);
	return set_region(w, vm_fd, vm, &m, 8) == 0;
}

/* The kvm_run mapping of (vm, id), with pool_lock held, or NULL. */
static uint8_t *run_page(int vm, uint32_t id, size_t *len)
{
	int z;

	for (z = 0; z < NR_ZONES; z++) {
		if (zones[z].kind == Z_RUN && zones[z].vm == vm && vm >= 0 &&
		    zones[z].vcpu_id == id && (zones[z].prot & PROT_READ) &&
		    (zones[z].prot & PROT_WRITE)) {
			*len = zones[z].len;
			return zone_addr(z);
		}
	}
	return NULL;
}

/*
 * Under TCG, after a FAIL_ENTRY: QEMU fails some of VMRUN's checks (CR0.NW
 * without CD, say, which QEMU lets a guest's MOV CR0 set) before it reads
 * the VMCB's int_ctl, and its #VMEXIT then writes int_ctl 0 into the
 * VMCB.  Without V_INTR_MASKING, the vCPU's next guest with RFLAGS.IF
 * clear keeps the host CPU until an NMI: the timer's signal cannot stop
 * KVM_RUN, and the test host logs an RCU stall (guest_fuzz's README,
 * guest_repro_failentry_state.c).  So the pool lets go of every fd of the
 * VM (of the vCPU, if the VM is unknown), and no KVM_RUN reaches that
 * vCPU again but one already on its way.
 */
static void retire_after_fail_entry(struct worker *w, int fd, int vm)
{
	int list[NR_FDS], n = 0, i;

	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < NR_FDS; i++) {
		if (fds[i].kind == FD_FREE ||
		    !(vm >= 0 ? fds[i].vm == vm : fds[i].fd == fd))
			continue;
		list[n++] = fds[i].fd;
		fds[i].kind = FD_FREE;
	}
	vm_maybe_forget(vm);
	pthread_mutex_unlock(&pool_lock);
	for (i = 0; i < n; i++) {
		trace(w, "close(%d) (after FAIL_ENTRY)", list[i]);
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(list[i]));
	}
}

/*
 * Under Bochs (--bochs-safe) no KVM_RUN enters a guest: Bochs keeps the
 * host's interrupts from a VMX guest with RFLAGS.IF clear
 * (tools/include/okvm/emulator.h), so the timer signal that bounds
 * KVM_RUN would never come for a guest that spins with IF clear, and
 * the test host's only CPU would stay in it.  A KVM_RUN with
 * immediate_exit is no way out either: another thread may clear the
 * flag in between.  Everything else, vCPU setup included, goes on.
 */
static bool run_allowed(void)
{
	return !opt.bochs_safe;
}

/* KVM_RUN on fd, the vCPU (vm, id) as far as the pool knows, bounded. */
static void run_vcpu(struct worker *w, int fd, int vm, uint32_t id)
{
	bool failed_entry = false;

	struct rng *r = &w->rng;
	unsigned long arg = rng_chance(r, 31, 32) ? 0 : rng_edge(r);
	struct kvm_run run;
	uint8_t *page;
	size_t len = 0;
	long ret;

	if (!run_allowed())
		return;
	pthread_mutex_lock(&pool_lock);
	page = run_page(vm, id, &len);
	if (page && rng_chance(r, 1, 4)) {
		/* Inputs KVM_RUN reads: mostly sane, sometimes not. */
		uint8_t b = rng_chance(r, 1, 4);
		uint64_t v = rng_chance(r, 3, 4) ? rng_below(r, 16) : rng_edge(r);
		uint64_t regs = rng_chance(r, 7, 8) ? 0 : rng_next(r);

		guarded_copy(w, page + offsetof(struct kvm_run, immediate_exit),
			     &b, 1);
		if (rng_chance(r, 1, 2))
			guarded_copy(w, page + offsetof(struct kvm_run, cr8), &v, 8);
		if (rng_chance(r, 1, 4)) {
			guarded_copy(w, page + offsetof(struct kvm_run, kvm_valid_regs),
				     &regs, 8);
			guarded_copy(w, page + offsetof(struct kvm_run, kvm_dirty_regs),
				     &regs, 8);
		}
	}
	pthread_mutex_unlock(&pool_lock);

	arm_timer(w);
	ret = do_ioctl(w, I_RUN, fd, KVM_RUN, arg);
	disarm_timer(w);

	pthread_mutex_lock(&pool_lock);
	page = run_page(vm, id, &len);
	if (page && guarded_copy(w, &run, page, sizeof(run))) {
		if (ret == 0 || errno == EINTR)
			w->exits[run.exit_reason < NR_EXITS ? run.exit_reason :
							      NR_EXITS - 1]++;
		failed_entry = ret == 0 &&
			       run.exit_reason == KVM_EXIT_FAIL_ENTRY;
		/* Answer an IN with random bytes, as a device would. */
		if (ret == 0 && run.exit_reason == KVM_EXIT_IO &&
		    run.io.direction == KVM_EXIT_IO_IN && len >= 2 * PAGE_SIZE) {
			uint64_t v = rng_next(r);

			guarded_copy(w, page + PAGE_SIZE, &v, 8);
		}
		if (run.immediate_exit && rng_chance(r, 3, 4)) {
			uint8_t zero = 0;

			guarded_copy(w, page + offsetof(struct kvm_run,
							immediate_exit),
				     &zero, 1);
		}
	}
	pthread_mutex_unlock(&pool_lock);
	if (failed_entry && opt.tcg_safe)
		retire_after_fail_entry(w, fd, vm);
}

/*
 * The structure-aware path: pick a vCPU, make sure its VM has memory,
 * write a guest program there and point the vCPU at it with SET_SREGS
 * and SET_REGS; a later KVM_RUN runs it.
 */
static void op_setup_guest(struct worker *w)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	const char *name;
	uint8_t *mem;
	uint64_t gpa;
	int i, z, fd, vm, vm_fd = -1;
	uint32_t id;
	size_t len;
	void *p;

	pthread_mutex_lock(&pool_lock);
	i = pick_fd(w, 1u << FD_VCPU);
	if (i < 0 || fds[i].vm < 0) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	fd = fds[i].fd;
	vm = fds[i].vm;
	id = fds[i].vcpu_id;
	mem = guest_memory(vm, &gpa);
	if (!mem) {
		for (i = 0; i < NR_FDS; i++)
			if (fds[i].kind == FD_VM && fds[i].vm == vm)
				vm_fd = fds[i].fd;
	}
	pthread_mutex_unlock(&pool_lock);
	if (!mem) {
		if (vm_fd >= 0)
			add_guest_memory(w, vm_fd, vm);
		return;
	}

	memset(&sregs, 0, sizeof(sregs));
	if (do_ioctl(w, I_GET_SREGS, fd, KVM_GET_SREGS,
		     (uint64_t)w->scratch) == 0)
		memcpy(&sregs, w->scratch, sizeof(sregs));
	memset(w->image, 0, GUEST_SETUP_SIZE);
	name = guest_build(&w->rng, w->image, gpa, &sregs, &regs);
	if (!name)
		return;
	tcg_fix_sregs(&sregs);
	trace(w, "guest %s at gpa %#llx, rip %#llx, cr0 %#llx efer %#llx", name,
	      (unsigned long long)gpa, (unsigned long long)regs.rip,
	      (unsigned long long)sregs.cr0, (unsigned long long)sregs.efer);

	/* The memory may have gone meanwhile: look again, under the lock. */
	pthread_mutex_lock(&pool_lock);
	if (guest_memory(vm, &gpa) == mem)
		guarded_copy(w, mem, w->image, GUEST_SETUP_SIZE);
	pthread_mutex_unlock(&pool_lock);

	memcpy(w->scratch, &sregs, sizeof(sregs));
	do_ioctl(w, I_SET_SREGS, fd, KVM_SET_SREGS, (uint64_t)w->scratch);
	memcpy(w->scratch, &regs, sizeof(regs));
	do_ioctl(w, I_SET_REGS, fd, KVM_SET_REGS, (uint64_t)w->scratch);

	/* kvm_run mapped, so that runs can look at the exits. */
	pthread_mutex_lock(&pool_lock);
	if (!run_page(vm, id, &len)) {
		z = pick_zone(w, 1u << Z_FREE);
		if (z >= 0) {
			begin_call(w, ST_MMAP_VCPU);
			p = mmap(zone_addr(z), 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, fd, 0);
			count_sys(w, ST_MMAP_VCPU, p == MAP_FAILED ? -1 : 0);
			if (p != MAP_FAILED)
				zones[z] = (struct zone) {
					.kind = Z_RUN, .len = 2 * PAGE_SIZE,
					.prot = PROT_READ | PROT_WRITE,
					.memfd = -1, .vm = vm, .vcpu_id = id,
				};
		}
	}
	pthread_mutex_unlock(&pool_lock);
	if (rng_chance(&w->rng, 1, 2))
		run_vcpu(w, fd, vm, id);
}

static void op_run(struct worker *w)
{
	int i, n = 0, pick = -1, fd, vm;
	size_t len;
	uint32_t id;

	pthread_mutex_lock(&pool_lock);
	/* Mostly a vCPU whose kvm_run is mapped: one that may have a guest. */
	if (rng_chance(&w->rng, 3, 4)) {
		for (i = 0; i < NR_FDS; i++) {
			if (fds[i].kind != FD_VCPU ||
			    !run_page(fds[i].vm, fds[i].vcpu_id, &len))
				continue;
			if (rng_below(&w->rng, ++n) == 0)
				pick = i;
		}
	}
	if (pick < 0)
		pick = pick_fd_mostly(w, FD_VCPU);
	if (pick < 0) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	fd = fds[pick].fd;
	vm = fds[pick].kind == FD_VCPU ? fds[pick].vm : -1;
	id = fds[pick].vcpu_id;
	pthread_mutex_unlock(&pool_lock);
	run_vcpu(w, fd, vm, id);
}

static void op_regs(struct worker *w)
{
	struct rng *r = &w->rng;
	struct kvm_regs regs;
	uint8_t *payload = NULL;
	uint64_t arg;
	int i, fd;

	pthread_mutex_lock(&pool_lock);
	i = pick_fd_mostly(w, FD_VCPU);
	fd = i >= 0 ? fds[i].fd : -1;
	pthread_mutex_unlock(&pool_lock);
	if (fd < 0)
		return;

	arg = pick_ptr(w, sizeof(regs), 5, &payload);
	if (rng_chance(r, 1, 2)) {
		do_ioctl(w, I_GET_REGS, fd, KVM_GET_REGS, arg);
		return;
	}
	if (!payload)
		goto set;
	/* From the vCPU's registers, changed a little, or random. */
	if (rng_chance(r, 3, 4) &&
	    do_ioctl(w, I_GET_REGS, fd, KVM_GET_REGS,
		     (uint64_t)w->scratch) == 0) {
		memcpy(&regs, w->scratch, sizeof(regs));
		for (i = 1 + rng_below(r, 3); i > 0; i--)
			guest_mutate_regs(r, &regs);
	} else {
		rng_fill(r, &regs, sizeof(regs));
	}
	put_payload(w, payload, &regs, sizeof(regs));
set:
	do_ioctl(w, I_SET_REGS, fd, KVM_SET_REGS, arg);
}

static void op_sregs(struct worker *w)
{
	struct rng *r = &w->rng;
	struct kvm_sregs sregs;
	uint8_t *payload = NULL;
	uint64_t arg;
	int i, fd;

	pthread_mutex_lock(&pool_lock);
	i = pick_fd_mostly(w, FD_VCPU);
	fd = i >= 0 ? fds[i].fd : -1;
	pthread_mutex_unlock(&pool_lock);
	if (fd < 0)
		return;

	arg = pick_ptr(w, sizeof(sregs), 5, &payload);
	if (rng_chance(r, 1, 2)) {
		do_ioctl(w, I_GET_SREGS, fd, KVM_GET_SREGS, arg);
		return;
	}
	if (!payload)
		goto set;
	if (rng_chance(r, 7, 8) &&
	    do_ioctl(w, I_GET_SREGS, fd, KVM_GET_SREGS,
		     (uint64_t)w->scratch) == 0) {
		memcpy(&sregs, w->scratch, sizeof(sregs));
		for (i = 1 + rng_below(r, 4); i > 0; i--)
			guest_mutate_sregs(r, &sregs);
	} else {
		rng_fill(r, &sregs, sizeof(sregs));
	}
	tcg_fix_sregs(&sregs);
	put_payload(w, payload, &sregs, sizeof(sregs));
set:
	if (opt.tcg_safe && !payload && unknown_contents(w, arg))
		arg = 0;
	do_ioctl(w, I_SET_SREGS, fd, KVM_SET_SREGS, arg);
}

/* Where KVM takes an ioctl, guessed from its number. */
static enum fd_kind ioctl_kind(unsigned long nr)
{
	unsigned int n = _IOC_NR(nr);

	if (n < 0x40)
		return FD_SYS;
	if (n < 0x80 || n >= 0xe0 || nr == KVM_CREATE_DEVICE)
		return FD_VM;
	return FD_VCPU;
}

/*
 * Another KVM ioctl, with a random payload.  The real KVM implements
 * these, so a few are steered: the memslot ones through region_safe(),
 * KVM_SET_SIGNAL_MASK never blocks the timer signal, and every fd they
 * return goes to the pool.
 */
static void op_other_ioctl(struct worker *w)
{
	struct rng *r = &w->rng;
	int d = NR_OKVM_IOCTLS + rng_below(r, NR_IOCTLS - NR_OKVM_IOCTLS);
	unsigned long nr = ioctls[d].nr, arg;
	size_t size = _IOC_SIZE(nr);
	uint8_t *payload = NULL;
	int i, fd;
	long ret;

	/* Now and then one of okvm's own, with a random payload. */
	if (rng_chance(r, 1, 8)) {
		d = rng_below(r, NR_OKVM_IOCTLS);
		if (d == I_RUN || d == I_SET_USER_MEMORY_REGION ||
		    d == I_CREATE_VM || d == I_CREATE_VCPU)
			d = I_SET_SREGS;
		nr = ioctls[d].nr;
		size = _IOC_SIZE(nr);
	}

	pthread_mutex_lock(&pool_lock);
	i = rng_chance(r, 3, 4) ? pick_fd(w, 1u << ioctl_kind(nr)) : -1;
	if (i < 0)
		i = pick_fd(w, ANY_FD);
	fd = i >= 0 ? fds[i].fd : -1;
	pthread_mutex_unlock(&pool_lock);
	if (fd < 0)
		return;

	if (nr == KVM_SET_USER_MEMORY_REGION2) {
		struct kvm_userspace_memory_region m;

		arg = pick_ptr(w, size, 7, &payload);
		if (payload) {
			random_payload(w, payload, size);
			/* Straddling: the kernel reads no more than scratch has. */
			memset(&m, 0, sizeof(m));
			memcpy(&m, payload, w->scratch + 2 * PAGE_SIZE - payload <
					    (long)sizeof(m) ?
					    (size_t)(w->scratch + 2 * PAGE_SIZE - payload) :
					    sizeof(m));
			if (!region_safe(&m)) {
				m.userspace_addr = (uint64_t)zone_addr(rng_below(r, NR_ZONES));
				m.memory_size = PAGE_SIZE;
				put_payload(w, payload, &m, sizeof(m));
			}
		} else if (arg == (uint64_t)w->ro ||
			   (arg >= (uint64_t)zone_base && arg < (uint64_t)arena_end)) {
			/* Contents the fuzzer cannot vouch for. */
			arg = 0;
		}
		do_ioctl(w, d, fd, nr, arg);
		return;
	}
	if (nr == KVM_SET_MEMORY_REGION) {
		/* Long gone from KVM, but it carried no user address anyway. */
		arg = pick_ptr(w, size, 6, &payload);
		if (payload)
			random_payload(w, payload, size);
		do_ioctl(w, d, fd, nr, arg);
		return;
	}
	if (nr == KVM_SET_SIGNAL_MASK) {
		struct { uint32_t len; uint8_t set[8]; } sm;
		uint64_t set = rng_next(r);

		set &= ~((1ULL << (SIGUSR1 - 1)) | (1ULL << (SIGUSR2 - 1)) |
			 (1ULL << (SIGSEGV - 1)) | (1ULL << (SIGBUS - 1)));
		sm.len = rng_chance(r, 3, 4) ? 8 : rng_edge(r);
		memcpy(sm.set, &set, 8);
		arg = pick_ptr(w, sizeof(sm), 6, &payload);
		if (payload)
			put_payload(w, payload, &sm, sizeof(sm));
		else if (arg == (uint64_t)w->ro ||
			 (arg >= (uint64_t)zone_base && arg < (uint64_t)arena_end))
			arg = 0;
		do_ioctl(w, d, fd, nr, arg);
		return;
	}

	if (size == 0) {
		/* _IO: the argument is a value. */
		arg = rng_chance(r, 1, 2) ? 0 : rng_edge(r);
	} else {
		arg = pick_ptr(w, size, 6, &payload);
		if (payload)
			random_payload(w, payload, size);
	}
	if (nr == KVM_SET_SREGS || nr == KVM_SET_SREGS2) {
		if (payload)
			tcg_fix_payload(w, payload);
		else if (opt.tcg_safe && unknown_contents(w, arg))
			arg = 0;
	}
	ret = do_ioctl(w, d, fd, nr, arg);
	if (ret < 0)
		return;

	/* Those that return a new fd: keep it in the pool. */
	if (nr == KVM_GET_STATS_FD || nr == KVM_CREATE_GUEST_MEMFD) {
		adopt_fd(w, ret, FD_OTHER, -1, 0);
	} else if (nr == KVM_CREATE_DEVICE && payload == w->scratch) {
		struct kvm_create_device *cd = (void *)payload;

		pthread_mutex_lock(&pool_lock);
		i = pool_has_fd(cd->fd);
		pthread_mutex_unlock(&pool_lock);
		if (!(cd->flags & KVM_CREATE_DEVICE_TEST) && !i && cd->fd > 2)
			adopt_fd(w, cd->fd, FD_OTHER, -1, 0);
	}
}

static void op_random_ioctl(struct worker *w)
{
	static const unsigned long vfs[] = {
		FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX, FIONREAD, FIOQSIZE,
		FIGETBSZ, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, TCGETS, FIFREEZE,
		FITHAW, FS_IOC_FIEMAP,
	};
	struct rng *r = &w->rng;
	unsigned long nr, arg;
	uint8_t *payload = NULL;
	int st, i, fd;

	switch (rng_below(r, 4)) {
	case 0:
		nr = (uint32_t)rng_next(r);
		st = ST_RANDOM_IOCTL;
		break;
	case 1:
		/* KVMIO, any number, direction and size. */
		nr = _IOC(rng_below(r, 4), KVMIO, rng_below(r, 256),
			  rng_below(r, 1 << rng_below(r, 14)));
		st = ST_RANDOM_IOCTL;
		break;
	case 2:
		/* An okvm ioctl with its size or direction bits changed. */
		nr = ioctls[rng_below(r, NR_OKVM_IOCTLS)].nr;
		if (rng_chance(r, 1, 2))
			nr ^= (uint64_t)rng_below(r, 4) << _IOC_DIRSHIFT;
		else
			nr ^= (uint64_t)(1 + rng_below(r, 0x3fff)) << _IOC_SIZESHIFT;
		st = ST_MUTATED_IOCTL;
		break;
	default:
		nr = vfs[rng_below(r, sizeof(vfs) / sizeof(vfs[0]))];
		/* FIFREEZE on the fs of /dev: not the fuzzer's business. */
		if (nr == FIFREEZE)
			nr = FIONBIO;
		st = ST_VFS_IOCTL;
		break;
	}
	/* Never KVM_RUN, unbounded, by accident. */
	if (nr == KVM_RUN)
		nr ^= 1;

	pthread_mutex_lock(&pool_lock);
	i = pick_fd(w, ANY_FD);
	fd = i >= 0 ? fds[i].fd : -1;
	pthread_mutex_unlock(&pool_lock);
	if (fd < 0)
		return;
	arg = pick_ptr(w, _IOC_SIZE(nr) ? _IOC_SIZE(nr) : 64, 5, &payload);
	if (payload)
		random_payload(w, payload, _IOC_SIZE(nr) ? _IOC_SIZE(nr) : 64);
	else if (rng_chance(r, 1, 4))
		arg = rng_edge(r);
	/* A random number could be a KVM ioctl that maps memory: see region_safe(). */
	if (_IOC_TYPE(nr) == KVMIO && (_IOC_NR(nr) == 0x46 || _IOC_NR(nr) == 0x49 ||
				       _IOC_NR(nr) == 0x8b)) {
		static const uint8_t zero[32];

		if (payload)
			put_payload(w, payload, zero, sizeof(zero));
		else
			arg = 0;
	}
	do_ioctl(w, st, fd, nr, arg);
}

static void op_close(struct worker *w)
{
	struct rng *r = &w->rng;
	int list[NR_FDS], n = 0, i, vm;

	pthread_mutex_lock(&pool_lock);
	i = pick_fd(w, ANY_FD);
	if (i < 0) {
		pthread_mutex_unlock(&pool_lock);
		return;
	}
	vm = fds[i].vm;
	if (vm >= 0 && rng_chance(r, 1, 4)) {
		/* Every fd of one VM, so that it goes while others use it. */
		for (i = 0; i < NR_FDS; i++) {
			if (fds[i].kind != FD_FREE && fds[i].vm == vm) {
				list[n++] = fds[i].fd;
				fds[i].kind = FD_FREE;
			}
		}
	} else {
		list[n++] = fds[i].fd;
		fds[i].kind = FD_FREE;
	}
	vm_maybe_forget(vm);
	pthread_mutex_unlock(&pool_lock);
	for (i = 0; i < n; i++) {
		trace(w, "close(%d)", list[i]);
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(list[i]));
	}
}

static void op_dup(struct worker *w)
{
	struct pool_fd f;
	int i, fd;

	close_one_if_crowded(w);
	pthread_mutex_lock(&pool_lock);
	i = pick_fd(w, ANY_FD);
	if (i >= 0)
		f = fds[i];
	pthread_mutex_unlock(&pool_lock);
	if (i < 0)
		return;
	begin_call(w, ST_DUP);
	fd = fcntl(f.fd, F_DUPFD_CLOEXEC, 3);
	count_sys(w, ST_DUP, fd);
	adopt_fd(w, fd, f.kind, f.vm, f.vcpu_id);
}

/* immediate_exit from another thread, and a signal to some worker. */
static void op_poke(struct worker *w)
{
	struct rng *r = &w->rng;
	uint8_t one = 1;
	int z, t;

	pthread_mutex_lock(&pool_lock);
	z = pick_zone(w, 1u << Z_RUN);
	if (z >= 0 && rng_chance(r, 1, 2))
		guarded_copy(w, zone_addr(z) + offsetof(struct kvm_run,
							immediate_exit),
			     &one, 1);
	pthread_mutex_unlock(&pool_lock);
	/* Main joins no worker before all are done: the handle stays valid. */
	t = rng_below(r, opt.threads);
	if (t != w->idx && !workers[t].done)
		pthread_kill(workers[t].thread, SIGUSR2);
}

/*
 * A child shares the fds and mappings but not the address space: every
 * VM and vCPU ioctl must fail with EIO.  It may also hold the last
 * reference when it exits, so that a VM dies in another process's exit.
 * The child takes no lock (another thread may hold it) and prints
 * nothing.
 */
static void op_fork(struct worker *w)
{
	struct rng *r = &w->rng;
	int list[8], n = 0, i;
	uint8_t *run = NULL;
	pid_t pid;

	if (__atomic_load_n(&children, __ATOMIC_RELAXED) >= 4)
		return;
	pthread_mutex_lock(&pool_lock);
	for (i = 0; i < 8; i++) {
		int j = pick_fd(w, ANY_FD);

		if (j >= 0)
			list[n++] = fds[j].fd;
	}
	i = pick_zone(w, 1u << Z_RUN);
	if (i >= 0)
		run = zone_addr(i);
	pthread_mutex_unlock(&pool_lock);

	trace(w, "fork");
	begin_call(w, ST_FORK);
	pid = fork();
	count_sys(w, ST_FORK, pid);
	if (pid < 0)
		return;
	if (pid > 0) {
		__atomic_add_fetch(&children, 1, __ATOMIC_RELAXED);
		return;
	}
	/* The child. */
	opt.trace = false;
	for (i = 0; i < 16; i++) {
		int fd = n ? list[rng_below(r, n)] : -1;
		struct kvm_userspace_memory_region m = {
			.slot = 0, .memory_size = PAGE_SIZE,
			.userspace_addr = (uint64_t)zone_base,
		};

		switch (rng_below(r, 6)) {
		case 0:
			ioctl(fd, KVM_RUN, 0);
			break;
		case 1:
			ioctl(fd, KVM_GET_REGS, w->scratch);
			break;
		case 2:
			memcpy(w->scratch, &m, sizeof(m));
			ioctl(fd, KVM_SET_USER_MEMORY_REGION, w->scratch);
			break;
		case 3:
			ioctl(fd, KVM_CREATE_VCPU, rng_below(r, 8));
			break;
		case 4:
			if (run) {
				sigjmp_buf jb;

				if (!sigsetjmp(jb, 1)) {
					fault_jmp = &jb;
					run[offsetof(struct kvm_run, immediate_exit)] ^= 1;
				}
				fault_jmp = NULL;
			}
			break;
		default:
			close(fd);
			break;
		}
	}
	/* Let the parent close its copies first, now and then. */
	if (rng_chance(r, 1, 2))
		usleep(rng_below(r, 50000));
	_exit(0);
}

/* Creations when no fd is left: the error paths after allocation. */
static void op_rlimit(struct worker *w)
{
	struct rng *r = &w->rng;
	struct rlimit old, low;
	int i, fd, kfd = -1, vfd = -1, vm = -1, n;

	pthread_mutex_lock(&pool_lock);
	i = pick_fd(w, 1u << FD_VM);
	if (i >= 0) {
		vfd = fds[i].fd;
		vm = fds[i].vm;
	}
	i = pick_fd(w, 1u << FD_SYS);
	if (i >= 0)
		kfd = fds[i].fd;
	pthread_mutex_unlock(&pool_lock);

	/* The lowest free fd: with the limit there, none can be had. */
	n = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (n < 0)
		return;
	close(n);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = n;
	trace(w, "setrlimit(NOFILE, %d)", n);
	begin_call(w, ST_SETRLIMIT);
	count_sys(w, ST_SETRLIMIT, setrlimit(RLIMIT_NOFILE, &low));
	if (vfd >= 0) {
		fd = create_vcpu(w, vfd, vm, pick_vcpu_id(w, -1));
		if (fd >= 0)
			adopt_fd(w, fd, FD_VCPU, vm, 0);
	}
	if (kfd >= 0) {
		fd = do_ioctl(w, I_CREATE_VM, kfd, KVM_CREATE_VM, 0);
		if (fd >= 0)
			adopt_fd(w, fd, FD_VM, -1, 0);
	}
	if (rng_chance(r, 1, 2)) {
		fd = open_dev(w, O_RDWR | O_CLOEXEC);
		adopt_fd(w, fd, FD_SYS, -1, 0);
	}
	setrlimit(RLIMIT_NOFILE, &old);
}

/*
 * A VM of its own filled with vCPUs, their fds closed at once, up to the
 * 1024-vCPU limit now and then, then run one and close the VM.  One
 * flood at a time: a thousand kvm_amd vCPUs are tens of MiB.
 */
static void op_vcpu_flood(struct worker *w)
{
	static int flooding;
	struct rng *r = &w->rng;
	unsigned long id, n;
	int kfd, vmfd, vfd, last = -1;

	if (__atomic_exchange_n(&flooding, 1, __ATOMIC_ACQUIRE))
		return;
	__atomic_add_fetch(&unpooled, 1, __ATOMIC_RELAXED);
	kfd = open_dev(w, O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		goto out;
	vmfd = do_ioctl(w, I_CREATE_VM, kfd, KVM_CREATE_VM, 0);
	close(kfd);
	if (vmfd < 0)
		goto out;
	n = rng_chance(r, 1, 4) ? 1030 : 8 + rng_below(r, 120);
	for (id = 0; id < n; id++) {
		/* Sparse ids now and then, up to the last one allowed. */
		unsigned long vid = rng_chance(r, 1, 8) ?
				    rng_below(r, 4096) : id;

		if (id + 1 == n)
			vid = rng_chance(r, 1, 2) ? 4095 : 4096;
		vfd = create_vcpu(w, vmfd, -1, vid);
		if (vfd < 0)
			continue;
		if (last >= 0) {
			begin_call(w, ST_CLOSE);
			count_sys(w, ST_CLOSE, close(last));
		}
		last = vfd;
	}
	if (last >= 0 && run_allowed()) {
		arm_timer(w);
		do_ioctl(w, I_RUN, last, KVM_RUN, 0);
		disarm_timer(w);
	}
	if (last >= 0) {
		if (rng_chance(r, 1, 2)) {
			begin_call(w, ST_CLOSE);
			count_sys(w, ST_CLOSE, close(last));
			last = -1;
		}
	}
	begin_call(w, ST_CLOSE);
	count_sys(w, ST_CLOSE, close(vmfd));
	if (last >= 0) {
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(last));
	}
out:
	__atomic_sub_fetch(&unpooled, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&flooding, 0, __ATOMIC_RELEASE);
}

/*
 * A whole VM lifetime in one go, kept out of the pool: create, add a
 * vCPU and memory, map kvm_run, build and run a guest, then close and
 * unmap in a random order.  With several threads this also races the
 * first VM's switching AMD-V on with the last one's switching it off.
 */
static void op_vm_churn(struct worker *w)
{
	struct rng *r = &w->rng;
	struct kvm_userspace_memory_region m = { .slot = 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int kfd, vmfd = -1, vcpu = -1, z = -1, step;
	uint8_t *mem = NULL;
	uint64_t gpa = pick_gpa(r, true);
	void *p;

	__atomic_add_fetch(&unpooled, 1, __ATOMIC_RELAXED);
	kfd = open_dev(w, O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		goto out;
	vmfd = do_ioctl(w, I_CREATE_VM, kfd, KVM_CREATE_VM, 0);
	if (rng_chance(r, 1, 2)) {
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(kfd));
		kfd = -1;
	}
	if (vmfd < 0)
		goto out;
	vcpu = create_vcpu(w, vmfd, -1, rng_below(r, 4));
	if (vcpu < 0)
		goto out;

	pthread_mutex_lock(&pool_lock);
	z = pick_zone(w, 1u << Z_FREE);
	if (z >= 0) {
		mem = map_zone(w, z, Z_ANON, GUEST_SETUP_SIZE);
		/* Keep the zone out of other workers' hands while it is ours. */
		if (mem)
			zones[z].kind = Z_BUSY;
	}
	pthread_mutex_unlock(&pool_lock);
	if (!mem)
		goto out;
	m.memory_size = GUEST_SETUP_SIZE;
	m.userspace_addr = (uint64_t)mem;
	m.guest_phys_addr = gpa;
	set_region(w, vmfd, -1, &m, 8);

	/* kvm_run in the second half of the zone, for the munmap below. */
	if (rng_chance(r, 1, 2)) {
		begin_call(w, ST_MMAP_VCPU);
		p = mmap(mem + ZONE_SIZE / 2, 2 * PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, vcpu, 0);
		count_sys(w, ST_MMAP_VCPU, p == MAP_FAILED ? -1 : 0);
	}

	memset(&sregs, 0, sizeof(sregs));
	if (do_ioctl(w, I_GET_SREGS, vcpu, KVM_GET_SREGS,
		     (uint64_t)w->scratch) == 0)
		memcpy(&sregs, w->scratch, sizeof(sregs));
	memset(w->image, 0, GUEST_SETUP_SIZE);
	if (!guest_build(r, w->image, gpa, &sregs, &regs))
		goto out;
	tcg_fix_sregs(&sregs);
	pthread_mutex_lock(&pool_lock);
	guarded_copy(w, mem, w->image, GUEST_SETUP_SIZE);
	pthread_mutex_unlock(&pool_lock);
	memcpy(w->scratch, &sregs, sizeof(sregs));
	do_ioctl(w, I_SET_SREGS, vcpu, KVM_SET_SREGS, (uint64_t)w->scratch);
	memcpy(w->scratch, &regs, sizeof(regs));
	do_ioctl(w, I_SET_REGS, vcpu, KVM_SET_REGS, (uint64_t)w->scratch);
	for (step = rng_below(r, 4); step >= 0 && run_allowed(); step--) {
		arm_timer(w);
		do_ioctl(w, I_RUN, vcpu, KVM_RUN, 0);
		disarm_timer(w);
	}
out:
	/* Tear down in a random order: memory first, or the fds. */
	if (mem && rng_chance(r, 1, 2)) {
		begin_call(w, ST_MUNMAP);
		count_sys(w, ST_MUNMAP, munmap(mem, ZONE_SIZE));
		pthread_mutex_lock(&pool_lock);
		zone_forget(z);
		pthread_mutex_unlock(&pool_lock);
		mem = NULL;
	}
	if (vcpu >= 0 && rng_chance(r, 1, 2)) {
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(vcpu));
		vcpu = -1;
	}
	if (vmfd >= 0) {
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(vmfd));
	}
	if (vcpu >= 0) {
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(vcpu));
	}
	if (kfd >= 0) {
		begin_call(w, ST_CLOSE);
		count_sys(w, ST_CLOSE, close(kfd));
	}
	if (mem) {
		begin_call(w, ST_MUNMAP);
		count_sys(w, ST_MUNMAP, munmap(mem, ZONE_SIZE));
		pthread_mutex_lock(&pool_lock);
		zone_forget(z);
		pthread_mutex_unlock(&pool_lock);
	}
	__atomic_sub_fetch(&unpooled, 1, __ATOMIC_RELAXED);
}

struct op {
	const char *name;
	void (*fn)(struct worker *w);
	unsigned int weight;	/* tenths */
};

static struct op ops[] = {
	{ "open", op_open, 20 },
	{ "sys-ioctl", op_sys_ioctl, 50 },
	{ "create-vm", op_create_vm, 30 },
	{ "create-vcpu", op_create_vcpu, 50 },
	{ "memslot", op_memslot, 100 },
	{ "map-memory", op_map_memory, 50 },
	{ "unmap", op_unmap, 30 },
	{ "mm-misc", op_mm_misc, 30 },
	{ "mmap-vcpu", op_mmap_vcpu, 40 },
	{ "touch", op_touch, 30 },
	{ "setup-guest", op_setup_guest, 80 },
	{ "run", op_run, 160 },
	{ "regs", op_regs, 50 },
	{ "sregs", op_sregs, 60 },
	{ "other-ioctl", op_other_ioctl, 80 },
	{ "random-ioctl", op_random_ioctl, 40 },
	{ "close", op_close, 30 },
	{ "dup", op_dup, 10 },
	{ "poke", op_poke, 20 },
	{ "fork", op_fork, 3 },
	{ "rlimit", op_rlimit, 2 },
	{ "vcpu-flood", op_vcpu_flood, 1 },
	{ "vm-churn", op_vm_churn, 10 },
};

#define NR_OPS	(sizeof(ops) / sizeof(ops[0]))

/* --skip: give these operations weight 0.  Returns -1 on an unknown one. */
static int skip_ops(const char *list)
{
	char buf[512], *tok, *save;
	unsigned int i;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NR_OPS; i++)
			if (!strcmp(tok, ops[i].name))
				break;
		if (i == NR_OPS)
			return -1;
		ops[i].weight = 0;
	}
	return 0;
}

static const struct op *pick_op(struct rng *r)
{
	static unsigned int total;
	unsigned int i, v;

	if (!total)
		for (i = 0; i < NR_OPS; i++)
			total += ops[i].weight;
	v = rng_below(r, total);
	for (i = 0; i < NR_OPS; i++) {
		if (v < ops[i].weight)
			return &ops[i];
		v -= ops[i].weight;
	}
	return &ops[0];
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sigevent sev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = SIGUSR1,
	};

	w->tid = gettid();
	sev._sigev_un._tid = w->tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &w->timer)) {
		perror("timer_create");
		exit(1);
	}
	/* op_poke() signals other workers: let them all exist first. */
	pthread_barrier_wait(&start_line);
	while (!stop) {
		const struct op *op;

		if (__atomic_fetch_add(&ops_started, 1, __ATOMIC_RELAXED) >=
		    opt.max_ops)
			break;
		op = pick_op(&w->rng);
		trace(w, "op %" PRIu64 ": %s", w->ops, op->name);
		w->op_kind = op->name;
		w->op_begin = fuzz_now_ns();
		op->fn(w);
		w->op_begin = 0;
		w->ops++;
	}
	timer_delete(w->timer);
	/* One worker out of operations: the others stop too. */
	stop = 1;
	w->done = true;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The main thread: fds nobody knows, children, the clock, the report.  */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/*
 * Random ioctls on the real KVM can create fds the fuzzer does not know
 * of (devices, stats).  Close those seen on two sweeps in a row: by then
 * no worker is still about to take them into the pool.
 */
static void sweep_fds(void)
{
	static uint8_t seen[1024], now[1024];
	static char buf[4096];
	int dfd, n, fd;

	if (__atomic_load_n(&unpooled, __ATOMIC_RELAXED)) {
		memset(seen, 0, sizeof(seen));
		return;
	}
	dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	memset(now, 0, sizeof(now));
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		int off;

		for (off = 0; off < n;) {
			struct linux_dirent64 *d = (void *)(buf + off);

			off += d->d_reclen;
			fd = atoi(d->d_name);
			if (d->d_name[0] < '0' || d->d_name[0] > '9' ||
			    fd <= 2 || fd == dfd || fd == kmsg.fd ||
			    fd >= 1024)
				continue;
			now[fd] = 1;
		}
	}
	close(dfd);
	pthread_mutex_lock(&pool_lock);
	for (fd = 3; fd < 1024; fd++) {
		if (!now[fd] || pool_has_fd(fd)) {
			now[fd] = 0;
			continue;
		}
		if (seen[fd]) {
			close(fd);
			now[fd] = 0;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	memcpy(seen, now, sizeof(seen));
}

static void reap(bool block)
{
	int status;
	pid_t pid;

	while (__atomic_load_n(&children, __ATOMIC_RELAXED) > 0) {
		pid = waitpid(-1, &status, block ? 0 : WNOHANG);
		if (pid <= 0) {
			if (pid < 0 && errno == EINTR)
				continue;
			if (pid < 0 && errno == ECHILD)
				__atomic_store_n(&children, 0, __ATOMIC_RELAXED);
			return;
		}
		__atomic_sub_fetch(&children, 1, __ATOMIC_RELAXED);
		if (WIFSIGNALED(status)) {
			crashes++;
			printf("%sioctl_fuzz: child %d killed by signal %d\n",
			       prefix(), pid, WTERMSIG(status));
		}
	}
}

/* A worker stuck in one call this long (seconds, times the scale) is reported. */
#define STUCK_SECONDS	30

static bool check_stuck(void)
{
	bool stuck = false;
	unsigned int i;

	for (i = 0; i < opt.threads; i++) {
		uint64_t t = workers[i].op_start;
		/* The clock after the start, or the call may seem to predate it. */
		uint64_t now = fuzz_now_ns();

		uint64_t b = workers[i].op_begin;

		/* A whole operation this long is stuck too, in or out of a call. */
		if (!(t && now > t) && b && now > b &&
		    now - b > 2 * STUCK_SECONDS * 1000000000ULL * timeout_scale) {
			stuck = true;
			if (workers[i].stuck_reported == b)
				continue;
			workers[i].stuck_reported = b;
			printf("%sioctl_fuzz: thread %u stuck in operation %s for %" PRIu64 " s\n",
			       prefix(), i, workers[i].op_kind,
			       (uint64_t)((now - b) / 1000000000ULL));
			continue;
		}
		if (t && now > t &&
		    now - t > STUCK_SECONDS * 1000000000ULL * timeout_scale) {
			stuck = true;
			if (workers[i].stuck_reported == t)
				continue;
			workers[i].stuck_reported = t;
			printf("%sioctl_fuzz: thread %u stuck in %s for %" PRIu64 " s\n",
			       prefix(), i, workers[i].op_name,
			       (uint64_t)((now - t) / 1000000000ULL));
		}
	}
	return stuck;
}

static const char *errno_name(int e)
{
	const char *s;

	if (e == NR_ERRNO - 1)
		return "other";
	s = strerrorname_np(e);
	return s ? s : "?";
}

static uint64_t ioctls_made(void)
{
	uint64_t n = 0;
	unsigned int t;

	for (t = 0; t < opt.threads; t++)
		n += workers[t].ioctls;
	return n;
}

/*
 * New kernel log lines: a debug report (parse.awk's kind of line, and
 * lockups) is a finding of this run, printed the first 60 times.
 */
static void check_kmsg(void)
{
	const char *msg;
	bool bad;

	while ((msg = kmsg_next(&kmsg, &bad))) {
		if (bad && ++reports <= 60)
			printf("%sioctl_fuzz: kernel log: %s\n", prefix(), msg);
	}
}

/*
 * Prints the counts per call and exit; sets the system calls made
 * (loads and stores are not) and how many of them were ioctls.
 */
static void report(double secs, uint64_t total_ops, uint64_t *syscalls,
		   uint64_t *ioctl_calls)
{
	static struct op_stat sum[NR_STATS];
	uint64_t exits[NR_EXITS] = { 0 }, calls = 0;
	unsigned int t, st, e;
	char line[1024];
	int n;

	for (t = 0; t < opt.threads; t++) {
		for (st = 0; st < NR_STATS; st++) {
			sum[st].calls += workers[t].stats[st].calls;
			sum[st].ok += workers[t].stats[st].ok;
			for (e = 0; e < NR_ERRNO; e++)
				sum[st].err[e] += workers[t].stats[st].err[e];
		}
		for (e = 0; e < NR_EXITS; e++)
			exits[e] += workers[t].exits[e];
	}
	printf("%sioctl_fuzz: calls, successes and errnos per ioctl and system call:\n",
	       prefix());
	for (st = 0; st < NR_STATS; st++) {
		if (!sum[st].calls)
			continue;
		calls += sum[st].calls;
		if (st <= ST_VFS_IOCTL)
			*ioctl_calls += sum[st].calls;
		if (st != ST_TOUCH)
			*syscalls += sum[st].calls;
		n = snprintf(line, sizeof(line), "%s  %-32s %8" PRIu64 " ok %" PRIu64,
			     prefix(), stat_name(st), sum[st].calls, sum[st].ok);
		for (e = 1; e < NR_ERRNO && n < (int)sizeof(line) - 32; e++)
			if (sum[st].err[e])
				n += snprintf(line + n, sizeof(line) - n, " %s %u",
					      errno_name(e), sum[st].err[e]);
		puts(line);
	}
	n = snprintf(line, sizeof(line), "%sioctl_fuzz: KVM_RUN exit reasons:",
		     prefix());
	for (e = 0; e < NR_EXITS && n < (int)sizeof(line) - 40; e++) {
		if (!exits[e])
			continue;
		if (kvm_exit_name(e))
			n += snprintf(line + n, sizeof(line) - n, " %s %" PRIu64,
				      kvm_exit_name(e), exits[e]);
		else
			n += snprintf(line + n, sizeof(line) - n, " %u %" PRIu64,
				      e, exits[e]);
	}
	puts(line);
	printf("%sioctl_fuzz: %" PRIu64 " calls in %.1f s, %.0f ops/s, %.0f calls/s\n",
	       prefix(), calls, secs, total_ops / (secs > 0 ? secs : 1),
	       calls / (secs > 0 ? secs : 1));
}

static void teardown(bool tidy)
{
	int i;

	pthread_mutex_lock(&pool_lock);
	for (i = 0; tidy && i < NR_FDS; i++) {
		if (fds[i].kind != FD_FREE)
			close(fds[i].fd);
		fds[i].kind = FD_FREE;
	}
	for (i = 0; tidy && i < NR_ZONES; i++) {
		if (zones[i].kind != Z_FREE)
			munmap(zone_addr(i), zones[i].len);
		zone_forget(i);
	}
	pthread_mutex_unlock(&pool_lock);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ioctl_fuzz [--seed S] [--ops N] [--ioctls N] [--seconds T]\n"
		"                  [--threads N]\n"
		"                  [--ktap] [--trace] [--[no-]tcg-safe] [--dev PATH]\n"
		"                  [--guests LIST] [--skip LIST]\n"
		"  --seed S      64-bit seed (default: from the clock), printed at start\n"
		"  --ops N       stop after N operations in all (default %" PRIu64 ")\n"
		"  --ioctls N    stop after N ioctls in all (default: no bound)\n"
		"  --seconds T   stop after T seconds (default %u)\n"
		"  --threads N   worker threads, 1 to %d (default %u)\n"
		"  --ktap        KTAP output for the test runner; the default\n"
		"                when run with no argument at all\n"
		"  --trace       print every call before making it\n"
		"  --tcg-safe, --no-tcg-safe\n"
		"                keep TR in the states the fuzzer sets clear of a\n"
		"                QEMU TCG abort (default: when CPUID says TCG)\n"
		"  --bochs-safe, --no-bochs-safe\n"
		"                no KVM_RUN into a guest, which Bochs may never\n"
		"                let go of (default: in a Bochs test host)\n"
		"  --dev PATH    the device (default $KVM_DEV, else /dev/kvm)\n"
		"  --guests L    guests to build: all (default), none, or some of\n"
		"                real,flat32,user32,paged32,long,v86,mutant,random\n"
		"  --skip L      leave out these operations (comma-separated names\n"
		"                as --trace prints them after \"op N:\")\n",
		(uint64_t)DEFAULT_OPS, DEFAULT_SECONDS, MAX_THREADS,
		DEFAULT_THREADS);
	exit(2);
}

static uint64_t parse_u64(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || !*s || *end)
		usage();
	return v;
}

static void parse_args(int argc, char **argv)
{
	bool have_seed = false;
	int i;

	if (argc == 1)
		opt.ktap = true;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--ktap")) {
			opt.ktap = true;
		} else if (!strcmp(a, "--trace")) {
			opt.trace = true;
		} else if (!strcmp(a, "--tcg-safe")) {
			opt.tcg_safe = 1;
		} else if (!strcmp(a, "--no-tcg-safe")) {
			opt.tcg_safe = 0;
		} else if (!strcmp(a, "--bochs-safe")) {
			opt.bochs_safe = 1;
		} else if (!strcmp(a, "--no-bochs-safe")) {
			opt.bochs_safe = 0;
		} else if (i + 1 >= argc) {
			usage();
		} else if (!strcmp(a, "--seed")) {
			opt.seed = parse_u64(argv[++i]);
			have_seed = true;
		} else if (!strcmp(a, "--ops")) {
			opt.max_ops = parse_u64(argv[++i]);
		} else if (!strcmp(a, "--ioctls")) {
			opt.max_ioctls = parse_u64(argv[++i]);
		} else if (!strcmp(a, "--seconds")) {
			opt.seconds = parse_u64(argv[++i]);
		} else if (!strcmp(a, "--threads")) {
			opt.threads = parse_u64(argv[++i]);
		} else if (!strcmp(a, "--dev")) {
			opt.dev = argv[++i];
		} else if (!strcmp(a, "--skip")) {
			if (skip_ops(argv[++i]))
				usage();
		} else if (!strcmp(a, "--guests")) {
			if (guest_parse_modes(argv[++i]))
				usage();
		} else {
			usage();
		}
	}
	if (!opt.threads || opt.threads > MAX_THREADS)
		usage();
	if (!have_seed)
		opt.seed = fuzz_random_seed();
	opt.dev = fuzz_dev_path(opt.dev);
	if (opt.tcg_safe < 0)
		opt.tcg_safe = host_under_tcg();
	guest_tcg_safe = opt.tcg_safe;
	if (opt.bochs_safe < 0)
		opt.bochs_safe = host_under_bochs();
	if (opt.tcg_safe && !guest_modes_set)
		guest_parse_modes("real,flat32,user32,paged32,v86,mutant,random");
	if (getenv("OKVM_TIMEOUT_SCALE"))
		timeout_scale = atoi(getenv("OKVM_TIMEOUT_SCALE")) ?: 1;
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_sigaction = fault_handler,
				.sa_flags = SA_SIGINFO };

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	/* No SA_RESTART: the timer's whole point is to interrupt KVM_RUN. */
	sa = (struct sigaction) { .sa_handler = nop_handler };
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The reserved range: thread areas, then the zones, then a guard. */
static void setup_arena(void)
{
	uint8_t *p;
	unsigned int i;

	p = mmap(NULL, ARENA_SIZE + 2 * MiB, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap arena");
		exit(1);
	}
	arena = (uint8_t *)(((uint64_t)p + 2 * MiB - 1) & ~(2 * MiB - 1));
	arena_end = arena + ARENA_SIZE;
	zone_base = arena + ARENA_HEAD;
	for (i = 0; i < MAX_THREADS; i++) {
		struct worker *w = &workers[i];
		uint8_t *t = arena + i * THREAD_AREA;

		w->scratch = t;
		w->ro = t + 3 * PAGE_SIZE;
		mprotect(w->scratch, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE);
		mprotect(w->ro, PAGE_SIZE, PROT_READ | PROT_WRITE);
		memset(w->ro, 0xa5, PAGE_SIZE);
		mprotect(w->ro, PAGE_SIZE, PROT_READ);
		w->image = malloc(GUEST_SETUP_SIZE);
		if (!w->image) {
			perror("malloc");
			exit(1);
		}
	}
	for (i = 0; i < NR_ZONES; i++)
		zones[i] = (struct zone) { .kind = Z_FREE, .memfd = -1, .vm = -1 };
	for (i = 0; i < NR_FDS; i++)
		fds[i].kind = FD_FREE;
}

int main(int argc, char **argv)
{
	uint64_t deadline, total = 0, calls = 0, ioctl_calls = 0;
	bool stuck = false, tidy;
	struct rng main_rng;
	unsigned int i;
	double secs;
	int fd;

	parse_args(argc, argv);
	/*
	 * Keep malloc off mmap and in one arena: nothing may be mapped into
	 * a hole of the reserved range behind the fuzzer's back.
	 */
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_ARENA_MAX, 1);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup_signals();
	setup_arena();

	if (opt.ktap)
		printf("KTAP version 1\n1..1\n");
	printf("%sioctl_fuzz: seed %" PRIu64 " ops %" PRIu64 " ioctls %" PRIu64
	       " seconds %u threads %u dev %s (%s)%s%s\n",
	       prefix(), opt.seed, opt.max_ops, opt.max_ioctls, opt.seconds,
	       opt.threads,
	       opt.dev, access("/sys/module/okvm", F_OK) ? "not okvm" : "okvm",
	       opt.tcg_safe ? " tcg-safe" : "",
	       opt.bochs_safe ? " bochs-safe (no KVM_RUN)" : "");

	fd = open(opt.dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		if (opt.ktap) {
			printf("ok 1 ioctl_fuzz # SKIP cannot open %s: %s\n",
			       opt.dev, strerror(err));
			return 4;
		}
		fprintf(stderr, "ioctl_fuzz: %s: %s\n", opt.dev, strerror(err));
		return 1;
	}
	close(fd);
	kmsg_open(&kmsg);

	main_rng.s = opt.seed;
	tidy = rng_chance(&main_rng, 1, 2);
	pick_op(&main_rng);	/* sums the weights before the workers start */
	pthread_barrier_init(&start_line, NULL, opt.threads + 1);
	clock_gettime(CLOCK_MONOTONIC, &start_time);
	deadline = fuzz_now_ns() + opt.seconds * 1000000000ULL;
	for (i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];

		w->idx = i;
		/* Distinct streams: the seed, then the thread, through splitmix. */
		w->rng.s = opt.seed ^ (0x632be59bd9b4e019ULL * (i + 1));
		rng_next(&w->rng);
		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			perror("pthread_create");
			return 1;
		}
	}
	pthread_barrier_wait(&start_line);

	for (i = 0;; i++) {
		bool running = false;
		unsigned int t;

		usleep(100000);
		reap(false);
		check_kmsg();
		if (i % 20 == 19)
			sweep_fds();
		if (fuzz_now_ns() >= deadline)
			stop = 1;
		for (t = 0; t < opt.threads; t++)
			running |= !workers[t].done;
		if (opt.max_ioctls && ioctls_made() >= opt.max_ioctls)
			stop = 1;
		if (!running)
			break;
		if (i % 50 == 49 && check_stuck() && stop &&
		    fuzz_now_ns() > deadline + 60000000000ULL * timeout_scale) {
			/* A call that never returns: report and give up. */
			stuck = true;
			break;
		}
	}
	for (i = 0; !stuck && i < opt.threads; i++)
		pthread_join(workers[i].thread, NULL);
	secs = elapsed();
	for (i = 0; i < opt.threads; i++)
		total += workers[i].ops;
	if (!stuck) {
		teardown(tidy);
		reap(true);
	}
	report(secs, total, &calls, &ioctl_calls);
	printf("%sioctl_fuzz: %s at exit\n", prefix(),
	       stuck ? "gave up on stuck threads" :
	       tidy ? "closed and unmapped everything" :
		      "left fds and mappings for exit to release");
	/* A call that never returned is as much a finding as a crash. */
	crashes += stuck;
	check_kmsg();
	printf("%sioctl_fuzz: seed %" PRIu64 " ops %" PRIu64 " calls %" PRIu64
	       " ioctls %" PRIu64 " seconds %.0f crashes %d reports %u\n",
	       prefix(), opt.seed, total, calls, ioctl_calls, secs, crashes,
	       reports);
	if (opt.ktap)
		printf("%s 1 ioctl_fuzz\n", crashes || reports ? "not ok" : "ok");
	fflush(stdout);
	if (stuck)
		_exit(1);
	return crashes || reports ? 1 : 0;
}
