// SPDX-License-Identifier: GPL-2.0
/*
 * A guest that pages in memory on demand, as an operating system does:
 * what a shadow-paging MMU must get right, and nested paging gets from
 * the hardware.  The vCPU starts at the power-on state and climbs from
 * real mode to long mode itself (vm_create_guest64_from_reset()); its
 * C code then sums 64 MiB of data the host wrote, at a virtual address
 * its page tables do not map at first.  Its #PF handler maps each page
 * on the first access, the first half with 4 KiB pages and the second
 * with 2 MiB ones, and checks CR2 and the error code of every fault.
 * Then, on the same tables:
 *
 *   - every entry on the way to the data has the accessed bit set and
 *     no leaf the dirty bit;
 *   - another root (the lib's PML4, with the same PDPT linked in) and
 *     back: the data read again with no fault, to the same sum;
 *   - INVLPG after two PTEs swap their frames, after a PTE is cleared
 *     (the next read faults) and after an accessed bit is cleared (the
 *     next read sets it again);
 *   - a MOV to CR3 of the same root after a PTE changes;
 *   - writes: to clean writable pages (the dirty bit is set, on those
 *     pages only), and to read-only ones (a #PF with P and W in the
 *     error code, after which the handler makes the page writable).
 *
 * The host checks the sum against its own and, at the end, that the
 * data holds exactly what the guest wrote.  Each check the guest makes
 * is a GUEST_ASSERT, so a failure names its line.
 */
#include <stdlib.h>

#include "long_mode.h"

/* Page tables the guest makes: identity-mapped, slot 1. */
#define POOL_GPA		LM_TEST_GPA
#define POOL_SIZE		(2 * MiB)

/* The data: slot 2, mapped by the guest at DATA_GVA as it is read. */
#define DATA_GPA		(LM_TEST_GPA + 256 * MiB)
#define DATA_SIZE		(64 * MiB)
#define DATA_GVA		0x400000000000UL	/* PML4 entry 128 */
#define SMALL_SIZE		(DATA_SIZE / 2)		/* 4 KiB pages */
#define SMALL_PAGES		(SMALL_SIZE / PAGE_SIZE)
#define LARGE_PAGE		(2 * MiB)		/* above it, 2 MiB ones */
#define LARGE_PAGES		((DATA_SIZE - SMALL_SIZE) / LARGE_PAGE)
#define SEED			0x2545f4914f6cdd1dULL

/*
 * The guest writes the complement of the first quadword of these: the
 * 4 KiB pages i with i % 8 == 0 (writable, clean) and i % 8 == 1 (read-
 * only first), and two of the 2 MiB pages.
 */
#define WRITTEN_SMALL(i)	((i) % 8 <= 1)
#define WRITTEN_LARGE(i)	((i) == 3 || (i) == 12)

/*
 * The guest's state, in its copy of the binary.  What the #PF handler
 * reads and writes is volatile: the compiler does not know that an
 * access to the data runs it.
 */
static uint64_t pool_next = POOL_GPA;
static volatile uint64_t expect_cr2, expect_err;
static volatile uint64_t faults;

static uint64_t *pool_alloc(void)
{
	uint64_t *page = (uint64_t *)pool_next;

	GUEST_ASSERT(pool_next < POOL_GPA + POOL_SIZE);
	pool_next += PAGE_SIZE;
	guest_memset(page, 0, PAGE_SIZE);
	return page;
}

static uint64_t *table_of(uint64_t entry)
{
	return (uint64_t *)(entry & PTE_ADDR_MASK);
}

/*
 * The entry for gva at level leaf (0: PTE, 1: PDE) under the current
 * CR3, making the tables on the way; every table is identity-mapped.
 */
static uint64_t *guest_entry(uint64_t gva, int leaf)
{
	uint64_t *table = table_of(guest_read_cr3()), *e;
	int level;

	for (level = 3; level > leaf; level--) {
		e = &table[(gva >> (12 + 9 * level)) & 511];
		if (!(*e & PTE_P))
			*e = (uint64_t)pool_alloc() | PTE_P | PTE_RW;
		table = table_of(*e);
	}
	return &table[(gva >> (12 + 9 * leaf)) & 511];
}

static bool in_small(uint64_t gva)
{
	return gva - DATA_GVA < SMALL_SIZE;
}

static uint64_t *leaf_of(uint64_t gva)
{
	return guest_entry(gva, in_small(gva) ? 0 : 1);
}

/*
 * Each fault must be the one the code expects: at expect_cr2 with
 * expect_err.  A page not present is mapped, 4 KiB or 2 MiB as its
 * place in the data says, and the next fault expected one page on (a
 * sequential read); a write to a read-only page makes it writable (the
 * #PF itself flushes the stale translation).
 */
