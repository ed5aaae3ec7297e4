// SPDX-License-Identifier: GPL-2.0
/*
 * guest_repro_smc: a nested guest under QEMU 7.2's TCG runs the old bytes
 * of an instruction it has just overwritten, when its store is the first
 * write through a nested page table entry whose Dirty bit is clear (found
 * by guest_fuzz, seed 2, iteration 428, case 4; see the README).
 *
 * A real-mode guest stores 90 90 (two NOPs) over an OUT 0x80,AL (e6 80)
 * eleven bytes ahead of it, then runs into it and halts.  A CPU runs the
 * new bytes: stores into the instruction stream invalidate what was
 * fetched ahead (AMD APM vol. 1, "Self-Modifying Code"; Intel SDM vol. 3,
 * 11.6), so the run ends in KVM_EXIT_HLT.  If the old bytes run, it ends
 * in KVM_EXIT_IO for port 0x80 with 90 90 in memory at the RIP, on okvm
 * and kvm_amd alike (neither decodes a plain OUT).
 *
 * Seen in test hosts (QEMU 7.2, -cpu EPYC, TCG): okvm, whose nested page
 * table leaves are installed with Accessed and Dirty clear for the CPU to
 * set, runs the old bytes every round; kvm_amd never; okvm built with
 * Accessed and Dirty preset in its leaves never, with only Accessed
 * preset every round.  The guest and its memory are the same each time,
 * so which bytes run depends on whether QEMU's nested walk for the store
 * had to set the Dirty bit: QEMU's bug.
 *
 * Usage: guest_repro_smc [rounds] (default 20).  Exits with 1 if any
 * round ran the old bytes.
 */
#include <string.h>

#include "guest_repro.h"

#define MEM_SIZE	0x100000
#define CODE		0x7000
#define TARGET		(CODE + 19)	/* the OUT 0x80 */

/*
 * The shape of the fuzzer's case: an OUT that exits first (odd rounds
 * start after it), then
 *   mov ebx, TARGET; mov word [ebx], 0x9090; push 0x6644; mov bx, 0x70;
 *   out 0x80, al (overwritten); hlt
 */
static const uint8_t guest[] = {
	0xe6, 0x29,
	0x66, 0xbb, TARGET & 0xff, TARGET >> 8, 0x00, 0x00,
	0x67, 0xc7, 0x03, 0x90, 0x90,
	0x68, 0x44, 0x66,
	0xbb, 0x70, 0x00,
	0xe6, 0x80,
	0xf4,
};

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	int halted = 0, stale = 0, other = 0, i;
	struct repro rp;

	repro_open(&rp);
	for (i = 0; i < rounds; i++) {
		struct kvm_regs regs = { .rflags = 2, .rsp = 0x8000 };
		struct kvm_sregs s;
		struct kvm_run *run;
		uint8_t *mem;
		int vcpu, n;

		repro_create(&rp, MEM_SIZE);
		vcpu = rp.vcpu;
		run = rp.run;
		mem = rp.mem;
		memcpy(mem + CODE, guest, sizeof(guest));
		if (ioctl(vcpu, KVM_GET_SREGS, &s)) {
			perror("vCPU setup");
			return 2;
		}
		/* Real mode, CS base 0. */
		s.cs.base = 0;
		s.cs.selector = 0;
		regs.rip = CODE + (i & 1 ? 2 : 0);
		if (ioctl(vcpu, KVM_SET_SREGS, &s) ||
		    ioctl(vcpu, KVM_SET_REGS, &regs)) {
			perror("vCPU state");
			return 2;
		}
		for (n = 0; n < 10; n++) {
			if (ioctl(vcpu, KVM_RUN, 0) < 0) {
				perror("KVM_RUN");
				other++;
				break;
			}
			ioctl(vcpu, KVM_GET_REGS, &regs);
			if (run->exit_reason == KVM_EXIT_IO &&
			    run->io.port == 0x29)
				continue;
			if (run->exit_reason == KVM_EXIT_HLT) {
				halted++;
			} else if (run->exit_reason == KVM_EXIT_IO &&
				   run->io.port == 0x80) {
				printf("round %d: OUT 0x80 at RIP %#llx, where memory holds %02x %02x\n",
				       i, (unsigned long long)regs.rip,
				       mem[TARGET], mem[TARGET + 1]);
				stale++;
			} else {
				printf("round %d: exit %u at RIP %#llx\n", i,
				       run->exit_reason,
				       (unsigned long long)regs.rip);
				other++;
			}
			break;
		}
		repro_destroy(&rp);
	}
	printf("%d rounds: %d ran the new bytes (HLT), %d the old (OUT 0x80), %d other\n",
	       rounds, halted, stale, other);
	if (stale)
		printf("not ok: stale code ran after a store into it\n");
	else if (!other)
		printf("ok: the overwritten instruction never ran\n");
	return stale || other;
}
