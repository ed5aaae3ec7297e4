// SPDX-License-Identifier: GPL-2.0
/*
 * guest_repro_rip_top: an instruction at linear address 0xffffffffffffffff
 * in 64-bit mode kills QEMU 7.2's TCG ("target/i386/tcg/translate.c:547:
 * gen_update_eip_cur: Assertion `s->pc_save != -1' failed", status 134),
 * whatever hypervisor runs the guest (found by guest_fuzz, seed
 * 10632829524419574286, iteration 1842, case 1; see the README).
 *
 * QEMU's translator keeps in pc_save (a target_ulong) the guest address
 * EIP was last synchronised to, and -1 for "unknown" after an indirect
 * jump.  A translation block that starts at 0xffffffffffffffff sets
 * pc_save to that address, which reads as "unknown": the first
 * instruction there that needs its own EIP (HLT, I/O, an exception the
 * translator raises...) asserts.  Only 64-bit mode can put an instruction
 * there: elsewhere EIP and the CS base are 32 bits.
 *
 * The guest runs in 64-bit mode with the last page of the linear address
 * space mapped to guest physical 0x7000, and jumps (mov rax, imm64; jmp
 * rax) to a HLT at 0xffffffffffffffff, or with "fe" as the argument to a
 * HLT at 0xfffffffffffffffe, the control, which QEMU runs.  With a
 * correct CPU both end in a HLT exit (exit status 0).  Under QEMU 7.2's
 * TCG the test host dies on the first.
 *
 *   guest_repro_rip_top [ff|fe]
 */
#include <signal.h>
#include <string.h>

#include "guest_repro.h"

#define MEM_SIZE	0x10000
#define PML4		0x1000
#define PDPT		0x2000
#define PD		0x3000
#define PDPT_TOP	0x4000
#define PD_TOP		0x5000
#define PT_TOP		0x6000
#define TOP_PAGE	0x7000		/* linear 0xfffffffffffff000 */
#define CODE		0x8000
#define PTE		0x7ULL		/* present, writable, user */

static void nop(int sig)
{
	(void)sig;
}

static void w64(uint8_t *mem, uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, 8);
}

int main(int argc, char **argv)
{
	int top = !(argc > 1 && !strcmp(argv[1], "fe"));
	uint64_t target = top ? ~0ULL : ~1ULL;
	struct sigaction sa = { .sa_handler = nop };
	struct kvm_segment data = {
		.limit = 0xffffffff, .type = 0x3, .present = 1, .s = 1,
		.db = 1, .g = 1, .selector = 0x10,
	};
	struct kvm_segment code = {
		.limit = 0xffffffff, .type = 0xb, .present = 1, .s = 1,
		.l = 1, .g = 1, .selector = 0x08,
	};
	struct kvm_segment tr = {
		.limit = 0x67, .type = 0xb, .present = 1, .selector = 0x18,
	};
	struct kvm_regs regs = { .rip = CODE, .rflags = 0x2, .rsp = 0x800 };
	struct kvm_sregs s;
	struct kvm_run *run;
	struct repro rp;
	int vcpu, r;
	uint8_t *mem;

	if (argc > 1 && strcmp(argv[1], "ff") && strcmp(argv[1], "fe")) {
		fprintf(stderr, "usage: %s [ff|fe]\n", argv[0]);
		return 2;
	}
	repro_open(&rp);
	repro_create(&rp, MEM_SIZE);
	vcpu = rp.vcpu;
	run = rp.run;
	mem = rp.mem;
	/* 0-2 MiB identity (a 2 MiB page), and the last 4 KiB page. */
	w64(mem, PML4, PDPT | PTE);
	w64(mem, PDPT, PD | PTE);
	w64(mem, PD, 0x80 | PTE);
	w64(mem, PML4 + 511 * 8, PDPT_TOP | PTE);
	w64(mem, PDPT_TOP + 511 * 8, PD_TOP | PTE);
	w64(mem, PD_TOP + 511 * 8, PT_TOP | PTE);
	w64(mem, PT_TOP + 511 * 8, TOP_PAGE | PTE);
	memset(mem + TOP_PAGE, 0xf4, 0x1000);		/* hlt */
	/* mov rax, target; jmp rax */
	mem[CODE] = 0x48;
	mem[CODE + 1] = 0xb8;
	memcpy(mem + CODE + 2, &target, 8);
	mem[CODE + 10] = 0xff;
	mem[CODE + 11] = 0xe0;
	if (ioctl(vcpu, KVM_GET_SREGS, &s))
		perror("KVM_GET_SREGS");
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.cs = code;
	s.tr = tr;
	s.cr0 = 0x80000011;			/* PG, ET, PE */
	s.cr3 = PML4;
	s.cr4 = 0x20;				/* PAE */
	s.efer = 0x500;				/* LMA, LME */
	if (ioctl(vcpu, KVM_SET_SREGS, &s))
		perror("KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		perror("KVM_SET_REGS");

	printf("running a HLT at %#llx in 64-bit mode\n",
	       (unsigned long long)target);
	fflush(stdout);
	sigaction(SIGALRM, &sa, NULL);
	alarm(5);
	r = ioctl(vcpu, KVM_RUN, 0);
	ioctl(vcpu, KVM_GET_REGS, &regs);
	printf("KVM_RUN: %d, exit %u (5 is HLT), rip %#llx\n", r,
	       run->exit_reason, (unsigned long long)regs.rip);
	if (r == 0 && run->exit_reason == KVM_EXIT_HLT) {
		printf("ok: HLT\n");
		return 0;
	}
	printf("not ok: expected the HLT at %#llx\n",
	       (unsigned long long)target);
	return 1;
}
