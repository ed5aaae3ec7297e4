// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_SET_USER_MEMORY_REGION: what it accepts, what it refuses and with
 * which errno, and what the guest sees after a slot is moved.
 */
#include <cpuid.h>
#include <sys/mman.h>

#include "kvm_util.h"

#define SLOT_SIZE	(16 * PAGE_SIZE)

struct slot_test {
	struct kvm_vm *vm;
	uint8_t *mem;		/* backing for the slots, 4 * SLOT_SIZE */
};

static struct slot_test setup(void)
{
	struct slot_test t = { .vm = vm_create() };

	t.mem = mmap(NULL, 4 * SLOT_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(t.mem, MAP_FAILED);
	return t;
}

static uint64_t uaddr(struct slot_test *t, uint64_t off)
{
	return (uintptr_t)t->mem + off;
}

/* set_region on the test's VM, backed at offset off of t->mem. */
static int set(struct slot_test *t, uint32_t slot, uint32_t flags,
	       uint64_t gpa, uint64_t size, uint64_t off)
{
	return vm_set_region(t->vm->fd, slot, flags, gpa, size,
			     uaddr(t, off));
}

TEST(create_and_delete)
{
	struct slot_test t = setup();

	ASSERT_OK(set(&t, 0, 0, 0, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 0, 0, 0, 0, 0));
	/* The slot id is free again. */
	ASSERT_OK(set(&t, 0, 0, 0x100000, SLOT_SIZE, SLOT_SIZE));
	vm_free(t.vm);
}

TEST(unaligned_size)
{
	struct slot_test t = setup();

	ASSERT_ERRNO(set(&t, 0, 0, 0, SLOT_SIZE + 1, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0, SLOT_SIZE - 0x800, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0, 1, 0), EINVAL);
	vm_free(t.vm);
}

TEST(unaligned_gpa)
{
	struct slot_test t = setup();

	ASSERT_ERRNO(set(&t, 0, 0, 0x1001, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0x800, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0x100ffc, SLOT_SIZE, 0), EINVAL);
	vm_free(t.vm);
}

TEST(unaligned_userspace_addr)
{
	struct slot_test t = setup();

	ASSERT_ERRNO(set(&t, 0, 0, 0, SLOT_SIZE, 1), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0, SLOT_SIZE, 0x800), EINVAL);
	vm_free(t.vm);
}

TEST(slot_id_limit)
{
	struct slot_test t = setup();
	int nr = kvm_check_cap(KVM_CAP_NR_MEMSLOTS);

	test_log("KVM_CAP_NR_MEMSLOTS = %d", nr);
	ASSERT_GT(nr, 0);
	ASSERT_ERRNO(set(&t, nr, 0, 0, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, nr + 1, 0, 0, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0xffff, 0, 0, SLOT_SIZE, 0), EINVAL);
	ASSERT_OK(set(&t, nr - 1, 0, 0, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 1, 0, SLOT_SIZE, SLOT_SIZE, SLOT_SIZE));
	vm_free(t.vm);
}

/* The address space is slot >> 16; KVM_CAP_MULTI_ADDRESS_SPACE of 0 is 1. */
TEST(address_space_limit)
{
	struct slot_test t = setup();
	int nr_as = kvm_check_cap(KVM_CAP_MULTI_ADDRESS_SPACE);
	int as;

	test_log("KVM_CAP_MULTI_ADDRESS_SPACE = %d", nr_as);
	if (nr_as < 1)
		nr_as = 1;
	for (as = 0; as < nr_as; as++)
		ASSERT_OK(set(&t, as << 16, 0, 0, SLOT_SIZE, 0));
	ASSERT_ERRNO(set(&t, nr_as << 16, 0, 0, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, (nr_as + 1) << 16, 0, 0, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0xffffU << 16, 0, 0, SLOT_SIZE, 0), EINVAL);
	vm_free(t.vm);
}

