// SPDX-License-Identifier: GPL-2.0
/*
 * SSE state across KVM_RUN: the host's XMM registers and MXCSR are its
 * own again when KVM_RUN returns, whatever the guest did with its own,
 * and the guest's survive an exit to userspace and the host using its
 * registers in between.
 */
#include <unistd.h>
#include <sys/syscall.h>

#include "kvm_util.h"

#define GUEST_XMM_IN	GUEST_DATA_ADDR			/* xmm0-7, mxcsr */
#define GUEST_XMM_OUT	(GUEST_DATA_ADDR + 0x100)	/* as seen later */

#define DEFAULT_MXCSR	0x1f80			/* all masked, nearest */
#define HOST_MXCSR	(DEFAULT_MXCSR | 0x6000)	/* round to zero */
#define GUEST_MXCSR	(DEFAULT_MXCSR | 0x2000)	/* round down */

struct xmm_file {
	uint8_t xmm[16][16];
	uint32_t mxcsr;
} __attribute__((aligned(16)));

#define LOAD_XMM(n)	"movdqu " #n "*16(%[in]), %%xmm" #n "\n\t"
#define STORE_XMM(n)	"movdqu %%xmm" #n ", " #n "*16(%[out])\n\t"

/*
 * KVM_RUN with the host's XMM registers and MXCSR loaded from in, and
 * stored to out as they are when the syscall returns: nothing but the
 * kernel runs in between.
 */
static long run_with_xmm(int fd, const struct xmm_file *in,
			 struct xmm_file *out)
{
	long ret;

	asm volatile(LOAD_XMM(0) LOAD_XMM(1) LOAD_XMM(2) LOAD_XMM(3)
		     LOAD_XMM(4) LOAD_XMM(5) LOAD_XMM(6) LOAD_XMM(7)
		     LOAD_XMM(8) LOAD_XMM(9) LOAD_XMM(10) LOAD_XMM(11)
		     LOAD_XMM(12) LOAD_XMM(13) LOAD_XMM(14) LOAD_XMM(15)
		     "ldmxcsr 256(%[in])\n\t"
		     "syscall\n\t"
		     STORE_XMM(0) STORE_XMM(1) STORE_XMM(2) STORE_XMM(3)
		     STORE_XMM(4) STORE_XMM(5) STORE_XMM(6) STORE_XMM(7)
		     STORE_XMM(8) STORE_XMM(9) STORE_XMM(10) STORE_XMM(11)
		     STORE_XMM(12) STORE_XMM(13) STORE_XMM(14) STORE_XMM(15)
		     "stmxcsr 256(%[out])\n\t"
		     : "=a" (ret)
		     : "a" (SYS_ioctl), "D" (fd), "S" (KVM_RUN), "d" (0),
		       [in] "r" (in), [out] "r" (out)
		     : "rcx", "r11", "memory",
		       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
		       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
		       "xmm13", "xmm14", "xmm15");
	asm volatile("ldmxcsr %0" : : "m" ((uint32_t){ DEFAULT_MXCSR }));
	return ret;
}

static void fill(struct xmm_file *f, uint8_t seed, uint32_t mxcsr)
{
	int i, j;

	for (i = 0; i < 16; i++)
		for (j = 0; j < 16; j++)
			f->xmm[i][j] = seed + i * 16 + j;
	f->mxcsr = mxcsr;
}

static void run_and_check_host(struct kvm_vcpu *vcpu, uint8_t seed,
			       uint16_t port)
{
	struct xmm_file in, out;
	long ret;

	fill(&in, seed, HOST_MXCSR);
	memset(&out, 0, sizeof(out));
	ret = run_with_xmm(vcpu->fd, &in, &out);
	if (ret) {
		vcpu_dump(vcpu);
		test_fail("KVM_RUN: %s", errno_name(-ret));
	}
	vcpu_expect_io(vcpu, port, 1, KVM_EXIT_IO_OUT);
	ASSERT_MEMEQ(out.xmm, in.xmm, sizeof(in.xmm));
	ASSERT_EQ(out.mxcsr, in.mxcsr);
}

#define GUEST_LOAD(n)	"	movdqu 0x8000+" #n "*16, %xmm" #n "\n"
#define GUEST_STORE(n)	"	movdqu %xmm" #n ", 0x8100+" #n "*16\n"

/*
 * Sets CR4.OSFXSR itself (unless the host did and starts it at
 * guest_xmm_loads), loads xmm0-7 and MXCSR from GUEST_XMM_IN, exits,
 * then stores them to GUEST_XMM_OUT and exits again.
 */
