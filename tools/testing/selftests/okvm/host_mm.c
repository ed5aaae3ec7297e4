// SPDX-License-Identifier: GPL-2.0
/*
 * The VMM's address space changing under its guest.  Guest memory is the
 * VMM's own memory, and what the VMM or the kernel does to it shows in
 * the guest at once: a page replaced (mremap, munmap and mmap) under a
 * guest that spins on it, MADV_DONTNEED, mprotect, copy on write after a
 * fork, page migration, KSM, swap, and slots backed by transparent huge pages
 * (also collapsed from small ones) and hugetlbfs, where part of a huge
 * page is dropped.  Where the backing is gone or read-only,
 * the guest's access makes KVM_RUN fail with EFAULT, and works again once
 * the VMM mends it.
 *
 * Every guest runs in 64-bit mode (lib/long_mode.h) with its memory at
 * LM_TEST_GPA, one u64 a page read or written at each page's start.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>

#include "long_mode.h"

#define SLOT		1
#define NR_PAGES	16
#define WORDS_PER_PAGE	(PAGE_SIZE / 8)
#define SPIN_PAGE	3
#define OLD_VALUE	0x01d01d01d01d01dUL
#define NEW_VALUE	0x0e40e40e40e40e4UL
#define WAIT_MS		5000
#define HUGE_SIZE	(2 * MiB)

static volatile uint64_t *const guest_mem = (uint64_t *)LM_TEST_GPA;

/* The host's word at the start of page i of a slot's backing. */
static uint64_t *word(void *hva, int i)
{
	return (uint64_t *)((char *)hva + (size_t)i * PAGE_SIZE);
}

/*
 * Say through page 0 that it runs, then spin until the word of SPIN_PAGE
 * is NEW_VALUE (it may read zero meanwhile, from a page just mapped), and
 * report it.
 */
static void guest_spin(void)
{
	guest_mem[0] = 1;
	while (guest_mem[SPIN_PAGE * WORDS_PER_PAGE] != NEW_VALUE)
		;
	GUEST_SYNC(guest_mem[SPIN_PAGE * WORDS_PER_PAGE]);
	GUEST_DONE();
}

/* The GUEST_SYNC value of the exit the vCPU's KVM_RUN ended with. */
static uint64_t sync_of_exit(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	ASSERT_EQ(__vcpu_ucall(__FILE__, __LINE__, vcpu, &uc, false),
		  UCALL_SYNC);
	return uc.args[0];
}

struct spinner {
	struct kvm_vcpu *vcpu;
	int ret, err;
	int efaults;		/* KVM_RUNs that found no page behind the slot */
};

/*
 * KVM_RUN until it returns 0.  Between an munmap and the mmap that
 * follows, the guest's access finds nothing and KVM_RUN fails with
 * EFAULT; a VMM mends the mapping and runs again, and so does this.
 */
static void *spinner_run(void *arg)
{
	struct spinner *s = arg;

	for (;;) {
		s->ret = vcpu_run(s->vcpu);
		s->err = errno;
		if (s->ret == 0 || s->err != EFAULT)
			break;
		s->efaults++;
		usleep(1000);
	}
	return NULL;
}

/*
 * The guest spins on a page it has mapped, on a thread of its own, and
 * the host replaces what is behind the page with remap(): the guest must
 * see the new page, or it spins until the wait below gives up.
 */
static void spin_and_replace(void (*remap)(void *hva))
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_spin, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);
	struct spinner s = { .vcpu = vcpu };
	struct timespec deadline;
	pthread_t thread;

	*word(hva, SPIN_PAGE) = OLD_VALUE;
	ASSERT_OK(pthread_create(&thread, NULL, spinner_run, &s));
	ASSERT_TRUE(wait_for_change((uint32_t *)hva, 0, WAIT_MS));
	usleep(20000);
	remap(hva);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WAIT_MS / 1000 * test_timeout_scale();
	if (pthread_timedjoin_np(thread, NULL, &deadline))
		test_fail("the guest still spins on the old page after %d ms",
			  WAIT_MS);
	test_log("KVM_RUN failed with EFAULT %d times meanwhile", s.efaults);
	if (s.ret)
		test_fail("KVM_RUN: %s", errno_name(s.err));
	ASSERT_EQ(sync_of_exit(vcpu), NEW_VALUE);
	vcpu_run_expect_done(vcpu);
	vcpu_free(vcpu);
	vm_free(vm);
}