static void pf_handler(struct guest_exception *e)
{
	uint64_t cr2 = guest_read_cr2(), *leaf;

	GUEST_ASSERT_EQ(cr2, expect_cr2);
	GUEST_ASSERT_EQ(e->error_code, expect_err);
	GUEST_ASSERT(cr2 - DATA_GVA < DATA_SIZE);
	faults++;
	leaf = leaf_of(cr2);
	if (e->error_code & PFERR_PRESENT) {
		*leaf |= PTE_RW;
		return;
	}
	if (in_small(cr2)) {
		*leaf = (DATA_GPA + (cr2 & ~(PAGE_SIZE - 1)) - DATA_GVA) |
			PTE_P | PTE_RW;
		expect_cr2 += PAGE_SIZE;
	} else {
		*leaf = (DATA_GPA + (cr2 & ~(LARGE_PAGE - 1)) - DATA_GVA) |
			PTE_P | PTE_RW | PTE_PS;
		expect_cr2 += LARGE_PAGE;
	}
}

static uint64_t data_sum(void)
{
	return checksum64((const uint64_t *)DATA_GVA, DATA_SIZE / 8);
}

static uint64_t small_gva(uint64_t i)
{
	return DATA_GVA + i * PAGE_SIZE;
}

static uint64_t large_gva(uint64_t i)
{
	return DATA_GVA + SMALL_SIZE + i * LARGE_PAGE;
}

static uint64_t read_q(uint64_t gva)
{
	return *(volatile uint64_t *)gva;
}

static void write_q(uint64_t gva, uint64_t v)
{
	*(volatile uint64_t *)gva = v;
}

/* Every table entry on the way to the data accessed, no leaf dirty. */
static void check_accessed_clean(uint64_t *root)
{
	uint64_t i, *pdpt, *pd;

	GUEST_ASSERT(root[DATA_GVA >> 39 & 511] & PTE_A);
	pdpt = table_of(root[DATA_GVA >> 39 & 511]);
	GUEST_ASSERT(pdpt[DATA_GVA >> 30 & 511] & PTE_A);
	pd = table_of(pdpt[DATA_GVA >> 30 & 511]);
	for (i = 0; i < DATA_SIZE / LARGE_PAGE; i++)
		GUEST_ASSERT_EQ(pd[i] & (PTE_P | PTE_A), PTE_P | PTE_A);
	for (i = 0; i < SMALL_PAGES; i++)
		GUEST_ASSERT_EQ(*leaf_of(small_gva(i)) & (PTE_A | PTE_D),
				PTE_A);
	for (i = 0; i < LARGE_PAGES; i++)
		GUEST_ASSERT_EQ(*leaf_of(large_gva(i)) & (PTE_A | PTE_D),
				PTE_A);
}

/* Another root sharing the PDPT, and back: no fault, the same sum. */
static void other_root(uint64_t *root, uint64_t *lib_root, uint64_t sum)
{
	uint64_t before = faults, small, large;

	GUEST_ASSERT_EQ(lib_root[DATA_GVA >> 39 & 511], 0);
	lib_root[DATA_GVA >> 39 & 511] = root[DATA_GVA >> 39 & 511];
	guest_write_cr3((uint64_t)lib_root);
	GUEST_ASSERT_EQ(data_sum(), sum);
	small = read_q(small_gva(SMALL_PAGES - 1) + 8);
	large = read_q(large_gva(LARGE_PAGES - 1) + 8);
	guest_write_cr3((uint64_t)root);
	GUEST_ASSERT_EQ(read_q(small_gva(SMALL_PAGES - 1) + 8), small);
	GUEST_ASSERT_EQ(read_q(large_gva(LARGE_PAGES - 1) + 8), large);
	GUEST_ASSERT_EQ(faults, before);
}

static void invlpg_checks(void)
{
	uint64_t x = small_gva(100), y = small_gva(200), z = small_gva(300);
	uint64_t vx = read_q(x), vy = read_q(y), vz = read_q(z);
	uint64_t vz2 = read_q(z + 16);
	uint64_t *px = leaf_of(x), *py = leaf_of(y), *pz = leaf_of(z);
	uint64_t ex = *px, ey = *py, before = faults;

	/* Two frames swapped: each page reads the other's data. */
	*px = ey;
	*py = ex;
	guest_invlpg(x);
	guest_invlpg(y);
	GUEST_ASSERT_EQ(read_q(x), vy);
	GUEST_ASSERT_EQ(read_q(y), vx);
	*px = ex;
	*py = ey;
	guest_invlpg(x);
	guest_invlpg(y);
	GUEST_ASSERT_EQ(read_q(x), vx);
	GUEST_ASSERT_EQ(read_q(y), vy);

	/* Not present any more: the next read faults, at that address. */
	*pz = 0;
	guest_invlpg(z);
	expect_cr2 = z + 16;
	expect_err = 0;
	GUEST_ASSERT_EQ(read_q(z + 16), vz2);
	GUEST_ASSERT_EQ(faults, before + 1);
	GUEST_ASSERT_EQ(read_q(z), vz);

	/* The accessed bit cleared: the next read sets it again. */
	*pz &= ~PTE_A;
	guest_invlpg(z);
	GUEST_ASSERT_EQ(read_q(z), vz);
	GUEST_ASSERT(*pz & PTE_A);
	GUEST_ASSERT_EQ(faults, before + 1);
}

