// SPDX-License-Identifier: GPL-2.0
/*
 * guest_fuzz: hostile guests for okvm, and for kvm_amd as the reference.
 *
 * Each iteration creates a VM with a random memslot layout (several slots,
 * gaps, unbacked guest-physical ranges; now and then an aliased, a
 * read-only or a partly inaccessible host range) and runs a few cases on its
 * vCPU.  A case is a random guest in real mode, virtual-8086 mode, 16- or
 * 32-bit protected mode with or without paging, compatibility mode or
 * 64-bit mode, put there by KVM_SET_SREGS, with descriptor tables, a TSS,
 * interrupt handlers and page tables in guest memory (valid, or not),
 * random registers, RFLAGS, CR0 and CR4, and code made of random bytes
 * and of instructions a hypervisor has to get right, mutated now and
 * then.  A case runs for at most --exits KVM_RUNs and --case-ms
 * milliseconds: a watchdog thread then sets immediate_exit and signals
 * the vCPU thread, so a spinning guest never holds the fuzzer.
 *
 * Every exit is checked against Documentation/api.rst on okvm, and
 * against the exits the real KVM (kvm_amd or kvm_intel, as the host CPU
 * has SVM or VMX) is known to give on KVM.  A finding is an
 * undocumented exit, an exit whose data or registers break what the API
 * promises, a KVM_RUN that fails with an errno it should not or never
 * returns, and any WARNING, BUG, Oops, general protection fault, soft
 * lockup or hung task that shows up in the kernel log meanwhile.
 *
 * All randomness comes from the seed: iteration N of seed S is the same
 * guest every time, so "--seed S --only N --dump" replays and shows it.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include <okvm/emulator.h>
#include <okvm/kvm_exit_name.h>
#include <okvm/x86_vendor.h>

#include "lib/fuzz.h"
#include "lib/x86.h"

/* Guest-physical layout: LOW_MEM at 0 is carved into slots and holes. */
#define LOW_MEM		(16 * MiB)
#define LOW_PAGES	(LOW_MEM / PAGE_SIZE)
#define BIOS_GPA	0xffff0000ULL	/* the reset vector's 64 KiB */
#define BIOS_SIZE	(64 * 1024)
#define HIGH_GPA	(4 * GiB)
#define HIGH_SIZE	(2 * MiB)
#define TOP_SIZE	(2 * MiB)
#define MAX_SLOTS	16

#define CODE_MAX	3072
#define MAX_INSNS	2048
#define HANDLER_PORT	0xf0	/* handler stubs OUT the vector here */
#define HANDLER_STUB	16	/* bytes per vector */

/* Written to exit_reason before each KVM_RUN: it must be overwritten. */
#define EXIT_SENTINEL	0xfeedf00d

/* The SVM exit codes an emulation failure names (APM vol. 2, C.1). */
#define SVM_EXIT_IOIO	0x7b
#define SVM_EXIT_NPF	0x400
/* The #PF intercept: what an MMIO access exits with under shadow paging. */
#define SVM_EXIT_PF	0x4e
/* Also intercepted then: MOV to and from CR0-CR15, and INVLPG. */
#define SVM_EXIT_CR_LAST	0x1f
#define SVM_EXIT_INVLPG	0x79

/*
 * The VMX basic exit reasons (SDM vol. 3C, appendix C): an emulation
 * failure names I/O or an EPT violation; a failed VM entry reports bit
 * 31 and invalid guest state.
 */
#define VMX_EXIT_EXCEPTION_NMI		0
#define VMX_EXIT_TASK_SWITCH		9
#define VMX_EXIT_IO_INSTRUCTION		30
#define VMX_EXIT_INVALID_STATE		33
#define VMX_EXIT_EPT_VIOLATION		48
#define VMX_EXIT_ENTRY_FAILURE		(1U << 31)

/*
 * The GDT: the shared flat segments, SEL_TSS and SEL_LDT (lib/x86.h),
 * then these (some may be garbage).
 */
#define SEL_CALLGATE	0x68
#define SEL_TSS2	0x70	/* a second 32-bit TSS, for task switches */
#define SEL_JUNK	0x78
#define GDT_ENTRIES	16

/* Where things live in the pool page (see build_pool()). */
#define POOL_GDTR	0x000
#define POOL_IDTR	0x010
#define POOL_BADDTR	0x020
#define POOL_ZERODTR	0x030
#define POOL_FARPTR	0x040	/* 8 far pointers of 16 bytes */
#define POOL_NFARPTR	8
#define POOL_SCRATCH	0x400

enum env {
	ENV_REAL,	/* real mode, maybe "unreal" segment limits */
	ENV_VM86,	/* protected mode with RFLAGS.VM */
	ENV_PM16,	/* protected mode, 16-bit code segment */
	ENV_PM32,	/* protected mode, flat 32-bit, paging or not */
	ENV_COMPAT,	/* long mode, 32-bit code segment */
	ENV_LONG,	/* 64-bit mode */
	NR_ENVS
};

static const char *const env_name[NR_ENVS] = {
	"real", "vm86", "pm16", "pm32", "compat", "long"
};

/* Options. */
static uint64_t opt_seed;
static uint64_t opt_iterations;		/* 0: until --seconds */
static uint64_t opt_insns;		/* 0: no bound */
static double opt_seconds = 60;
static long long opt_only = -1;
static uint64_t opt_cases = ~0ULL;	/* bit k: run case k */
static uint64_t opt_start;
static unsigned int opt_exits = 200;
static unsigned int opt_case_ms = 100;
static unsigned int opt_hang_ms = 30000;
static bool opt_ktap, opt_dump, opt_verbose, opt_trace;
static int opt_tcg = -1;		/* avoid what QEMU's TCG cannot take */
static int opt_bochs = -1;		/* keep RFLAGS.IF set: see bochs_byte() */
static const char *opt_dev;
static int opt_target = -1;		/* TARGET_*; -1: find out */
static bool host_vmx;			/* VT-x host (else AMD-V) */

enum { TARGET_OKVM, TARGET_KVM };

static const char *const ktap_prefix = "# ";

/* What the current case is, for messages (each vCPU thread has its own). */
static __thread uint64_t cur_iter;
static __thread int cur_case;
static __thread int cur_env;

/*
 * Counters, all uint64_t (stats_add() adds them as an array).  A second
 * vCPU thread counts into its own and adds them up when it is joined.
 */
struct stats {
	uint64_t runs, exits, insns, vms, vcpu_runs, smp_runs;
	uint64_t env[NR_ENVS];
	uint64_t reason[64];
	uint64_t eintr, efault, sregs_refused, slot_changes;
	uint64_t internal_sub[8], internal_npf, internal_io, internal_task;
	uint64_t pio_probes, efault_fixed, internal_again, enospc;
	uint64_t vectors[256];
	uint64_t findings;		/* crashes: everything but... */
	uint64_t reports;		/* ...debug reports in the kernel log */
	uint64_t kmsg_lines;
};

static struct stats st_main;
static __thread struct stats *stp = &st_main;
#define st (*stp)

static void stats_add(struct stats *to, const struct stats *from)
{
	const uint64_t *f = (const uint64_t *)from;
	uint64_t *t = (uint64_t *)to;
	size_t i;

	for (i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		t[i] += f[i];
}

/* Two vCPUs: the cases of both are sanitized as if they had EFER.LME. */
static bool smp_iteration;

/* The case being built has EFER.LME: see tcg_sanitize(). */
static bool tcg_lme;

static int kvm_fd = -1;
static struct kmsg kmsg;
static unsigned int host_phys_bits;

/* ---------------------------------------------------------------- */
/* Output                                                            */

static void say(const char *fmt, ...)
{
	va_list ap;

	if (opt_ktap)
		fputs(ktap_prefix, stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/*
 * A finding: counted always, printed the first three times its call site
 * (its format) fires, so that one noisy case does not hide the others;
 * kernel log findings (always) every time, and counted as reports.
 */
static void vfinding(bool always, const char *fmt, va_list ap)
{
	static const char *seen[64];
	static unsigned int times[64];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned int i, n = 0;

	if (always)
		st.reports++;
	else
		st.findings++;
	pthread_mutex_lock(&lock);
	for (i = 0; i < ARRAY_SIZE(seen) && seen[i]; i++)
		if (seen[i] == fmt)
			break;
	if (i < ARRAY_SIZE(seen)) {
		seen[i] = fmt;
		n = ++times[i];
	}
	pthread_mutex_unlock(&lock);
	if (n > 3 && !always)
		return;
	if (opt_ktap)
		fputs(ktap_prefix, stdout);
	printf("guest_fuzz: FINDING seed %llu iteration %llu case %d (%s): ",
	       (unsigned long long)opt_seed, (unsigned long long)cur_iter,
	       cur_case, cur_env >= 0 ? env_name[cur_env] : "setup");
	vprintf(fmt, ap);
	if (n == 3 && !always)
		printf(" (further ones of this kind are only counted)");
	putchar('\n');
	fflush(stdout);
}

static void finding(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfinding(false, fmt, ap);
	va_end(ap);
}

static void kfinding(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfinding(true, fmt, ap);
	va_end(ap);
}

static void __attribute__((__noreturn__)) die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("guest_fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (opt_ktap)
		printf("not ok 1 guest_fuzz\n");
	exit(2);
}

/* ---------------------------------------------------------------- */
/* Randomness: splitmix64, one stream per iteration                  */

/*
 * Two streams: one builds the VM and each case (reseeded per case, so
 * that "--only N --case K" rebuilds case K without running the others),
 * the other answers the guest while it runs.
 */
static struct rng gen_rng;
static __thread struct rng run_rng;

static uint64_t rnd(void)
{
	return rng_next(&gen_rng);
}

static uint64_t rnd_run(void)
{
	return rng_next(&run_rng);
}

/* The stream for iteration iter, case k (k = -1: the VM itself). */
static void rng_seed(uint64_t seed, uint64_t iter, int k)
{
	gen_rng.s = seed ^ (iter * 0xd1342543de82ef95ULL) ^
		    ((uint64_t)(k + 1) * 0xa0761d6478bd642fULL);
	rnd();
	run_rng.s = rnd();
}

static uint64_t below(uint64_t n)
{
	return rng_below(&gen_rng, n);
}

/* True with probability percent/100. */
static bool pct(unsigned int percent)
{
	return below(100) < percent;
}

static uint64_t pick(const uint64_t *v, size_t n)
{
	return v[below(n)];
}

#define PICK(arr)	pick(arr, ARRAY_SIZE(arr))

/* A value a register might usefully hold. */
static uint64_t interesting_value(void)
{
	switch (below(4)) {
	case 0:
		return rng_edge(&gen_rng);
	case 1:
		return below(0x100000);
	case 2:
		return (uint32_t)rnd();
	default:
		return rnd();
	}
}

/* ---------------------------------------------------------------- */
/* The VM: memslots and guest memory                                 */

struct slot {
	uint32_t id;
	uint64_t gpa, size;
	uint8_t *hva;		/* userspace_addr */
	bool host_ro;		/* the host mapping is read-only */
	bool host_hole;		/* half the host range is PROT_NONE */
	bool own_map;		/* hva is a mapping of its own, not in low */
	bool live;
};

#define MAX_VCPUS	2

struct vcpu {
	int fd;
	struct kvm_run *run;
};

struct vm {
	int fd;
	struct vcpu vcpu[MAX_VCPUS];
	int nvcpus;
	size_t run_size;
	uint8_t *low;			/* backs [0, LOW_MEM) by default */
	struct slot slot[MAX_SLOTS];
	int nslots;
	uint64_t top_gpa;		/* a slot at the top of GPA space, or 0 */
	bool efault_ok;			/* a slot may legitimately EFAULT */
	bool spoiled;			/* VMCB clobbered by QEMU, or (kvm_amd) out
					 * of MMU pages: retire it */
};

static int set_region(struct vm *vm, struct slot *s, uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = s->id,
		.guest_phys_addr = s->gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)s->hva,
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static struct slot *gpa_slot(struct vm *vm, uint64_t gpa)
{
	int i;

	for (i = 0; i < vm->nslots; i++) {
		struct slot *s = &vm->slot[i];

		if (s->live && gpa >= s->gpa && gpa - s->gpa < s->size)
			return s;
	}
	return NULL;
}

/* Host pointer through which the guest's page at gpa can be written. */
static uint8_t *gpa_hva(struct vm *vm, uint64_t gpa)
{
	struct slot *s = gpa_slot(vm, gpa);

	if (!s || s->host_ro || s->host_hole)
		return NULL;
	return s->hva + (gpa - s->gpa);
}

static bool gpa_usable(struct vm *vm, uint64_t gpa)
{
	return gpa_hva(vm, gpa) != NULL;
}

/*
 * Instructions QEMU 7.2's TCG does not survive in a nested guest,
 * whatever hypervisor runs it, so with --tcg-safe none is written into
 * guest memory (guest-made code can still produce them, rarely):
 *
 * - MOV to DR7 (or DR5, its alias): once guests enable breakpoints,
 *   QEMU crashes (SIGSEGV in cpu_breakpoint_remove_by_ref(), from
 *   cpu_x86_update_dr7(), which VMRUN and #VMEXIT call).  It becomes a
 *   MOV to DR6.
 * - LTR: QEMU loads a null selector into TR instead of raising #GP, and
 *   aborts ("invalid tss") at the next interrupt that needs a stack from
 *   the TSS.  It becomes LLDT.
 * - MOV to CR0 in a case with EFER.LME: QEMU lets a 64-bit guest clear
 *   CR0.PG (no #GP), leaving EFER.LME set, and its #VMEXIT from a guest
 *   with EFER.LME and paging off restores a broken host state (the host
 *   runs on with the guest's CR0, paging off).  It becomes a MOV to CR2.
 * - LOCK BT, BTS, BTR or BTC with a register operand: where hardware
 *   raises #UD, QEMU's translator aborts ("tcg fatal error": it hands the
 *   atomic operation an address it never computed).  The LOCK becomes a
 *   DS override.  tcg_smc() keeps the generator's own stores into its
 *   code from making any of these.
 * - An instruction at linear address 0xffffffffffffffff (64-bit mode):
 *   QEMU's translator asserts ("s->pc_save != -1": -1 is its "EIP
 *   unknown" mark).  Not a byte pattern: build_pt_pae() leaves PML4
 *   entry 511 empty, so that the last page is never mapped.
 *
 * No instruction of these is spared, not even the generator's own: a
 * handler that returns a byte or two further on, or a jump into the
 * middle of an instruction, runs them with any operand.
 */
static void tcg_sanitize(uint8_t *p, size_t n)
{
	if (opt_tcg)
		fuzz_tcg_sanitize(p, n, tcg_lme);
}

/*
 * Bochs 2.7 takes no host interrupt in VMX non-root operation after a VM
 * entry with the guest's RFLAGS.IF clear, until the guest sets or clears
 * IF itself (tools/include/okvm/emulator.h): a guest that then spins
 * without an exit holds the test host's CPU for good, and the watchdog's
 * signal never comes.  KVM and okvm re-enter after most exits without
 * coming back here (EPT violations, CPUID, external interrupts), so
 * with --bochs-safe (the default under Bochs) the guests keep IF set
 * rather than only re-entering with it set:
 *
 * - RFLAGS starts with IF; the generator writes no CLI, its POPF and
 *   IRET frames keep IF, and the TSSs a task switch loads have it;
 * - every IDT gate is a trap gate (an interrupt gate clears IF), even
 *   in a garbage IDT, and the real-mode IVT (delivery there always
 *   clears IF) is never garbage nor other memory (LIDT loads the
 *   case's own IDT or an empty one); each handler stub starts with
 *   STI;
 * - no WRMSR to SYSENTER_CS or SFMASK, which would let SYSENTER or
 *   SYSCALL clear IF (KVM emulates both MSRs; okvm raises #GP);
 * - what KVM_EXIT_MMIO reads return has IF set, should a POPF or IRET
 *   pop it from a stack outside every slot;
 * - no byte of the code (bochs_code()), of a junk handler or of random
 *   data is a CLI, POPF or IRET opcode but for those IF-safe ones.
 *
 * Left: stores of the guest's own into its code, a bit flipped in an
 * immediate that a POPF takes, and virtual-8086 software interrupts
 * redirected through the IVT at linear 0 (CR4.VME, IOPL 3) can still
 * clear IF; with make check's fixed seed none does.
 */
static uint8_t bochs_byte(uint8_t x)
{
	/* CLI, POPF, IRET -> STI, PUSHF, INTO */
	if (opt_bochs && (x == 0xfa || x == 0x9d || x == 0xcf))
		return x ^ 1;
	return x;
}

static void gwrite(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		size_t n = PAGE_SIZE - (gpa & (PAGE_SIZE - 1));
		uint8_t *h = gpa_hva(vm, gpa);

		if (n > len)
			n = len;
		if (h) {
			memcpy(h, p, n);
			tcg_sanitize(h, n);
		}
		gpa += n;
		p += n;
		len -= n;
	}
}

static void gw16(struct vm *vm, uint64_t gpa, uint16_t v)
{
	gwrite(vm, gpa, &v, 2);
}

static void gw32(struct vm *vm, uint64_t gpa, uint32_t v)
{
	gwrite(vm, gpa, &v, 4);
}

static void gw64(struct vm *vm, uint64_t gpa, uint64_t v)
{
	gwrite(vm, gpa, &v, 8);
}

static void grandom(struct vm *vm, uint64_t gpa, size_t len)
{
	uint8_t buf[256];

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf), i;

		for (i = 0; i < n; i++)
			buf[i] = bochs_byte(rnd());
		gwrite(vm, gpa, buf, n);
		gpa += n;
		len -= n;
	}
}

static uint32_t new_slot_id(struct vm *vm)
{
	for (;;) {
		uint32_t id = pct(5) ? 32700 + below(64) : below(64);
		int i;

		for (i = 0; i < vm->nslots; i++)
			if (vm->slot[i].id == id)
				break;
		if (i == vm->nslots)
			return id;
	}
}

/* Add a slot; on failure it is simply not there. */
static struct slot *add_slot(struct vm *vm, uint64_t gpa, uint64_t size,
			     uint8_t *hva, bool own_map)
{
	struct slot *s;

	if (vm->nslots == MAX_SLOTS)
		return NULL;
	s = &vm->slot[vm->nslots];
	memset(s, 0, sizeof(*s));
	s->id = new_slot_id(vm);
	s->gpa = gpa;
	s->size = size;
	s->hva = hva;
	s->own_map = own_map;
	if (set_region(vm, s, size)) {
		if (opt_verbose)
			say("slot %u at %#llx+%#llx refused: %s\n", s->id,
			    (unsigned long long)gpa, (unsigned long long)size,
			    strerror(errno));
		return NULL;
	}
	s->live = true;
	vm->nslots++;
	return s;
}

static uint8_t *map_anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %llu bytes: %s", (unsigned long long)size,
		    strerror(errno));
	return p;
}

/*
 * A slot backed by a mapping of its own, either read-only (guest writes
 * then make KVM_RUN fail with EFAULT) or with its second half PROT_NONE
 * (any access there gives EFAULT).  Both are documented outcomes.
 */
