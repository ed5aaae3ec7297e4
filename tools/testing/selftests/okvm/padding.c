// SPDX-License-Identifier: GPL-2.0
/*
 * Nothing of the kernel's leaks through what okvm hands to userspace:
 * the structures KVM_GET_REGS and KVM_GET_SREGS copy out (read twice,
 * into buffers filled with two patterns, every byte must be the
 * kernel's, and padding and unused bits zero), and the kvm_run and port
 * I/O pages after each kind of exit.
 *
 * KVM does not clear kvm_run's exit union between exits: a field stays
 * as the last exit that used it left it.  What both promise is that the
 * pages start zeroed and that an exit writes only its own fields, so on
 * a fresh vCPU every byte no exit so far was entitled to write is zero.
 * That is what is checked, exit by exit.
 */
#include <signal.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"

#define PAT_A		0xa5
#define PAT_B		0x5a
#define RUN_PAGES	2	/* kvm_run and the port I/O data page */

/*
 * GET into a buffer filled with PAT_A and again into one filled with
 * PAT_B: a byte the ioctl did not write differs between the two.
 */
static void get_twice(struct kvm_vcpu *vcpu, unsigned long req,
		      const char *name, void *a, void *b, size_t size)
{
	memset(a, PAT_A, size);
	memset(b, PAT_B, size);
	if (ioctl(vcpu->fd, req, a) || ioctl(vcpu->fd, req, b))
		test_fail("%s: %s", name, errno_name(errno));
	ASSERT_MEMEQ(a, b, size);
}

static void check_regs(struct kvm_vcpu *vcpu)
{
	struct kvm_regs a, b;

	/* No padding in kvm_regs: only that every byte is written. */
	get_twice(vcpu, KVM_GET_REGS, "KVM_GET_REGS", &a, &b, sizeof(a));
}

static const char * const seg_names[] = {
	"cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt",
};

/* The one-bit fields hold 0 or 1, dpl two bits, type four; padding 0. */
static void check_segment(const struct kvm_segment *s, const char *name)
{
	if (s->present > 1 || s->db > 1 || s->s > 1 || s->l > 1 ||
	    s->g > 1 || s->avl > 1 || s->unusable > 1 || s->dpl > 3 ||
	    s->type > 15 || s->padding)
		test_fail("%s: type %#x present %u dpl %u db %u s %u l %u g %u avl %u unusable %u padding %#x",
			  name, s->type, s->present, s->dpl, s->db, s->s,
			  s->l, s->g, s->avl, s->unusable, s->padding);
}

static void check_dtable(const struct kvm_dtable *dt, const char *name)
{
	if (dt->padding[0] || dt->padding[1] || dt->padding[2])
		test_fail("%s: padding %#x %#x %#x", name, dt->padding[0],
			  dt->padding[1], dt->padding[2]);
}

/*
 * The sregs are fully written, padding zero, and interrupt_bitmap has
 * no bit but that of vector (-1: none).
 */
static void check_sregs(struct kvm_vcpu *vcpu, int vector)
{
	const struct kvm_segment *seg;
	struct kvm_sregs a, b;
	int i;

	get_twice(vcpu, KVM_GET_SREGS, "KVM_GET_SREGS", &a, &b, sizeof(a));
	for (seg = &a.cs, i = 0; seg <= &a.ldt; seg++, i++)
		check_segment(seg, seg_names[i]);
	check_dtable(&a.gdt, "gdt");
	check_dtable(&a.idt, "idt");
	for (i = 0; i < KVM_NR_INTERRUPTS; i++) {
		bool set = a.interrupt_bitmap[i / 64] >> (i % 64) & 1;

		if (set != (i == vector))
			test_fail("interrupt_bitmap bit %d is %d, expected %d",
				  i, set, i == vector);
	}
}

/* One of each exit okvm has, and a last store in guest memory. */
GUEST_CODE16(guest_exits,
	"	mov $0x12345678, %eax\n"
	"	out %eax, $0x10\n"
	"	in $0x20, %ax\n"
	"	mov %ax, 0x8000\n"
	"	hlt\n"
	"1:	jmp 1b\n");

