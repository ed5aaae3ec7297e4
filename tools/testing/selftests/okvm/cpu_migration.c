// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU threads that move between CPU 0 and CPU 1.  The guest's state
 * must follow its vCPU wherever the thread runs: under VMX the VMCS is
 * made current on the CPU that touches it, by KVM_RUN or by a register
 * ioctl alike, and must first be VMCLEARed on the CPU it was active on
 * (Intel SDM vol. 3C, "Software Use of Virtual-Machine Control
 * Structures"); under SVM the host save area is per CPU.  Each case hops
 * many times and checks, after every hop, the registers the guest
 * computes, RIP, and the counters the guest keeps in its memory.
 *
 * Needs CPUs 0 and 1 online and allowed to this process; skips
 * otherwise.  Nothing here is timed: a vCPU that stops exiting is
 * caught by the harness's alarm.
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "kvm_util.h"

#define ROUNDS		1000
#define RUN_HOPS	2000
#define PAIR_ROUNDS	500

/*
 * One pass per KVM_RUN: EAX counts the passes, EBX sums the counts, ECX
 * becomes ECX * 3 + EAX (so it depends on every pass before), EDI adds
 * ESI, which the host sets with KVM_SET_REGS, and the dwords at DS:0
 * and ES:0 count in memory; ES is moved between two areas with
 * KVM_SET_SREGS.  Then EAX goes out to port 0x10.
 */
GUEST_CODE16(guest_work,
	"	xor %eax, %eax\n"
	"	xor %ebx, %ebx\n"
	"	xor %ecx, %ecx\n"
	"	xor %edi, %edi\n"
	"1:	inc %eax\n"
	"	add %eax, %ebx\n"
	"	lea (%ecx,%ecx,2), %ecx\n"
	"	add %eax, %ecx\n"
	"	add %esi, %edi\n"
	"	incl %ds:0\n"
	"	incl %es:0\n"
	"guest_work_out:\n"
	"	out %eax, $0x10\n"
	"	jmp 1b\n");
extern const uint8_t guest_work_out[];

/*
 * Real-mode segments of one vCPU: its DS counter and its two ES areas
 * (paragraphs: base = selector * 16), apart from each other's and below
 * GUEST_MEM_SIZE.
 */
struct layout {
	uint16_t ds;
	uint16_t es[2];
};

static const struct layout layouts[2] = {
	{ .ds = 0x800, .es = { 0x900, 0xa00 } },
	{ .ds = 0x880, .es = { 0xb00, 0xc00 } },
};

/* What the host expects of one vCPU running guest_work. */
struct expect {
	struct kvm_vcpu *vcpu;
	const struct layout *lay;
	uint32_t n;		/* passes so far */
	uint32_t sum;		/* EBX */
	uint32_t mix;		/* ECX */
	uint32_t acc;		/* EDI */
	uint64_t rsi;		/* what the host last put in RSI */
	uint64_t high[8];	/* R8-R15, set once, never touched */
	uint64_t rflags;	/* IF and the fixed bit, as set */
	int es;			/* which ES area is in use */
	uint32_t es_count[2];	/* passes with ES on each area */
	struct kvm_sregs sregs;	/* as last set */
};

/*
 * CPUs 0 and 1 must both be online and allowed: sched_getaffinity()
 * gives the allowed CPUs that are active.
 */
static void need_two_cpus(void)
{
	cpu_set_t set;

	ASSERT_OK(sched_getaffinity(0, sizeof(set), &set));
	if (!CPU_ISSET(0, &set) || !CPU_ISSET(1, &set))
		test_skip("needs CPUs 0 and 1 online and allowed (CPUs online: %ld)",
			  sysconf(_SC_NPROCESSORS_ONLN));
}

static void pin_to(int cpu)
{
	pin_thread(pthread_self(), cpu);
	ASSERT_EQ(sched_getcpu(), cpu);
}

static void set_seg(struct kvm_segment *seg, uint16_t sel)
{
	seg->selector = sel;
	seg->base = (uint64_t)sel << 4;
}

static uint32_t *guest_dword(struct kvm_vm *vm, uint16_t sel)
{
	return vm_hva(vm, (uint64_t)sel << 4);
}

/*
 * Put vCPU e->vcpu at guest_work with its own segments and the high
 * registers set to values no instruction of the guest touches.
 */
static void expect_init(struct expect *e, struct kvm_vcpu *vcpu, int idx)
{
	struct kvm_regs regs;
	int i;

	memset(e, 0, sizeof(*e));
	e->vcpu = vcpu;
	e->lay = &layouts[idx];
	vcpu_set_real_mode(vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);
	vcpu_get_regs(vcpu, &regs);
	e->rflags = regs.rflags;
	e->rsi = 0x5151515100000000ULL | idx;
	regs.rsi = e->rsi;
	for (i = 0; i < 8; i++)
		e->high[i] = 0x0123456789abcdefULL * (i + 1) + idx;
	regs.r8 = e->high[0];
	regs.r9 = e->high[1];
	regs.r10 = e->high[2];
	regs.r11 = e->high[3];
	regs.r12 = e->high[4];
	regs.r13 = e->high[5];
	regs.r14 = e->high[6];
	regs.r15 = e->high[7];
	vcpu_set_regs(vcpu, &regs);

	vcpu_get_sregs(vcpu, &e->sregs);
	set_seg(&e->sregs.ds, e->lay->ds);
	set_seg(&e->sregs.es, e->lay->es[0]);
	vcpu_set_sregs(vcpu, &e->sregs);
}

/* One KVM_RUN: the guest's next pass, on whatever CPU this is. */
static void expect_pass(struct expect *e)
{
	ASSERT_EQ(vcpu_run_expect_out(e->vcpu, 0x10, 4), e->n + 1);
	e->n++;
	e->sum += e->n;
	e->mix = e->mix * 3 + e->n;
	e->acc += (uint32_t)e->rsi;
	e->es_count[e->es]++;
}

/*
 * The segments and control registers later reads must show, read on the
 * CPU that ran the first pass: a VM exit may store them in a form of
 * its own (the Bochs test host's VMX saves a real-mode CS as type 3, a
 * data segment, under kvm_intel as under okvm).
 */
static void expect_first_pass(struct expect *e)
{
	expect_pass(e);
	vcpu_get_sregs(e->vcpu, &e->sregs);
}

/* The guest's counters in memory, read through the host's mapping. */
static void check_memory(struct expect *e)
{
	struct kvm_vm *vm = e->vcpu->vm;
	int i;

	ASSERT_EQ(*guest_dword(vm, e->lay->ds), e->n);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(*guest_dword(vm, e->lay->es[i]), e->es_count[i]);
}

#define ASSERT_SEG_EQ(a, b, name)					\
	do {								\
		if (memcmp(&(a), &(b), sizeof(a)))			\
			test_fail("vcpu %d pass %u: %s is %#x base %#llx type %#x, expected %#x base %#llx type %#x", \
				  e->vcpu->id, e->n, name, (a).selector,	\
				  (unsigned long long)(a).base, (a).type,	\
				  (b).selector,				\
				  (unsigned long long)(b).base, (b).type);	\
	} while (0)

/*
 * KVM_GET_REGS and KVM_GET_SREGS, on whatever CPU this is: the guest's
 * results, RIP on the OUT (KVM leaves it there until the next KVM_RUN
 * completes the instruction), and the segments and control registers as
 * last set.
 */
static void check_regs(struct expect *e, struct kvm_regs *regs)
{
	struct kvm_sregs s;

	vcpu_get_regs(e->vcpu, regs);
	ASSERT_EQ((uint32_t)regs->rax, e->n);
	ASSERT_EQ((uint32_t)regs->rbx, e->sum);
	ASSERT_EQ((uint32_t)regs->rcx, e->mix);
	ASSERT_EQ((uint32_t)regs->rdi, e->acc);
	ASSERT_EQ(regs->rsi, e->rsi);
	ASSERT_EQ(regs->r8, e->high[0]);
	ASSERT_EQ(regs->r9, e->high[1]);
	ASSERT_EQ(regs->r10, e->high[2]);
	ASSERT_EQ(regs->r11, e->high[3]);
	ASSERT_EQ(regs->r12, e->high[4]);
	ASSERT_EQ(regs->r13, e->high[5]);
	ASSERT_EQ(regs->r14, e->high[6]);
	ASSERT_EQ(regs->r15, e->high[7]);
	ASSERT_EQ(regs->rsp, GUEST_STACK_TOP);
	ASSERT_EQ(regs->rip, guest_addr(guest_work_out, guest_work));
	/* The arithmetic flags vary from pass to pass; these do not. */
	ASSERT_EQ(regs->rflags & (X86_EFLAGS_IF | 0x2), e->rflags);

	vcpu_get_sregs(e->vcpu, &s);
	ASSERT_SEG_EQ(s.cs, e->sregs.cs, "CS");
	ASSERT_SEG_EQ(s.ds, e->sregs.ds, "DS");
	ASSERT_SEG_EQ(s.es, e->sregs.es, "ES");
	ASSERT_SEG_EQ(s.ss, e->sregs.ss, "SS");
	ASSERT_SEG_EQ(s.fs, e->sregs.fs, "FS");
	ASSERT_SEG_EQ(s.gs, e->sregs.gs, "GS");
	ASSERT_SEG_EQ(s.tr, e->sregs.tr, "TR");
	ASSERT_SEG_EQ(s.ldt, e->sregs.ldt, "LDTR");
	ASSERT_EQ(s.gdt.base, e->sregs.gdt.base);
	ASSERT_EQ(s.gdt.limit, e->sregs.gdt.limit);
	ASSERT_EQ(s.idt.base, e->sregs.idt.base);
	ASSERT_EQ(s.idt.limit, e->sregs.idt.limit);
	ASSERT_EQ(s.cr0, e->sregs.cr0);
	ASSERT_EQ(s.cr3, e->sregs.cr3);
	ASSERT_EQ(s.cr4, e->sregs.cr4);
	ASSERT_EQ(s.efer, e->sregs.efer);
}

/*
 * KVM_SET_REGS with a new RSI for the guest to add (RIP left on the OUT,
 * so the next KVM_RUN still completes it), and KVM_SET_SREGS moving ES
 * to the other area.
 */
static void change_regs(struct expect *e, struct kvm_regs *regs)
{
	e->rsi = (uint64_t)(e->n * 0x9e3779b9u) << 32 | (e->n * 0x85ebca6bu);
	regs->rsi = e->rsi;
	vcpu_set_regs(e->vcpu, regs);

	e->es ^= 1;
	set_seg(&e->sregs.es, e->lay->es[e->es]);
	vcpu_set_sregs(e->vcpu, &e->sregs);
	vcpu_get_sregs(e->vcpu, &e->sregs);
	ASSERT_EQ(e->sregs.es.selector, e->lay->es[e->es]);
}

/*
 * Skip without two CPUs, else a VM whose one vCPU has made its first
 * pass, on CPU 1.
 */
static struct kvm_vm *vm_create_migrating(struct expect *e)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	need_two_cpus();
	vm = vm_create_guest(GUEST(guest_work), &vcpu);
	expect_init(e, vcpu, 0);
	pin_to(1);
	expect_first_pass(e);
	return vm;
}