TEST(gpa_wraps)
{
	struct slot_test t = setup();

	ASSERT_ERRNO(set(&t, 0, 0, -PAGE_SIZE, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, -PAGE_SIZE, PAGE_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, -SLOT_SIZE / 2, SLOT_SIZE, 0), EINVAL);
	vm_free(t.vm);
}

static bool host_has_la57(void)
{
	unsigned int a, b, c, d;

	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1 << 16));
}

/*
 * The userspace range must lie in user space; whether it is mapped is
 * not checked here.
 */
TEST(userspace_addr_outside_user_space)
{
	struct slot_test t = setup();
	int fd = t.vm->fd;

	/* Kernel addresses. */
	ASSERT_ERRNO(vm_set_region(fd, 0, 0, 0, SLOT_SIZE,
				   0xffff888000000000ULL), EINVAL);
	ASSERT_ERRNO(vm_set_region(fd, 0, 0, 0, SLOT_SIZE,
				   0xffffffff81000000ULL), EINVAL);
	ASSERT_ERRNO(vm_set_region(fd, 0, 0, 0, SLOT_SIZE, -SLOT_SIZE),
		     EINVAL);
	/* Non-canonical. */
	ASSERT_ERRNO(vm_set_region(fd, 0, 0, 0, SLOT_SIZE,
				   0x8000000000000000ULL), EINVAL);
	ASSERT_ERRNO(vm_set_region(fd, 0, 0, 0, SLOT_SIZE,
				   0x0100000000000000ULL), EINVAL);
	if (!host_has_la57()) {
		ASSERT_ERRNO(vm_set_region(fd, 0, 0, 0, SLOT_SIZE,
					   0x0000800000000000ULL), EINVAL);
		/* Straddling the top of user space. */
		ASSERT_ERRNO(vm_set_region(fd, 0, 0, 0, SLOT_SIZE,
					   0x00007ffffffff000ULL - PAGE_SIZE),
			     EINVAL);
	}
	/* Unmapped but in user space: accepted. */
	ASSERT_OK(vm_set_region(fd, 0, 0, 0, SLOT_SIZE, 0x100000000000ULL));
	vm_free(t.vm);
}

TEST(unknown_flags)
{
	struct slot_test t = setup();
	int bit;

	for (bit = 2; bit < 32; bit++)
		ASSERT_ERRNO(set(&t, 0, 1U << bit, 0, SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, ~0U, 0, SLOT_SIZE, 0), EINVAL);
	vm_free(t.vm);
}

TEST(readonly_flag)
{
	struct slot_test t = setup();
	int ro = kvm_check_cap(KVM_CAP_READONLY_MEM);

	test_log("KVM_CAP_READONLY_MEM = %d", ro);
	if (ro)
		ASSERT_OK(set(&t, 0, KVM_MEM_READONLY, 0, SLOT_SIZE, 0));
	else
		ASSERT_ERRNO(set(&t, 0, KVM_MEM_READONLY, 0, SLOT_SIZE, 0),
			     EINVAL);
	vm_free(t.vm);
}

TEST(log_dirty_pages_flag)
{
	struct slot_test t = setup();

	ASSERT_OK(set(&t, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, SLOT_SIZE, 0));
	/* Turning it off and on again on the existing slot. */
	ASSERT_OK(set(&t, 0, 0, 0, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, SLOT_SIZE, 0));
	/* And with a move. */
	ASSERT_OK(set(&t, 0, 0, 0x100000, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 0, KVM_MEM_LOG_DIRTY_PAGES, 0x200000, SLOT_SIZE, 0));
	vm_free(t.vm);
}

