// SPDX-License-Identifier: GPL-2.0
/*
 * Memslots changed under a guest that runs on another thread.  Once
 * KVM_SET_USER_MEMORY_REGION has deleted or moved a slot, no vCPU may
 * reach the old memory through a translation it still holds: the host
 * backing stops changing at once, and the guest's next store there
 * exits as an access to unbacked memory.  Slots coming and going beside
 * a running guest leave its own memory alone.
 *
 * Every wait is bounded: a vCPU that never exits is made to leave
 * KVM_RUN and fails the case (vcpu_thread_join()).
 */
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kvm_util.h"

#define LIVE_SLOT	1
#define LIVE_GPA	0x100000
#define LIVE_SIZE	(16 * PAGE_SIZE)
#define MOVED_GPA	0x200000
#define COUNTER_OFF	0x40		/* in the slot, per vCPU page */
#define WAIT_MS		5000
#define ROUNDS		3

/*
 * Counts in EAX and stores the count at [EBX], until the host sets the
 * byte at GUEST_DATA_ADDR (slot 0); then halts.
 */
GUEST_CODE32(guest_count,
	"	xor %eax, %eax\n"
	"1:	inc %eax\n"
	"	mov %eax, (%ebx)\n"
	"	cmpb $0, 0x8000\n"
	"	je 1b\n"
	"	hlt\n");

static uint32_t read_u32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* A vCPU at guest_count, counting at gpa. */
static void count_at(struct kvm_vcpu *vcpu, uint64_t gpa)
{
	struct kvm_regs regs;

	vcpu_set_flat32(vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);
	vcpu_get_regs(vcpu, &regs);
	regs.rbx = gpa;
	vcpu_set_regs(vcpu, &regs);
}

/*
 * Wait until guest_count has stored at p twice: past its first accesses
 * to each page, which exit to map them, it is looping in the guest.
 */
static void wait_counting(const uint32_t *p)
{
	ASSERT_TRUE(wait_for_change(p, 0, WAIT_MS));
	ASSERT_TRUE(wait_for_change(p, read_u32(p), WAIT_MS));
}

/*
 * No vCPU stores at the counters any more, though the slot change left
 * their host memory mapped: each reads the same across 50 ms.
 */
static void expect_stable(uint32_t *const *counter, uint32_t *last, int nr)
{
	int i;

	for (i = 0; i < nr; i++)
		last[i] = read_u32(counter[i]);
	usleep(50000);
	for (i = 0; i < nr; i++)
		if (read_u32(counter[i]) != last[i])
			test_fail("counter %d went from %u to %u after the slot left",
				  i, last[i], read_u32(counter[i]));
}

/*
 * The exit of guest_count's store of value to gpa, where no slot is: the
 * store is emulated and handed to userspace as KVM_EXIT_MMIO, with the
 * instruction complete and EAX still holding the value.
 */
static void expect_unbacked_store(struct kvm_vcpu *vcpu, uint64_t gpa,
				  uint32_t value)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;

	vcpu_expect_exit(vcpu, KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, gpa);
	ASSERT_EQ(run->mmio.len, 4);
	ASSERT_EQ(run->mmio.is_write, 1);
	ASSERT_EQ(*(uint32_t *)run->mmio.data, value);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ((uint32_t)regs.rax, value);
}

/*
 * The k-th of the CPUs the case may run on.  Past the last, k wraps
 * around to the second, not the first: that one is the main thread's.
 */
static int nth_cpu(int k)
{
	static cpu_set_t allowed;
	static int count;
	int cpu;

	if (!count) {
		ASSERT_OK(sched_getaffinity(0, sizeof(allowed), &allowed));
		count = CPU_COUNT(&allowed);
	}
	if (k >= count)
		k = count > 1 ? 1 + (k - 1) % (count - 1) : 0;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &allowed) && !k--)
			break;
	return cpu;
}

/*
 * Complete the exit without entering the guest, before the registers
 * change under it (api.rst, KVM_RUN and immediate_exit).
 */
static void complete_exit(struct kvm_vcpu *vcpu)
{
	vcpu->run->immediate_exit = 1;
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	vcpu->run->immediate_exit = 0;
}

/*
 * nr vCPUs count into the slot, each in a page of its own, on threads
 * of their own, and the slot is deleted under them, ROUNDS times.  A
 * translation left behind only shows while its vCPU stays in the guest
 * across the delete: the main thread has a CPU to itself, the vCPUs
 * share the others.
 */