/*
 * KVM_RUN alone, on CPU 0 and CPU 1 in turn: the VMCS (or VMCB) comes
 * over with each run and the guest goes on where it stopped.
 */
TEST(run_hops)
{
	struct kvm_regs regs;
	struct expect e;
	struct kvm_vm *vm = vm_create_migrating(&e);
	int i;

	for (i = 0; i < RUN_HOPS; i++) {
		pin_to(i & 1);
		expect_pass(&e);
		ASSERT_EQ(*guest_dword(vm, e.lay->ds), e.n);
	}
	check_regs(&e, &regs);
	check_memory(&e);
	vm_free(vm);
}

/*
 * Register ioctls on the other CPU than the last KVM_RUN, which pulls
 * the VMCS over there; the next KVM_RUN is on the CPU of the ioctls
 * (no hop) or back on the one before (a hop back), two rounds of each
 * in turn.  What the ioctls set must be what the guest then uses.
 */
TEST(regs_on_other_cpu)
{
	struct kvm_regs regs;
	struct expect e;
	struct kvm_vm *vm = vm_create_migrating(&e);
	int i, cpu;

	for (i = 0; i < ROUNDS; i++) {
		cpu = (i >> 1) & 1;
		pin_to(cpu);
		expect_pass(&e);
		pin_to(!cpu);
		check_regs(&e, &regs);
		check_memory(&e);
		change_regs(&e, &regs);
	}
	test_log("%u passes", e.n);
	vm_free(vm);
}