static void add_odd_slot(struct vm *vm, uint64_t gpa, uint64_t size)
{
	uint8_t *p = map_anon(size);
	struct slot *s;
	uint64_t i;

	/* Untouched, a guest read pins the zero page. */
	if (pct(70)) {
		for (i = 0; i < size; i += 8)
			*(uint64_t *)(p + i) = pct(50) ?
					       0xf4f4f4f4f4f4f4f4ULL : rnd();
		tcg_sanitize(p, size);
	}
	s = add_slot(vm, gpa, size, p, true);
	if (!s) {
		munmap(p, size);
		return;
	}
	if (size >= 2 * PAGE_SIZE && pct(50)) {
		/*
		 * PROT_NONE, not unmapped: the kernel would hand the range to
		 * a later mmap (a kvm_run, say) that fix_odd_slots() would
		 * then map over.
		 */
		mprotect(p + size / 2, size / 2, PROT_NONE);
		s->host_hole = true;
	} else {
		mprotect(p, size, PROT_READ);
		s->host_ro = true;
	}
	vm->efault_ok = true;
}

/*
 * After an EFAULT: make the host memory behind every read-only or half
 * inaccessible slot readable and writable.  From then on an EFAULT has no
 * excuse.
 */
static bool fix_odd_slots(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->nslots; i++) {
		struct slot *s = &vm->slot[i];

		if ((s->host_hole || s->host_ro) &&
		    mprotect(s->hva, s->size, PROT_READ | PROT_WRITE))
			return false;
		s->host_hole = false;
		s->host_ro = false;
	}
	vm->efault_ok = false;
	return true;
}

/*
 * Carve [0, LOW_MEM) into 1 to 7 pieces at random page boundaries; most
 * pieces become slots (identity-mapped onto vm->low, sometimes aliased
 * elsewhere in it, sometimes split in two adjacent slots), the rest stay
 * holes.  Then maybe a slot at the reset vector, one above 4 GiB and one
 * at the very top of the guest-physical space okvm can map.
 */
static void vm_layout(struct vm *vm)
{
	uint64_t cut[8];
	int ncut = 1 + below(6), i, j;

	cut[0] = 0;
	for (i = 1; i <= ncut; i++)
		cut[i] = below(LOW_PAGES);
	cut[ncut + 1] = LOW_PAGES;
	for (i = 1; i <= ncut; i++)		/* sort */
		for (j = i + 1; j <= ncut; j++)
			if (cut[j] < cut[i]) {
				uint64_t t = cut[i];

				cut[i] = cut[j];
				cut[j] = t;
			}

	for (i = 0; i <= ncut; i++) {
		uint64_t gpa = cut[i] * PAGE_SIZE;
		uint64_t size = (cut[i + 1] - cut[i]) * PAGE_SIZE;
		uint8_t *hva = vm->low + gpa;

		if (!size || !pct(i == 0 ? 95 : 80))
			continue;
		if (pct(4)) {
			add_odd_slot(vm, gpa, size > 64 * PAGE_SIZE ?
				     64 * PAGE_SIZE : size);
			continue;
		}
		if (pct(5) && size < LOW_MEM / 2)	/* alias */
			hva = vm->low + below((LOW_MEM - size) / PAGE_SIZE) *
			      PAGE_SIZE;
		if (size >= 2 * PAGE_SIZE && pct(20)) {
			uint64_t half = (1 + below(size / PAGE_SIZE - 1)) *
					PAGE_SIZE;

			add_slot(vm, gpa, half, hva, false);
			add_slot(vm, gpa + half, size - half, hva + half, false);
		} else {
			add_slot(vm, gpa, size, hva, false);
		}
	}
	if (pct(30)) {
		uint8_t *p = map_anon(BIOS_SIZE);

		memset(p, pct(50) ? 0xf4 : 0x90, BIOS_SIZE);
		if (pct(50))
			for (i = 0; i < 256; i++)
				p[below(BIOS_SIZE)] = rnd();
		tcg_sanitize(p, BIOS_SIZE);
		if (!add_slot(vm, BIOS_GPA, BIOS_SIZE, p, true))
			munmap(p, BIOS_SIZE);
	}
	if (pct(30)) {
		uint8_t *p = map_anon(HIGH_SIZE);

		if (!add_slot(vm, HIGH_GPA, HIGH_SIZE, p, true))
			munmap(p, HIGH_SIZE);
	}
	if (pct(20)) {
		uint64_t top = 1ULL << host_phys_bits;
		uint8_t *p = map_anon(TOP_SIZE);

		if (add_slot(vm, top - TOP_SIZE, TOP_SIZE, p, true))
			vm->top_gpa = top - TOP_SIZE;
		else
			munmap(p, TOP_SIZE);
	}
}

/*
 * Between two cases: make a read-only host mapping writable (the guest's
 * next write to a page it could only read then replaces the read-only
 * translation, copying the zero page if it was that), or a writable one
 * read-only (the guest keeps what it has pinned; new writes give EFAULT);
 * delete a slot, move one, or put a deleted one back.  Failures are fine
 * (a move onto another slot gives EEXIST).
 */
static void vm_mutate_slots(struct vm *vm)
{
	struct slot *s;

	if (!vm->nslots)
		return;
	s = &vm->slot[below(vm->nslots)];
	st.slot_changes++;
	if (s->own_map && !s->host_hole && pct(40)) {
		mprotect(s->hva, s->size, s->host_ro ?
			 PROT_READ | PROT_WRITE : PROT_READ);
		s->host_ro = !s->host_ro;
		vm->efault_ok = true;
	} else if (s->live && pct(50)) {
		if (!set_region(vm, s, 0))
			s->live = false;
	} else if (s->live) {
		uint64_t old = s->gpa;

		s->gpa = below(LOW_PAGES) * PAGE_SIZE;
		if (set_region(vm, s, s->size))
			s->gpa = old;
	} else if (!set_region(vm, s, s->size)) {
		s->live = true;
	}
}

static int kvm_open(void)
{
	const char *path = fuzz_dev_path(opt_dev);
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

/*
 * Give kvm_amd the CPUID it supports, so that the guest sees long mode,
 * SSE and the rest there too.  okvm has no CPUID ioctls (the guest sees
 * its default set): nothing to do.
 */
static void vcpu_set_cpuid(int vcpu_fd)
{
	static struct kvm_cpuid2 *cpuid;

	if (opt_target != TARGET_KVM)
		return;
	if (!cpuid) {
		cpuid = calloc(1, sizeof(*cpuid) +
			       256 * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			die("out of memory");
		cpuid->nent = 256;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid)) {
			say("KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
			cpuid->nent = 0;
		}
	}
	if (cpuid->nent && ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid))
		say("KVM_SET_CPUID2: %s\n", strerror(errno));
}

static void vm_create(struct vm *vm, int nvcpus)
{
	int i;

	memset(vm, 0, sizeof(*vm));
	vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		die("KVM_CREATE_VM: %s", strerror(errno));
	vm->low = map_anon(LOW_MEM);
	/* Transparent huge pages behind the slots, or not. */
	madvise(vm->low, LOW_MEM, pct(50) ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	vm_layout(vm);
	vm->run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (i = 0; i < nvcpus; i++) {
		struct vcpu *vc = &vm->vcpu[i];

		vc->fd = ioctl(vm->fd, KVM_CREATE_VCPU, i);
		if (vc->fd < 0)
			die("KVM_CREATE_VCPU: %s", strerror(errno));
		vc->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, vc->fd, 0);
		if (vc->run == MAP_FAILED)
			die("mmap kvm_run: %s", strerror(errno));
		vcpu_set_cpuid(vc->fd);
	}
	vm->nvcpus = nvcpus;
	st.vms++;
}

static void vm_destroy(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->nvcpus; i++) {
		munmap(vm->vcpu[i].run, vm->run_size);
		close(vm->vcpu[i].fd);
	}
	close(vm->fd);
	for (i = 0; i < vm->nslots; i++)
		if (vm->slot[i].own_map)
			munmap(vm->slot[i].hva, vm->slot[i].size);
	munmap(vm->low, LOW_MEM);
}

/* ---------------------------------------------------------------- */
/* A case: where its structures live, its registers                  */

struct gcase {
	int env;
	int bits;			/* default operand size of the code */
	int hbits;			/* of the interrupt handlers */
	bool paging, pae, cpl3, long_armed;
	uint64_t cs_base;		/* linear = cs_base + rip */
	uint16_t cs_sel, ss_sel, ds_sel;
	uint64_t code_gpa;
	size_t code_len;
	uint64_t stack_top, pool, xsave, gdt, idt, tss, ldt, handlers;
	uint64_t cr3, alt_cr3;
	uint64_t pte[32];		/* addresses of page table entries */
	uint64_t pte_val[32];		/* and what they held */
	int npte;
	uint64_t unbacked;		/* a GPA in no slot */
	uint8_t used[LOW_PAGES / 8];	/* pages handed out */
	uint8_t code[CODE_MAX + 64];	/* the code as generated */
	uint32_t starts[MAX_INSNS];	/* instruction offsets in the code */
	int ninsn;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_sregs plain;		/* sregs before weird_sregs() */
};

static bool page_used(struct gcase *c, uint64_t pfn)
{
	return c->used[pfn / 8] & (1 << (pfn % 8));
}

/*
 * A page for one of the case's structures, below limit: mostly a free
 * page some slot backs, now and then any page, backed or not.
 */
static uint64_t pick_page_below(struct vm *vm, struct gcase *c,
				uint64_t limit)
{
	uint64_t npages = (limit < LOW_MEM ? limit : LOW_MEM) / PAGE_SIZE;
	uint64_t pfn = 0;
	int tries;

	if (pct(3))
		return below(npages) * PAGE_SIZE;
	for (tries = 0; tries < 64; tries++) {
		pfn = below(npages);
		if (!page_used(c, pfn) && gpa_usable(vm, pfn * PAGE_SIZE))
			break;
	}
	c->used[pfn / 8] |= 1 << (pfn % 8);
	return pfn * PAGE_SIZE;
}

static uint64_t pick_page(struct vm *vm, struct gcase *c)
{
	return pick_page_below(vm, c, LOW_MEM);
}

static uint64_t find_unbacked(struct vm *vm)
{
	int tries;

	for (tries = 0; tries < 64; tries++) {
		uint64_t gpa = below(LOW_MEM) & ~7ULL;

		if (!gpa_slot(vm, gpa))
			return gpa;
	}
	return pct(50) ? 0xfec00000 : 0xfee00000;
}

/* ---------------------------------------------------------------- */
/* Descriptor tables, TSS, handlers, pool                            */

static void build_gdt(struct vm *vm, struct gcase *c)
{
	uint64_t g[GDT_ENTRIES] = { 0 };
	int i;

	x86_gdt_flat(g);
	/* Available TSS: LTR marks it busy. */
	g[SEL_TSS >> 3] = x86_desc(c->tss, TSS_SIZE - 1 +
				   (pct(50) ? 0x2000 : 0), SEG_TSS_AVAIL,
				   0, 0, 0, 0, 0);
	g[(SEL_TSS >> 3) + 1] = c->tss >> 32;
	g[SEL_LDT >> 3] = x86_desc(c->ldt, 0xff, SEG_LDT, 0, 0, 0, 0, 0);
	g[(SEL_LDT >> 3) + 1] = 0;
	/* 32-bit call gate to the vector 0 handler, DPL 3. */
	g[SEL_CALLGATE >> 3] = x86_gate(c->handlers, SEL_CODE32, GATE_CALL, 3);
	g[SEL_TSS2 >> 3] = x86_desc(c->tss + 0x800, TSS_SIZE - 1,
				    SEG_TSS_AVAIL, 0, 0, 0, 0, 0);
	g[SEL_JUNK >> 3] = rnd();
	for (i = 0; i < GDT_ENTRIES; i++)
		if (pct(3))
			g[i] ^= 1ULL << below(64);
	if (pct(5))
		for (i = 0; i < GDT_ENTRIES; i++)
			g[i] = rnd();
	gwrite(vm, c->gdt, g, sizeof(g));
	/* A small LDT: a code and a data segment, and junk. */
	gw64(vm, c->ldt, x86_desc(0, 0xfffff, SEG_CODE_RX, 1, 0, 0, 1, 1));
	gw64(vm, c->ldt + 8, x86_desc(0, 0xfffff, SEG_DATA_RW, 1, 3, 0, 1, 1));
	gw64(vm, c->ldt + 16, rnd());
}

/* Vectors that push an error code in protected mode. */
static bool has_error_code(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 ||
	       v == 29 || v == 30;
}

/*
 * One stub per vector, HANDLER_STUB bytes apart: pop the error code,
 * OUT the vector to HANDLER_PORT, move the return address on by 0 to 3
 * bytes (0: a fault comes back at once, until the exit budget is spent),
 * and return.  Some stubs halt, spin or are junk.
 */
static void build_handlers(struct vm *vm, struct gcase *c)
{
	unsigned int skip = below(4), v;
	uint8_t page[4096];

	memset(page, 0xf4, sizeof(page));
	for (v = 0; v < 256; v++) {
		uint8_t *p = page + v * HANDLER_STUB;
		int n = 0, kind = below(100);

		if (opt_bochs)
			p[n++] = 0xfb;		/* sti: see bochs_byte() */
		if (kind < 5) {			/* halt */
			p[n++] = 0xf4;
			p[n++] = 0xeb;
			p[n++] = 0xfd;
			continue;
		} else if (kind < 7) {		/* junk */
			for (; n < HANDLER_STUB; n++)
				p[n] = bochs_byte(rnd());
			continue;
		} else if (kind < 8) {		/* spin */
			p[n++] = 0xeb;
			p[n++] = 0xfe;
			continue;
		}
		if (c->hbits == 64 && has_error_code(v)) {
			memcpy(p + n, "\x48\x83\xc4\x08", 4);	/* add rsp,8 */
			n += 4;
		} else if (c->hbits == 32 && has_error_code(v)) {
			memcpy(p + n, "\x83\xc4\x04", 3);	/* add esp,4 */
			n += 3;
		}
		p[n++] = 0xb0;					/* mov al,v */
		p[n++] = v;
		p[n++] = 0xe6;					/* out */
		p[n++] = HANDLER_PORT;
		if (skip && c->hbits == 64) {
			memcpy(p + n, "\x48\x83\x04\x24", 4);	/* add [rsp] */
			n += 4;
			p[n++] = skip;
		} else if (skip && c->hbits == 32) {
			memcpy(p + n, "\x83\x04\x24", 3);	/* add [esp] */
			n += 3;
			p[n++] = skip;
		} else if (skip) {
			/* push bp; mov bp,sp; add word [bp+2],skip; pop bp */
			memcpy(p + n, "\x55\x89\xe5\x83\x46\x02", 6);
			n += 6;
			p[n++] = skip;
			p[n++] = 0x5d;
		}
		if (c->hbits == 64)
			p[n++] = 0x48;
		p[n++] = 0xcf;					/* iret */
	}
	gwrite(vm, c->handlers, page, sizeof(page));
}

/*
 * Garbage in the IDT, made safe for --bochs-safe: 16- and 32-bit
 * interrupt gates (types 6 and 0xe) become trap gates (7 and 0xf).
 */
static void bochs_trap_gates(struct vm *vm, struct gcase *c)
{
	unsigned int size = c->hbits == 64 ? 16 : 8, v;

	for (v = 0; v < 256; v++) {
		uint8_t *type = gpa_hva(vm, c->idt + v * size + 5);

		if (type && (*type & 7) == 6)
			*type |= 1;
	}
}

static void build_idt(struct vm *vm, struct gcase *c)
{
	int v, garbage = below(100);

	if (c->hbits == 16) {		/* the real-mode IVT */
		for (v = 0; v < 256; v++) {
			uint64_t h = c->handlers + v * HANDLER_STUB;

			gw16(vm, c->idt + v * 4, h & 0xf);
			gw16(vm, c->idt + v * 4 + 2, h >> 4);
		}
	} else {
		for (v = 0; v < 256; v++) {
			uint64_t h = c->handlers + v * HANDLER_STUB;
			int type = pct(70) && !opt_bochs ? GATE_INTR : GATE_TRAP;
			int dpl = pct(50) ? 3 : 0;
			uint16_t sel = c->hbits == 64 ? SEL_CODE64 : SEL_CODE32;
			uint64_t lo;

			if (c->hbits == 32 && pct(2)) {
				type = GATE_TASK;
				sel = SEL_TSS2;
			}
			lo = x86_gate(h, sel, type, dpl);
			if (c->hbits == 64) {
				if (pct(10))
					lo |= (1 + below(7)) << 32;	/* IST */
				gw64(vm, c->idt + v * 16, lo);
				gw64(vm, c->idt + v * 16 + 8, h >> 32);
			} else {
				gw64(vm, c->idt + v * 8, lo);
			}
		}
	}
	if (opt_bochs && c->hbits == 16)
		return;			/* IVT delivery clears IF */
	if (garbage < 10)
		grandom(vm, c->idt, c->hbits == 64 ? 4096 : 2048);
	else if (garbage < 20)
		for (v = 0; v < 16; v++)
			grandom(vm, c->idt + below(c->hbits == 64 ? 4096 : 2048),
				1 + below(8));
	if (opt_bochs && garbage < 20)
		bochs_trap_gates(vm, c);
}

static void build_tss(struct vm *vm, struct gcase *c)
{
	uint64_t t = c->tss, t2 = c->tss + 0x800;
	int i;

	grandom(vm, t, pct(10) ? 0x800 : TSS_SIZE);
	if (c->hbits == 64) {
		gw64(vm, t + TSS_SP0, c->stack_top);
		for (i = 1; i <= 7; i++)
			gw64(vm, t + TSS64_IST(i),
			     pct(80) ? c->stack_top - 0x200 : rnd());
	} else {
		gw32(vm, t + TSS_SP0, c->stack_top);
		gw32(vm, t + TSS32_SS0, SEL_DATA);
		gw32(vm, t + TSS32_CR3, c->cr3);
		if (opt_bochs)				/* EFLAGS.IF */
			gwrite(vm, t + 0x25, "\x02", 1);
	}
	gw16(vm, t + TSS_IOMAP, pct(80) ? TSS_SIZE : rnd());
	/* The I/O permission bitmap: random, with the last byte 0xff. */
	grandom(vm, t + TSS_SIZE, 0x800 - TSS_SIZE);
	/* The task switch target: the handler of vector 0, flat 32-bit. */
	gw32(vm, t2 + TSS32_CR3, c->cr3);
	gw32(vm, t2 + 0x20, c->handlers);			/* EIP */
	gw32(vm, t2 + 0x24, opt_bochs ? 0x202 : 2);		/* EFLAGS */
	gw32(vm, t2 + 0x38, c->stack_top - 0x400);		/* ESP */
	gw16(vm, t2 + 0x48, SEL_DATA);				/* ES */
	gw16(vm, t2 + 0x4c, SEL_CODE32);			/* CS */
	gw16(vm, t2 + 0x50, SEL_DATA);				/* SS */
	gw16(vm, t2 + 0x54, SEL_DATA);				/* DS */
	gw16(vm, t2 + TSS_IOMAP, TSS_SIZE);
}