static void *map_fixed(void *addr, size_t size)
{
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED)
		test_fail("mmap MAP_FIXED: %s", strerror(errno));
	return p;
}

/* A page made elsewhere, moved over the spun-on one (mremap). */
static void remap_one_page(void *hva)
{
	void *p = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	*word(p, 0) = NEW_VALUE;
	ASSERT_TRUE(mremap(p, PAGE_SIZE, PAGE_SIZE,
			   MREMAP_MAYMOVE | MREMAP_FIXED,
			   word(hva, SPIN_PAGE)) != MAP_FAILED);
}

static void unmap_and_remap_slot(void *hva)
{
	ASSERT_OK(munmap(hva, NR_PAGES * PAGE_SIZE));
	map_fixed(hva, NR_PAGES * PAGE_SIZE);
	*word(hva, SPIN_PAGE) = NEW_VALUE;
}

/* mremap of a new page over one of the slot, under a spinning guest. */
TEST(remap_page_under_running_guest)
{
	spin_and_replace(remap_one_page);
}

/* munmap the whole backing under a spinning guest, then map anew. */
TEST(munmap_remap_slot_under_running_guest)
{
	spin_and_replace(unmap_and_remap_slot);
}

/*
 * Writes i + 1 to the word of each page i < n, reports the sum of the
 * words, and again after each GUEST_SYNC the host answers.
 */
static void guest_fill_and_sum(uint64_t n)
{
	uint64_t i, sum;

	for (i = 0; i < n; i++)
		guest_mem[i * WORDS_PER_PAGE] = i + 1;
	for (;;) {
		sum = 0;
		for (i = 0; i < n; i++)
			sum += guest_mem[i * WORDS_PER_PAGE];
		GUEST_SYNC(sum);
	}
}

/* What guest_fill_and_sum(n) first reports: 1 + 2 + ... + n. */
#define SUM_TO(n)	((uint64_t)(n) * ((n) + 1) / 2)

static void guest_write_then_sum(void)
{
	guest_fill_and_sum(NR_PAGES);
}

#define SUM_ALL		SUM_TO(NR_PAGES)

/* The guest's word of page i, read after MADV_DONTNEED, is zero. */
TEST(madvise_dontneed)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_write_then_sum, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);

	vcpu_run_expect_sync(vcpu, SUM_ALL);
	ASSERT_EQ(*word(hva, 5), 6);
	/* Pages 4 to 7 (words 5 to 8) drop to zero. */
	ASSERT_OK(madvise(word(hva, 4), 4 * PAGE_SIZE, MADV_DONTNEED));
	vcpu_run_expect_sync(vcpu, SUM_ALL - (5 + 6 + 7 + 8));
	*word(hva, 4) = 100;
	vcpu_run_expect_sync(vcpu, SUM_ALL - (6 + 7 + 8) + 100 - 5);
	vcpu_free(vcpu);
	vm_free(vm);
}

/* Unmapped: the guest's read fails KVM_RUN; mapped again, it reads zero. */
TEST(munmap_then_access)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_write_then_sum, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);

	vcpu_run_expect_sync(vcpu, SUM_ALL);
	ASSERT_OK(munmap(word(hva, 2), PAGE_SIZE));
	ASSERT_ERRNO(vcpu_run(vcpu), EFAULT);
	map_fixed(word(hva, 2), PAGE_SIZE);
	vcpu_run_expect_sync(vcpu, SUM_ALL - 3);
	vcpu_free(vcpu);
	vm_free(vm);
}

/* Writes the word of page 1, and reports it, after every GUEST_SYNC. */
static void guest_write_loop(void)
{
	uint64_t n;

	for (n = 1; ; n++) {
		guest_mem[WORDS_PER_PAGE] = n;
		GUEST_SYNC(guest_mem[WORDS_PER_PAGE]);
	}
}

/*
 * mprotect(PROT_READ) takes the write permission from the guest too: its
 * next write fails KVM_RUN with EFAULT, and goes through once the VMM
 * gives it back.
 */
TEST(mprotect_read_only)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_write_loop, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);

	vcpu_run_expect_sync(vcpu, 1);
	ASSERT_OK(mprotect(hva, NR_PAGES * PAGE_SIZE, PROT_READ));
	ASSERT_ERRNO(vcpu_run(vcpu), EFAULT);
	ASSERT_EQ(*word(hva, 1), 1);
	ASSERT_OK(mprotect(hva, NR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE));
	vcpu_run_expect_sync(vcpu, 2);
	ASSERT_EQ(*word(hva, 1), 2);
	vcpu_free(vcpu);
	vm_free(vm);
}

