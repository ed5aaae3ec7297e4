// SPDX-License-Identifier: GPL-2.0
/*
 * guest_repro_lock_bt_reg: a LOCK prefix on BT, BTS, BTR or BTC with a
 * register operand kills QEMU 7.2's TCG ("../../tcg/tcg.c:3243: tcg
 * fatal error", status 134), whatever hypervisor runs the guest (found
 * by guest_fuzz, seed 12248996544369930076, iteration 533, case 3; see
 * the README).
 *
 * Hardware raises #UD for these.  QEMU's translator (translate.c,
 * do_btx/bt_op, and the 0f ba group that jumps there) only computes the
 * address temp A0 for a memory operand, but with LOCK it hands A0 to an
 * atomic operation (or, for BT, a load) all the same: the register
 * allocator then meets a temp that was never written (temp_load() of a
 * dead temp) and aborts.
 *
 * The guest runs in real mode at 0:0x1000: the instruction chosen by the
 * argument (default bts), then HLT; the #UD vector of the IVT points at
 * a HLT at 0x2000.  With a correct CPU the run ends in a HLT exit past
 * 0x2000 (exit status 0); a HLT past the instruction means LOCK was
 * ignored (status 1).  Under QEMU 7.2's TCG the test host dies instead.
 *
 *   guest_repro_lock_bt_reg [bt|bts|btr|btc|bts-imm]
 */
#include <signal.h>
#include <string.h>

#include "guest_repro.h"

#define MEM_SIZE	0x10000
#define CODE		0x1000
#define UD_HANDLER	0x2000

static const struct {
	const char *name;
	uint8_t code[6];
	size_t len;
} forms[] = {
	{ "bt",      { 0xf0, 0x0f, 0xa3, 0xc8 }, 4 },	/* lock bt ax,cx */
	{ "bts",     { 0xf0, 0x0f, 0xab, 0xc8 }, 4 },	/* lock bts ax,cx */
	{ "btr",     { 0xf0, 0x0f, 0xb3, 0xc8 }, 4 },	/* lock btr ax,cx */
	{ "btc",     { 0xf0, 0x0f, 0xbb, 0xc8 }, 4 },	/* lock btc ax,cx */
	{ "bts-imm", { 0xf0, 0x0f, 0xba, 0xe8, 0x03 }, 5 }, /* lock bts ax,3 */
};

static void nop(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	const char *want = argc > 1 ? argv[1] : "bts";
	struct sigaction sa = { .sa_handler = nop };
	struct kvm_segment seg = {
		.limit = 0xffff, .type = 0x3, .present = 1, .s = 1,
	};
	struct kvm_regs regs = { .rip = CODE, .rflags = 0x2, .rsp = 0x800 };
	struct kvm_sregs s;
	struct kvm_run *run;
	struct repro rp;
	int vcpu, r, f;
	uint8_t *mem;

	for (f = 0; f < (int)(sizeof(forms) / sizeof(forms[0])); f++)
		if (!strcmp(forms[f].name, want))
			break;
	if (f == (int)(sizeof(forms) / sizeof(forms[0]))) {
		fprintf(stderr, "usage: %s [bt|bts|btr|btc|bts-imm]\n", argv[0]);
		return 2;
	}
	repro_open(&rp);
	repro_create(&rp, MEM_SIZE);
	vcpu = rp.vcpu;
	run = rp.run;
	mem = rp.mem;
	memcpy(mem + CODE, forms[f].code, forms[f].len);
	mem[CODE + forms[f].len] = 0xf4;		/* hlt */
	mem[UD_HANDLER] = 0xf4;				/* hlt */
	mem[6 * 4] = UD_HANDLER & 0xff;			/* IVT[6] = 0:0x2000 */
	mem[6 * 4 + 1] = UD_HANDLER >> 8;
	if (ioctl(vcpu, KVM_GET_SREGS, &s))
		perror("KVM_GET_SREGS");
	s.ds = s.es = s.fs = s.gs = s.ss = seg;
	seg.type = 0xb;
	s.cs = seg;
	s.cr0 = 0x10;				/* real mode, ET */
	s.cr4 = 0;
	s.efer = 0;
	s.idt.base = 0;
	s.idt.limit = 0x3ff;
	if (ioctl(vcpu, KVM_SET_SREGS, &s))
		perror("KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		perror("KVM_SET_REGS");

	printf("running lock %s with a register operand in real mode\n",
	       forms[f].name);
	fflush(stdout);
	sigaction(SIGALRM, &sa, NULL);
	alarm(5);
	r = ioctl(vcpu, KVM_RUN, 0);
	ioctl(vcpu, KVM_GET_REGS, &regs);
	printf("KVM_RUN: %d, exit %u (5 is HLT), rip %#llx\n", r,
	       run->exit_reason, (unsigned long long)regs.rip);
	if (r == 0 && run->exit_reason == KVM_EXIT_HLT &&
	    regs.rip == UD_HANDLER + 1) {
		printf("ok: #UD\n");
		return 0;
	}
	printf("not ok: expected #UD, then the HLT at %#x\n", UD_HANDLER);
	return 1;
}