GUEST_CODE16(guest_xmm,
	"	mov %cr4, %eax\n"
	"	or $0x600, %eax\n"
	"	mov %eax, %cr4\n"
	"guest_xmm_loads:\n"
	GUEST_LOAD(0) GUEST_LOAD(1) GUEST_LOAD(2) GUEST_LOAD(3)
	GUEST_LOAD(4) GUEST_LOAD(5) GUEST_LOAD(6) GUEST_LOAD(7)
	"	ldmxcsr 0x8080\n"
	"	out %al, $0x10\n"
	GUEST_STORE(0) GUEST_STORE(1) GUEST_STORE(2) GUEST_STORE(3)
	GUEST_STORE(4) GUEST_STORE(5) GUEST_STORE(6) GUEST_STORE(7)
	"	stmxcsr 0x8180\n"
	"	out %al, $0x11\n"
	"	hlt\n");
extern const uint8_t guest_xmm_loads[];

static struct kvm_vm *xmm_guest(struct kvm_vcpu **vcpu, struct xmm_file *g,
				bool host_sets_cr4)
{
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_xmm), vcpu);
	struct kvm_sregs s;
	struct kvm_regs r;
	uint8_t *in = vm_hva(vm, GUEST_XMM_IN);

	fill(g, 0x80, GUEST_MXCSR);
	memcpy(in, g->xmm, 8 * 16);
	memcpy(in + 0x80, &g->mxcsr, 4);
	if (host_sets_cr4) {
		vcpu_get_sregs(*vcpu, &s);
		s.cr4 |= X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
		vcpu_set_sregs(*vcpu, &s);
		vcpu_get_regs(*vcpu, &r);
		r.rip = guest_addr(guest_xmm_loads, guest_xmm);
		vcpu_set_regs(*vcpu, &r);
	}
	return vm;
}

static void check_guest_kept(struct kvm_vm *vm, struct xmm_file *g)
{
	uint8_t *out = vm_hva(vm, GUEST_XMM_OUT);

	ASSERT_MEMEQ(out, g->xmm, 8 * 16);
	ASSERT_EQ(*(uint32_t *)(out + 0x80), g->mxcsr);
}

TEST(host_xmm_kept_guest_sets_cr4)
{
	struct kvm_vcpu *vcpu;
	struct xmm_file g;
	struct kvm_vm *vm = xmm_guest(&vcpu, &g, false);

	run_and_check_host(vcpu, 0x10, 0x10);
	vm_free(vm);
}

TEST(host_xmm_kept_host_sets_cr4)
{
	struct kvm_vcpu *vcpu;
	struct xmm_file g;
	struct kvm_vm *vm = xmm_guest(&vcpu, &g, true);

	run_and_check_host(vcpu, 0x20, 0x10);
	vm_free(vm);
}

/* The guest's registers survive the exit and other host values. */
TEST(guest_xmm_kept_across_exit)
{
	struct kvm_vcpu *vcpu;
	struct xmm_file g;
	struct kvm_vm *vm = xmm_guest(&vcpu, &g, false);

	run_and_check_host(vcpu, 0x30, 0x10);
	run_and_check_host(vcpu, 0x40, 0x11);
	check_guest_kept(vm, &g);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/* Also when the host does ordinary work, and other syscalls, between. */
TEST(guest_xmm_kept_across_host_work)
{
	struct kvm_vcpu *vcpu;
	struct xmm_file g;
	struct kvm_vm *vm = xmm_guest(&vcpu, &g, true);
	volatile double x = 1.5;
	int i;

	run_and_check_host(vcpu, 0x50, 0x10);
	for (i = 0; i < 100; i++)
		x = x * 1.25 + i;
	memset(vm_hva(vm, 0x9000), (int)x, 0x1000);
	usleep(1000);
	vcpu_run_expect_io(vcpu, 0x11, 1, KVM_EXIT_IO_OUT);
	check_guest_kept(vm, &g);
	vm_free(vm);
}

/* Two vCPUs, each with its own registers, run in turn. */
TEST(two_vcpus_own_xmm)
{
	struct kvm_vcpu *a, *b;
	struct xmm_file g;
	struct kvm_vm *vm = xmm_guest(&a, &g, false);
	uint8_t *in = vm_hva(vm, GUEST_XMM_IN);
	uint8_t *out = vm_hva(vm, GUEST_XMM_OUT);
	struct xmm_file gb;

	b = vcpu_add(vm, 1);
	vcpu_set_real_mode(b, GUEST_LOAD_ADDR, GUEST_STACK_TOP - 0x100);

	run_and_check_host(a, 0x60, 0x10);
	/* b loads other values from the same place. */
	fill(&gb, 0x11, DEFAULT_MXCSR);
	memcpy(in, gb.xmm, 8 * 16);
	memcpy(in + 0x80, &gb.mxcsr, 4);
	run_and_check_host(b, 0x70, 0x10);

	run_and_check_host(a, 0x90, 0x11);
	check_guest_kept(vm, &g);
	memset(out, 0, 0x100);
	run_and_check_host(b, 0xa0, 0x11);
	check_guest_kept(vm, &gb);
	vm_free(vm);
}