TEST(regs_and_sregs_fresh)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_exits), &vcpu);

	check_regs(vcpu);
	check_sregs(vcpu, -1);
	vm_free(vm);
}

/* What KVM_SET_SREGS is given in padding is not kept. */
TEST(sregs_padding_not_stored)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_exits), &vcpu);
	struct kvm_segment *seg;
	struct kvm_sregs s;

	skip_if_kvm_real_mode_vm86("KVM_GET_SREGS gives the segments back as KVM_SET_SREGS took them, padding and all");
	vcpu_get_sregs(vcpu, &s);
	for (seg = &s.cs; seg <= &s.ldt; seg++)
		seg->padding = PAT_A;
	memset(s.gdt.padding, PAT_A, sizeof(s.gdt.padding));
	memset(s.idt.padding, PAT_B, sizeof(s.idt.padding));
	vcpu_set_sregs(vcpu, &s);
	check_sregs(vcpu, -1);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), 0x12345678);
	check_regs(vcpu);
	check_sregs(vcpu, -1);
	vm_free(vm);
}

/* A queued interrupt shows as its bit, and only that one. */
TEST(interrupt_bitmap_one_bit)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_exits), &vcpu);
	struct kvm_sregs s;

	vcpu_get_sregs(vcpu, &s);
	s.interrupt_bitmap[0x30 / 64] |= 1ULL << (0x30 % 64);
	vcpu_set_sregs(vcpu, &s);
	check_sregs(vcpu, 0x30);
	vm_free(vm);
}

/*
 * Which bytes of the two pages an exit so far may have written: the
 * fields KVM_RUN sets on every return, and each exit's own.
 */
struct run_mask {
	uint8_t ok[RUN_PAGES * PAGE_SIZE];
};

#define run_field(field)						\
	offsetof(struct kvm_run, field),				\
	sizeof(((struct kvm_run *)0)->field)

static void allow(struct run_mask *m, size_t off, size_t len)
{
	memset(m->ok + off, 1, len);
}

static void allow_common(struct run_mask *m)
{
	memset(m, 0, sizeof(*m));
	allow(m, run_field(exit_reason));
	allow(m, run_field(ready_for_interrupt_injection));
	allow(m, run_field(if_flag));
	allow(m, run_field(flags));
	allow(m, run_field(cr8));
	allow(m, run_field(apic_base));
}

/* Allow the fields of the exit in run, and check everything else is 0. */
static void check_run(struct kvm_vcpu *vcpu, struct run_mask *m)
{
	struct kvm_run *run = vcpu->run;
	const uint8_t *p = (const uint8_t *)run;
	size_t i;

	ASSERT_GE(vcpu->run_size, sizeof(m->ok));
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		allow(m, run_field(io));
		if (run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.data_offset < sizeof(m->ok))
			allow(m, run->io.data_offset,
			      run->io.size * run->io.count);
		break;
	case KVM_EXIT_MMIO:
		allow(m, run_field(mmio));
		break;
	case KVM_EXIT_FAIL_ENTRY:
		allow(m, run_field(fail_entry.hardware_entry_failure_reason));
		allow(m, run_field(fail_entry.cpu));
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		allow(m, run_field(internal.suberror));
		allow(m, run_field(internal.ndata));
		ASSERT_LE(run->internal.ndata, 16);
		allow(m, offsetof(struct kvm_run, internal.data),
		      run->internal.ndata * sizeof(run->internal.data[0]));
		break;
	}
	for (i = 0; i < sizeof(m->ok); i++) {
		if (m->ok[i] || !p[i])
			continue;
		vcpu_dump(vcpu);
		test_fail("byte %#zx of the vCPU mapping is %#x after exit %s: no exit so far had a field there",
			  i, p[i], exit_reason_name(run->exit_reason));
	}
}

