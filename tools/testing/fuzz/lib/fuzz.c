// SPDX-License-Identifier: GPL-2.0
/*
 * What the fuzzers share apart from guest setup: see fuzz.h.
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "fuzz.h"
#include "x86.h"

void rng_fill(struct rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = rng_next(r);
}

static const uint64_t edges[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0x1001, 0x7fff,
	0x8000, 0xffff, 0x10000, 0xfffff, 0x100000, 0x7fffffff, 0x80000000,
	0xffffffff, 0x100000000ULL, 0x7fffffffffffULL, 0x800000000000ULL,
	0xffff800000000000ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
	~0ULL, ~0ULL - 1, 0xfffffffffffff000ULL, 0xfee00000, 0xfec00000,
	0xffff0000, 0xfffffff0,
};

uint64_t rng_edge(struct rng *r)
{
	uint64_t v;

	switch (rng_below(r, 5)) {
	case 0:
		return edges[rng_below(r, ARRAY_SIZE(edges))];
	case 1:
		/* 2^n, 2^n - 1 or 2^n + 1 */
		v = 1ULL << rng_below(r, 64);
		return v + rng_below(r, 3) - 1;
	case 2:
		return rng_below(r, 0x100);
	case 3:
		return -rng_below(r, 0x100);
	default:
		return rng_next(r);
	}
}