/* The two vCPU threads of two_vcpus_swap meet here between steps. */
static pthread_barrier_t pair_barrier;

struct pair_vcpu {
	struct expect e;
	int idx;
	pthread_t thread;
};

/*
 * One vCPU of two: each round it runs on CPU (idx + round) % 2 while
 * the other runs on the other CPU, then does its register ioctls on the
 * CPU it runs on next, where the other vCPU's VMCS was just active.
 * Assertions fail the whole case from here: exit() ends the process.
 */
static void *pair_fn(void *arg)
{
	struct pair_vcpu *p = arg;
	struct kvm_regs regs;
	int i, cpu;

	for (i = 0; i < PAIR_ROUNDS; i++) {
		cpu = (p->idx + i) & 1;
		pin_to(cpu);
		pthread_barrier_wait(&pair_barrier);
		expect_pass(&p->e);
		pthread_barrier_wait(&pair_barrier);
		pin_to(!cpu);
		check_regs(&p->e, &regs);
		check_memory(&p->e);
		change_regs(&p->e, &regs);
	}
	return NULL;
}

/*
 * Two vCPUs of one VM swap CPUs every round, running at the same time:
 * each one's VMCS is VMCLEARed on the CPU the other one now uses, by IPI,
 * possibly while that CPU runs the other guest.
 */
TEST(two_vcpus_swap)
{
	struct pair_vcpu pair[2];
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int i, r;

	need_two_cpus();
	vm = vm_create_guest(GUEST(guest_work), &vcpu);
	expect_init(&pair[0].e, vcpu, 0);
	expect_init(&pair[1].e, vcpu_add(vm, 1), 1);
	for (i = 0; i < 2; i++) {
		pin_to(i);
		expect_first_pass(&pair[i].e);
	}
	ASSERT_EQ(pthread_barrier_init(&pair_barrier, NULL, 2), 0);
	for (i = 0; i < 2; i++) {
		pair[i].idx = i;
		r = pthread_create(&pair[i].thread, NULL, pair_fn, &pair[i]);
		ASSERT_EQ(r, 0);
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(pthread_join(pair[i].thread, NULL), 0);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(pair[i].e.n, PAIR_ROUNDS + 1);
	pthread_barrier_destroy(&pair_barrier);
	vcpu_free(pair[1].e.vcpu);
	vm_free(vm);
}