static void build_pool(struct vm *vm, struct gcase *c)
{
	static const uint16_t sels[] = {
		SEL_CODE32, SEL_CODE16, SEL_CODE64, SEL_CODE32_U, SEL_CODE64_U,
		SEL_TSS, SEL_TSS2, SEL_CALLGATE, SEL_DATA, SEL_JUNK, 0, 0x4,
		0x80, 0xfffc,
	};
	uint64_t p = c->pool;
	int i;

	grandom(vm, p, PAGE_SIZE);
	/* Pseudo-descriptors: the case's own tables, junk, empty. */
	gw16(vm, p + POOL_GDTR, GDT_ENTRIES * 8 - 1);
	gw64(vm, p + POOL_GDTR + 2, c->gdt);
	gw16(vm, p + POOL_IDTR, c->hbits == 16 ? 0x3ff :
	     c->hbits == 32 ? 0x7ff : 0xfff);
	gw64(vm, p + POOL_IDTR + 2, c->idt);
	gw16(vm, p + POOL_ZERODTR, 0);
	gw64(vm, p + POOL_ZERODTR + 2, 0);
	/* A junk IDT is one that holds no gate: see bochs_byte(). */
	if (opt_bochs)
		gw16(vm, p + POOL_BADDTR, 0);
	/* Far pointers: offset (8 bytes, for every operand size), selector. */
	for (i = 0; i < POOL_NFARPTR; i++) {
		uint64_t off = pct(50) ? c->code_gpa : c->handlers;
		uint16_t sel = sels[below(ARRAY_SIZE(sels))];
		uint64_t fp = p + POOL_FARPTR + i * 16;

		if (c->bits == 64) {
			gw64(vm, fp, off);
			gw16(vm, fp + 8, sel);
		} else if (c->bits == 32) {
			gw32(vm, fp, off);
			gw16(vm, fp + 4, sel);
		} else {
			gw16(vm, fp, off);
			gw16(vm, fp + 2, pct(50) ? c->cs_sel : sel);
		}
	}
}

/* An XSAVE area: empty (valid), junk, or a header asking for state. */
static void build_xsave(struct vm *vm, struct gcase *c)
{
	int kind = below(3);

	if (kind == 0)
		return;
	grandom(vm, c->xsave, PAGE_SIZE);
	if (kind == 2) {
		gw32(vm, c->xsave + 24, 0x1f80);		/* MXCSR */
		gw64(vm, c->xsave + 512, below(8));		/* XSTATE_BV */
		gw64(vm, c->xsave + 520, pct(80) ? 0 : rnd());	/* XCOMP_BV */
		gw64(vm, c->xsave + 528, 0);
	}
}

/* ---------------------------------------------------------------- */
/* Page tables                                                       */

static void note_pte(struct gcase *c, uint64_t gpa, uint64_t val)
{
	if (c->npte < (int)ARRAY_SIZE(c->pte)) {
		c->pte[c->npte] = gpa;
		c->pte_val[c->npte++] = val;
	} else {
		int i = below(ARRAY_SIZE(c->pte));

		c->pte[i] = gpa;
		c->pte_val[i] = val;
	}
}

/* Now and then spoil a page-table entry. */
static uint64_t mutate_pte(uint64_t e, bool nx_ok)
{
	if (!pct(3))
		return e;
	switch (below(8)) {
	case 0:
		return e & ~PTE_P;
	case 1:
		return e & ~PTE_RW;
	case 2:
		return e ^ PTE_US;
	case 3:
		return nx_ok ? e | PTE_NX : e;
	case 4:
		return e | 1ULL << (host_phys_bits + below(52 - host_phys_bits));
	case 5:
		return (e & 0xfff) | (below(LOW_PAGES) * PAGE_SIZE);
	case 6:
		return e ^ (PTE_PCD | PTE_PWT | PTE_G);
	default:
		return rnd();
	}
}

/*
 * Identity-map the low 4 GiB, plus 4 to 5 GiB and, at 512 GiB, the top
 * slot if there is one, for long mode and for PAE paging; 2 MiB pages
 * mostly, 4 KiB pages for some of the first 16 MiB.
 */
static void build_pt_pae(struct vm *vm, struct gcase *c, bool four_level)
{
	bool nx = c->sregs.efer & EFER_NXE;
	uint64_t us = c->cpl3 || pct(30) ? PTE_US : 0;
	uint64_t flags = PTE_P | PTE_RW | us | (pct(50) ? PTE_A | PTE_D : 0);
	uint64_t pml4 = 0, pdpt, pd[5], pt;
	/*
	 * Under TCG, PML4 entry 511 stays empty, so that the last page of
	 * the linear address space is never mapped: QEMU aborts on an
	 * instruction at 0xffffffffffffffff (see tcg_sanitize()).
	 */
	int last = opt_tcg ? 510 : 511;
	int i, j;

	pdpt = pick_page(vm, c);
	if (four_level) {
		pml4 = pick_page(vm, c);
		gw64(vm, pml4, pdpt | flags);
		note_pte(c, pml4, pdpt | flags);
		if (pct(30))	/* a self-reference */
			gw64(vm, pml4 + last * 8, pml4 | flags);
		if (pct(20))
			gw64(vm, pml4 + below(last + 1) * 8, pdpt | flags);
		if (pct(10))
			gw64(vm, pml4 + below(last + 1) * 8, rnd());
		if (opt_tcg)
			gw64(vm, pml4 + 511 * 8, 0);
		c->cr3 = pml4;
	} else {
		/* PAE: the PDPT is 4 entries, 32-byte aligned. */
		pdpt += below(PAGE_SIZE / 32) * 32;
		c->cr3 = pdpt;
	}
	for (i = 0; i < (four_level ? 5 : 4); i++) {
		if (i == 1 || i == 2) {		/* 1-3 GiB: shared with 0-1 */
			pd[i] = pd[0];
		} else {
			pd[i] = pick_page(vm, c);
		}
		/* PAE PDPTEs have no RW/US bits: those are reserved. */
		gw64(vm, pdpt + i * 8,
		     pd[i] | (four_level ? flags : PTE_P));
		note_pte(c, pdpt + i * 8, pd[i] | PTE_P);
		if (i == 1 || i == 2)
			continue;
		for (j = 0; j < 512; j++) {
			uint64_t gpa = (uint64_t)i * GiB + j * 2 * MiB;
			uint64_t e = gpa | flags | PTE_PS;

			if (i == 0 && j < 8 && pct(30)) {
				int k;

				pt = pick_page(vm, c);
				for (k = 0; k < 512; k++)
					gw64(vm, pt + k * 8,
					     mutate_pte((gpa + k * PAGE_SIZE) |
							flags, nx));
				note_pte(c, pt + below(512) * 8,
					 gpa | flags);
				e = pt | flags;
			}
			if (nx && pct(2))
				e |= PTE_NX;
			e = mutate_pte(e, nx);
			gw64(vm, pd[i] + j * 8, e);
			if (j < 8 || pct(1))
				note_pte(c, pd[i] + j * 8, e);
		}
	}
	/* The top slot, at 512 GiB. */
	if (four_level && vm->top_gpa) {
		uint64_t pdpt2 = pick_page(vm, c), pd2 = pick_page(vm, c);

		gw64(vm, pml4 + 8, pdpt2 | flags);
		gw64(vm, pdpt2, pd2 | flags);
		gw64(vm, pd2, vm->top_gpa | flags | PTE_PS);
	}
	if (pct(20))
		c->alt_cr3 = pick_page(vm, c);	/* junk page tables */
	else
		c->alt_cr3 = c->cr3;
}

/* 32-bit paging: 4 MiB pages with CR4.PSE, else 4 KiB for 16 MiB. */
static void build_pt_32(struct vm *vm, struct gcase *c)
{
	uint32_t us = c->cpl3 || pct(30) ? PTE_US : 0;
	uint32_t flags = PTE_P | PTE_RW | us;
	bool pse = c->sregs.cr4 & CR4_PSE;
	uint64_t pd = pick_page(vm, c);
	int i, k;

	c->cr3 = pd;
	for (i = 0; i < 1024; i++) {
		uint32_t e = 0;

		if (i < 4 && (!pse || pct(50))) {
			uint64_t pt = pick_page(vm, c);

			for (k = 0; k < 1024; k++)
				gw32(vm, pt + k * 4,
				     mutate_pte((i << 22) + k * PAGE_SIZE +
						flags, false));
			e = pt | flags;
			note_pte(c, pt + below(1024) * 4, flags);
		} else if (pse) {
			e = (uint32_t)i << 22 | flags | PTE_PS;
		}
		e = mutate_pte(e, false);
		gw32(vm, pd + i * 4, e);
		if (i < 8)
			note_pte(c, pd + i * 4, e);
	}
	c->alt_cr3 = pct(20) ? pick_page(vm, c) : c->cr3;
}

/* ---------------------------------------------------------------- */
/* Code generation                                                   */

struct cg {
	uint8_t buf[CODE_MAX + 64];
	size_t len;
	int bits;
	uint64_t lin;		/* linear address of buf[0] */
	uint64_t ip;		/* its offset in CS (rip) */
	struct gcase *c;
	struct vm *vm;
	/* emit_smc()'s stores: offset of the value in buf, size, target */
	struct {
		size_t val;
		size_t size;
		uint64_t lin;
	} smc[16];
	int nsmc;
	/* --bochs-safe: the POPF and IRET opcodes bochs_code() leaves be */
	bool keep[CODE_MAX + 64];
};

static bool cg_full(struct cg *g)
{
	return g->len > CODE_MAX - 48;
}

static void b(struct cg *g, uint8_t x)
{
	if (g->len < sizeof(g->buf))
		g->buf[g->len++] = x;
}

/* An opcode byte bochs_code() must not touch: IF-safe POPF and IRET. */
static void b_keep(struct cg *g, uint8_t x)
{
	if (g->len < sizeof(g->buf))
		g->keep[g->len] = true;
	b(g, x);
}

static void bytes(struct cg *g, const char *s, size_t n)
{
	while (n--)
		b(g, *s++);
}

#define E(g, s)	bytes(g, s, sizeof(s) - 1)

static void w16(struct cg *g, uint16_t v)
{
	b(g, v);
	b(g, v >> 8);
}

static void d32(struct cg *g, uint32_t v)
{
	w16(g, v);
	w16(g, v >> 16);
}

static void q64(struct cg *g, uint64_t v)
{
	d32(g, v);
	d32(g, v >> 32);
}

/* Start of an instruction, for the instruction count. */
static void insn(struct cg *g)
{
	if (g->c->ninsn < MAX_INSNS)
		g->c->starts[g->c->ninsn++] = g->len;
}

/* 32-bit operand or address size from 16-bit code. */
static void o32(struct cg *g)
{
	if (g->bits == 16)
		b(g, 0x66);
}

static void a32(struct cg *g)
{
	if (g->bits == 16)
		b(g, 0x67);
}

static void rexw(struct cg *g)
{
	if (g->bits == 64)
		b(g, 0x48);
}

/* Linear address and offset of the next byte to be emitted. */
static uint64_t here_ip(struct cg *g)
{
	return g->ip + g->len;
}

/* mov reg, v: 32-bit (zero-extended), or 64-bit when it needs to be. */
static void mov_imm(struct cg *g, int reg, uint64_t v)
{
	insn(g);
	if (g->bits == 64 && v > 0xffffffffULL) {
		b(g, 0x48);
		b(g, 0xb8 + reg);
		q64(g, v);
		return;
	}
	o32(g);
	b(g, 0xb8 + reg);
	d32(g, v);
}

/* An operation on [ebx] (or [rbx]): prefixes, opcode, /reg. */
static void mem_op(struct cg *g, const char *pre, size_t npre, bool w,
		   const char *op, size_t nop, int reg)
{
	insn(g);
	a32(g);
	bytes(g, pre, npre);
	if (w)
		rexw(g);
	bytes(g, op, nop);
	b(g, reg << 3 | 3);
}

#define MEM(g, pre, w, op, reg) \
	mem_op(g, pre, sizeof(pre) - 1, w, op, sizeof(op) - 1, reg)

/* A data address worth touching. */
static uint64_t pick_addr(struct cg *g)
{
	struct gcase *c = g->c;

	switch (below(12)) {
	case 0:
	case 1:
		return c->pool + POOL_SCRATCH + below(0xc00);
	case 2:		/* our own code, ahead */
		return g->lin + g->len + below(64);
	case 3:		/* across a page boundary */
		return c->pool + PAGE_SIZE - 1 - below(7);
	case 4:		/* MMIO on kvm_amd, an emulation failure on okvm */
		return c->unbacked;
	case 5:
		return c->npte ? c->pte[below(c->npte)] : c->pool;
	case 6:
		return PICK(((const uint64_t []){ c->gdt, c->idt, c->tss }));
	case 7:
		return c->stack_top - 4 - below(256);
	case 8:
		if (g->bits == 64)
			return pct(50) ? HIGH_GPA + below(HIGH_SIZE) :
			       0x8000000000ULL + below(TOP_SIZE);
		return c->xsave + below(PAGE_SIZE);
	case 9:
		return (uint32_t)rnd();
	case 10:
		return c->xsave;
	default:
		return below(LOW_MEM);
	}
}

static void set_ebx(struct cg *g, uint64_t addr)
{
	mov_imm(g, 3, addr);
}

static const uint64_t io_ports[] = {
	0x7e, HANDLER_PORT, 0x80, 0x3f8, 0x3f9, 0x20, 0x21, 0xa0, 0x40, 0x43,
	0x60, 0x61, 0x64, 0x70, 0x71, 0x92, 0xcf8, 0xcfc, 0xcf9, 0x510, 0x511,
	0x402, 0xe9, 0x4000, 0xfffc, 0xfffe, 0xffff,
};

static uint16_t pick_port(void)
{
	return pct(80) ? PICK(io_ports) : rnd();
}

static void emit_io(struct cg *g)
{
	uint16_t port = pick_port();
	static const uint8_t imm_ops[] = { 0xe4, 0xe5, 0xe6, 0xe7 };
	static const uint8_t dx_ops[] = { 0xec, 0xed, 0xee, 0xef };

	if (pct(50)) {
		mov_imm(g, 0, interesting_value());
		insn(g);
		if (pct(30))
			b(g, 0x66);
		b(g, imm_ops[below(4)]);
		b(g, port);
	} else {
		mov_imm(g, 2, port);
		mov_imm(g, 0, interesting_value());
		insn(g);
		if (pct(30))
			b(g, 0x66);
		b(g, dx_ops[below(4)]);
	}
}

/* INS/OUTS, with or without REP, any size, either direction. */
static void emit_string_io(struct cg *g)
{
	static const uint8_t ops[] = { 0x6c, 0x6d, 0x6e, 0x6f };

	mov_imm(g, 2, pick_port());
	mov_imm(g, 1, pct(50) ? below(4) : interesting_value());
	mov_imm(g, 6, pick_addr(g));
	mov_imm(g, 7, pick_addr(g));
	if (pct(20)) {
		insn(g);
		b(g, 0xfd);		/* std */
	}
	insn(g);
	if (pct(30))
		b(g, 0x66);
	if (pct(30))
		b(g, 0x67);
	if (pct(70))
		b(g, 0xf3);
	b(g, ops[below(4)]);
}

static void emit_cpuid(struct cg *g)
{
	static const uint64_t leaves[] = {
		0, 1, 2, 4, 6, 7, 0xb, 0xd, 0xf, 0x10, 0x14, 0x1f, 0x40000000,
		0x40000001, 0x40000010, 0x80000000, 0x80000001, 0x80000007,
		0x80000008, 0x8000000a, 0x8000001f, 0x80000021, 0x8fffffff,
		0xffffffff,
	};

	mov_imm(g, 0, pct(85) ? PICK(leaves) : rnd());
	mov_imm(g, 1, pct(70) ? below(3) : rnd());
	insn(g);
	E(g, "\x0f\xa2");
}

static void emit_msr(struct cg *g)
{
	static const uint64_t msrs[] = {
		0x10, 0x1b, 0x3a, 0x48, 0x49, 0x8b, 0xfe, 0x174, 0x175, 0x176,
		0x1d9, 0x277, 0x2ff, 0x6e0, 0x802, 0x80b, 0x830, 0xc0000080,
		0xc0000081, 0xc0000082, 0xc0000084, 0xc0000100, 0xc0000101,
		0xc0000102, 0xc0000103, 0xc0010114, 0xc0010117, 0xc0010015,
		0xc0011029, 0x40000000, 0x4b564d00, 0x4b564d01, 0xffffffff,
	};

	uint64_t msr = pct(85) ? PICK(msrs) : (uint32_t)rnd();
	uint64_t lo = interesting_value();
	bool wr;

	/* kvm_amd emulates EFER: see tcg_sanitize() for EFER.LME. */
	if (opt_tcg && msr == 0xc0000080)
		lo &= ~(1ULL << 8);
	mov_imm(g, 1, msr);
	mov_imm(g, 0, lo);
	mov_imm(g, 2, pct(50) ? 0 : interesting_value());
	insn(g);
	E(g, "\x0f");
	wr = pct(50);
	/* SYSENTER_CS and SFMASK: see bochs_byte(). */
	if (opt_bochs && (msr == 0x174 || msr == 0xc0000084))
		wr = false;
	b(g, wr ? 0x30 : 0x32);
}

static void emit_xsetbv(struct cg *g)
{
	static const uint64_t vals[] = { 1, 3, 7, 5, 6, 0, 0x1f, 0xe7, 0x207 };

	mov_imm(g, 1, pct(85) ? 0 : rnd());
	mov_imm(g, 0, pct(85) ? PICK(vals) : rnd());
	mov_imm(g, 2, pct(90) ? 0 : rnd());
	insn(g);
	if (pct(80))
		E(g, "\x0f\x01\xd1");	/* xsetbv */
	else
		E(g, "\x0f\x01\xd0");	/* xgetbv */
}

/*
 * The 0F 01 group: SVM, VMX, MONITOR/MWAIT and the rest, RAX pointing at
 * something.
 */
static void emit_0f01(struct cg *g)
{
	static const uint64_t modrm[] = {
		0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,	/* SVM */
		0xc1, 0xc2, 0xc3, 0xc4, 0xd4,			/* VMX */
		0xc8, 0xc9, 0xfa, 0xfb,				/* MONITOR */
		0xca, 0xcb, 0xcf, 0xd5, 0xd6, 0xd7, 0xe8, 0xee, 0xef,
		0xf8, 0xf9, 0xfc, 0xfd, 0xfe, 0xff,
	};

	mov_imm(g, 0, pct(70) ? pick_addr(g) & ~0xfffULL : interesting_value());
	mov_imm(g, 1, pct(70) ? 0 : interesting_value());
	mov_imm(g, 2, pct(70) ? 0 : interesting_value());
	insn(g);
	if (pct(10))
		b(g, PICK(((const uint64_t []){ 0x66, 0xf3, 0xf2, 0x67 })));
	if (g->bits == 64 && pct(20))
		b(g, 0x48);
	E(g, "\x0f\x01");
	b(g, PICK(modrm));
}

static void emit_int(struct cg *g)
{
	insn(g);
	switch (below(6)) {
	case 0:
		b(g, 0xcc);			/* int3 */
		break;
	case 1:
		b(g, 0xce);			/* into */
		break;
	case 2:
		b(g, 0xf1);			/* icebp */
		break;
	default:
		b(g, 0xcd);			/* int n */
		b(g, pct(50) ? below(32) : rnd());
		break;
	}
}

