// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty page logging: KVM_MEM_LOG_DIRTY_PAGES, KVM_GET_DIRTY_LOG and,
 * with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_CLEAR_DIRTY_LOG.
 *
 * A 64-bit guest (lib/long_mode.h) writes or reads the pages of a logged
 * slot the host names.  Every page the guest wrote since the log was last
 * taken (or cleared) must be in it, and no page it did not touch at all.
 * A page it only read may or may not be: KVM maps a page writable on a
 * read where the VMM's mapping allows it, and logs it then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "long_mode.h"

#define SLOT		1
#define NR_PAGES	200		/* not a multiple of 64 */
#define WORDS_PER_PAGE	(PAGE_SIZE / 8)
#define BITMAP_LONGS	((NR_PAGES + 63) / 64)
#define MAX_OPS		16

enum { OP_WRITE = 1, OP_READ };

/* What the guest does next: ops[i] on page pages[i], for i < nr_ops. */
static volatile uint64_t nr_ops, ops[MAX_OPS], pages[MAX_OPS];

static void guest_pages(void)
{
	volatile uint64_t *mem = (uint64_t *)LM_TEST_GPA;
	uint64_t i;

	for (;;) {
		GUEST_SYNC(0);
		for (i = 0; i < nr_ops; i++) {
			if (ops[i] == OP_WRITE)
				mem[pages[i] * WORDS_PER_PAGE] = pages[i] + 1;
			else
				(void)mem[pages[i] * WORDS_PER_PAGE];
		}
		nr_ops = 0;
	}
}

struct dirty_test {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	void *hva;
};

static struct dirty_test setup(uint32_t flags, uint64_t manual)
{
	struct dirty_test t;

	t.vm = vm_create_guest64(guest_pages, &t.vcpu);
	if (manual) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args = { manual },
		};

		ASSERT_OK(ioctl(t.vm->fd, KVM_ENABLE_CAP, &cap));
	}
	t.hva = mmap(NULL, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(t.hva != MAP_FAILED);
	ASSERT_OK(vm_set_region(t.vm->fd, SLOT, flags, LM_TEST_GPA,
				NR_PAGES * PAGE_SIZE, (uintptr_t)t.hva));
	virt_map(t.vm, LM_TEST_GPA, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);
	vcpu_run_expect_sync(t.vcpu, 0);
	return t;
}

static void teardown(struct dirty_test *t)
{
	vcpu_free(t->vcpu);
	vm_free(t->vm);
	munmap(t->hva, NR_PAGES * PAGE_SIZE);
}

/* The guest does op on each of the n pages, and is back at GUEST_SYNC. */
static void guest_do(struct dirty_test *t, uint64_t op, const int *p, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		(*guest_var(t->vm, ops))[i] = op;
		(*guest_var(t->vm, pages))[i] = p[i];
	}
	*guest_var(t->vm, nr_ops) = n;
	vcpu_run_expect_sync(t->vcpu, 0);
}

static int get_log(struct dirty_test *t, uint32_t slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

	return ioctl(t->vm->fd, KVM_GET_DIRTY_LOG, &log);
}

static int clear_log(struct dirty_test *t, uint32_t slot, uint64_t first,
		     uint32_t n, uint64_t *bitmap)
{
	struct kvm_clear_dirty_log log = {
		.slot = slot, .first_page = first, .num_pages = n,
		.dirty_bitmap = bitmap,
	};

	return ioctl(t->vm->fd, KVM_CLEAR_DIRTY_LOG, &log);
}

static bool is_set(const uint64_t *bitmap, int page)
{
	return bitmap[page / 64] >> (page % 64) & 1;
}

/*
 * Take the log: the pages in dirty[] must be set, and none of those in
 * untouched[]; a page in neither may be either.
 */