/* A fresh VM with guest code at GUEST_LOAD_ADDR, and a fresh mask. */
static struct kvm_vm *fresh(const uint8_t *start, const uint8_t *end,
			    struct kvm_vcpu **vcpu, struct run_mask *m)
{
	struct kvm_vm *vm = vm_create_guest(start, end, vcpu);

	allow_common(m);
	return vm;
}

TEST(run_pages_fresh)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_exits), &vcpu, &m);

	/* Not even the common fields yet: nothing has run. */
	memset(&m, 0, sizeof(m));
	check_run(vcpu, &m);
	vm_free(vm);
}

/* OUT, IN (answered by the test, which makes those bytes its own), HLT. */
TEST(run_pages_io_hlt)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_exits), &vcpu, &m);
	struct kvm_run *run = vcpu->run;

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), 0x12345678);
	check_run(vcpu, &m);
	vcpu_run_expect_io(vcpu, 0x20, 2, KVM_EXIT_IO_IN);
	check_run(vcpu, &m);
	memcpy((uint8_t *)run + run->io.data_offset, "\x34\x12", 2);
	allow(&m, run->io.data_offset, 2);
	vcpu_run_expect_hlt(vcpu);
	check_run(vcpu, &m);
	ASSERT_EQ(*(uint16_t *)vm_hva(vm, GUEST_DATA_ADDR), 0x1234);
	vm_free(vm);
}

/* A first exit that is an IN: KVM_RUN has put nothing in the data page. */
GUEST_CODE16(guest_in,
	"	in $0x20, %eax\n"
	"	hlt\n");

TEST(run_pages_in_first)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_in), &vcpu, &m);

	vcpu_run_expect_io(vcpu, 0x20, 4, KVM_EXIT_IO_IN);
	check_run(vcpu, &m);
	vm_free(vm);
}

GUEST_CODE16(guest_triple_fault,
	"	lidt 0x8000\n"
	"	ud2\n");

TEST(run_pages_shutdown)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	skip_if_kvm_real_mode_vm86("its triple fault is an emulation failure (KVM_EXIT_INTERNAL_ERROR)");
	vm = fresh(GUEST(guest_triple_fault), &vcpu, &m);

	vcpu_run_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	check_run(vcpu, &m);
	/* And the INIT state it leaves behind. */
	check_regs(vcpu);
	check_sregs(vcpu, -1);
	vm_free(vm);
}

GUEST_CODE16(guest_spin,
	"1:	jmp 1b\n");

TEST(run_pages_fail_entry)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_spin), &vcpu, &m);

	vcpu_set_bad_long_mode(vcpu);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_FAIL_ENTRY);
	check_run(vcpu, &m);
	vm_free(vm);
}

/*
 * Code fetched from a GPA in no slot (CS base 0x20000): neither okvm
 * nor KVM can emulate an instruction it cannot read.
 */
GUEST_CODE16(guest_jump_out,
	"	ljmp $0x2000, $0\n");

TEST(run_pages_internal_error)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_jump_out), &vcpu, &m);

	vcpu_run_expect_exit(vcpu, KVM_EXIT_INTERNAL_ERROR);
	test_log("suberror %u ndata %u", vcpu->run->internal.suberror,
		 vcpu->run->internal.ndata);
	check_run(vcpu, &m);
	vm_free(vm);
}

/* A store and a load outside every slot (DS based at 0x20000). */
GUEST_CODE16(guest_mmio,
	"	mov $0x2000, %ax\n"
	"	mov %ax, %ds\n"
	"	movl $0x12345678, 0x10\n"
	"	mov 0x20, %eax\n"
	"	hlt\n");

TEST(run_pages_mmio)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_mmio), &vcpu, &m);

	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	check_run(vcpu, &m);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	check_run(vcpu, &m);
	memcpy(vcpu->run->mmio.data, "\x01\x02\x03\x04", 4);
	vcpu_run_expect_hlt(vcpu);
	check_run(vcpu, &m);
	vm_free(vm);
}

static void on_tick(int sig)
{
}