/* A PTE changed, then CR3 written with the same root flushes it. */
static void cr3_reload_check(uint64_t *root)
{
	uint64_t u = small_gva(400), v = small_gva(500);
	uint64_t vu = read_q(u), vv = read_q(v);
	uint64_t *pv = leaf_of(v), ev = *pv;

	*pv = *leaf_of(u);
	guest_write_cr3((uint64_t)root);
	GUEST_ASSERT_EQ(read_q(v), vu);
	*pv = ev;
	guest_write_cr3((uint64_t)root);
	GUEST_ASSERT_EQ(read_q(v), vv);
}

static void write_checks(void)
{
	uint64_t i, gva, before = faults;

	/* Read-only first: the writes below fault, with P and W. */
	for (i = 1; i < SMALL_PAGES; i += 8) {
		*leaf_of(small_gva(i)) &= ~PTE_RW;
		guest_invlpg(small_gva(i));
	}
	expect_err = PFERR_PRESENT | PFERR_WRITE;
	for (i = 0; i < SMALL_PAGES; i++) {
		if (!WRITTEN_SMALL(i))
			continue;
		gva = small_gva(i);
		expect_cr2 = gva;
		write_q(gva, ~read_q(gva));
	}
	GUEST_ASSERT_EQ(faults, before + SMALL_PAGES / 8);
	for (i = 0; i < LARGE_PAGES; i++) {
		if (WRITTEN_LARGE(i))
			write_q(large_gva(i), ~read_q(large_gva(i)));
	}

	for (i = 0; i < SMALL_PAGES; i++)
		GUEST_ASSERT_EQ(*leaf_of(small_gva(i)) & (PTE_A | PTE_D | PTE_RW),
				PTE_A | PTE_RW | (WRITTEN_SMALL(i) ? PTE_D : 0));
	for (i = 0; i < LARGE_PAGES; i++)
		GUEST_ASSERT_EQ(*leaf_of(large_gva(i)) & (PTE_A | PTE_D),
				PTE_A | (WRITTEN_LARGE(i) ? PTE_D : 0));
}

static void guest_demand(void)
{
	uint64_t *lib_root = table_of(guest_read_cr3()), *root, sum;
	int i;

	guest_set_handler(PF_VECTOR, pf_handler);
	GUEST_SYNC(0);

	/* A root of the guest's own, with the lib's mappings. */
	root = pool_alloc();
	for (i = 0; i < 512; i++)
		root[i] = lib_root[i];
	guest_write_cr3((uint64_t)root);

	expect_cr2 = DATA_GVA;
	expect_err = 0;
	sum = data_sum();
	GUEST_ASSERT_EQ(faults, SMALL_PAGES + LARGE_PAGES);
	GUEST_SYNC(sum);

	check_accessed_clean(root);
	other_root(root, lib_root, sum);
	invlpg_checks();
	cr3_reload_check(root);
	write_checks();
	GUEST_DONE();
}

/*
 * The guest took 1 to 3 s under QEMU's TCG and 7 to 9 s in the Bochs
 * test host, okvm and KVM, with and without nested paging.
 */
TEST_TIMEOUT(demand_paging, 60)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64_from_reset(guest_demand, &vcpu);
	uint64_t *data = vm_add_mem(vm, 2, DATA_GPA, DATA_SIZE);
	uint64_t *want = malloc(DATA_SIZE), i, t = now_ms();
	struct kvm_sregs s;
	struct ucall uc;

	vm_add_mem64(vm, 1, POOL_GPA, POOL_SIZE);
	ASSERT_TRUE(want);
	fill_random(data, DATA_SIZE / 8, SEED);
	memcpy(want, data, DATA_SIZE);

	/* From the power-on state, through the climb, to C. */
	vcpu_get_sregs(vcpu, &s);
	ASSERT_EQ(s.cr0 & X86_CR0_PE, 0);
	ASSERT_EQ(s.cs.base, 0xffff0000);
	vcpu_run_expect_sync(vcpu, 0);
	vcpu_get_sregs(vcpu, &s);
	ASSERT_EQ(s.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
	ASSERT_EQ(s.cr0 & (X86_CR0_PE | X86_CR0_PG), X86_CR0_PE | X86_CR0_PG);
	ASSERT_EQ(s.cr0 & (X86_CR0_CD | X86_CR0_NW), 0);
	ASSERT_EQ(s.cs.l, 1);

	ASSERT_EQ(vcpu_run_ucall(vcpu, &uc), UCALL_SYNC);
	ASSERT_EQ(uc.args[0], checksum64(want, DATA_SIZE / 8));
	vcpu_run_expect_done(vcpu);
	test_log("%lu ms in the guest", now_ms() - t);

	for (i = 0; i < SMALL_PAGES; i++)
		if (WRITTEN_SMALL(i))
			want[i * PAGE_SIZE / 8] = ~want[i * PAGE_SIZE / 8];
	for (i = 0; i < LARGE_PAGES; i++)
		if (WRITTEN_LARGE(i))
			want[(SMALL_SIZE + i * LARGE_PAGE) / 8] =
				~want[(SMALL_SIZE + i * LARGE_PAGE) / 8];
	ASSERT_MEMEQ(data, want, DATA_SIZE);
	free(want);
	vm_free(vm);
}