/*
 * After a fork the VMM's pages are copy on write: the guest's next write
 * lands in the parent's own copy, and the child keeps what was there at
 * the fork.
 */
TEST(fork_copy_on_write)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_write_loop, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);
	int go[2], back[2], status;
	uint64_t seen;
	pid_t pid;
	char c;

	vcpu_run_expect_sync(vcpu, 1);
	ASSERT_OK(pipe(go));
	ASSERT_OK(pipe(back));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* The child reads its copy once the parent's guest wrote. */
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		seen = *word(hva, 1);
		_exit(write(back[1], &seen, sizeof(seen)) == sizeof(seen) ? 0 : 1);
	}
	vcpu_run_expect_sync(vcpu, 2);
	ASSERT_EQ(*word(hva, 1), 2);
	ASSERT_EQ(write(go[1], "x", 1), 1);
	ASSERT_EQ(read(back[0], &seen, sizeof(seen)), sizeof(seen));
	ASSERT_EQ(seen, 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	vcpu_run_expect_sync(vcpu, 3);
	ASSERT_EQ(*word(hva, 1), 3);
	vcpu_free(vcpu);
	vm_free(vm);
}

#define BIG_PAGES	(2 * HUGE_SIZE / PAGE_SIZE)

/* The same over every page of 4 MiB. */
static void guest_fill_big(void)
{
	guest_fill_and_sum(BIG_PAGES);
}

enum huge_kind { HUGE_THP, HUGE_COLLAPSE, HUGE_HUGETLB };

/* From the kernel's uapi, for a libc that lacks them. */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE	101
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

/*
 * A slot on two huge pages of the VMM at hva: the guest fills and sums
 * them; the host drops one 4 KiB page in the middle of the first (which
 * splits a transparent huge page, and zeroes it), and the guest's sum
 * shows exactly that page gone.  HUGE_COLLAPSE: the guest fills small
 * pages, which the host then collapses into huge ones under it.
 */
static void huge_backing(void *hva, enum huge_kind kind)
{
	uint64_t all = SUM_TO(BIG_PAGES);
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_fill_big, &vcpu);

	ASSERT_OK(vm_set_region(vm->fd, SLOT, 0, LM_TEST_GPA, 2 * HUGE_SIZE,
				(uintptr_t)hva));
	virt_map(vm, LM_TEST_GPA, LM_TEST_GPA, 2 * HUGE_SIZE);
	vcpu_run_expect_sync(vcpu, all);
	ASSERT_EQ(*word(hva, 300), 301);
	if (kind == HUGE_COLLAPSE) {
		ASSERT_OK(madvise(hva, 2 * HUGE_SIZE, MADV_HUGEPAGE));
		if (madvise(hva, 2 * HUGE_SIZE, MADV_COLLAPSE))
			test_skip("MADV_COLLAPSE: %s", strerror(errno));
		vcpu_run_expect_sync(vcpu, all);
	}
	if (kind == HUGE_HUGETLB) {
		/* hugetlbfs drops whole huge pages only: the second one. */
		ASSERT_OK(madvise((char *)hva + HUGE_SIZE, HUGE_SIZE,
				  MADV_DONTNEED));
		vcpu_run_expect_sync(vcpu, 512 * 513 / 2);
	} else {
		ASSERT_OK(madvise(word(hva, 300), PAGE_SIZE, MADV_DONTNEED));
		vcpu_run_expect_sync(vcpu, all - 301);
		*word(hva, 301) = 0;
		vcpu_run_expect_sync(vcpu, all - 301 - 302);
	}
	vcpu_free(vcpu);
	vm_free(vm);
}

/*
 * 4 MiB of anonymous memory at a 2 MiB boundary, madvise()d with advice
 * (the mapping is 2 MiB larger, to have the boundary), for huge_backing().
 */
