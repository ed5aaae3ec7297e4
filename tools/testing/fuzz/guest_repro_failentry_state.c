// SPDX-License-Identifier: GPL-2.0
/*
 * guest_repro_failentry_state: what a failed VMRUN leaves behind, under
 * QEMU's TCG (found by guest_fuzz, seed 1, iteration 693 of its first
 * version; see the README).
 *
 * A flat 32-bit guest sets CR0.NW with CR0.CD clear by MOV CR0 (which
 * hardware refuses with #GP; QEMU 7.2's TCG lets it through, and okvm does
 * not intercept CR0 writes), then halts.  The next KVM_RUN fails VMRUN's
 * consistency check (KVM_EXIT_FAIL_ENTRY), and QEMU, failing the check
 * before it has read the VMCB's int_ctl, writes its own CPU state over
 * the guest's save area at its #VMEXIT:
 *
 * 1. KVM_GET_REGS then shows the host's RIP and RSP (kernel addresses),
 *    because the backend copies RIP, RSP, RAX and RFLAGS back from the
 *    VMCB after every #VMEXIT, VMEXIT_INVALID included;
 * 2. int_ctl is 0: V_INTR_MASKING is gone, and nothing sets it again.
 *    A valid guest with RFLAGS.IF clear that spins then holds the host
 *    CPU: host interrupts no longer end the guest's slice, the signal
 *    of a timer cannot stop KVM_RUN, and only an NMI (the RCU stall
 *    detector's, some 21 s later) gets the CPU back.
 *
 * Hardware does not write the save area on VMEXIT_INVALID, so this is
 * QEMU's bug; okvm could still shrug it off by setting V_INTR_MASKING
 * before every VMRUN and leaving its registers alone after
 * VMEXIT_INVALID.  Run it in a test host under TCG; it prints what it
 * sees and exits with 1 if either effect shows (KVM_RUN held > 5 s).
 * On kvm_amd, which intercepts the CR0 write (#GP, then a triple fault
 * here), there is nothing to see.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "guest_repro.h"

#define MEM_SIZE	0x10000
#define CODE		0x1000

/*
 * mov %cr0,%eax; and $~0x40000000,%eax (CD off); or $0x20000000,%eax
 * (NW on); mov %eax,%cr0; hlt.  Then, at CODE + 0x20: jmp .
 */
static const uint8_t guest[] = {
	0x0f, 0x20, 0xc0,
	0x25, 0xff, 0xff, 0xff, 0xbf,
	0x0d, 0x00, 0x00, 0x00, 0x20,
	0x0f, 0x22, 0xc0,
	0xf4,
};

static const uint8_t spin[] = { 0xeb, 0xfe };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nop(int sig)
{
	(void)sig;
}

static void flat32(int vcpu, uint64_t rip, uint64_t rflags)
{
	struct kvm_segment cs = {
		.base = 0, .limit = 0xffffffff, .selector = 8, .type = 0xb,
		.present = 1, .db = 1, .s = 1, .g = 1,
	};
	struct kvm_segment ds = cs;
	struct kvm_regs regs = { .rip = rip, .rflags = rflags, .rsp = 0x800 };
	struct kvm_sregs s;

	ds.selector = 0x10;
	ds.type = 0x3;
	if (ioctl(vcpu, KVM_GET_SREGS, &s))
		perror("KVM_GET_SREGS");
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.cr0 = 0x11;			/* PE, ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &s))
		perror("KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		perror("KVM_SET_REGS");
}

int main(void)
{
	struct sigaction sa = { .sa_handler = nop };
	struct kvm_run *run;
	struct kvm_regs regs;
	struct repro rp;
	int vcpu, r, bad = 0;
	double t;

	repro_open(&rp);
	repro_create(&rp, MEM_SIZE);
	vcpu = rp.vcpu;
	run = rp.run;
	memcpy(rp.mem + CODE, guest, sizeof(guest));
	memcpy(rp.mem + CODE + 0x20, spin, sizeof(spin));
	sigaction(SIGALRM, &sa, NULL);

	/* The guest loads CR0.NW without CD and halts. */
	flat32(vcpu, CODE, 0x2);
	alarm(2);
	r = ioctl(vcpu, KVM_RUN, 0);
	printf("1st KVM_RUN: %d, exit %u (5 is HLT)\n", r, run->exit_reason);
	if (r || run->exit_reason != KVM_EXIT_HLT) {
		/* kvm_amd intercepts the write: #GP, no IDT, shutdown. */
		printf("ok: the MOV to CR0 did not go through\n");
		return 0;
	}

	/* Entering it again fails VMRUN's checks. */
	alarm(2);
	r = ioctl(vcpu, KVM_RUN, 0);
	ioctl(vcpu, KVM_GET_REGS, &regs);
	printf("2nd KVM_RUN: %d, exit %u (9 is FAIL_ENTRY), reason %#llx\n",
	       r, run->exit_reason,
	       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	printf("registers now: rip %#llx rsp %#llx rflags %#llx\n",
	       (unsigned long long)regs.rip, (unsigned long long)regs.rsp,
	       (unsigned long long)regs.rflags);
	if (run->exit_reason == KVM_EXIT_FAIL_ENTRY &&
	    (regs.rip >> 47 || regs.rsp >> 47)) {
		printf("not ok: host addresses in the guest's registers\n");
		bad = 1;
	}

	/* A valid guest, IF clear, spinning; a 1 s alarm should end it. */
	flat32(vcpu, CODE + 0x20, 0x2);
	alarm(1);
	t = now();
	r = ioctl(vcpu, KVM_RUN, 0);
	t = now() - t;
	printf("3rd KVM_RUN (spin, IF=0, 1 s alarm): %d (%s) after %.1f s\n",
	       r, r < 0 ? strerror(errno) : "exit", t);
	if (t > 5) {
		printf("not ok: the guest held the host CPU for %.0f s\n", t);
		bad = 1;
	}
	if (!bad)
		printf("ok: neither effect seen\n");
	return bad;
}