static void expect_log(struct dirty_test *t, const int *dirty, int nd,
		       const int *untouched, int nu)
{
	uint64_t bitmap[BITMAP_LONGS];
	int i;

	memset(bitmap, 0xa5, sizeof(bitmap));
	ASSERT_OK(get_log(t, SLOT, bitmap));
	for (i = 0; i < nd; i++)
		if (!is_set(bitmap, dirty[i]))
			test_fail("page %d was written but is not in the log",
				  dirty[i]);
	for (i = 0; i < nu; i++)
		if (is_set(bitmap, untouched[i]))
			test_fail("page %d was not touched but is in the log",
				  untouched[i]);
	/* Past the slot's last page, the log's last long is clear. */
	ASSERT_EQ(bitmap[BITMAP_LONGS - 1] >> (NR_PAGES % 64), 0);
}

#define N(a)	((int)(sizeof(a) / sizeof((a)[0])))

static const int written[] = { 0, 5, 63, 64, 130, NR_PAGES - 1 };
static const int others[] = { 1, 6, 62, 65, 129, 131, NR_PAGES - 2 };
static const int page5[] = { 5 };
static const int page7[] = { 7 };

/*
 * KVM_GET_DIRTY_LOG takes the bits and protects their pages again: the
 * second log has none of them, and a new write to one shows in the third.
 */
TEST(get_log_clears_and_reprotects)
{
	struct dirty_test t = setup(KVM_MEM_LOG_DIRTY_PAGES, 0);

	guest_do(&t, OP_WRITE, written, N(written));
	expect_log(&t, written, N(written), others, N(others));
	expect_log(&t, NULL, 0, written, N(written));
	guest_do(&t, OP_WRITE, page5, 1);
	expect_log(&t, page5, 1, others, N(others));
	ASSERT_EQ(*(uint64_t *)((char *)t.hva + 5 * PAGE_SIZE), 6);
	teardown(&t);
}

/* Pages the guest only read are not required in the log, written are. */
TEST(reads_and_writes)
{
	struct dirty_test t = setup(KVM_MEM_LOG_DIRTY_PAGES, 0);

	guest_do(&t, OP_READ, others, N(others));
	guest_do(&t, OP_WRITE, written, N(written));
	expect_log(&t, written, N(written), page7, 1);
	teardown(&t);
}

/*
 * Logging turned on for a slot the guest has already written all over
 * (mapped writable): only what it writes from then on is logged.  Off
 * again, KVM_GET_DIRTY_LOG has no slot to log.
 */
TEST(enable_on_existing_slot)
{
	static int all[MAX_OPS];
	struct dirty_test t = setup(0, 0);
	uint64_t bitmap[BITMAP_LONGS];
	int i;

	for (i = 0; i < MAX_OPS; i++)
		all[i] = i * 12;
	guest_do(&t, OP_WRITE, all, MAX_OPS);
	ASSERT_ERRNO(get_log(&t, SLOT, bitmap), ENOENT);
	ASSERT_OK(vm_set_region(t.vm->fd, SLOT, KVM_MEM_LOG_DIRTY_PAGES,
				LM_TEST_GPA, NR_PAGES * PAGE_SIZE,
				(uintptr_t)t.hva));
	guest_do(&t, OP_WRITE, page5, 1);
	expect_log(&t, page5, 1, all, MAX_OPS);
	guest_do(&t, OP_WRITE, all, MAX_OPS);
	expect_log(&t, all, MAX_OPS, page5, 1);
	ASSERT_OK(vm_set_region(t.vm->fd, SLOT, 0, LM_TEST_GPA,
				NR_PAGES * PAGE_SIZE, (uintptr_t)t.hva));
	ASSERT_ERRNO(get_log(&t, SLOT, bitmap), ENOENT);
	guest_do(&t, OP_WRITE, all, MAX_OPS);
	teardown(&t);
}

/*
 * With KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE, KVM_GET_DIRTY_LOG leaves the
 * bits alone; KVM_CLEAR_DIRTY_LOG clears those it is given and protects
 * their pages, so the next write to one is logged again.
 */