static void emit_mov_cr(struct cg *g)
{
	static const uint64_t cr0_bits[] = {
		CR0_PE, CR0_MP, CR0_EM, CR0_TS, CR0_NE, CR0_WP, CR0_AM, CR0_NW,
		CR0_CD, CR0_PG, CR0_CD | CR0_NW, CR0_PG | CR0_PE,
	};
	int cr = PICK(((const uint64_t []){ 0, 0, 0, 2, 3, 3, 4, 4, 4, 8 }));
	uint32_t flip;

	if (pct(5))
		cr = below(16);
	if (cr == 0 && tcg_lme)		/* see tcg_sanitize() */
		cr = 4;
	if (cr == 3) {
		mov_imm(g, 0, pct(70) ? g->c->alt_cr3 : g->c->cr3);
	} else {
		/* Read it, flip a bit or two, write it back. */
		insn(g);
		if (cr == 8 && g->bits == 64)
			b(g, 0x44);
		else if (cr == 8)
			b(g, 0xf0);	/* AMD's LOCK MOV CR0 = CR8 */
		E(g, "\x0f\x20");
		b(g, 0xc0 | (cr & 7) << 3);
		if (cr == 0)
			flip = PICK(cr0_bits);
		else if (cr == 4)
			flip = 1U << below(24);
		else
			flip = pct(50) ? below(16) : rnd();
		insn(g);
		b(g, 0x35);		/* xor eax, imm32 */
		d32(g, flip);
	}
	insn(g);
	if (cr == 8 && g->bits == 64)
		b(g, 0x44);
	else if (cr == 8 || (cr > 7 && pct(50)))
		b(g, 0xf0);
	E(g, "\x0f\x22");
	b(g, 0xc0 | (cr & 7) << 3);
}

static void emit_mov_dr(struct cg *g)
{
	int dr = pct(90) ? PICK(((const uint64_t []){ 0, 1, 2, 3, 6, 7, 7, 7 })) :
		 below(8);
	uint64_t v;

	if (opt_tcg && (dr & 5) == 5)	/* DR7, or DR5 aliasing it */
		dr = 6;
	if (dr < 4)
		v = pct(30) ? pick_port() : pct(50) ? g->lin + g->len + below(32) :
		    pick_addr(g);
	else if (dr == 7)
		/* L0-L3/G0-G3, any R/W and LEN, sometimes GD. */
		v = (rnd() & 0xffff00ffULL) | (pct(10) ? 1 << 13 : 0) | 0x400;
	else
		v = interesting_value();
	if (pct(20)) {			/* read instead */
		insn(g);
		E(g, "\x0f\x21");
		b(g, 0xc0 | dr << 3);
		return;
	}
	mov_imm(g, 0, v);
	insn(g);
	E(g, "\x0f\x23");
	b(g, 0xc0 | dr << 3);
}

static const uint64_t sels[] = {
	0, 3, SEL_CODE32, SEL_DATA, SEL_CODE16, SEL_DATA16, SEL_CODE64,
	SEL_CODE32_U, SEL_DATA_U, SEL_CODE64_U, SEL_TSS, SEL_LDT,
	SEL_CALLGATE, SEL_TSS2, SEL_JUNK, 0x80, 0x4, 0xc, 0xffff,
};

/* LGDT/LIDT from the pool, SGDT/SIDT, LTR/LLDT, segment loads... */
static void emit_desc(struct cg *g)
{
	static const uint64_t dtr[] = {
		POOL_GDTR, POOL_IDTR, POOL_BADDTR, POOL_ZERODTR,
	};
	struct gcase *c = g->c;

	switch (below(8)) {
	case 0: {	/* lgdt or lidt */
		uint64_t src = pct(90) ? c->pool + PICK(dtr) : pick_addr(g);
		/*
		 * No real-mode IVT in other memory (see bochs_byte()).  LIDT
		 * or LGDT is drawn last otherwise, as before --bochs-safe,
		 * so that the other hosts' seeds replay the same cases.
		 */
		int lidt = opt_bochs ? pct(50) : -1;

		if (lidt > 0)
			src = c->pool + (pct(50) ? POOL_IDTR : POOL_ZERODTR);
		set_ebx(g, src);
		if (pct(30))
			o32(g);
		if (lidt < 0)
			lidt = !pct(50);
		MEM(g, "", false, "\x0f\x01", lidt ? 3 : 2);
		break;
	}
	case 1:		/* sgdt, sidt, sldt, str, smsw to memory */
		set_ebx(g, pick_addr(g));
		if (pct(50))
			MEM(g, "", false, "\x0f\x01", below(2) ? 0 : 1);
		else
			MEM(g, "", false, "\x0f\x00", below(2));
		break;
	case 2: {	/* ltr, lldt */
		uint16_t sel = pct(80) ? PICK(sels) : rnd();
		bool ltr = pct(50) && !opt_tcg;	/* see tcg_sanitize() */

		mov_imm(g, 0, sel);
		insn(g);
		E(g, "\x0f\x00");
		b(g, ltr ? 0xd8 : 0xd0);
		break;
	}
	case 3:		/* verr, verw, lar, lsl */
		mov_imm(g, 0, PICK(sels));
		insn(g);
		switch (below(4)) {
		case 0:
			E(g, "\x0f\x00\xe0");
			break;
		case 1:
			E(g, "\x0f\x00\xe8");
			break;
		case 2:
			E(g, "\x0f\x02\xc0");
			break;
		default:
			E(g, "\x0f\x03\xc0");
			break;
		}
		break;
	case 4:		/* mov sreg, ax; sometimes mov ss followed by more */
		mov_imm(g, 0, pct(80) ? PICK(sels) : rnd());
		insn(g);
		b(g, 0x8e);
		b(g, 0xc0 | PICK(((const uint64_t []){ 0, 2, 3, 4, 5 })) << 3);
		break;
	case 5:		/* mov ss, then something that exits or traps */
		mov_imm(g, 0, c->ss_sel);
		insn(g);
		E(g, "\x8e\xd0");
		insn(g);
		switch (below(5)) {
		case 0:
			b(g, 0xf4);
			break;
		case 1:
			E(g, "\x0f\xa2");
			break;
		case 2:
			b(g, 0xcc);
			break;
		case 3:
			b(g, 0xe6);
			b(g, pick_port());
			break;
		default:
			E(g, "\x0f\x01\xd9");
			break;
		}
		break;
	case 6: {	/* lss/lfs/lgs from a far pointer */
		static const char *const lxs[] = {
			"\x0f\xb2", "\x0f\xb4", "\x0f\xb5",
		};

		set_ebx(g, c->pool + POOL_FARPTR + below(POOL_NFARPTR) * 16);
		mem_op(g, "", 0, pct(50), lxs[below(3)], 2, 0);
		break;
	}
	default:	/* clts, lmsw, smsw */
		insn(g);
		switch (below(3)) {
		case 0:
			E(g, "\x0f\x06");
			break;
		case 1:
			mov_imm(g, 0, interesting_value());
			insn(g);
			E(g, "\x0f\x01\xf0");
			break;
		default:
			E(g, "\x0f\x01\xe0");
			break;
		}
		break;
	}
}

/*
 * IRET or RETF through a frame pushed as immediates; the new IP is
 * mostly right after the IRET, the rest is anything: another CS, CPL 3,
 * virtual-8086 mode, TF, NT...
 */
static void emit_ret_far(struct cg *g, bool iret)
{
	struct gcase *c = g->c;
	size_t push_len = g->bits == 16 ? 3 : 5;
	size_t ret_len = g->bits == 64 ? 2 : 1;
	uint64_t frame[5];		/* in pop order */
	int n, i;

	if (iret)
		n = g->bits == 64 || pct(30) ? 5 : 3;
	else
		n = pct(20) ? 4 : 2;
	frame[1] = pct(50) ? c->cs_sel : PICK(sels);
	if (iret) {
		frame[2] = 0x2 | (pct(20) ? RFLAGS_TF : 0) |
			   (pct(30) || opt_bochs ? RFLAGS_IF : 0) |
			   (pct(10) ? RFLAGS_VM : 0) |
			   (pct(10) ? RFLAGS_NT : 0) |
			   (pct(10) ? RFLAGS_AC : 0) |
			   (pct(20) ? 3 << 12 : 0);
		frame[3] = c->stack_top - 0x100;
		frame[4] = pct(50) ? c->ss_sel : PICK(sels);
	} else {
		frame[2] = c->stack_top - 0x100;
		frame[3] = pct(50) ? c->ss_sel : PICK(sels);
	}
	frame[0] = pct(90) ? here_ip(g) + n * push_len + ret_len :
		   interesting_value();
	for (i = n - 1; i >= 0; i--) {
		insn(g);
		b(g, 0x68);		/* push imm */
		if (g->bits == 16)
			w16(g, frame[i]);
		else
			d32(g, frame[i]);
	}
	insn(g);
	if (g->bits == 64)
		b(g, 0x48);
	b_keep(g, iret ? 0xcf : 0xcb);
}

/* Far jumps and calls, direct and through memory, RETF and IRET. */
static void emit_far(struct cg *g)
{
	struct gcase *c = g->c;
	uint16_t sel = pct(85) ? PICK(sels) : rnd();
	int kind = below(6);

	if (g->bits == 16 && pct(70))
		sel = c->cs_sel;
	if (kind == 0 && g->bits != 64) {	/* jmp/call ptr16:16/32 */
		size_t len = g->bits == 16 ? 5 : 7;

		insn(g);
		b(g, pct(50) ? 0xea : 0x9a);
		if (g->bits == 16)
			w16(g, here_ip(g) + len - 1);
		else
			d32(g, g->lin + g->len + len - 1);
		w16(g, sel);
		return;
	}
	if (kind <= 2) {			/* jmp/call far [ebx] */
		set_ebx(g, c->pool + POOL_FARPTR + below(POOL_NFARPTR) * 16);
		MEM(g, "", pct(30), "\xff", pct(50) ? 5 : 3);
		return;
	}
	emit_ret_far(g, kind != 3);
}

static void emit_sys(struct cg *g)
{
	static const char *const ops[] = {
		"\x0f\x05", "\x0f\x07", "\x0f\x34", "\x0f\x35", "\x0f\xaa",
		"\x0f\x0b", "\x0f\xff", "\x0f\xb9", "\x0f\x31", "\x0f\x33",
		"\x0f\x08", "\x0f\x09", "\x0f\x06", "\x0f\x0d",
	};
	const uint8_t *op = (const uint8_t *)ops[below(ARRAY_SIZE(ops))];

	if (op[1] == 0x33 || op[1] == 0x07 || op[1] == 0x35)
		mov_imm(g, 1, pct(50) ? below(8) : interesting_value());
	if (op[1] == 0x07 || op[1] == 0x35)
		mov_imm(g, 2, interesting_value());
	insn(g);
	if (pct(10))
		b(g, 0xf3);
	if (g->bits == 64 && pct(40))
		b(g, 0x48);
	bytes(g, (const char *)op, 2);
	if (op[1] == 0x0d || op[1] == 0xff || op[1] == 0xb9)
		b(g, 0xc0 | below(64));		/* a register modrm */
}

static void emit_xsave(struct cg *g)
{
	struct gcase *c = g->c;
	static const char *const ops[] = {
		"\x0f\xae", "\x0f\xae", "\x0f\xae", "\x0f\xae", "\x0f\xae",
		"\x0f\xc7", "\x0f\xc7", "\x0f\xc7",
	};
	static const int regs[] = { 4, 5, 6, 0, 1, 4, 3, 5 };
	int i = below(ARRAY_SIZE(ops));
	uint64_t addr = pct(70) ? c->xsave : pick_addr(g);

	set_ebx(g, pct(90) ? addr & ~63ULL : addr);
	mov_imm(g, 0, pct(60) ? 7 : interesting_value());
	mov_imm(g, 2, pct(80) ? 0 : interesting_value());
	if (pct(10)) {			/* ldmxcsr/stmxcsr */
		MEM(g, "", false, "\x0f\xae", pct(50) ? 2 : 3);
		return;
	}
	mem_op(g, "", 0, pct(50), ops[i], 2, regs[i]);
}

/* SSE, AVX and x87 arithmetic, vzeroupper and friends. */
static void emit_simd(struct cg *g)
{
	static const char *const ops[] = {
		"\x0f\x28\xc1", "\x0f\x58\xc1", "\x66\x0f\xef\xc0",
		"\xf2\x0f\x5e\xc1", "\x0f\x57\xc9", "\xc5\xf8\x77",
		"\xc5\xfc\x58\xc1", "\xc5\xfd\xef\xc0", "\xc5\xfc\x77",
		"\xd9\xe8", "\xd9\xee", "\xde\xf9", "\xdb\xe3", "\x9b",
		"\xdf\xe0", "\xd9\xfa", "\xd8\xf0", "\x66\x0f\x38\x00\xc1",
		"\xc4\xe2\x7d\x58\xc0", "\x0f\x77", "\x0f\xef\xc0",
		"\xf3\x0f\xb8\xc1", "\x66\x0f\x3a\x44\xc1\x00",
	};
	const char *op = ops[below(ARRAY_SIZE(ops))];

	if (pct(20)) {			/* a load or store through [ebx] */
		set_ebx(g, pick_addr(g));
		switch (below(4)) {
		case 0:
			MEM(g, "", false, "\x0f\x10", 0);	/* movups */
			break;
		case 1:
			MEM(g, "", false, "\x0f\x29", 1);	/* movaps st */
			break;
		case 2:
			MEM(g, "", false, "\xc5\xfc\x11", 0);	/* vmovups */
			break;
		default:
			MEM(g, "", false, "\xdd", 0);		/* fld m64 */
			break;
		}
		return;
	}
	insn(g);
	bytes(g, op, strlen(op));
}

/* Locked read-modify-writes, some split across lines or pages. */
static void emit_locked(struct cg *g)
{
	static const char *const ops[] = {
		"\x01", "\x0f\xb1", "\x0f\xc7", "\x87", "\x0f\xc1", "\xff",
		"\x0f\xab", "\x80",
	};
	uint64_t addr = pick_addr(g);
	int i = below(ARRAY_SIZE(ops));

	if (pct(30))
		addr = (addr & ~63ULL) + 62;	/* split lock */
	set_ebx(g, addr);
	if (pct(5)) {			/* lock on a register: #UD */
		insn(g);
		E(g, "\xf0\x01\xc0");
		return;
	}
	mem_op(g, "\xf0", 1, pct(30), ops[i], strlen(ops[i]), i == 2 ? 1 : 0);
	if (ops[i][0] == (char)0x80)
		b(g, rnd());
}

/* Stores into the code about to run. */
static void emit_smc(struct cg *g)
{
	static const uint64_t vals[] = { 0xf4, 0xcc, 0x90, 0xe6, 0x0f, 0xcd };
	uint64_t lin = g->lin + g->len + 10 + below(48);
	size_t val, size;

	set_ebx(g, lin);
	if (pct(70)) {
		MEM(g, "", false, "\xc6", 0);		/* mov byte [ebx],imm */
		val = g->len;
		size = 1;
		b(g, pct(70) ? PICK(vals) : rnd());
	} else {
		MEM(g, "", false, "\xc7", 0);		/* mov dword [ebx],imm */
		val = g->len;
		size = g->bits == 16 ? 2 : 4;	/* no 66 prefix: a word */
		d32(g, rnd());
	}
	if (g->nsmc < (int)ARRAY_SIZE(g->smc)) {
		g->smc[g->nsmc].val = val;
		g->smc[g->nsmc].size = size;
		g->smc[g->nsmc++].lin = lin;
	} else if (opt_tcg && val + size <= g->len) {
		memset(g->buf + val, 0x90, size);	/* see tcg_smc() */
	}
}

/* Stores to page table entries, then INVLPG or a CR3 reload. */
static void emit_pt_store(struct cg *g)
{
	struct gcase *c = g->c;
	uint64_t e;
	int i;

	if (!c->npte) {
		emit_smc(g);
		return;
	}
	i = below(c->npte);
	e = c->pte_val[i];
	switch (below(5)) {
	case 0:
		e &= ~PTE_P;
		break;
	case 1:
		e ^= PTE_RW;
		break;
	case 2:
		e = (e & 0xfff) | below(LOW_PAGES) * PAGE_SIZE;
		break;
	case 3:
		e ^= PTE_PS;
		break;
	default:
		e = rnd();
		break;
	}
	set_ebx(g, c->pte[i]);
	MEM(g, "", false, "\xc7", 0);
	d32(g, e);
	if (pct(30)) {
		MEM(g, "", false, "\x0f\x01", 7);	/* invlpg [ebx] */
	} else if (pct(50)) {
		insn(g);
		E(g, "\x0f\x20\xd8\x0f\x22\xd8");	/* reload cr3 */
	}
}

static void emit_string(struct cg *g)
{
	static const uint64_t ops[] = {
		0xa4, 0xa5, 0xaa, 0xab, 0xa6, 0xa7, 0xae, 0xaf, 0xac, 0xad,
	};

	mov_imm(g, 1, pct(60) ? below(64) : pct(50) ? below(0x10000) :
		interesting_value());
	mov_imm(g, 6, pick_addr(g));
	mov_imm(g, 7, pick_addr(g));
	insn(g);
	if (pct(20))
		b(g, pct(50) ? 0xfd : 0xfc);
	insn(g);
	if (pct(20))
		b(g, 0x67);
	if (pct(20))
		b(g, 0x66);
	if (pct(80))
		b(g, pct(80) ? 0xf3 : 0xf2);
	b(g, PICK(ops));
}

/* Plain loads and stores, with segment overrides. */
static void emit_mem(struct cg *g)
{
	static const uint64_t seg[] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };

	set_ebx(g, pick_addr(g));
	insn(g);
	a32(g);
	if (pct(30))
		b(g, PICK(seg));
	if (pct(20))
		o32(g);
	rexw(g);
	switch (below(5)) {
	case 0:
		E(g, "\x8b\x03");		/* mov eax,[ebx] */
		break;
	case 1:
		E(g, "\x89\x03");		/* mov [ebx],eax */
		break;
	case 2:
		E(g, "\x0f\xae\x3b");		/* clflush [ebx] */
		break;
	case 3:
		E(g, "\x0f\x0d\x0b");		/* prefetchw [ebx] */
		break;
	default:
		E(g, "\xff\x03");		/* inc dword [ebx] */
		break;
	}
}

/* RFLAGS: set TF, AC, IF, DF, NT, RF, ID, IOPL through pushf/popf. */
static void emit_flags(struct cg *g)
{
	static const uint64_t bits[] = {
		RFLAGS_TF, RFLAGS_AC, RFLAGS_IF, RFLAGS_DF, RFLAGS_NT,
		RFLAGS_RF, RFLAGS_ID, 3 << 12, RFLAGS_VM, RFLAGS_VIF,
	};

	switch (below(4)) {
	case 0:
		insn(g);
		b(g, PICK(((const uint64_t []){ 0xfb, 0xfa, 0xfd, 0xfc })));
		break;
	case 1:		/* sti; hlt (or another exit) in the shadow */
		insn(g);
		b(g, 0xfb);
		insn(g);
		if (pct(50))
			b(g, 0xf4);
		else
			E(g, "\x0f\xa2");
		break;
	default:
		insn(g);
		o32(g);
		b(g, 0x9c);			/* pushf */
		insn(g);
		o32(g);
		b(g, 0x58);			/* pop eax */
		insn(g);
		o32(g);
		b(g, 0x35);			/* xor eax, imm32 */
		d32(g, (PICK(bits) | (pct(30) ? PICK(bits) : 0)) &
		    ~(opt_bochs ? RFLAGS_IF : 0));
		insn(g);
		o32(g);
		b(g, 0x50);			/* push eax */
		insn(g);
		o32(g);
		b_keep(g, 0x9d);		/* popf */
		break;
	}
}