uint64_t fuzz_random_seed(void)
{
	struct timespec ts;
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
		return seed;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint64_t fuzz_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

const char *fuzz_dev_path(const char *path)
{
	if (!path || !*path)
		path = getenv("KVM_DEV");
	return path && *path ? path : "/dev/kvm";
}

/*
 * The CR4 bits this CPU has: QEMU's VMRUN fails on any other before it
 * reads int_ctl, whatever KVM_SET_SREGS took.
 */
static uint64_t cr4_supported(void)
{
	unsigned int a, b, c, d;
	uint64_t m = (1ULL << 11) - 1;	/* VME to OSXMMEXCPT */

	if (__get_cpuid(1, &a, &b, &c, &d)) {
		if (c & (1u << 17))
			m |= 1ULL << 17;		/* PCIDE */
		if (c & (1u << 26))
			m |= CR4_OSXSAVE;
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
		if (b & (1u << 0))
			m |= CR4_FSGSBASE;
		if (b & (1u << 7))
			m |= CR4_SMEP;
		if (b & (1u << 20))
			m |= CR4_SMAP;
		if (c & (1u << 2))
			m |= 1ULL << 11;		/* UMIP */
		if (c & (1u << 3))
			m |= 1ULL << 22;		/* PKE */
		if (c & (1u << 16))
			m |= 1ULL << 12;		/* LA57 */
	}
	return m;
}

/* The bits a physical address can have on this CPU. */
static uint64_t phys_mask(void)
{
	unsigned int a, b, c, d, bits = 36;

	if (__get_cpuid(0x80000008, &a, &b, &c, &d))
		bits = a & 0xff;
	return bits < 64 ? (1ULL << bits) - 1 : ~0ULL;
}

void fuzz_tcg_fix_sregs(struct kvm_sregs *s)
{
	static uint64_t cr4_mask, cr3_mask;

	if (!cr4_mask) {
		cr3_mask = phys_mask();
		cr4_mask = cr4_supported();
	}
	s->tr.present = 1;
	s->tr.unusable = 0;
	s->tr.type = (s->tr.type & 8) ? 9 : 1;	/* available TSS */
	/*
	 * Reserved CR0 bits and NW without CD fail VMRUN before QEMU reads
	 * int_ctl, which its #VMEXIT then clears (fuzz.h).  CD and NW go
	 * together, so that a guest flipping both keeps them valid.
	 */
	s->cr0 &= 0xffffffffULL;
	if (!(s->cr0 & CR0_CD) != !(s->cr0 & CR0_NW))
		s->cr0 |= CR0_CD | CR0_NW;
	/* So do CR3 bits above the physical address width, and CR4's. */
	s->cr3 &= cr3_mask;
	s->cr4 &= cr4_mask;
	if ((s->efer & EFER_LME) &&
	    (!(s->cr0 & CR0_PG) || !(s->cr4 & CR4_PAE)))
		s->efer &= ~(EFER_LME | EFER_LMA);
}

/* Legacy prefixes and REX (INC/DEC outside 64-bit mode: no matter). */
static bool is_prefix(uint8_t x)
{
	switch (x) {
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
	case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:
		return true;
	default:
		return (x & 0xf0) == 0x40;
	}
}

size_t fuzz_tcg_sanitize(uint8_t *p, size_t n, bool lme)
{
	size_t i, j, fixed = 0;

	for (i = 0; i + 2 < n; i++) {
		if (p[i] != 0x0f)
			continue;
		/*
		 * 0f a3/ab/b3/bb (BT, BTS, BTR, BTC) and 0f ba /4-/7 with a
		 * register operand: a LOCK among the prefixes before them
		 * becomes a DS override.
		 */
		if (p[i + 2] >= 0xc0 &&
		    (p[i + 1] == 0xa3 || p[i + 1] == 0xab || p[i + 1] == 0xb3 ||
		     p[i + 1] == 0xbb || (p[i + 1] == 0xba && (p[i + 2] & 0x20))))
			for (j = i; j > 0 && is_prefix(p[j - 1]); j--)
				if (p[j - 1] == 0xf0) {
					p[j - 1] = 0x3e;
					fixed++;
				}
		/* 0f 23 /r with reg 5 or 7: MOV DR5/DR7, r32 -> DR6 */
		if (p[i + 1] == 0x23 && ((p[i + 2] >> 3) & 5) == 5) {
			p[i + 2] = (p[i + 2] & ~0x38) | 6 << 3;
			fixed++;
		}
		/* 0f 22 /0: MOV CR0, r32 -> CR2 */
		if (lme && p[i + 1] == 0x22 && !(p[i + 2] & 0x38)) {
			p[i + 2] |= 2 << 3;
			fixed++;
		}
		/* 0f 00 /3: LTR -> 0f 00 /2, LLDT */
		if (p[i + 1] == 0x00 && ((p[i + 2] >> 3) & 7) == 3) {
			p[i + 2] &= ~(1 << 3);
			fixed++;
		}
	}
	return fixed;
}

/*
 * What the test runner's parse.awk and the debug kernel's README count
 * as a report, and the lockups and stalls that precede a dead host.
 */
static const char *const bad_kmsg[] = {
	"WARNING:", "BUG:", "Oops", "general protection", "soft lockup",
	"hung task", "blocked for more than", "Call Trace", "RIP: ",
	"kernel BUG", "UBSAN", "KASAN", "kmemleak", "refcount_t",
	"list_add corruption", "list_del corruption", "list_add double add",
	"ODEBUG", "double fault", "stack-protector", "unchecked MSR access",
	"Bad page", "rcu_sched self-detected", "rcu: INFO",
};

/* Boot-time notices that match a pattern above but report no bug. */
static const char *const benign_kmsg[] = {
	"Speculative Return Stack Overflow: WARNING: See",
};

void kmsg_open(struct kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd >= 0)
		lseek(k->fd, 0, SEEK_END);
}

const char *kmsg_next(struct kmsg *k, bool *bad)
{
	ssize_t n;
	char *msg;
	size_t i;

	*bad = false;
	if (k->fd < 0)
		return NULL;
	do {
		n = read(k->fd, k->buf, sizeof(k->buf) - 1);
	} while (n < 0 && errno == EPIPE);	/* overwritten: skip ahead */
	if (n <= 0)
		return NULL;
	k->buf[n] = 0;
	msg = strchr(k->buf, ';');
	msg = msg ? msg + 1 : k->buf;
	msg[strcspn(msg, "\n")] = 0;
	for (i = 0; i < ARRAY_SIZE(bad_kmsg); i++)
		if (strstr(msg, bad_kmsg[i]))
			*bad = true;
	for (i = 0; i < ARRAY_SIZE(benign_kmsg); i++)
		if (strstr(msg, benign_kmsg[i]))
			*bad = false;
	return msg;
}