static void delete_under_vcpus(int nr)
{
	struct kvm_vcpu *vcpu[2];
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_count), &vcpu[0]);
	uint8_t *mem = vm_add_mem(vm, LIVE_SLOT, LIVE_GPA, LIVE_SIZE);
	struct vcpu_thread t[2];
	uint32_t *counter[2], last[2];
	int i, round;

	pin_thread(pthread_self(), nth_cpu(0));
	for (i = 0; i < nr; i++) {
		if (i)
			vcpu[i] = vcpu_add(vm, i);
		counter[i] = (uint32_t *)(mem + i * PAGE_SIZE + COUNTER_OFF);
	}
	for (round = 0; round < ROUNDS; round++) {
		if (round)
			ASSERT_OK(vm_set_region(vm->fd, LIVE_SLOT, 0, LIVE_GPA,
						LIVE_SIZE, (uintptr_t)mem));
		for (i = 0; i < nr; i++) {
			*counter[i] = 0;
			count_at(vcpu[i], LIVE_GPA + i * PAGE_SIZE + COUNTER_OFF);
			vcpu_thread_start(&t[i], vcpu[i], NULL, NULL);
			pin_thread(t[i].thread, nth_cpu(1 + i));
		}
		for (i = 0; i < nr; i++)
			wait_counting(counter[i]);

		ASSERT_OK(vm_set_region(vm->fd, LIVE_SLOT, 0, LIVE_GPA, 0,
					(uintptr_t)mem));
		expect_stable(counter, last, nr);
		for (i = 0; i < nr; i++) {
			vcpu_thread_join(&t[i], WAIT_MS);
			expect_unbacked_store(vcpu[i], LIVE_GPA + i * PAGE_SIZE +
					      COUNTER_OFF, last[i] + 1);
			complete_exit(vcpu[i]);
			test_log("round %d: vcpu %d counted to %u", round, i,
				 last[i]);
		}
	}
	vm_free(vm);
}

TEST(delete_under_running_guest)
{
	delete_under_vcpus(1);
}

TEST(delete_under_two_vcpus)
{
	delete_under_vcpus(2);
}

/*
 * Moved away, the slot leaves the guest's GPA unbacked, as a delete
 * does.  Moved back, the same backing serves the guest again.
 */
TEST(move_under_running_guest)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_count), &vcpu);
	uint8_t *mem = vm_add_mem(vm, LIVE_SLOT, LIVE_GPA, LIVE_SIZE);
	uint32_t *counter = (uint32_t *)(mem + COUNTER_OFF);
	struct vcpu_thread t;
	struct kvm_regs regs;
	uint32_t last;

	count_at(vcpu, LIVE_GPA + COUNTER_OFF);
	pin_thread(pthread_self(), nth_cpu(0));
	vcpu_thread_start(&t, vcpu, NULL, NULL);
	pin_thread(t.thread, nth_cpu(1));
	wait_counting(counter);

	ASSERT_OK(vm_set_region(vm->fd, LIVE_SLOT, 0, MOVED_GPA, LIVE_SIZE,
				(uintptr_t)mem));
	expect_stable(&counter, &last, 1);
	vcpu_thread_join(&t, WAIT_MS);
	expect_unbacked_store(vcpu, LIVE_GPA + COUNTER_OFF, last + 1);

	/*
	 * The next KVM_RUN first completes the exit (api.rst, KVM_RUN): on
	 * KVM the MMIO store is done, its value gone to userspace, and the
	 * guest goes on from the next count; okvm stores again.
	 */
	ASSERT_OK(vm_set_region(vm->fd, LIVE_SLOT, 0, LIVE_GPA, LIVE_SIZE,
				(uintptr_t)mem));
	vcpu_thread_start(&t, vcpu, NULL, NULL);
	ASSERT_TRUE(wait_for_change(counter, last, WAIT_MS));
	ASSERT_GT(read_u32(counter), last);

	*(uint8_t *)vm_hva(vm, GUEST_DATA_ADDR) = 1;
	vcpu_thread_join(&t, WAIT_MS);
	vcpu_expect_exit(vcpu, KVM_EXIT_HLT);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(read_u32(counter), (uint32_t)regs.rax);
	test_log("counted to %u before the move, %u in all", last,
		 (uint32_t)regs.rax);
	vm_free(vm);
}

#define WALK_GPA	0x400000
#define WALK_PAGES	512
#define WALK_REPORT	64		/* iterations between reports */
#define SMALL_SIZE	(4 * PAGE_SIZE)
#define CYCLES		200