/* Control flow: spins, loops, jumps to anywhere, calls. */
static void emit_jump(struct cg *g)
{
	int n;

	switch (below(7)) {
	case 0:		/* loop $ with a count */
		mov_imm(g, 1, pct(50) ? below(1000) : interesting_value());
		insn(g);
		if (pct(30)) {
			E(g, "\xf3\x90");	/* pause */
			insn(g);
			E(g, "\xe2\xfc");
		} else {
			E(g, "\xe2\xfe");
		}
		break;
	case 1:		/* jmp eax */
		mov_imm(g, 0, pct(50) ? pick_addr(g) : interesting_value());
		insn(g);
		E(g, "\xff\xe0");
		break;
	case 2:		/* jmp forward over junk */
		n = 1 + below(16);
		insn(g);
		b(g, 0xeb);
		b(g, n);
		while (n--)
			b(g, rnd());
		break;
	case 3:		/* call next; pop */
		insn(g);
		b(g, 0xe8);
		if (g->bits == 16)
			w16(g, 0);
		else
			d32(g, 0);
		insn(g);
		b(g, 0x58);
		break;
	case 4:		/* jcc backwards a little */
		insn(g);
		b(g, 0x70 + below(16));
		b(g, -(int)(2 + below(16)));
		break;
	case 5:		/* enter/leave, push/pop segment registers */
		insn(g);
		b(g, PICK(((const uint64_t []){
			0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0xc9, 0x60,
			0x61, 0xd6, 0x27, 0x37, 0xd4 })));
		break;
	default:	/* pause */
		insn(g);
		E(g, "\xf3\x90");
		break;
	}
}

/* Division by zero and other arithmetic faults. */
static void emit_arith(struct cg *g)
{
	switch (below(4)) {
	case 0:
		mov_imm(g, 1, pct(50) ? 0 : interesting_value());
		mov_imm(g, 2, interesting_value());
		insn(g);
		rexw(g);
		E(g, "\xf7\xf1");		/* div ecx */
		break;
	case 1:
		insn(g);
		E(g, "\x0f\xc7\xf0");		/* rdrand eax */
		break;
	case 2:		/* bound (62 is EVEX in 64-bit mode) */
		set_ebx(g, pick_addr(g));
		MEM(g, "", false, "\x62", 0);
		break;
	default:
		insn(g);
		b(g, 0x0f);
		b(g, PICK(((const uint64_t []){ 0xbc, 0xbd, 0xaf, 0xa3 })));
		b(g, 0xc0 | below(64));
		break;
	}
}

/* 64-bit only: swapgs, wrfsbase/wrgsbase with any value, sysret. */
static void emit_long(struct cg *g)
{
	if (g->bits != 64) {
		emit_sys(g);
		return;
	}
	mov_imm(g, 0, interesting_value());
	mov_imm(g, 1, interesting_value());
	insn(g);
	switch (below(4)) {
	case 0:
		E(g, "\xf3\x48\x0f\xae\xd0");	/* wrfsbase rax */
		break;
	case 1:
		E(g, "\xf3\x48\x0f\xae\xd8");	/* wrgsbase rax */
		break;
	case 2:
		E(g, "\x0f\x01\xf8");		/* swapgs */
		break;
	default:
		E(g, "\x48\x0f\x07");		/* sysretq */
		break;
	}
}

static void emit_random_bytes(struct cg *g)
{
	int n = 1 + below(16);

	insn(g);
	while (n--)
		b(g, rnd());
}

/* A few registers set to something worth having. */
static void emit_regs(struct cg *g)
{
	int n = 1 + below(3);

	while (n--) {
		int r = below(8);

		if (r == 4 && pct(80))
			r = 5;		/* leave ESP mostly alone */
		mov_imm(g, r, pct(50) ? pick_addr(g) : interesting_value());
	}
}

typedef void (*emitter)(struct cg *g);

static const struct {
	emitter fn;
	unsigned int weight;
} emitters[] = {
	{ emit_io, 12 },
	{ emit_string_io, 4 },
	{ emit_cpuid, 5 },
	{ emit_msr, 3 },
	{ emit_xsetbv, 3 },
	{ emit_0f01, 5 },
	{ emit_int, 4 },
	{ emit_mov_cr, 5 },
	{ emit_mov_dr, 4 },
	{ emit_desc, 5 },
	{ emit_far, 4 },
	{ emit_sys, 5 },
	{ emit_xsave, 3 },
	{ emit_simd, 4 },
	{ emit_locked, 3 },
	{ emit_smc, 2 },
	{ emit_pt_store, 3 },
	{ emit_string, 3 },
	{ emit_mem, 5 },
	{ emit_flags, 4 },
	{ emit_jump, 4 },
	{ emit_arith, 2 },
	{ emit_long, 2 },
	{ emit_random_bytes, 8 },
	{ emit_regs, 6 },
};

static void emit_one(struct cg *g)
{
	unsigned int total = 0, i, r;

	for (i = 0; i < ARRAY_SIZE(emitters); i++)
		total += emitters[i].weight;
	r = below(total);
	for (i = 0; i < ARRAY_SIZE(emitters); i++) {
		if (r < emitters[i].weight) {
			emitters[i].fn(g);
			return;
		}
		r -= emitters[i].weight;
	}
}

/*
 * The code: items from the emitters (or nothing but random bytes), an
 * ending, and now and then a round of mutation: flipped bits, bytes
 * replaced, prefixes sprinkled in.
 */
static void gen_code(struct cg *g)
{
	int items = 1 + below(pct(30) ? 8 : 120), style = below(100);
	int i;

	if (style < 8) {
		/* Nothing but random bytes. */
		insn(g);
		while (g->len < (size_t)(16 + below(CODE_MAX - 16)))
			b(g, rnd());
		return;
	}
	for (i = 0; i < items && !cg_full(g); i++)
		emit_one(g);
	insn(g);
	switch (below(10)) {
	case 0:
	case 1:
	case 2:
	case 3:
		b(g, 0xf4);			/* hlt */
		break;
	case 4:
	case 5:
		b(g, 0xe9);			/* jmp back to the start */
		if (g->bits == 16)
			w16(g, -(int)(g->len + 2));
		else
			d32(g, -(int)(g->len + 4));
		break;
	case 6:
		E(g, "\xeb\xfe");		/* jmp $ */
		break;
	default:
		break;				/* run into whatever follows */
	}
	if (style < 20) {
		int n = 1 + below(8);

		while (n--) {
			size_t at = below(g->len);

			switch (below(3)) {
			case 0:
				g->buf[at] ^= 1 << below(8);
				break;
			case 1:
				g->buf[at] = rnd();
				break;
			default:
				if (g->len + 1 < sizeof(g->buf)) {
					int k;

					memmove(g->buf + at + 1, g->buf + at,
						g->len - at);
					memmove(g->keep + at + 1, g->keep + at,
						g->len - at);
					g->keep[at] = false;
					for (k = 0; k < g->nsmc; k++)
						if (g->smc[k].val >= at)
							g->smc[k].val++;
					g->buf[at] = PICK(((const uint64_t []){
						0x66, 0x67, 0xf0, 0xf2, 0xf3,
						0x2e, 0x36, 0x3e, 0x26, 0x64,
						0x65, 0x48, 0x40, 0x4f }));
					g->len++;
				}
				break;
			}
		}
	}
}

/*
 * With --bochs-safe, no CLI, POPF or IRET opcode byte anywhere in the
 * code but the generator's own IF-safe POPFs and IRETs: a handler that
 * returns a byte or two further on, or a jump into the middle of an
 * instruction, runs a ModRM, SIB or immediate byte as an opcode (as
 * "0f 01 fa", MONITORX, is a CLI one byte on).
 */
static void bochs_code(struct cg *g)
{
	size_t i;

	for (i = 0; i < g->len; i++)
		if (!g->keep[i])
			g->buf[i] = bochs_byte(g->buf[i]);
}

/*
 * With --tcg-safe, the stores emit_smc() made must not write into the
 * code what tcg_sanitize() keeps out of it (under QEMU's TCG the
 * generated code's own stores into the code ahead were how a LOCK BTS
 * with a register operand, "tcg fatal error", came about): the code as
 * written is played forward through each store that lands in it, and a
 * store that would make tcg_sanitize() rewrite something there stores
 * NOPs instead.  Other stores of the guest's into its code (REP STOS,
 * MOV and locked operations on an address picked there) are not
 * followed: guest-made code can still get there, rarely.
 */
static void tcg_smc(struct cg *g)
{
	uint8_t sim[sizeof(g->buf)], win[96];
	int k;

	if (!opt_tcg || !g->nsmc)
		return;
	memcpy(sim, g->buf, g->len);
	fuzz_tcg_sanitize(sim, g->len, tcg_lme);	/* as gwrite() will */
	for (k = 0; k < g->nsmc; k++) {
		size_t val = g->smc[k].val, size = g->smc[k].size;
		uint64_t at = g->smc[k].lin - g->lin, lo, hi;

		if (val + size > g->len || at >= g->len)
			continue;
		if (size > g->len - at)
			size = g->len - at;
		lo = at > 32 ? at - 32 : 0;
		hi = at + size + 32 < g->len ? at + size + 32 : g->len;
		memcpy(win, sim + lo, hi - lo);
		memcpy(win + (at - lo), g->buf + val, size);
		if (fuzz_tcg_sanitize(win, hi - lo, tcg_lme)) {
			memset(g->buf + val, 0x90, size);
			memset(sim + val, 0x90, size);
			memset(sim + at, 0x90, size);
		} else {
			memcpy(sim + at, g->buf + val, size);
		}
	}
}

/* ---------------------------------------------------------------- */
/* Registers                                                         */

/* One random change to the segment or control state. */
static void weird_sregs(struct kvm_sregs *s)
{
	struct kvm_segment *segs[] = {
		&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->ldt, &s->tr,
	};
	/* QEMU's TCG aborts on a TR that is busy or not present. */
	struct kvm_segment *sg = segs[below(ARRAY_SIZE(segs) - opt_tcg)];

	switch (below(12)) {
	case 0:
		sg->present ^= 1;
		break;
	case 1:
		sg->type = below(16);
		break;
	case 2:
		sg->dpl = below(4);
		break;
	case 3:
		sg->db ^= 1;
		break;
	case 4:
		sg->l ^= 1;
		break;
	case 5:
		sg->base = interesting_value();
		break;
	case 6:
		sg->limit = interesting_value();
		break;
	case 7:
		s->efer ^= 1ULL << below(16);
		break;
	case 8:
		s->cr0 ^= 1ULL << below(32);
		break;
	case 9:
		s->cr4 ^= 1ULL << below(24);
		break;
	case 10:
		s->cs.l = 1;
		s->cs.db = 1;
		break;
	default:
		sg->s ^= 1;
		break;
	}
}

/*
 * KVM_SET_SREGS: as generated, then without the CR4 bits this target's
 * CPUID may lack, then without the weird change.  EINVAL is the only
 * acceptable refusal.
 */
static void set_sregs(struct vcpu *vc, struct gcase *c)
{
	struct kvm_sregs *try[3] = { &c->sregs, NULL, &c->plain };
	struct kvm_sregs less = c->sregs;
	int i;

	less.cr4 &= ~(CR4_FSGSBASE | CR4_SMEP | CR4_SMAP | CR4_OSXSAVE);
	try[1] = &less;
	for (i = 0; i < 3; i++) {
		if (!ioctl(vc->fd, KVM_SET_SREGS, try[i])) {
			c->sregs = *try[i];
			return;
		}
		if (errno != EINVAL)
			finding("KVM_SET_SREGS: %s", strerror(errno));
		st.sregs_refused++;
	}
	say("KVM_SET_SREGS refused a plain state (%s): cr0 %#llx cr4 %#llx efer %#llx\n",
	    strerror(errno), (unsigned long long)c->plain.cr0,
	    (unsigned long long)c->plain.cr4,
	    (unsigned long long)c->plain.efer);
}

static uint64_t random_rflags(struct gcase *c)
{
	uint64_t f = 0x2 | (rnd() & 0x8d5);		/* arithmetic flags */

	if (pct(8))
		f |= RFLAGS_TF;
	if (pct(50) || opt_bochs)
		f |= RFLAGS_IF;
	if (pct(10))
		f |= RFLAGS_DF;
	if (pct(5))
		f |= RFLAGS_NT;
	if (pct(5))
		f |= RFLAGS_RF;
	if (pct(15))
		f |= RFLAGS_AC;
	if (pct(5))
		f |= RFLAGS_VIF;
	if (pct(5))
		f |= RFLAGS_VIP;
	if (pct(20))
		f |= RFLAGS_ID;
	f |= below(4) << 12;				/* IOPL */
	if (c->env == ENV_VM86)
		f |= RFLAGS_VM;
	else if (pct(1))
		f |= RFLAGS_VM;
	return f;
}

/* ---------------------------------------------------------------- */
/* Building a case                                                   */

static int pick_env(void)
{
	static const unsigned int w[NR_ENVS] = { 22, 5, 5, 25, 8, 35 };
	unsigned int r = below(100), e;

	for (e = 0; e < NR_ENVS; e++) {
		if (r < w[e])
			return e;
		r -= w[e];
	}
	return ENV_LONG;
}

static void gen_case(struct vm *vm, struct vcpu *vc, struct gcase *c,
		     struct cg *g, const uint8_t *taken)
{
	struct kvm_sregs *s = &c->sregs;
	struct kvm_regs *r = &c->regs;
	uint64_t code_limit = LOW_MEM;
	int i;

	memset(c, 0, sizeof(*c));
	if (taken)		/* the other vCPU's pages */
		memcpy(c->used, taken, sizeof(c->used));
	c->env = pick_env();
	c->bits = c->env == ENV_LONG ? 64 :
		  c->env == ENV_PM32 || c->env == ENV_COMPAT ? 32 : 16;
	c->hbits = c->env == ENV_REAL ? 16 :
		   c->env == ENV_LONG || c->env == ENV_COMPAT ? 64 : 32;
	c->cpl3 = (c->env == ENV_PM32 || c->env == ENV_LONG ||
		   c->env == ENV_COMPAT) && pct(15);
	if (c->env == ENV_REAL || c->env == ENV_VM86)
		code_limit = 0x100000;

	/* Where everything goes. */
	c->code_gpa = pick_page_below(vm, c, code_limit);
	if (pct(20))	/* near the end of the page: may run off it */
		c->code_gpa += PAGE_SIZE - 16 - below(256);
	else
		c->code_gpa += below(64);
	c->stack_top = pick_page_below(vm, c, c->env == ENV_REAL ||
				       c->env == ENV_VM86 ? 0x100000 : LOW_MEM) +
		       PAGE_SIZE - 16;
	c->pool = pick_page(vm, c);
	c->xsave = pick_page(vm, c);
	c->gdt = pick_page(vm, c);
	c->ldt = c->gdt + 0x800;
	c->tss = pick_page(vm, c);
	c->handlers = pick_page_below(vm, c, c->env == ENV_REAL ?
				      0x100000 : LOW_MEM);
	c->idt = c->env == ENV_REAL && pct(70) ? 0 : pick_page(vm, c);
	c->unbacked = find_unbacked(vm);

	/* Control registers. */
	if (ioctl(vc->fd, KVM_GET_SREGS, s))
		die("KVM_GET_SREGS: %s", strerror(errno));
	memset(s->interrupt_bitmap, 0, sizeof(s->interrupt_bitmap));
	s->cr0 = CR0_ET;
	for (i = 0; i < 6; i++)
		if (pct(25))
			s->cr0 |= PICK(((const uint64_t []){
				CR0_MP, CR0_EM, CR0_TS, CR0_NE, CR0_WP,
				CR0_AM }));
	if (pct(20))
		s->cr0 |= CR0_CD | (pct(50) ? CR0_NW : 0);
	s->cr4 = 0;
	for (i = 0; i < 11; i++)
		if (pct(25))
			s->cr4 |= 1ULL << i;
	if (pct(70))
		s->cr4 |= CR4_OSFXSR | (1ULL << 10);
	if (pct(50))
		s->cr4 |= CR4_OSXSAVE;
	if (pct(15))
		s->cr4 |= PICK(((const uint64_t []){
			CR4_FSGSBASE, CR4_SMEP, CR4_SMAP }));
	s->efer = 0;
	s->cr2 = interesting_value();
	s->cr8 = 0;

	switch (c->env) {
	case ENV_REAL:
	case ENV_VM86:
		break;
	case ENV_PM16:
	case ENV_PM32:
		s->cr0 |= CR0_PE;
		c->paging = pct(40);
		/* Not under TCG: see tcg_sanitize() for EFER.LME. */
		c->long_armed = !opt_tcg && pct(10);
		if (c->long_armed) {
			/*
			 * LME without PG: the guest's own MOV CR0 enters
			 * long mode, in a 32-bit code segment.
			 */
			s->efer |= EFER_LME;
			s->cr4 |= CR4_PAE;
			c->paging = false;
		}
		if (c->paging) {
			c->pae = pct(50);
			s->cr0 |= CR0_PG;
			s->cr4 &= ~CR4_PAE;
			if (c->pae)
				s->cr4 |= CR4_PAE;
		}
		break;
	case ENV_COMPAT:
	case ENV_LONG:
		s->cr0 |= CR0_PE | CR0_PG;
		s->cr4 |= CR4_PAE;
		s->efer |= EFER_LME | EFER_LMA;
		c->paging = true;
		c->pae = true;
		break;
	}
	if (c->env == ENV_VM86)
		s->cr0 |= CR0_PE;
	if (pct(30))
		s->efer |= EFER_SCE;
	if ((c->pae || c->long_armed) && pct(40))
		s->efer |= EFER_NXE;

	if (c->env == ENV_LONG || c->env == ENV_COMPAT || c->long_armed)
		build_pt_pae(vm, c, true);
	else if (c->paging && c->pae)
		build_pt_pae(vm, c, false);
	else if (c->paging)
		build_pt_32(vm, c);
	else
		c->cr3 = c->alt_cr3 = pick_page(vm, c);
	s->cr3 = c->cr3;
	if (c->long_armed)
		c->paging = true;