/* Slot 0 covers [0x10000, 0x20000); every shape below touches it. */
TEST(overlap_eexist)
{
	static const struct {
		uint64_t gpa, size;
	} shapes[] = {
		{ 0x10000, SLOT_SIZE },			/* the same range */
		{ 0x14000, 0x4000 },			/* inside */
		{ 0x8000, 0x20000 },			/* around */
		{ 0x8000, 0x10000 },			/* over the start */
		{ 0x18000, 0x10000 },			/* over the end */
		{ 0xf000, 0x2000 },			/* first page */
		{ 0x1f000, 0x1000 },			/* last page */
		{ 0x10000, PAGE_SIZE },			/* first page only */
	};
	struct slot_test t = setup();
	unsigned int i;

	ASSERT_OK(set(&t, 0, 0, 0x10000, SLOT_SIZE, 0));
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		test_log("shape %u: gpa 0x%llx size 0x%llx", i,
			 (unsigned long long)shapes[i].gpa,
			 (unsigned long long)shapes[i].size);
		ASSERT_ERRNO(set(&t, 1, 0, shapes[i].gpa, shapes[i].size,
				 SLOT_SIZE), EEXIST);
	}
	vm_free(t.vm);
}

TEST(adjacent_slots)
{
	struct slot_test t = setup();

	ASSERT_OK(set(&t, 0, 0, 0x10000, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 1, 0, 0x10000 - SLOT_SIZE, SLOT_SIZE, SLOT_SIZE));
	ASSERT_OK(set(&t, 2, 0, 0x10000 + SLOT_SIZE, SLOT_SIZE,
		      2 * SLOT_SIZE));
	vm_free(t.vm);
}

/* Another address space is another physical address space. */
TEST(same_gpa_other_address_space)
{
	struct slot_test t = setup();

	if (kvm_check_cap(KVM_CAP_MULTI_ADDRESS_SPACE) < 2)
		test_skip("one address space only");
	ASSERT_OK(set(&t, 0, 0, 0x10000, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 1 << 16, 0, 0x10000, SLOT_SIZE, SLOT_SIZE));
	ASSERT_ERRNO(set(&t, (1 << 16) | 1, 0, 0x14000, SLOT_SIZE,
			 2 * SLOT_SIZE), EEXIST);
	vm_free(t.vm);
}

TEST(delete_missing_slot)
{
	struct slot_test t = setup();

	ASSERT_ERRNO(set(&t, 0, 0, 0, 0, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 5, 0, 0x10000, 0, 0), EINVAL);
	ASSERT_OK(set(&t, 0, 0, 0, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 0, 0, 0, 0, 0));
	ASSERT_ERRNO(set(&t, 0, 0, 0, 0, 0), EINVAL);
	vm_free(t.vm);
}

TEST(modify_size_or_address)
{
	struct slot_test t = setup();

	ASSERT_OK(set(&t, 0, 0, 0x10000, SLOT_SIZE, 0));
	ASSERT_ERRNO(set(&t, 0, 0, 0x10000, 2 * SLOT_SIZE, 0), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0x10000, SLOT_SIZE - PAGE_SIZE, 0),
		     EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0x10000, SLOT_SIZE, SLOT_SIZE), EINVAL);
	ASSERT_ERRNO(set(&t, 0, 0, 0x10000, SLOT_SIZE, PAGE_SIZE), EINVAL);
	/* A new GPA does not excuse a new size. */
	ASSERT_ERRNO(set(&t, 0, 0, 0x40000, 2 * SLOT_SIZE, 0), EINVAL);
	vm_free(t.vm);
}

TEST(modify_readonly_flag)
{
	struct slot_test t = setup();

	if (!kvm_check_cap(KVM_CAP_READONLY_MEM))
		test_skip("no KVM_CAP_READONLY_MEM");
	ASSERT_OK(set(&t, 0, 0, 0x10000, SLOT_SIZE, 0));
	ASSERT_ERRNO(set(&t, 0, KVM_MEM_READONLY, 0x10000, SLOT_SIZE, 0),
		     EINVAL);
	ASSERT_OK(set(&t, 1, KVM_MEM_READONLY, 0x40000, SLOT_SIZE,
		      SLOT_SIZE));
	ASSERT_ERRNO(set(&t, 1, 0, 0x40000, SLOT_SIZE, SLOT_SIZE), EINVAL);
	vm_free(t.vm);
}