TEST(manual_protect)
{
	struct dirty_test t = setup(KVM_MEM_LOG_DIRTY_PAGES,
				    KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
	uint64_t mask[BITMAP_LONGS] = { 1UL << 5 };

	if (!(kvm_check_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) &
	      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		test_fail("KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 lacks MANUAL_PROTECT_ENABLE");
	guest_do(&t, OP_WRITE, written, N(written));
	expect_log(&t, written, N(written), others, N(others));
	expect_log(&t, written, N(written), others, N(others));
	ASSERT_OK(clear_log(&t, SLOT, 0, 64, mask));
	expect_log(&t, written + 2, N(written) - 2, page5, 1);
	guest_do(&t, OP_WRITE, page5, 1);
	expect_log(&t, written, N(written), others, N(others));
	/* The last range may end with the slot, whatever its length. */
	memset(mask, 0xff, sizeof(mask));
	ASSERT_OK(clear_log(&t, SLOT, 128, NR_PAGES - 128, mask));
	expect_log(&t, written, 4, written + 4, 2);
	teardown(&t);
}

/*
 * With KVM_DIRTY_LOG_INITIALLY_SET too, a new slot's log starts full;
 * cleared, it shows the guest's writes from then on.
 */
TEST(initially_set)
{
	struct dirty_test t = setup(KVM_MEM_LOG_DIRTY_PAGES,
				    KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
				    KVM_DIRTY_LOG_INITIALLY_SET);
	uint64_t mask[BITMAP_LONGS];

	expect_log(&t, others, N(others), NULL, 0);
	memset(mask, 0xff, sizeof(mask));
	ASSERT_OK(clear_log(&t, SLOT, 0, NR_PAGES, mask));
	expect_log(&t, NULL, 0, others, N(others));
	guest_do(&t, OP_WRITE, page7, 1);
	expect_log(&t, page7, 1, written, N(written));
	teardown(&t);
}

/* KVM's errors for slots that do not log and for bad ranges. */
TEST(errors)
{
	struct dirty_test t = setup(KVM_MEM_LOG_DIRTY_PAGES, 0);
	uint64_t bitmap[BITMAP_LONGS] = { 0 };
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
	};

	ASSERT_ERRNO(get_log(&t, 0, bitmap), ENOENT);	/* not logged */
	ASSERT_ERRNO(get_log(&t, 7, bitmap), ENOENT);	/* no such slot */
	ASSERT_ERRNO(get_log(&t, 0x8000, bitmap), EINVAL);
	ASSERT_ERRNO(get_log(&t, 100 << 16, bitmap), EINVAL);
	ASSERT_ERRNO(get_log(&t, SLOT, NULL), EFAULT);

	ASSERT_ERRNO(clear_log(&t, SLOT, 1, 64, bitmap), EINVAL);
	ASSERT_ERRNO(clear_log(&t, SLOT, 0, 10, bitmap), EINVAL);
	ASSERT_ERRNO(clear_log(&t, SLOT, 0, NR_PAGES + 1, bitmap), EINVAL);
	ASSERT_ERRNO(clear_log(&t, SLOT, 256, 0, bitmap), EINVAL);
	ASSERT_ERRNO(clear_log(&t, 7, 0, 64, bitmap), ENOENT);
	ASSERT_ERRNO(clear_log(&t, SLOT, 0, 64, NULL), EFAULT);
	ASSERT_OK(clear_log(&t, SLOT, 192, NR_PAGES - 192, bitmap));

	cap.args[0] = KVM_DIRTY_LOG_INITIALLY_SET;
	ASSERT_ERRNO(ioctl(t.vm->fd, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.args[0] = 1UL << 5;
	ASSERT_ERRNO(ioctl(t.vm->fd, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
	cap.flags = 1;
	ASSERT_ERRNO(ioctl(t.vm->fd, KVM_ENABLE_CAP, &cap), EINVAL);
	teardown(&t);
}