	/* Segments. */
	if (c->env == ENV_REAL || c->env == ENV_VM86) {
		uint16_t sel = (c->code_gpa >> 4) & 0xf000;
		uint16_t ssel = ((c->stack_top >> 4) & 0xf000);
		int dpl = c->env == ENV_VM86 ? 3 : 0;
		uint32_t dlimit = c->env == ENV_REAL && pct(50) ?
				  0xffffffff : 0xffff;

		x86_sregs_real(s, sel, ssel, 0, dlimit, dpl);
		c->cs_base = s->cs.base;
		c->cs_sel = sel;
		c->ss_sel = ssel;
		r->rsp = c->stack_top - s->ss.base;
	} else if (c->env == ENV_PM16) {
		c->cs_base = c->code_gpa & ~0xffffULL;
		c->cs_sel = SEL_CODE16;
		c->ss_sel = SEL_DATA;
		x86_sregs_flat(s, false, false);
		s->cs = x86_seg(c->cs_base, 0xffff, SEL_CODE16, SEG_CODE_RX,
				1, 0, 0, 0);
		r->rsp = c->stack_top;
	} else {
		bool l = c->env == ENV_LONG;

		x86_sregs_flat(s, l, c->cpl3);
		c->cs_base = 0;
		c->cs_sel = s->cs.selector;
		c->ss_sel = s->ss.selector;
		if (l && pct(30))
			s->gs.base = interesting_value();
		r->rsp = c->stack_top;
	}
	c->ds_sel = s->ds.selector;
	/*
	 * TR is busy, as KVM reports it; under TCG available (see
	 * fuzz_tcg_fix_sregs()), as QEMU's own LTR caches it.
	 */
	s->tr = x86_seg(c->tss, pct(70) ? TSS_SIZE - 1 + 0x800 : TSS_SIZE - 1,
			SEL_TSS, c->hbits == 16 ? SEG_TSS16_BUSY :
			SEG_TSS_AVAIL | 2, 0, 0, 0, 0);
	s->ldt = x86_seg(c->ldt, 0xff, SEL_LDT, SEG_LDT, 0, 0, 0, 0);
	if (pct(50))
		s->ldt.present = 0, s->ldt.unusable = 1;
	s->gdt.base = c->gdt;
	s->gdt.limit = pct(90) ? GDT_ENTRIES * 8 - 1 : rnd();
	s->idt.base = c->idt;
	s->idt.limit = c->hbits == 16 ? 0x3ff : c->hbits == 32 ? 0x7ff : 0xfff;
	if (pct(5))
		s->idt.limit = below(0x1000);
	if (pct(3))
		s->interrupt_bitmap[below(4)] = 1ULL << below(64);
	if (opt_tcg)
		fuzz_tcg_fix_sregs(s);
	c->plain = *s;
	if (pct(8))
		weird_sregs(s);
	if (opt_tcg)
		fuzz_tcg_fix_sregs(s);
	tcg_lme = smp_iteration || ((s->efer | c->plain.efer) & EFER_LME);

	/* Tables in memory. */
	g->bits = c->bits;
	g->c = c;
	g->vm = vm;
	g->lin = c->code_gpa;
	g->ip = c->code_gpa - c->cs_base;
	g->len = 0;
	g->nsmc = 0;
	build_handlers(vm, c);
	build_idt(vm, c);
	build_gdt(vm, c);
	build_tss(vm, c);
	build_pool(vm, c);
	build_xsave(vm, c);
	memset(g->keep, 0, sizeof(g->keep));
	gen_code(g);
	bochs_code(g);
	tcg_smc(g);
	c->code_len = g->len;
	gwrite(vm, c->code_gpa, g->buf, g->len);
	memcpy(c->code, g->buf, g->len);
	/* What follows the code: zeros, HLTs or junk. */
	if (pct(30))
		grandom(vm, c->code_gpa + g->len, 64);
	/* The tables above may share a page with the PML4 (pick_page()). */
	if (opt_tcg && (c->env == ENV_LONG || c->env == ENV_COMPAT ||
			c->long_armed))
		gw64(vm, c->cr3 + 511 * 8, 0);

	/* General registers. */
	r->rax = interesting_value();
	r->rbx = pct(50) ? c->pool : interesting_value();
	r->rcx = interesting_value();
	r->rdx = interesting_value();
	r->rsi = pct(50) ? c->pool + 0x800 : interesting_value();
	r->rdi = pct(50) ? c->pool + 0xc00 : interesting_value();
	r->rbp = interesting_value();
	r->r8 = interesting_value();
	r->r9 = interesting_value();
	r->r10 = interesting_value();
	r->r11 = interesting_value();
	r->r12 = rnd();
	r->r13 = rnd();
	r->r14 = rnd();
	r->r15 = rnd();
	if (pct(10))
		r->rsp = interesting_value();
	r->rip = g->ip;
	r->rflags = random_rflags(c);
}

static void dump_case(struct vm *vm, int v, struct gcase *c)
{
	const struct kvm_sregs *s = &c->sregs;
	const struct kvm_regs *r = &c->regs;
	size_t i;
	int k;

	say("iteration %llu case %d vcpu %d: env %s bits %d cpl3 %d paging %d pae %d long_armed %d\n",
	    (unsigned long long)cur_iter, cur_case, v,
	    env_name[c->env], c->bits, c->cpl3, c->paging, c->pae,
	    c->long_armed);
	for (k = 0; k < vm->nslots; k++)
		say("  slot %u gpa %#llx size %#llx%s%s%s%s\n", vm->slot[k].id,
		    (unsigned long long)vm->slot[k].gpa,
		    (unsigned long long)vm->slot[k].size,
		    vm->slot[k].live ? "" : " (deleted)",
		    vm->slot[k].host_ro ? " host-ro" : "",
		    vm->slot[k].host_hole ? " host-hole" : "",
		    vm->slot[k].own_map ? "" : " low");
	say("  code %#llx len %zu stack %#llx pool %#llx gdt %#llx idt %#llx tss %#llx handlers %#llx cr3 %#llx\n",
	    (unsigned long long)c->code_gpa, c->code_len,
	    (unsigned long long)c->stack_top, (unsigned long long)c->pool,
	    (unsigned long long)c->gdt, (unsigned long long)c->idt,
	    (unsigned long long)c->tss, (unsigned long long)c->handlers,
	    (unsigned long long)c->cr3);
	say("  cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx rflags %#llx rip %#llx rsp %#llx\n",
	    (unsigned long long)s->cr0, (unsigned long long)s->cr3,
	    (unsigned long long)s->cr4, (unsigned long long)s->efer,
	    (unsigned long long)r->rflags, (unsigned long long)r->rip,
	    (unsigned long long)r->rsp);
#define SEG(n, x) say("  %-3s sel %#06x base %#llx limit %#x type %#x s %d dpl %d p %d db %d l %d g %d u %d\n", \
	n, x.selector, (unsigned long long)x.base, x.limit, x.type, x.s, x.dpl, \
	x.present, x.db, x.l, x.g, x.unusable)
	SEG("cs", s->cs);
	SEG("ss", s->ss);
	SEG("ds", s->ds);
	SEG("tr", s->tr);
	SEG("ldt", s->ldt);
#undef SEG
	say("  gdt %#llx/%#x idt %#llx/%#x irq-bitmap %llx %llx %llx %llx\n",
	    (unsigned long long)s->gdt.base, s->gdt.limit,
	    (unsigned long long)s->idt.base, s->idt.limit,
	    (unsigned long long)s->interrupt_bitmap[0],
	    (unsigned long long)s->interrupt_bitmap[1],
	    (unsigned long long)s->interrupt_bitmap[2],
	    (unsigned long long)s->interrupt_bitmap[3]);
	say("  regs rax %#llx rbx %#llx rcx %#llx rdx %#llx rsi %#llx rdi %#llx rbp %#llx\n",
	    (unsigned long long)r->rax, (unsigned long long)r->rbx,
	    (unsigned long long)r->rcx, (unsigned long long)r->rdx,
	    (unsigned long long)r->rsi, (unsigned long long)r->rdi,
	    (unsigned long long)r->rbp);
	for (i = 0; i < c->code_len; i += 32) {
		size_t j;
		uint8_t *h = gpa_hva(vm, c->code_gpa + i);

		if (opt_ktap)
			fputs(ktap_prefix, stdout);
		printf("  code+%04zx:", i);
		for (j = i; j < i + 32 && j < c->code_len; j++) {
			h = gpa_hva(vm, c->code_gpa + j);
			printf(" %02x", h ? *h : 0);
		}
		putchar('\n');
	}
}

/* ---------------------------------------------------------------- */
/* The watchdog: ends a case that runs too long, reports a hang      */

/*
 * One entry per vCPU thread.  Past its deadline, an armed entry gets
 * immediate_exit and SIGUSR1, again every 50 ms; a KVM_RUN still not back
 * after --hang-ms is a finding, and after three times that the fuzzer
 * gives up.
 */
struct wd_entry {
	pthread_t thread;
	struct kvm_run *run;
	uint64_t deadline, kicked, iter;
	int kcase, env;
	bool armed, hang_reported;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* on CLOCK_MONOTONIC */
	struct wd_entry e[MAX_VCPUS];
} wd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void print_summary(void);

static void wd_check(struct wd_entry *e, uint64_t now)
{
	if (now < e->deadline)
		return;
	if (!e->kicked)
		e->kicked = now;
	e->run->immediate_exit = 1;
	pthread_kill(e->thread, SIGUSR1);
	if (now - e->kicked > opt_hang_ms * 1000000ULL && !e->hang_reported) {
		e->hang_reported = true;
		cur_iter = e->iter;
		cur_case = e->kcase;
		cur_env = e->env;
		finding("KVM_RUN has not returned %u ms after immediate_exit and a signal",
			opt_hang_ms);
	}
	if (now - e->kicked > 3 * opt_hang_ms * 1000000ULL) {
		print_summary();
		_exit(1);
	}
	e->deadline = now + 50 * 1000000ULL;
}

static void *wd_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wd.lock);
	for (;;) {
		uint64_t now = fuzz_now_ns(), wake = 0;
		struct timespec ts;
		int i;

		for (i = 0; i < MAX_VCPUS; i++) {
			struct wd_entry *e = &wd.e[i];

			if (!e->armed)
				continue;
			wd_check(e, now);
			if (!wake || e->deadline < wake)
				wake = e->deadline;
		}
		if (!wake) {
			pthread_cond_wait(&wd.cond, &wd.lock);
			continue;
		}
		ts.tv_sec = wake / 1000000000ULL;
		ts.tv_nsec = wake % 1000000000ULL;
		pthread_cond_timedwait(&wd.cond, &wd.lock, &ts);
	}
	return NULL;
}

static void wd_init(void)
{
	pthread_condattr_t attr;
	pthread_t t;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wd.cond, &attr);
	if (pthread_create(&t, NULL, wd_main, NULL))
		die("pthread_create failed");
}

/* Watch this thread's KVM_RUNs on run for ms milliseconds. */
static void wd_arm(int v, struct kvm_run *run, unsigned int ms)
{
	struct wd_entry *e = &wd.e[v];

	pthread_mutex_lock(&wd.lock);
	e->thread = pthread_self();
	e->run = run;
	e->deadline = fuzz_now_ns() + ms * 1000000ULL;
	e->kicked = 0;
	e->iter = cur_iter;
	e->kcase = cur_case;
	e->env = cur_env;
	e->armed = true;
	pthread_cond_signal(&wd.cond);
	pthread_mutex_unlock(&wd.lock);
}

static void wd_disarm(int v)
{
	struct wd_entry *e = &wd.e[v];

	pthread_mutex_lock(&wd.lock);
	e->armed = false;
	e->run->immediate_exit = 0;
	pthread_mutex_unlock(&wd.lock);
}

/* immediate_exit for one KVM_RUN of our own, not losing a watchdog kick. */
static void wd_force_exit(int v, bool on)
{
	struct wd_entry *e = &wd.e[v];

	pthread_mutex_lock(&wd.lock);
	if (on || !e->kicked)
		e->run->immediate_exit = on;
	pthread_mutex_unlock(&wd.lock);
}

static void sig_nop(int sig)
{
	(void)sig;
}

/* ---------------------------------------------------------------- */
/* The kernel log                                                    */

/* New kernel log lines since the last call; bad ones are findings. */
static void kmsg_check(void)
{
	const char *msg;
	bool bad;
	int nbad = 0;

	while ((msg = kmsg_next(&kmsg, &bad))) {
		st.kmsg_lines++;
		if (bad) {
			if (!nbad++)
				kfinding("kernel log: %s", msg);
			else if (nbad < 60)
				say("  kernel: %s\n", msg);
		} else if (strstr(msg, "kvm") && st.kmsg_lines < 100) {
			say("kernel: %s\n", msg);
		}
	}
}

/* ---------------------------------------------------------------- */
/* Running a case and checking its exits                             */

static const char *exit_name(uint32_t r)
{
	const char *name = kvm_exit_name(r);

	return name ? name : "?";
}

/* The instruction at the guest's linear address lin, past prefixes. */
static int opcode_at(struct vm *vm, uint64_t lin, int bits, uint8_t *op)
{
	int i;

	for (i = 0; i < 15; i++) {
		uint8_t *h = gpa_hva(vm, lin + i);

		if (!h)
			return -1;
		switch (*h) {
		case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
		case 0x2e: case 0x36: case 0x3e: case 0x26: case 0x64:
		case 0x65:
			continue;
		}
		if (bits == 64 && (*h & 0xf0) == 0x40)
			continue;
		*op = *h;
		return i;
	}
	return -1;
}

/*
 * The same, in the code as generated: the guest may have rewritten the
 * instruction since, and QEMU's TCG has been seen to run a stale
 * translation of code a guest had just overwritten.
 */
static int gen_opcode_at(struct gcase *c, uint64_t lin, uint8_t *op)
{
	uint64_t off = lin - c->code_gpa;
	int i;

	for (i = 0; i < 15 && off + i < c->code_len; i++) {
		uint8_t b = c->code[off + i];

		switch (b) {
		case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
		case 0x2e: case 0x36: case 0x3e: case 0x26: case 0x64:
		case 0x65:
			continue;
		}
		if (c->bits == 64 && (b & 0xf0) == 0x40)
			continue;
		*op = b;
		return i;
	}
	return -1;
}

static bool is_io_opcode(uint8_t op)
{
	return (op >= 0xe4 && op <= 0xe7) || (op >= 0xec && op <= 0xef);
}

/* INS and OUTS. */
static bool is_string_io_opcode(uint8_t op)
{
	return op >= 0x6c && op <= 0x6f;
}

struct run_state {
	struct vm *vm;
	struct vcpu *vc;
	int v;			/* its index */
	bool strict;		/* no other vCPU can change memory */
	struct gcase *c;
	uint64_t last_off;
	bool efault;
};

/*
 * Instructions run since the last exit, roughly: how many instruction
 * starts of the generated code lie between the previous RIP and this
 * one (from the start if RIP went backwards), plus the one that exited.
 */
static void count_insns(struct run_state *rs, uint64_t rip)
{
	struct gcase *c = rs->c;
	uint64_t lin = (uint32_t)(c->cs_base + rip), off;
	int i;

	st.insns++;
	if (lin < c->code_gpa || lin >= c->code_gpa + c->code_len)
		return;
	off = lin - c->code_gpa;
	if (off < rs->last_off)
		rs->last_off = 0;
	for (i = 0; i < c->ninsn; i++)
		if (c->starts[i] >= rs->last_off && c->starts[i] < off)
			st.insns++;
	rs->last_off = off;
}

/* CS.base + RIP, wrapped at 4 GiB outside 64-bit mode. */
static uint64_t linear_rip(const struct kvm_sregs *sregs, uint64_t rip)
{
	uint64_t lin = sregs->cs.base + rip;

	if ((sregs->efer & EFER_LMA) && sregs->cs.l)
		return lin;
	return (uint32_t)lin;
}

/* True when linear addresses are physical ones, at this exit. */
static bool flat_view(const struct kvm_sregs *sregs)
{
	return !(sregs->cr0 & CR0_PG);
}

static bool check_io(struct run_state *rs, struct kvm_regs *regs,
		     struct kvm_sregs *sregs)
{
	struct kvm_run *run = rs->vc->run;
	struct vm *vm = rs->vm;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t count = run->io.count, size = run->io.size;
	uint8_t op;

	if (size != 1 && size != 2 && size != 4) {
		finding("IO exit with size %u", size);
		return false;
	}
	if (run->io.direction > KVM_EXIT_IO_OUT) {
		finding("IO exit with direction %u", run->io.direction);
		return false;
	}
	if (!count || run->io.data_offset < sizeof(*run) ||
	    run->io.data_offset + (uint64_t)size * count > rs->vm->run_size) {
		finding("IO exit with count %u size %u data_offset %llu beyond the %zu-byte mapping",
			count, size, (unsigned long long)run->io.data_offset,
			rs->vm->run_size);
		return false;
	}
	if (run->io.direction == KVM_EXIT_IO_OUT && size == 1 &&
	    run->io.port == HANDLER_PORT)
		st.vectors[data[0]]++;
	if (opt_target != TARGET_OKVM)
		goto answer;
	if (run->io.data_offset != 4096) {
		finding("IO exit with data_offset %llu (okvm: 4096)",
			(unsigned long long)run->io.data_offset);
		return false;
	}
	/*
	 * IN and OUT move one element, OUT RAX's, with RIP at the
	 * instruction (past an OUT to 0x7e, the quirk); INS and OUTS carry
	 * up to a chunk from memory, and an OUTS is complete when userspace
	 * sees it, RIP past it once RCX runs out (api.rst).  Only where the
	 * code can be read.
	 */
	if (!rs->strict || !flat_view(sregs) ||
	    opcode_at(vm, linear_rip(sregs, regs->rip), rs->c->bits, &op) < 0)
		goto answer;
	if (is_io_opcode(op)) {
		uint8_t *prev = gpa_hva(vm, linear_rip(sregs, regs->rip) - 1);

		/* Or an OUTS right before it, completed. */
		if (run->io.direction == KVM_EXIT_IO_OUT && prev &&
		    (*prev & ~1) == 0x6e)
			goto answer;
		if (count != 1)
			finding("IO exit with count %u for IN/OUT (opcode %#x)",
				count, op);
		if (run->io.direction == KVM_EXIT_IO_OUT &&
		    memcmp(data, &regs->rax, size)) {
			uint64_t d = 0;

			memcpy(&d, data, size);
			finding("OUT to port %#x: data %#llx but RAX %#llx",
				run->io.port, (unsigned long long)d,
				(unsigned long long)regs->rax);
		}
		goto answer;
	}
	if (is_string_io_opcode(op) || run->io.direction == KVM_EXIT_IO_OUT)
		goto answer;
	{
		uint8_t gen;

		if (gen_opcode_at(rs->c, linear_rip(sregs, regs->rip), &gen) < 0 ||
		    (!is_io_opcode(gen) && !is_string_io_opcode(gen)))
			finding("IO exit (port %#x) with RIP %#llx at opcode %#x, not IN/INS",
				run->io.port, (unsigned long long)regs->rip, op);
	}
answer:
	if (run->io.direction == KVM_EXIT_IO_IN) {
		uint32_t i;

		for (i = 0; i < size * count; i++)
			data[i] = rnd_run();
	}
	return true;
}

/*
 * RIP is past the HLT.  okvm without NRIPS assumes a 1-byte HLT, so
 * there a prefixed HLT leaves RIP on a prefix of it (documented).
 */
static void check_hlt(struct run_state *rs, struct kvm_regs *regs,
		      struct kvm_sregs *sregs)
{
	uint64_t lin = linear_rip(sregs, regs->rip);
	uint8_t *before = gpa_hva(rs->vm, lin - 1), op;

