/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ioctl_fuzz: what ioctl_fuzz.c and ioctl_guest.c share.
 */
#ifndef IOCTL_FUZZ_H
#define IOCTL_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "../lib/fuzz.h"

/*
 * Guest programs (ioctl_guest.c).  guest_build() writes a program, and
 * for long mode its page tables, into the first GUEST_SETUP_SIZE bytes
 * of a memslot mapped at mem (guest-physical gpa), and fills sregs and
 * regs to run it from the start, in the program's mode or now and then
 * in another one.  sregs comes in with the vCPU's current state, which
 * some modes keep parts of.  Returns the program's name.
 */
#define GUEST_SETUP_SIZE	0x10000UL

/*
 * Which kinds of guest guest_build() makes: a bit per mode (real, flat32,
 * user32, paged32, long, v86, mutant) and one for random bytes, set from
 * a comma-separated list of those names, "all" or "none" (then
 * guest_build() returns NULL).  Returns -1 on an unknown name.
 */
extern unsigned int guest_modes;
extern bool guest_modes_set;	/* by guest_parse_modes() */
int guest_parse_modes(const char *list);

/*
 * Under QEMU's TCG: no guest program that writes debug registers, and
 * random code scrubbed of MOV to DRn (see ioctl_fuzz.c).
 */
extern bool guest_tcg_safe;

const char *guest_build(struct rng *r, uint8_t *mem, uint64_t gpa,
			struct kvm_sregs *sregs, struct kvm_regs *regs);

/* Flip a few random bits of a state, field by field. */
void guest_mutate_sregs(struct rng *r, struct kvm_sregs *s);
void guest_mutate_regs(struct rng *r, struct kvm_regs *regs);

#endif /* IOCTL_FUZZ_H */