static void anon_huge_backing(int advice, enum huge_kind kind)
{
	char *p = mmap(NULL, 3 * HUGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *hva;

	ASSERT_TRUE(p != MAP_FAILED);
	hva = (char *)(((uintptr_t)p + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1));
	if (madvise(hva, 2 * HUGE_SIZE, advice))
		test_log("madvise %d: %s", advice, strerror(errno));
	huge_backing(hva, kind);
	munmap(p, 3 * HUGE_SIZE);
}

/* THP asked for. */
TEST(transparent_huge_pages)
{
	anon_huge_backing(MADV_HUGEPAGE, HUGE_THP);
}

/* Small pages, collapsed into transparent huge pages. */
TEST(collapse_into_huge_pages)
{
	anon_huge_backing(MADV_NOHUGEPAGE, HUGE_COLLAPSE);
}

/* Make sure the host has n free 2 MiB hugetlbfs pages; false if it cannot. */
static bool reserve_hugetlb(int n)
{
	const char *path = "/proc/sys/vm/nr_hugepages";
	FILE *f = fopen(path, "r+");
	int have = 0;

	if (!f)
		return false;
	if (fscanf(f, "%d", &have) == 1 && have < n) {
		rewind(f);
		fprintf(f, "%d\n", n);
	}
	fclose(f);
	return true;
}

/* 4 MiB of hugetlbfs memory, two 2 MiB pages. */
TEST(hugetlbfs_pages)
{
	char *hva;

	if (!reserve_hugetlb(2))
		test_skip("no /proc/sys/vm/nr_hugepages");
	hva = mmap(NULL, 2 * HUGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (hva == MAP_FAILED)
		test_skip("no 2 MiB hugetlbfs pages: %s", strerror(errno));
	huge_backing(hva, HUGE_HUGETLB);
	munmap(hva, 2 * HUGE_SIZE);
}

/*
 * Soft offlining a page migrates its content to a new page, as memory
 * compaction or NUMA balancing would: the guest reads what it wrote, and
 * its next write lands in the new page.
 */
TEST(page_migration)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_write_loop, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);

	vcpu_run_expect_sync(vcpu, 1);
	if (madvise(word(hva, 1), PAGE_SIZE, MADV_SOFT_OFFLINE))
		test_skip("MADV_SOFT_OFFLINE: %s", strerror(errno));
	ASSERT_EQ(*word(hva, 1), 1);
	vcpu_run_expect_sync(vcpu, 2);
	ASSERT_EQ(*word(hva, 1), 2);
	vcpu_free(vcpu);
	vm_free(vm);
}

#define KSM_DIR		"/sys/kernel/mm/ksm/"

static bool ksm_write(const char *knob, const char *val)
{
	FILE *f = fopen(knob, "w");
	bool ok;

	if (!f)
		return false;
	ok = fputs(val, f) >= 0;
	return fclose(f) == 0 && ok;
}

static long ksm_read(const char *knob)
{
	FILE *f = fopen(knob, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Fills every word of every page with OLD_VALUE; then see below. */
static void guest_fill_same(void)
{
	uint64_t i;

	for (i = 0; i < NR_PAGES * WORDS_PER_PAGE; i++)
		guest_mem[i] = OLD_VALUE;
	GUEST_SYNC(0);
	guest_mem[3 * WORDS_PER_PAGE + 7] = NEW_VALUE;
	GUEST_SYNC(guest_mem[2 * WORDS_PER_PAGE + 7] ^
		   guest_mem[3 * WORDS_PER_PAGE + 7]);
}

/*
 * KSM merges the identical pages the guest filled into one, behind its
 * back (it can only while nothing holds the pages: okvm pins none).  The
 * guest's next write to one gets a copy of its own; the others keep the
 * shared content.
 */
TEST(ksm_merge)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_fill_same, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA, NR_PAGES * PAGE_SIZE);
	uint64_t deadline;
	long scans, sharing;

	vcpu_run_expect_sync(vcpu, 0);
	if (!ksm_write(KSM_DIR "pages_to_scan", "1000") ||
	    !ksm_write(KSM_DIR "sleep_millisecs", "1") ||
	    !ksm_write(KSM_DIR "run", "1"))
		test_skip("no KSM to switch on in " KSM_DIR);
	ASSERT_OK(madvise(hva, NR_PAGES * PAGE_SIZE, MADV_MERGEABLE));
	/* A page is merged once unchanged across two scans. */
	scans = ksm_read(KSM_DIR "full_scans");
	deadline = now_ms() + 20000 * test_timeout_scale();
	while ((sharing = ksm_read(KSM_DIR "pages_sharing")) <= 0 &&
	       now_ms() < deadline)
		usleep(10000);
	test_log("pages_sharing %ld after %ld full scans", sharing,
		 ksm_read(KSM_DIR "full_scans") - scans);
	ASSERT_GT(sharing, 0);
	vcpu_run_expect_sync(vcpu, OLD_VALUE ^ NEW_VALUE);
	ASSERT_EQ(word(hva, 3)[7], NEW_VALUE);
	ASSERT_EQ(word(hva, 2)[7], OLD_VALUE);
	ksm_write(KSM_DIR "run", "2");
	vcpu_free(vcpu);
	vm_free(vm);
}