	if (!rs->strict || !flat_view(sregs) || !before || *before == 0xf4)
		return;
	if (opt_target == TARGET_OKVM &&
	    opcode_at(rs->vm, lin - 1, rs->c->bits, &op) >= 0 && op == 0xf4)
		return;
	if (lin - 1 >= rs->c->code_gpa &&
	    lin - 1 < rs->c->code_gpa + rs->c->code_len &&
	    (rs->c->code[lin - 1 - rs->c->code_gpa] == 0xf4 ||
	     (opt_target == TARGET_OKVM &&
	      gen_opcode_at(rs->c, lin - 1, &op) >= 0 && op == 0xf4)))
		return;
	finding("HLT exit with RIP %#llx after byte %#x, not after a HLT",
		(unsigned long long)regs->rip, *before);
}

/*
 * KVM_RUN completes a port I/O exit before it looks at immediate_exit
 * (api.rst, KVM_RUN steps 3 and 4): so KVM_RUN with immediate_exit set
 * right after an I/O exit must fail with EINTR with RIP moved past the
 * IN or OUT and, for an IN, the data in AL, AX or EAX (EAX zero-extended
 * into RAX).  Now and then, check that.
 */
static void probe_pio_completion(struct run_state *rs, struct kvm_regs *old,
				 struct kvm_sregs *sregs)
{
	struct kvm_run *run = rs->vc->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size, port = run->io.port;
	bool in = run->io.direction == KVM_EXIT_IO_IN, known = false;
	uint64_t lin = linear_rip(sregs, old->rip), want = old->rax, delta;
	struct kvm_regs now;
	uint8_t op;
	int r;

	if (run->io.count != 1 || (!in && port == 0x7e))
		return;
	/* Is it an IN or OUT (not INS/OUTS, which KVM may also give)? */
	if (flat_view(sregs))
		known = (opcode_at(rs->vm, lin, rs->c->bits, &op) >= 0 &&
			 is_io_opcode(op)) ||
			(gen_opcode_at(rs->c, lin, &op) >= 0 && is_io_opcode(op));
	if (!known)
		return;
	/*
	 * KVM and okvm emulate INS and OUTS, and move RIP past an OUTS
	 * before the exit: an IN or OUT right after one (junk code has that)
	 * looks like an I/O that did not complete.
	 */
	{
		uint8_t *prev = gpa_hva(rs->vm, lin - 1);

		if (prev && (*prev & ~3) == 0x6c)
			return;
	}
	if (in && size == 4)
		want = *(uint32_t *)data;
	else if (in)
		memcpy(&want, data, size);

	wd_force_exit(rs->v, true);
	r = ioctl(rs->vc->fd, KVM_RUN, 0);
	wd_force_exit(rs->v, false);
	st.vcpu_runs++;
	st.pio_probes++;
	if (r != -1 || errno != EINTR) {
		finding("KVM_RUN with immediate_exit after an I/O exit: %d (%s), exit %u",
			r, r ? strerror(errno) : "no error", run->exit_reason);
		return;
	}
	if (ioctl(rs->vc->fd, KVM_GET_REGS, &now))
		return;
	delta = now.rip - old->rip;
	if ((delta < 1 || delta > 15) &&
	    !(rs->c->bits == 16 && ((delta & 0xffff) >= 1 &&
				    (delta & 0xffff) <= 15)))
		finding("%s port %#x completed with RIP %#llx -> %#llx",
			in ? "IN from" : "OUT to", port,
			(unsigned long long)old->rip,
			(unsigned long long)now.rip);
	if (known && now.rax != want)
		finding("%s port %#x size %u completed with RAX %#llx, want %#llx",
			in ? "IN from" : "OUT to", port, size,
			(unsigned long long)now.rax,
			(unsigned long long)want);
}

/*
 * Where an emulation failure's exit reason sits (api.rst, KVM's layout):
 * after the flags word, and after the instruction bytes when the flags
 * say they are there.  -1 for a layout that is neither.
 */
static int internal_info(struct kvm_run *run)
{
	uint64_t flags = run->emulation_failure.flags;

	if (flags == 0 && run->internal.ndata == 6)
		return 1;
	if (flags == KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES &&
	    run->internal.ndata == 8 && run->emulation_failure.insn_size &&
	    run->emulation_failure.insn_size <= 15)
		return 3;
	return -1;
}

/*
 * okvm's emulation failure under VMX, in KVM's emulation_failure layout
 * as kvm_intel fills it (vmx_get_exit_info()): from data[info] on the
 * basic exit reason, the exit qualification, the VM-exit interruption
 * information (VM_EXIT_INTR_INFO, which okvm's vmx_decode_exit() stores
 * in exit->info[1]; the vector in bits 7:0).  The GPA of an EPT
 * violation is not in it.  For I/O, the
 * qualification's bit 4 says string I/O (SDM vol. 3C, "Exit
 * Qualification for I/O Instructions").
 */
static bool check_internal_vmx(struct run_state *rs, int info)
{
	struct kvm_run *run = rs->vc->run;
	uint64_t code = run->internal.data[info];
	uint64_t qual = run->internal.data[info + 1];

	if (code == VMX_EXIT_EPT_VIOLATION) {
		st.internal_npf++;
		return true;
	}
	if (code == VMX_EXIT_IO_INSTRUCTION) {
		st.internal_io++;
		if (!(qual & 0x10))
			finding("emulation failure for port I/O that is not string I/O (qualification %#llx)",
				(unsigned long long)qual);
		return true;
	}
	/*
	 * Under tdp=0: a #PF that found no RAM, as SVM's #PF intercept,
	 * and in real mode, which okvm runs in virtual-8086 mode there, a
	 * #GP of an instruction okvm does not emulate, or segments that
	 * mode cannot hold (the exit information is 0 then; api.rst).
	 */
	if (code == VMX_EXIT_EXCEPTION_NMI) {
		uint32_t vector = run->internal.data[info + 2] & 0xff;
		struct kvm_sregs sregs;

		if (ioctl(rs->vc->fd, KVM_GET_SREGS, &sregs))
			die("KVM_GET_SREGS: %s", strerror(errno));
		if (vector == 14 || !(sregs.cr0 & CR0_PE)) {
			st.internal_npf++;
			return true;
		}
	}
	finding("emulation failure for VMX exit reason %#llx",
		(unsigned long long)code);
	return false;
}

static bool check_internal(struct run_state *rs)
{
	struct kvm_run *run = rs->vc->run;
	uint32_t sub = run->internal.suberror;
	int info;

	st.internal_sub[sub < 8 ? sub : 7]++;
	if (opt_target != TARGET_OKVM)
		return sub >= 1 && sub <= 4 ? true :
		       (finding("INTERNAL_ERROR with suberror %u", sub), false);
	if (sub == KVM_INTERNAL_ERROR_EMULATION) {
		info = internal_info(run);
		if (info < 0 || run->internal.data[info + 3] ||
		    run->internal.data[info + 4]) {
			finding("emulation failure with ndata %u flags %#llx",
				run->internal.ndata,
				(unsigned long long)run->internal.data[0]);
			return false;
		}
		if (host_vmx)
			return check_internal_vmx(rs, info);

		uint64_t code = run->internal.data[info];
		uint64_t info1 = run->internal.data[info + 1];
		uint64_t info2 = run->internal.data[info + 2];

		if (code == SVM_EXIT_NPF) {
			/* An NPF outside every slot: the GPA must be in none. */
			st.internal_npf++;
			struct slot *s = gpa_slot(rs->vm, info2);

			if (s)
				finding("emulation failure for GPA %#llx, which slot %u (%#llx+%#llx) backs",
					(unsigned long long)info2, s->id,
					(unsigned long long)s->gpa,
					(unsigned long long)s->size);
			return true;
		}
		/* The same under tdp=0, with a linear address to go on. */
		if (code == SVM_EXIT_PF) {
			st.internal_npf++;
			return true;
		}
		/*
		 * Under tdp=0 okvm fetches a MOV CR or INVLPG through the
		 * guest's tables as they are now: those the guest changed
		 * behind the TLB entry the CPU used, or put outside every
		 * slot, fail the fetch, and no bytes come back.
		 */
		if ((code <= SVM_EXIT_CR_LAST || code == SVM_EXIT_INVLPG) &&
		    info == 1) {
			st.internal_npf++;
			return true;
		}
		if (code == SVM_EXIT_IOIO) {
			st.internal_io++;
			if (!(info1 & 4))
				finding("emulation failure for port I/O that is not string I/O (EXITINFO1 %#llx)",
					(unsigned long long)info1);
			return true;
		}
		finding("emulation failure for SVM exit code %#llx",
			(unsigned long long)code);
		return false;
	}
	/* api.rst: KVM emulates task switches on Intel, okvm cannot yet. */
	if (sub == KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON &&
	    run->internal.ndata == 2 && host_vmx &&
	    run->internal.data[0] == VMX_EXIT_TASK_SWITCH) {
		st.internal_task++;
		return true;
	}
	if (sub == KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON &&
	    run->internal.ndata == 2) {
		finding("unexpected %s exit code %#llx (okvm intercepts nothing that should lead here)",
			host_vmx ? "VMX" : "SVM",
			(unsigned long long)run->internal.data[0]);
		return false;
	}
	finding("INTERNAL_ERROR with suberror %u ndata %u", sub,
		run->internal.ndata);
	return false;
}

/*
 * api.rst: after an emulation failure "RIP points at the instruction
 * concerned, and running again gives the same exit unless userspace
 * changes the state".  Run again and compare (okvm only: kvm_amd
 * emulates what okvm cannot).
 */
static void probe_internal_again(struct run_state *rs, struct kvm_regs *old)
{
	struct kvm_run *run = rs->vc->run;
	struct kvm_sregs sregs;
	struct kvm_regs now;
	uint64_t want[3];
	uint32_t sub = run->internal.suberror;
	int info = internal_info(run);
	int r;

	if (opt_target != TARGET_OKVM || sub != KVM_INTERNAL_ERROR_EMULATION ||
	    info < 0)
		return;
	/*
	 * Bochs saves a single step (BS) in the VMCS's pending debug
	 * exceptions when an instruction with RFLAGS.TF set causes the VM
	 * exit, which the SDM (vol. 3C, "Saving Non-Register State") has
	 * only for exits under MOV-SS blocking: the next entry then delivers
	 * a #DB that hardware would not.
	 */
	if (opt_bochs && (old->rflags & RFLAGS_TF))
		return;
	/*
	 * With paging on, the first run may have gone on with translations
	 * the guest had made stale (a page-table store with no INVLPG or
	 * CR3 load after it); run again, the CPU may walk the tables afresh
	 * (QEMU's VMRUN flushes its TLB; hardware may drop entries at any
	 * time, APM vol. 2, 5.5) and fault elsewhere, even triple-fault
	 * (seed 7318660442299335317, iteration 471).  Only guests without
	 * paging are run again.
	 */
	if (ioctl(rs->vc->fd, KVM_GET_SREGS, &sregs) || (sregs.cr0 & CR0_PG))
		return;
	memcpy(want, &run->internal.data[info], sizeof(want));
	run->exit_reason = EXIT_SENTINEL;
	r = ioctl(rs->vc->fd, KVM_RUN, 0);
	st.vcpu_runs++;
	if (r < 0)		/* the watchdog's kick, or an EFAULT */
		return;
	st.internal_again++;
	/*
	 * The first run may have left a state QEMU's VMRUN refuses (a
	 * guest's MOV CR0 setting NW without CD, which QEMU does not #GP):
	 * its failed VMRUN then spoils the VMCB (see FAIL_ENTRY in run_case).
	 */
	if (opt_tcg && run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
		rs->vm->spoiled = true;
		return;
	}
	if (ioctl(rs->vc->fd, KVM_GET_REGS, &now))
		return;
	/*
	 * The same exit at the same RIP; after a nested page fault the
	 * address may differ, as a string instruction or an access that
	 * crosses a page makes progress before it faults.
	 */
	if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR ||
	    run->internal.suberror != sub || internal_info(run) != info ||
	    run->internal.data[info] != want[0] ||
	    (want[0] != (host_vmx ? VMX_EXIT_EPT_VIOLATION : SVM_EXIT_NPF) &&
	     run->internal.data[info + 2] != want[2]) ||
	    now.rip != old->rip)
		finding("emulation failure (exit code %#llx, info %#llx, RIP %#llx) ran again gave exit %u suberror %u exit code %#llx info %#llx RIP %#llx",
			(unsigned long long)want[0],
			(unsigned long long)want[2],
			(unsigned long long)old->rip, run->exit_reason,
			run->internal.suberror,
			(unsigned long long)run->internal.data[info],
			(unsigned long long)run->internal.data[info + 2],
			(unsigned long long)now.rip);
}

/*
 * A segment as KVM_GET_SREGS reports it under VMX, where the VMCS holds
 * G and the unusable bit as such (SDM vol. 3C, "Guest Register State"):
 * unusable exactly when not present (kvm_intel's vmx_get_segment()),
 * usable data segments accessed (KVM sets the bit on KVM_SET_SREGS, VM
 * entry requires it).  Once the guest has run, that is past any exit but
 * a failed entry, VM entry's checks held (SDM vol. 3C, "Checks on Guest
 * Segment Registers"): G consistent with the limit for CS, TR and usable
 * segments, TR busy.
 */
static bool vmx_seg_bad(const struct kvm_segment *sg, unsigned int i,
			bool entered)
{
	bool checked = !sg->unusable || i == 0 || i == 6;

	if (sg->unusable != !sg->present)
		return true;
	if (i >= 1 && i <= 4 && !sg->unusable && !(sg->type & 1))
		return true;
	if (!entered)
		return false;
	if (checked && ((sg->g && (sg->limit & 0xfff) != 0xfff) ||
			(!sg->g && sg->limit > 0xfffff)))
		return true;
	return i == 6 && (sg->type & 7) != 3;
}

/*
 * What KVM_RUN leaves in kvm_run on the way out and how KVM_GET_SREGS
 * reports segments (api.rst, KVM_RUN step 6 and KVM_GET_SREGS; kvm_amd
 * does the same but for ready_for_interrupt_injection; under VMX see
 * vmx_seg_bad()).
 */
static void check_exit_state(struct run_state *rs, const struct kvm_regs *regs,
			     const struct kvm_sregs *sregs, uint32_t reason)
{
	const struct kvm_segment *seg[] = {
		&sregs->cs, &sregs->ds, &sregs->es, &sregs->fs, &sregs->gs,
		&sregs->ss, &sregs->tr, &sregs->ldt,
	};
	static const char *const name[] = {
		"cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt",
	};
	struct kvm_run *run = rs->vc->run;
	unsigned int i;

	if (run->flags && opt_target == TARGET_OKVM)
		finding("kvm_run->flags %#x after KVM_RUN", run->flags);
	if (run->if_flag != !!(regs->rflags & RFLAGS_IF))
		finding("kvm_run->if_flag %u with RFLAGS %#llx", run->if_flag,
			(unsigned long long)regs->rflags);
	if (run->cr8 != sregs->cr8)
		finding("kvm_run->cr8 %llu, KVM_GET_SREGS cr8 %llu",
			(unsigned long long)run->cr8,
			(unsigned long long)sregs->cr8);
	if (run->apic_base != sregs->apic_base)
		finding("kvm_run->apic_base %#llx, KVM_GET_SREGS %#llx",
			(unsigned long long)run->apic_base,
			(unsigned long long)sregs->apic_base);
	if (opt_target == TARGET_OKVM && run->ready_for_interrupt_injection)
		finding("kvm_run->ready_for_interrupt_injection set");
	for (i = 0; i < ARRAY_SIZE(seg); i++) {
		const struct kvm_segment *sg = seg[i];
		bool bad;

		if (host_vmx)
			bad = vmx_seg_bad(sg, i, reason != KVM_EXIT_FAIL_ENTRY);
		else
			bad = sg->g != (sg->limit > 0xfffff) ||
			      sg->unusable != !sg->present ||
			      (i == 6 && !(sg->type & 2)) ||
			      (i >= 1 && i <= 4 && !sg->unusable &&
			       !(sg->type & 1)) ||
			      (i == 5 && sg->unusable && sg->db);
		if (bad)
			finding("KVM_GET_SREGS %s: limit %#x g %u present %u unusable %u type %#x db %u",
				name[i], sg->limit, sg->g, sg->present,
				sg->unusable, sg->type, sg->db);
	}
}

/*
 * After a shutdown under SVM the vCPU has been INITed (okvm and kvm_amd
 * alike).  kvm_intel leaves it as the triple fault did (the VMCS stays
 * well defined): nothing to check there.
 */
static void check_shutdown(struct kvm_regs *regs,
			   struct kvm_sregs *sregs)
{
	if (opt_target != TARGET_OKVM || host_vmx)
		return;
	if (regs->rip != 0xfff0 || sregs->cs.base != 0xffff0000 ||
	    sregs->cs.selector != 0xf000 || (sregs->cr0 & CR0_PE) ||
	    regs->rdx != 0x600)
		finding("after SHUTDOWN: rip %#llx cs %#x/%#llx cr0 %#llx rdx %#llx, not the INIT state",
			(unsigned long long)regs->rip, sregs->cs.selector,
			(unsigned long long)sregs->cs.base,
			(unsigned long long)sregs->cr0,
			(unsigned long long)regs->rdx);
}

/*
 * The failure reason of a VM entry the hardware refused: VMRUN's
 * VMEXIT_INVALID (-1) read as 32 bits under SVM (api.rst); under VMX
 * kvm_intel's full exit reason, bit 31 and invalid guest state (SDM vol.
 * 3C, "VM-Entry Failures During or After Loading Guest State").
 */
static uint64_t fail_entry_reason(void)
{
	return host_vmx ? VMX_EXIT_ENTRY_FAILURE | VMX_EXIT_INVALID_STATE :
			  0xffffffff;
}

