/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the fuzzers share apart from guest setup (x86.h): random numbers,
 * the device, QEMU TCG's workarounds and the kernel log.  Exit names and
 * the host's vendor come from tools/include/okvm/.
 */
#ifndef FUZZ_LIB_FUZZ_H
#define FUZZ_LIB_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#ifndef PAGE_SIZE
#define PAGE_SIZE	4096UL
#endif
#define MiB		(1024UL * 1024)
#define GiB		(1024 * MiB)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * splitmix64: small, fast and good enough.  Every stream (a worker, an
 * iteration, a case) has a state of its own derived from the seed, so
 * that one seed gives one sequence of decisions per stream.
 */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n == 0 gives 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* True with probability num/den. */
static inline bool rng_chance(struct rng *r, unsigned int num,
			      unsigned int den)
{
	return rng_below(r, den) < num;
}

void rng_fill(struct rng *r, void *buf, size_t len);

/*
 * A value at or next to a boundary an argument or a register is worth
 * testing at (0, 2^n and its neighbours, the ends of the canonical
 * halves, APIC and BIOS addresses), a small one, or any.
 */
uint64_t rng_edge(struct rng *r);

/* A seed for a run that was given none: getrandom(), else the clock. */
uint64_t fuzz_random_seed(void);

uint64_t fuzz_now_ns(void);

/* The device: path if given, else $KVM_DEV, else /dev/kvm. */
const char *fuzz_dev_path(const char *path);


/*
 * QEMU 7.2's TCG, with either hypervisor in its nested SVM (README,
 * "Under QEMU's TCG"): it aborts on an interrupt that needs the TSS's
 * stack while TR is busy or not present; a #VMEXIT from a guest with
 * EFER.LME but without CR0.PG (or CR4.PAE) leaves the host CPU running
 * with the guest's CR0; and a VMRUN that fails its CR0 checks clears
 * V_INTR_MASKING in the VMCB, so that the vCPU's next guest with IF
 * clear holds the host CPU.  fuzz_tcg_fix_sregs() keeps a state clear
 * of all three: TR present and available, EFER.LME and LMA only with
 * paging, CR0's upper half clear and CD and NW both set or both clear,
 * CR3 within the physical address width and CR4 within what the CPU has
 * (QEMU's checks before it reads int_ctl).
 */
void fuzz_tcg_fix_sregs(struct kvm_sregs *s);

/*
 * The instructions that get there from inside a guest, rewritten in code
 * about to be written into guest memory: MOV to DR7 or DR5 (QEMU
 * crashes once a guest has enabled breakpoints) becomes MOV to DR6; LTR
 * (QEMU loads a null selector instead of raising #GP) becomes LLDT; with
 * lme, MOV to CR0 (QEMU lets a 64-bit guest clear CR0.PG) becomes MOV to
 * CR2; a LOCK prefix on BT, BTS, BTR or BTC with a register operand
 * (QEMU's translator aborts, "tcg fatal error", where hardware raises
 * #UD) becomes a DS override.  Every byte pattern is rewritten, whatever
 * instruction boundary it lies on: a jump into the middle of one runs it
 * with any operand.  Returns the number of bytes rewritten.
 */
size_t fuzz_tcg_sanitize(uint8_t *p, size_t n, bool lme);

/*
 * The kernel log, through /dev/kmsg: kmsg_open() skips what is there,
 * kmsg_next() returns the next new line's text (NULL when there is none
 * now) and whether it is a debug report: a WARNING, BUG, Oops, KASAN,
 * UBSAN, lockdep, list corruption, soft lockup, RCU stall and the like.
 */
struct kmsg {
	int fd;
	char buf[2048];
};

void kmsg_open(struct kmsg *k);
const char *kmsg_next(struct kmsg *k, bool *bad);

#endif /* FUZZ_LIB_FUZZ_H */