/*
 * KVM_RUN of a guest that never exits, ended by a signal: a timer
 * repeats it, as one that comes before the guest is entered is lost.
 */
static void run_until_signal(struct kvm_vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = on_tick };
	struct sigevent sev = {
		.sigev_notify = SIGEV_SIGNAL,
		.sigev_signo = SIGUSR2,
	};
	struct itimerspec its = {
		.it_value.tv_nsec = 5000000,
		.it_interval.tv_nsec = 5000000,
	};
	timer_t timer;

	sigemptyset(&sa.sa_mask);
	ASSERT_OK(sigaction(SIGUSR2, &sa, NULL));
	ASSERT_OK(timer_create(CLOCK_MONOTONIC, &sev, &timer));
	ASSERT_OK(timer_settime(timer, 0, &its, NULL));
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	ASSERT_OK(timer_delete(timer));
}

TEST(run_pages_intr)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_spin), &vcpu, &m);

	run_until_signal(vcpu);
	vcpu_expect_exit(vcpu, KVM_EXIT_INTR);
	check_run(vcpu, &m);
	vm_free(vm);
}

/* immediate_exit is the test's own byte; KVM_RUN sets no exit. */
TEST(run_pages_immediate_exit)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = fresh(GUEST(guest_spin), &vcpu, &m);

	vcpu->run->immediate_exit = 1;
	allow(&m, run_field(immediate_exit));
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	check_run(vcpu, &m);
	vm_free(vm);
}

/* KVM_RUN again until it gives an exit, past any signal still due. */
static void run_past_intr(struct kvm_vcpu *vcpu)
{
	while (vcpu_run(vcpu)) {
		if (errno != EINTR)
			test_fail("KVM_RUN: %s", errno_name(errno));
	}
}

/*
 * All of them on one vCPU, each exit checked against what the earlier
 * ones may have left: OUT, IN, HLT, a signal, an emulation failure and,
 * CS put back, a triple fault.
 */
GUEST_CODE16(guest_all,
	"	mov $0x12345678, %eax\n"
	"	out %eax, $0x10\n"
	"	in $0x20, %al\n"
	"	hlt\n"
	"1:	jmp 1b\n"
	"guest_all_jump:\n"
	"	ljmp $0x2000, $0\n"
	"guest_all_fault:\n"
	"	lidt 0x8000\n"
	"	ud2\n");
extern const uint8_t guest_all_jump[], guest_all_fault[];

TEST(run_pages_every_exit)
{
	struct run_mask m;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct kvm_run *run;

	skip_if_kvm_real_mode_vm86("after its emulation failure the guest does not go on at KVM_SET_REGS's RIP, and its triple fault is one too");
	vm = fresh(GUEST(guest_all), &vcpu, &m);
	run = vcpu->run;

	vcpu_run_expect_io(vcpu, 0x10, 4, KVM_EXIT_IO_OUT);
	check_run(vcpu, &m);
	vcpu_run_expect_io(vcpu, 0x20, 1, KVM_EXIT_IO_IN);
	check_run(vcpu, &m);
	*((uint8_t *)run + run->io.data_offset) = 0x77;
	allow(&m, run->io.data_offset, 1);
	vcpu_run_expect_hlt(vcpu);
	check_run(vcpu, &m);
	run_until_signal(vcpu);
	vcpu_expect_exit(vcpu, KVM_EXIT_INTR);
	check_run(vcpu, &m);

	vcpu_set_real_mode(vcpu, guest_addr(guest_all_jump, guest_all),
			   GUEST_STACK_TOP);
	run_past_intr(vcpu);
	vcpu_expect_exit(vcpu, KVM_EXIT_INTERNAL_ERROR);
	check_run(vcpu, &m);

	vcpu_set_real_mode(vcpu, guest_addr(guest_all_fault, guest_all),
			   GUEST_STACK_TOP);
	run_past_intr(vcpu);
	vcpu_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	check_run(vcpu, &m);
	check_regs(vcpu);
	check_sregs(vcpu, -1);
	vm_free(vm);
}