static void run_case(struct vm *vm, int v, struct gcase *c)
{
	struct vcpu *vc = &vm->vcpu[v];
	struct kvm_run *run = vc->run;
	struct run_state rs = {
		.vm = vm, .vc = vc, .v = v, .c = c,
		.strict = vm->nvcpus == 1,
	};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	unsigned int i;
	bool stop = false;

	st.runs++;
	st.env[c->env]++;
	wd_arm(v, run, opt_case_ms);
	for (i = 0; i < opt_exits && !stop; i++) {
		uint32_t reason;
		int r;

		run->exit_reason = EXIT_SENTINEL;
		run->cr8 = rnd_run() % 100 < 20 ? rnd_run() % 16 : 0;
		r = ioctl(vc->fd, KVM_RUN, 0);
		st.vcpu_runs++;
		if (r < 0) {
			int err = errno;

			if (err == EINTR) {
				st.eintr++;
				st.reason[KVM_EXIT_INTR]++;
				if (run->exit_reason != KVM_EXIT_INTR &&
				    run->exit_reason != EXIT_SENTINEL)
					finding("KVM_RUN: EINTR with exit_reason %u",
						run->exit_reason);
				break;
			}
			if (err == EFAULT && vm->efault_ok) {
				st.efault++;
				if (opt_target == TARGET_OKVM &&
				    run->exit_reason != EXIT_SENTINEL)
					finding("KVM_RUN: EFAULT with exit_reason %u (api.rst: left as it was)",
						run->exit_reason);
				/*
				 * "Fixing the mapping and calling KVM_RUN again
				 * retries it": now and then, fix every odd slot
				 * and go on; another EFAULT is then a finding.
				 */
				if (rs.v == 0 && vm->nvcpus == 1 &&
				    rnd_run() % 2 && fix_odd_slots(vm)) {
					st.efault_fixed++;
					continue;
				}
				break;
			}
			/*
			 * kvm_amd: the VM has used up its quota of MMU pages
			 * (make_mmu_pages_available() in KVM), a limit of
			 * KVM's own, not an answer okvm's API gives.  Every
			 * later run of the VM fails so too: retire it.
			 */
			if (err == ENOSPC && opt_target == TARGET_KVM) {
				st.enospc++;
				vm->spoiled = true;
				break;
			}
			finding("KVM_RUN failed: %s (exit_reason %u)",
				strerror(err), run->exit_reason);
			break;
		}
		if (r > 0)
			finding("KVM_RUN returned %d", r);
		st.exits++;
		reason = run->exit_reason;
		st.reason[reason < 64 ? reason : 63]++;
		if (ioctl(vc->fd, KVM_GET_REGS, &regs) ||
		    ioctl(vc->fd, KVM_GET_SREGS, &sregs)) {
			finding("KVM_GET_REGS/SREGS after an exit: %s",
				strerror(errno));
			break;
		}
		count_insns(&rs, regs.rip);
		check_exit_state(&rs, &regs, &sregs, reason);
		if (opt_verbose)
			say("  exit %s rip %#llx\n", exit_name(reason),
			    (unsigned long long)regs.rip);
		if (opt_target == TARGET_OKVM && !host_vmx &&
		    (sregs.efer & (1ULL << 12)))
			finding("KVM_GET_SREGS shows EFER.SVME");
		/* Under VMX the hardware's CR4.VMXE must not show either. */
		if (opt_target == TARGET_OKVM && host_vmx &&
		    (sregs.cr4 & (1ULL << 13)))
			finding("KVM_GET_SREGS shows CR4.VMXE");
		switch (reason) {
		case KVM_EXIT_IO:
			stop = !check_io(&rs, &regs, &sregs);
			if (!stop && rnd_run() % 100 < 10)
				probe_pio_completion(&rs, &regs, &sregs);
			break;
		case KVM_EXIT_HLT:
			check_hlt(&rs, &regs, &sregs);
			break;
		case KVM_EXIT_MMIO:
			if (run->mmio.len < 1 || run->mmio.len > 8) {
				finding("MMIO exit with len %u", run->mmio.len);
				stop = true;
			} else if (!run->mmio.is_write) {
				uint64_t v = rnd_run();

				/* A POPF or IRET from an MMIO stack. */
				if (opt_bochs)
					v |= RFLAGS_IF;
				memcpy(run->mmio.data, &v, 8);
			}
			break;
		case KVM_EXIT_SHUTDOWN:
			check_shutdown(&regs, &sregs);
			stop = true;
			break;
		case KVM_EXIT_FAIL_ENTRY:
			/*
			 * QEMU's TCG, failing a VMRUN check made before it
			 * reads the VMCB's int_ctl, writes its own state over
			 * the guest's: host RIP and RSP, and int_ctl 0, which
			 * clears V_INTR_MASKING.  The vCPU's next guest with
			 * IF clear then holds the host CPU until an NMI.
			 */
			if (opt_tcg)
				vm->spoiled = true;
			if (opt_target == TARGET_OKVM &&
			    run->fail_entry.hardware_entry_failure_reason !=
			    fail_entry_reason())
				finding("FAIL_ENTRY with reason %#llx",
					(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			stop = true;
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			stop = !check_internal(&rs);
			if (!stop && rs.strict && rnd_run() % 100 < 20)
				probe_internal_again(&rs, &regs);
			/* Skip a byte or two and go on, now and then. */
			if (!stop && rnd_run() % 100 < 30) {
				regs.rip += 1 + rnd_run() % 3;
				ioctl(vc->fd, KVM_SET_REGS, &regs);
			} else {
				stop = true;
			}
			break;
		case EXIT_SENTINEL:
			finding("KVM_RUN returned 0 without setting exit_reason");
			stop = true;
			break;
		case KVM_EXIT_INTR:
			finding("KVM_RUN returned 0 with KVM_EXIT_INTR");
			stop = true;
			break;
		default:
			finding("undocumented exit reason %u (%s)", reason,
				exit_name(reason));
			stop = true;
			break;
		}
	}
	wd_disarm(v);
	/* The final RIP, for the instruction count. */
	if (!ioctl(vc->fd, KVM_GET_REGS, &regs))
		count_insns(&rs, regs.rip);
	if (opt_verbose && !ioctl(vc->fd, KVM_GET_SREGS, &sregs))
		say("  end: rip %#llx, interrupt pending: %llx %llx %llx %llx\n",
		    (unsigned long long)regs.rip,
		    (unsigned long long)sregs.interrupt_bitmap[0],
		    (unsigned long long)sregs.interrupt_bitmap[1],
		    (unsigned long long)sregs.interrupt_bitmap[2],
		    (unsigned long long)sregs.interrupt_bitmap[3]);
}

/* ---------------------------------------------------------------- */
/* Iterations                                                        */

/* The second vCPU's case runs on a thread of its own. */
struct worker {
	struct vm *vm;
	struct gcase *c;
	struct stats stats;
	uint64_t iter, rng;
	int kcase;
	pthread_t thread;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	stp = &w->stats;
	cur_iter = w->iter;
	cur_case = w->kcase;
	cur_env = w->c->env;
	run_rng.s = w->rng;
	run_case(w->vm, 1, w->c);
	return NULL;
}

static void load_case(struct vm *vm, int v, struct gcase *c)
{
	struct kvm_sregs now;
	unsigned int i;

	set_sregs(&vm->vcpu[v], c);
	if (ioctl(vm->vcpu[v].fd, KVM_SET_REGS, &c->regs))
		finding("KVM_SET_REGS: %s", strerror(errno));
	/* An interrupt queued through interrupt_bitmap reads back pending. */
	if (ioctl(vm->vcpu[v].fd, KVM_GET_SREGS, &now))
		return;
	for (i = 0; i < 4; i++)
		if (c->sregs.interrupt_bitmap[i] &&
		    now.interrupt_bitmap[i] != c->sregs.interrupt_bitmap[i])
			finding("interrupt_bitmap word %u set to %#llx reads back %#llx",
				i,
				(unsigned long long)c->sregs.interrupt_bitmap[i],
				(unsigned long long)now.interrupt_bitmap[i]);
}

/*
 * One VM, one to eight cases.  In a quarter of the iterations the VM has
 * two vCPUs, and each case is two guests, built apart (the second avoids
 * the first's pages, mostly) and run at the same time on the same memory.
 */
static void run_iteration(uint64_t iter)
{
	struct gcase *c = calloc(MAX_VCPUS, sizeof(*c));
	struct cg *g = calloc(1, sizeof(*g));
	struct worker w = { 0 };
	int ncases, nvcpus, k;
	struct vm vm;

	if (!c || !g)
		die("out of memory");
	cur_iter = iter;
	cur_case = 0;
	cur_env = -1;
	rng_seed(opt_seed, iter, -1);
	nvcpus = pct(25) ? 2 : 1;
	smp_iteration = nvcpus > 1;
	vm_create(&vm, nvcpus);
	ncases = 1 + below(8);
	for (k = 0; k < ncases && !vm.spoiled; k++) {
		cur_case = k;
		rng_seed(opt_seed, iter, k);
		if (k && pct(25))
			vm_mutate_slots(&vm);
		gen_case(&vm, &vm.vcpu[0], &c[0], g, NULL);
		cur_env = c[0].env;
		load_case(&vm, 0, &c[0]);
		if (nvcpus > 1) {
			struct rng first = run_rng;

			rng_seed(opt_seed, iter, k + 32);
			gen_case(&vm, &vm.vcpu[1], &c[1], g, c[0].used);
			load_case(&vm, 1, &c[1]);
			w.rng = run_rng.s;
			run_rng = first;
		}
		if (!(opt_cases & (1ULL << k)))
			continue;
		if (opt_dump) {
			dump_case(&vm, 0, &c[0]);
			if (nvcpus > 1)
				dump_case(&vm, 1, &c[1]);
		} else if (opt_trace) {
			say("run %llu.%d %s%s%s\n", (unsigned long long)iter, k,
			    env_name[c[0].env], nvcpus > 1 ? " + " : "",
			    nvcpus > 1 ? env_name[c[1].env] : "");
		}
		if (nvcpus > 1) {
			memset(&w.stats, 0, sizeof(w.stats));
			w.vm = &vm;
			w.c = &c[1];
			w.iter = iter;
			w.kcase = k;
			if (pthread_create(&w.thread, NULL, worker_main, &w))
				die("pthread_create failed");
		}
		run_case(&vm, 0, &c[0]);
		if (nvcpus > 1) {
			pthread_join(w.thread, NULL);
			stats_add(&st_main, &w.stats);
			st.smp_runs++;
		}
		kmsg_check();
	}
	vm_destroy(&vm);
	free(c);
	free(g);
	kmsg_check();
}

/* Append to a fixed buffer, never past its end. */
static void append(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*n >= size - 1)
		return;
	va_start(ap, fmt);
	r = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (r > 0)
		*n = *n + r < size - 1 ? *n + r : size - 1;
}

static void print_summary(void)
{
	char buf[1024];
	size_t n = 0;
	int i, j;

	for (i = 0; i < 64; i++)
		if (st.reason[i])
			append(buf, sizeof(buf), &n, " %s %llu", exit_name(i),
			       (unsigned long long)st.reason[i]);
	say("guest_fuzz: exits by reason:%s\n", n ? buf : " none");
	n = 0;
	for (i = 0; i < NR_ENVS; i++)
		append(buf, sizeof(buf), &n, " %s %llu", env_name[i],
		       (unsigned long long)st.env[i]);
	say("guest_fuzz: runs by mode:%s; %llu case pairs on two vCPUs\n", buf,
	    (unsigned long long)st.smp_runs);
	n = 0;
	for (i = 0; i < 256; i = j) {
		for (j = i; j < 256 && !!st.vectors[j] == !!st.vectors[i]; j++)
			;
		if (!st.vectors[i])
			continue;
		if (j - 1 > i)
			append(buf, sizeof(buf), &n, " %d-%d", i, j - 1);
		else
			append(buf, sizeof(buf), &n, " %d", i);
	}
	say("guest_fuzz: vectors seen by the guest's handlers:%s\n",
	    n ? buf : " none");
	say("guest_fuzz: VMs %llu, KVM_RUNs %llu (EINTR %llu, EFAULT %llu), internal errors: emulation %llu (NPF %llu, string I/O %llu), other %llu (VMX task switches %llu); SET_SREGS refused %llu; slot changes %llu; guest instructions (estimate, see README) %llu\n",
	    (unsigned long long)st.vms, (unsigned long long)st.vcpu_runs,
	    (unsigned long long)st.eintr, (unsigned long long)st.efault,
	    (unsigned long long)st.internal_sub[1],
	    (unsigned long long)st.internal_npf,
	    (unsigned long long)st.internal_io,
	    (unsigned long long)(st.internal_sub[2] + st.internal_sub[3] +
				 st.internal_sub[4] + st.internal_sub[0] +
				 st.internal_sub[5] + st.internal_sub[6] +
				 st.internal_sub[7]),
	    (unsigned long long)st.internal_task,
	    (unsigned long long)st.sregs_refused,
	    (unsigned long long)st.slot_changes,
	    (unsigned long long)st.insns);
	say("guest_fuzz: I/O completions checked through immediate_exit: %llu; emulation failures run again: %llu; EFAULTs retried after fixing the host mapping: %llu; VMs out of KVM's MMU pages (ENOSPC): %llu\n",
	    (unsigned long long)st.pio_probes,
	    (unsigned long long)st.internal_again,
	    (unsigned long long)st.efault_fixed,
	    (unsigned long long)st.enospc);
	say("guest_fuzz: seed %llu runs %llu exits %llu insns-estimate %llu crashes %llu reports %llu\n",
	    (unsigned long long)opt_seed, (unsigned long long)st.runs,
	    (unsigned long long)st.exits, (unsigned long long)st.insns,
	    (unsigned long long)st.findings, (unsigned long long)st.reports);
	if (opt_ktap)
		printf("%s 1 guest_fuzz\n",
		       st.findings || st.reports ? "not ok" : "ok");
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: guest_fuzz [options]\n"
		"  --seed S        the seed (default: from the clock, printed)\n"
		"  --iterations N  stop after N iterations (VMs) (default: none)\n"
		"  --insns N       stop after about N guest instructions (the\n"
		"                  estimate the summary prints; default: none)\n"
		"  --seconds T     stop after T seconds (default 60; 0: none)\n"
		"  --only N        run iteration N alone\n"
		"  --case K[,K...] with --only: run only these cases of it\n"
		"  --start N       first iteration (default 0)\n"
		"  --exits N       KVM_RUNs per case at most (default 200)\n"
		"  --case-ms MS    time per case at most (default 100)\n"
		"  --hang-ms MS    a KVM_RUN kicked this long ago is a hang (30000)\n"
		"  --target T      okvm or kvm: which exits to expect (default: probe)\n"
		"  --dev PATH      the device (default $KVM_DEV or /dev/kvm)\n"
		"  --dump          print each case before running it\n"
		"  --trace         print one line before running each case\n"
		"  --tcg-safe, --no-tcg-safe  avoid what QEMU's TCG cannot take\n"
		"                  (default: when CPUID says TCG; see the README)\n"
		"  --bochs-safe, --no-bochs-safe  guests keep RFLAGS.IF set\n"
		"                  (default: under Bochs; see the README)\n"
		"  --ktap          KTAP output: one case, details as comments\n"
		"  -v, --verbose   print every exit\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	if (*end)
		usage();
	return v;
}

static void parse_cases(const char *v)
{
	char *end;

	opt_cases = 0;
	for (;;) {
		unsigned long k = strtoul(v, &end, 0);

		if (end == v || k > 63)
			usage();
		opt_cases |= 1ULL << k;
		if (!*end)
			return;
		if (*end != ',')
			usage();
		v = end + 1;
	}
}

static void parse_args(int argc, char **argv)
{
	bool have_seed = false;
	int i;

	/* No argument at all: a KTAP test with the defaults, for --tests. */
	if (argc == 1)
		opt_ktap = true;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--ktap")) {
			opt_ktap = true;
			continue;
		}
		if (!strcmp(a, "--tcg-safe")) {
			opt_tcg = 1;
			continue;
		}
		if (!strcmp(a, "--no-tcg-safe")) {
			opt_tcg = 0;
			continue;
		}
		if (!strcmp(a, "--bochs-safe")) {
			opt_bochs = 1;
			continue;
		}
		if (!strcmp(a, "--no-bochs-safe")) {
			opt_bochs = 0;
			continue;
		}
		if (!strcmp(a, "--trace")) {
			opt_trace = true;
			continue;
		}
		if (!strcmp(a, "--dump")) {
			opt_dump = true;
			continue;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			opt_verbose = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--seed")) {
			opt_seed = num(v);
			have_seed = true;
		} else if (!strcmp(a, "--iterations")) {
			opt_iterations = num(v);
		} else if (!strcmp(a, "--insns")) {
			opt_insns = num(v);
		} else if (!strcmp(a, "--seconds")) {
			opt_seconds = strtod(v, NULL);
		} else if (!strcmp(a, "--only")) {
			opt_only = num(v);
		} else if (!strcmp(a, "--case")) {
			parse_cases(v);
		} else if (!strcmp(a, "--start")) {
			opt_start = num(v);
		} else if (!strcmp(a, "--exits")) {
			opt_exits = num(v);
		} else if (!strcmp(a, "--case-ms")) {
			opt_case_ms = num(v);
		} else if (!strcmp(a, "--hang-ms")) {
			opt_hang_ms = num(v);
		} else if (!strcmp(a, "--dev")) {
			opt_dev = v;
		} else if (!strcmp(a, "--target")) {
			if (!strcmp(v, "okvm"))
				opt_target = TARGET_OKVM;
			else if (!strcmp(v, "kvm"))
				opt_target = TARGET_KVM;
			else
				usage();
		} else {
			usage();
		}
	}
	if (!have_seed)
		opt_seed = fuzz_random_seed();
}

/* okvm answers KVM_CAP_SYNC_MMU with 0; KVM with 1. */
static int probe_target(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/module/%s",
		 x86_kvm_vendor_module());
	if (!access("/sys/module/okvm", F_OK) && access(path, F_OK))
		return TARGET_OKVM;
	return ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_MMU) > 0 ?
	       TARGET_KVM : TARGET_OKVM;
}

static void crash_handler(int sig)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf),
			 "\nguest_fuzz: signal %d in the fuzzer itself at seed %llu iteration %llu case %d\n",
			 sig, (unsigned long long)opt_seed,
			 (unsigned long long)cur_iter, cur_case);

	if (write(1, buf, n) < 0)
		_exit(3);
	_exit(3);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = sig_nop };
	uint64_t start, iter;
	unsigned int eax, ebx, ecx, edx;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGUSR1, &sa, NULL);		/* no SA_RESTART */
	sa.sa_handler = crash_handler;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);

	if (opt_tcg < 0)
		opt_tcg = host_under_tcg();
	host_vmx = x86_host_vmx();
	host_phys_bits = 36;
	if (__get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx))
		host_phys_bits = eax & 0xff;
	if (host_phys_bits > 48)
		host_phys_bits = 48;

	if (opt_ktap) {
		printf("KTAP version 1\n1..1\n");
		fflush(stdout);
	}
	if (opt_bochs < 0)
		opt_bochs = host_under_bochs();
	kvm_fd = kvm_open();
	if (opt_target < 0)
		opt_target = probe_target();
	say("guest_fuzz: seed %llu target %s%s%s iterations %llu insns %llu seconds %g exits/case %u case-ms %u\n",
	    (unsigned long long)opt_seed,
	    opt_target == TARGET_OKVM ? "okvm" : "kvm",
	    opt_tcg ? " (tcg-safe)" : "", opt_bochs ? " (bochs-safe)" : "",
	    (unsigned long long)opt_iterations,
	    (unsigned long long)opt_insns, opt_seconds, opt_exits,
	    opt_case_ms);
	kmsg_open(&kmsg);
	wd_init();

	start = fuzz_now_ns();
	if (opt_only >= 0) {
		run_iteration(opt_only);
	} else {
		for (iter = opt_start;; iter++) {
			if (opt_iterations && iter - opt_start >= opt_iterations)
				break;
			if (opt_insns && st.insns >= opt_insns)
				break;
			if (opt_seconds > 0 &&
			    fuzz_now_ns() - start > opt_seconds * 1e9)
				break;
			run_iteration(iter);
		}
	}
	{
		double secs = (fuzz_now_ns() - start) / 1e9;

		say("guest_fuzz: %.1f s: %.1f runs/s, %.1f exits/s\n", secs,
		    st.runs / secs, st.exits / secs);
	}
	print_summary();
	return st.findings || st.reports ? 1 : 0;
}