/*
 * Stores its iteration count ECX in the first dword of page ECX % 512
 * of the 2 MiB at WALK_GPA and reports ECX on port 0x10 every 64
 * iterations, until the host sets the byte at GUEST_DATA_ADDR; then
 * reports ECX on port 0x11 and halts.
 */
GUEST_CODE32(guest_walk,
	"	xor %ecx, %ecx\n"
	"1:	mov %ecx, %eax\n"
	"	and $511, %eax\n"
	"	shl $12, %eax\n"
	"	mov %ecx, 0x400000(%eax)\n"
	"	inc %ecx\n"
	"	test $63, %ecx\n"
	"	jnz 2f\n"
	"	mov %ecx, %eax\n"
	"	out %eax, $0x10\n"
	"2:	cmpb $0, 0x8000\n"
	"	je 1b\n"
	"	mov %ecx, %eax\n"
	"	out %eax, $0x11\n"
	"	hlt\n");

struct walk {
	uint32_t reported;	/* the last count on port 0x10 */
	uint32_t final;		/* the count on port 0x11 */
};

/* Counts must come in order on port 0x10, then once on port 0x11. */
static bool walk_on_exit(struct vcpu_thread *t)
{
	struct kvm_run *run = t->vcpu->run;
	struct walk *w = t->data;
	uint32_t val;

	if (run->exit_reason != KVM_EXIT_IO ||
	    run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4)
		return false;
	memcpy(&val, (uint8_t *)run + run->io.data_offset, 4);
	if (run->io.port == 0x10 && val == w->reported + WALK_REPORT) {
		__atomic_store_n(&w->reported, val, __ATOMIC_RELAXED);
		return true;
	}
	if (run->io.port == 0x11 && !w->final) {
		w->final = val;
		return true;
	}
	return false;
}

/* The guest's last store in page p of the walk, after final stores. */
static uint32_t walk_expected(uint32_t p, uint32_t final)
{
	if (final <= p)
		return 0;
	return p + (final - 1 - p) / WALK_PAGES * WALK_PAGES;
}

/*
 * A small slot created and deleted again and again, on both sides of
 * the guest's slot and far from it, under another id each time, while
 * the guest walks its own slot: at least CYCLES times, and until the
 * guest has been once through its walk, faulting in every page of it
 * as the slots change.
 */
TEST(create_delete_beside_running_guest)
{
	static const uint64_t small_gpa[] = {
		WALK_GPA + WALK_PAGES * PAGE_SIZE,	/* just above */
		WALK_GPA - SMALL_SIZE,			/* just below */
		0x10000000,
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_walk), &vcpu);
	uint8_t *walk = vm_add_mem(vm, 1, WALK_GPA, WALK_PAGES * PAGE_SIZE);
	void *small = mmap(NULL, SMALL_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t start = now_ms(), end = start + WAIT_MS * test_timeout_scale();
	struct walk w = { 0 };
	struct vcpu_thread t;
	uint32_t count, p;
	int i;

	ASSERT_NE(small, MAP_FAILED);
	vcpu_thread_start(&t, vcpu, walk_on_exit, &w);
	for (i = 0; i < CYCLES || read_u32(&w.reported) < WALK_PAGES; i++) {
		uint32_t slot = 2 + i % 4;
		uint64_t gpa = small_gpa[i % 3];

		if (now_ms() > end)
			break;
		ASSERT_OK(vm_set_region(vm->fd, slot, 0, gpa, SMALL_SIZE,
					(uintptr_t)small));
		ASSERT_OK(vm_set_region(vm->fd, slot, 0, gpa, 0,
					(uintptr_t)small));
	}
	count = read_u32(&w.reported);
	test_log("%d create/delete cycles in %llu ms while the guest counted to %u",
		 i, (unsigned long long)(now_ms() - start), count);

	*(uint8_t *)vm_hva(vm, GUEST_DATA_ADDR) = 1;
	vcpu_thread_join(&t, WAIT_MS);
	vcpu_expect_exit(vcpu, KVM_EXIT_HLT);
	ASSERT_GE(count, WALK_PAGES);
	for (p = 0; p < WALK_PAGES; p++) {
		uint32_t got = read_u32((uint32_t *)(walk + p * PAGE_SIZE));

		if (got != walk_expected(p, w.final))
			test_fail("page %u of the walk holds %u, expected %u (the guest counted to %u)",
				  p, got, walk_expected(p, w.final), w.final);
	}
	munmap(small, SMALL_SIZE);
	vm_free(vm);
}