/* The test host's RAM disk (brd, tools/testing/vm/init), swapped to. */
#define SWAP_DEV	"/dev/ram0"

static void swap_off(void)
{
	swapoff(SWAP_DEV);
}

/*
 * Make SWAP_DEV a swap area and swap to it until the case ends: a
 * version 1 header, whose first page holds the version and the last
 * usable page at byte 1024 and the signature in its last ten bytes.
 * False when there is no such device or the kernel has no swap.
 */
static bool swap_on(void)
{
	static char header[PAGE_SIZE];
	uint32_t *info = (uint32_t *)(header + 1024);
	uint64_t size;
	bool ok;
	int fd;

	fd = open(SWAP_DEV, O_RDWR);
	if (fd < 0)
		return false;
	ok = !ioctl(fd, BLKGETSIZE64, &size) && size >= 2 * PAGE_SIZE;
	info[0] = 1;
	info[1] = size / PAGE_SIZE - 1;
	memcpy(header + PAGE_SIZE - 10, "SWAPSPACE2", 10);
	ok = ok && pwrite(fd, header, PAGE_SIZE, 0) == PAGE_SIZE && !fsync(fd);
	close(fd);
	swap_off();	/* left on by a case that died */
	if (!ok || swapon(SWAP_DEV, 0))
		return false;
	atexit(swap_off);
	return true;
}

/* How many of the n pages at hva are in swap (/proc/self/pagemap bit 62). */
static int pages_swapped(void *hva, int n)
{
	uint64_t entry;
	int fd, i, swapped = 0;

	fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_GE(fd, 0);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(pread(fd, &entry, sizeof(entry),
				((uintptr_t)hva / PAGE_SIZE + i) * sizeof(entry)),
			  sizeof(entry));
		swapped += entry >> 62 & 1;
	}
	close(fd);
	return swapped;
}

#define SUM_BIG		SUM_TO(BIG_PAGES)

/*
 * The guest's 4 MiB go out to swap (MADV_PAGEOUT) between two of its
 * sums: each page it reads comes back from swap with what it wrote, and a
 * page the host changed meanwhile comes back changed.  Before 6.9,
 * MADV_PAGEOUT keeps a page the guest has accessed, and KVM tells it so
 * from its nested accessed bits, clearing them (okvm does not: see
 * Documentation/architecture.rst, "Following the VMM's mm"); a second
 * call then finds the page unused.
 */
TEST(swap_out_and_in)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_fill_big, &vcpu);
	void *hva = vm_add_mem64(vm, SLOT, LM_TEST_GPA,
				 BIG_PAGES * PAGE_SIZE);
	int swapped;

	if (!swap_on())
		test_skip("no swap on " SWAP_DEV ": %s", strerror(errno));
	/* Small pages: a huge one would be split or swapped whole. */
	ASSERT_OK(madvise(hva, BIG_PAGES * PAGE_SIZE, MADV_NOHUGEPAGE));
	vcpu_run_expect_sync(vcpu, SUM_BIG);
	ASSERT_OK(madvise(hva, BIG_PAGES * PAGE_SIZE, MADV_PAGEOUT));
	ASSERT_OK(madvise(hva, BIG_PAGES * PAGE_SIZE, MADV_PAGEOUT));
	swapped = pages_swapped(hva, BIG_PAGES);
	test_log("%d of %d pages in swap", swapped, (int)BIG_PAGES);
	ASSERT_GE(swapped, BIG_PAGES / 2);
	/* Back in for the host, from swap as well. */
	*word(hva, 10) = 1000;
	vcpu_run_expect_sync(vcpu, SUM_BIG - 11 + 1000);
	ASSERT_EQ(pages_swapped(hva, BIG_PAGES), 0);
	vcpu_free(vcpu);
	vm_free(vm);
}