TEST(set_identical_slot)
{
	struct slot_test t = setup();

	ASSERT_OK(set(&t, 3, 0, 0x10000, SLOT_SIZE, 0));
	ASSERT_EQ(set(&t, 3, 0, 0x10000, SLOT_SIZE, 0), 0);
	ASSERT_EQ(set(&t, 3, 0, 0x10000, SLOT_SIZE, 0), 0);
	vm_free(t.vm);
}

TEST(move_onto_other_slot)
{
	struct slot_test t = setup();

	ASSERT_OK(set(&t, 0, 0, 0x10000, SLOT_SIZE, 0));
	ASSERT_OK(set(&t, 1, 0, 0x40000, SLOT_SIZE, SLOT_SIZE));
	ASSERT_ERRNO(set(&t, 1, 0, 0x18000, SLOT_SIZE, SLOT_SIZE), EEXIST);
	/* Moving over its own old range is fine. */
	ASSERT_OK(set(&t, 1, 0, 0x48000, SLOT_SIZE, SLOT_SIZE));
	vm_free(t.vm);
}

/*
 * Read a dword at ES:0x10 and write one at ES:0x20, with ES taken from
 * BX: the host points BX at the slot under test.
 */
GUEST_CODE16(guest_es_rw,
	"	mov %bx, %es\n"
	"	mov %es:0x10, %eax\n"
	"	out %eax, $0x10\n"
	"	movl $0x600df00d, %es:0x20\n"
	"	hlt\n");

static void run_es_rw(struct kvm_vcpu *vcpu, uint64_t gpa, uint32_t want)
{
	struct kvm_regs regs;

	vcpu_set_real_mode(vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);
	vcpu_get_regs(vcpu, &regs);
	regs.rbx = gpa >> 4;
	vcpu_set_regs(vcpu, &regs);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), want);
	vcpu_run_expect_hlt(vcpu);
}

TEST(move_slot_guest_view)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_es_rw), &vcpu);
	uint32_t *mem = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(mem, MAP_FAILED);
	mem[0x10 / 4] = 0xfeedface;
	ASSERT_OK(vm_set_region(vm->fd, 1, 0, 0x200000, SLOT_SIZE,
				(uintptr_t)mem));
	ASSERT_OK(vm_set_region(vm->fd, 1, 0, 0x20000, SLOT_SIZE,
				(uintptr_t)mem));
	run_es_rw(vcpu, 0x20000, 0xfeedface);
	ASSERT_EQ(mem[0x20 / 4], 0x600df00d);

	mem[0x10 / 4] = 0xabad1dea;
	mem[0x20 / 4] = 0;
	ASSERT_OK(vm_set_region(vm->fd, 1, 0, 0x80000, SLOT_SIZE,
				(uintptr_t)mem));
	run_es_rw(vcpu, 0x80000, 0xabad1dea);
	ASSERT_EQ(mem[0x20 / 4], 0x600df00d);
	vm_free(vm);
}

/* Two slots backed by the same host memory alias each other. */
TEST(two_slots_one_mapping)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_es_rw), &vcpu);
	uint32_t *mem = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(mem, MAP_FAILED);
	ASSERT_OK(vm_set_region(vm->fd, 1, 0, 0x80000, SLOT_SIZE,
				(uintptr_t)mem));
	ASSERT_OK(vm_set_region(vm->fd, 2, 0, 0xa0000, SLOT_SIZE,
				(uintptr_t)mem));
	mem[0x10 / 4] = 0x12345678;
	run_es_rw(vcpu, 0x80000, 0x12345678);
	mem[0x10 / 4] = 0x9abcdef0;
	run_es_rw(vcpu, 0xa0000, 0x9abcdef0);
	ASSERT_EQ(mem[0x20 / 4], 0x600df00d);
	vm_free(vm);
}
