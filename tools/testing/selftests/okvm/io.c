// SPDX-License-Identifier: GPL-2.0
/*
 * Port I/O exits from a real-mode guest: OUT and IN of 1, 2 and 4 bytes,
 * with an immediate port and through DX, and where RIP and RAX stand
 * around each exit.
 */
#include "kvm_util.h"

#define RAX_BEFORE	0x1122334455667788ULL

GUEST_CODE16(guest_out_imm,
	"	mov $0x11, %al\n"
	"	out %al, $0x10\n"
	"	mov $0x2233, %ax\n"
	"	out %ax, $0x12\n"
	"	mov $0x44556677, %eax\n"
	"	out %eax, $0x14\n"
	"	hlt\n");

TEST(out_imm)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_out_imm), &vcpu);

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 1), 0x11);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x12, 2), 0x2233);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x14, 4), 0x44556677);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

GUEST_CODE16(guest_out_dx,
	"	mov $0x3f8, %dx\n"
	"	mov $0xa5, %al\n"
	"	out %al, %dx\n"
	"	mov $0xabcd, %dx\n"
	"	mov $0x5aa5, %ax\n"
	"	out %ax, %dx\n"
	"	mov $0xffff, %dx\n"
	"	mov $0xdeadbeef, %eax\n"
	"	out %eax, %dx\n"
	"	mov $0, %dx\n"
	"	out %al, %dx\n"
	"	hlt\n");

TEST(out_dx)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_out_dx), &vcpu);

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x3f8, 1), 0xa5);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0xabcd, 2), 0x5aa5);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0xffff, 4), 0xdeadbeef);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0, 1), 0xef);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/* Each IN is followed by HLT, so the host sees RAX as the IN left it. */
GUEST_CODE16(guest_in,
	"	in $0x20, %al\n"
	"	hlt\n"
	"	in $0x22, %ax\n"
	"	hlt\n"
	"	in $0x24, %eax\n"
	"	hlt\n"
	"	mov $0x1234, %dx\n"
	"	in %dx, %al\n"
	"	hlt\n"
	"	in %dx, %ax\n"
	"	hlt\n"
	"	in %dx, %eax\n"
	"	hlt\n");

static void set_rax(struct kvm_vcpu *vcpu, uint64_t rax)
{
	struct kvm_regs regs;

	vcpu_get_regs(vcpu, &regs);
	regs.rax = rax;
	vcpu_set_regs(vcpu, &regs);
}

static uint64_t get_rax(struct kvm_vcpu *vcpu)
{
	struct kvm_regs regs;

	vcpu_get_regs(vcpu, &regs);
	return regs.rax;
}

/*
 * IN of 1 or 2 bytes merges into RAX; IN of 4 bytes replaces EAX and, as
 * KVM does it, clears bits 63:32 of RAX.
 */
TEST(in_data_lands_in_rax)
{
	static const struct {
		uint16_t port;
		int size;
		uint32_t data;
		uint64_t rax;
	} in[] = {
		{ 0x20, 1, 0xab, 0x11223344556677abULL },
		{ 0x22, 2, 0xcdef, 0x112233445566cdefULL },
		{ 0x24, 4, 0x89abcdef, 0x89abcdefULL },
		{ 0x1234, 1, 0x5a, 0x112233445566775aULL },
		{ 0x1234, 2, 0xa55a, 0x112233445566a55aULL },
		{ 0x1234, 4, 0xfedcba98, 0xfedcba98ULL },
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_in), &vcpu);
	unsigned int i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		set_rax(vcpu, RAX_BEFORE);
		vcpu_run_expect_in(vcpu, in[i].port, in[i].size, in[i].data);
		vcpu_run_expect_hlt(vcpu);
		ASSERT_EQ(get_rax(vcpu), in[i].rax);
	}
	vm_free(vm);
}

/* The IN data is also what the guest computes with. */
GUEST_CODE16(guest_in_echo,
	"	in $0x30, %al\n"
	"	inc %al\n"
	"	out %al, $0x31\n"
	"	in $0x30, %ax\n"
	"	inc %ax\n"
	"	out %ax, $0x31\n"
	"	in $0x30, %eax\n"
	"	inc %eax\n"
	"	out %eax, $0x31\n"
	"	hlt\n");

TEST(in_echo)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_in_echo), &vcpu);

	vcpu_run_expect_in(vcpu, 0x30, 1, 0x7f);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x31, 1), 0x80);
	vcpu_run_expect_in(vcpu, 0x30, 2, 0x7fff);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x31, 2), 0x8000);
	vcpu_run_expect_in(vcpu, 0x30, 4, 0xffffffff);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x31, 4), 0);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

GUEST_CODE16(guest_rip,
	"guest_rip_out:\n"
	"	out %al, $0x40\n"
	"guest_rip_in:\n"
	"	in %dx, %ax\n"
	"guest_rip_out32:\n"
	"	out %eax, %dx\n"
	"guest_rip_hlt:\n"
	"	hlt\n");
extern const uint8_t guest_rip_out[], guest_rip_in[], guest_rip_out32[];
extern const uint8_t guest_rip_hlt[];

/*
 * KVM leaves RIP on the IN or OUT instruction when it exits to
 * userspace, and moves it past the instruction when the next KVM_RUN
 * completes the I/O.
 */
TEST(rip_around_io_exit)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rip), &vcpu);
	struct kvm_regs regs;

	vcpu_get_regs(vcpu, &regs);
	regs.rdx = 0x60;
	vcpu_set_regs(vcpu, &regs);

	vcpu_run_expect_io(vcpu, 0x40, 1, KVM_EXIT_IO_OUT);
	ASSERT_EQ(vcpu_get_rip(vcpu), guest_addr(guest_rip_out, guest_rip));
	vcpu_run_expect_in(vcpu, 0x60, 2, 0x1234);
	ASSERT_EQ(vcpu_get_rip(vcpu), guest_addr(guest_rip_in, guest_rip));
	vcpu_run_expect_io(vcpu, 0x60, 4, KVM_EXIT_IO_OUT);
	ASSERT_EQ(vcpu_get_rip(vcpu), guest_addr(guest_rip_out32, guest_rip));
	vcpu_run_expect_hlt(vcpu);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rip, guest_addr(guest_rip_hlt, guest_rip) + 1);
	ASSERT_EQ(regs.rax & 0xffff, 0x1234);
	vm_free(vm);
}

/*
 * Completing the I/O needs a KVM_RUN; with immediate_exit set it
 * returns EINTR at once, but only after completing, so RIP is then past
 * the instruction.
 */
TEST(rip_after_io_completion)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rip), &vcpu);

	vcpu_run_expect_io(vcpu, 0x40, 1, KVM_EXIT_IO_OUT);
	vcpu->run->immediate_exit = 1;
	ASSERT_ERRNO(vcpu_run(vcpu), EINTR);
	ASSERT_EQ(vcpu_get_rip(vcpu), guest_addr(guest_rip_in, guest_rip));
	vm_free(vm);
}

GUEST_CODE16(guest_port_7e,
	"	out %al, $0x7e\n"
	"	hlt\n");

/*
 * KVM_X86_QUIRK_OUT_7E_INC_RIP, on by default: for an OUT to port 0x7e
 * KVM moves RIP past the instruction before it exits to userspace.
 */
TEST(out_port_7e_quirk)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_port_7e), &vcpu);

	vcpu_run_expect_io(vcpu, 0x7e, 1, KVM_EXIT_IO_OUT);
	ASSERT_EQ(vcpu_get_rip(vcpu), GUEST_LOAD_ADDR + 2);
	vcpu_run_expect_hlt(vcpu);
	ASSERT_EQ(vcpu_get_rip(vcpu), GUEST_LOAD_ADDR + 3);
	vm_free(vm);
}

/* Many exits in a row: nothing is lost or repeated. */
GUEST_CODE16(guest_out_loop,
	"	xor %cx, %cx\n"
	"1:	mov %cx, %ax\n"
	"	out %ax, $0x50\n"
	"	inc %cx\n"
	"	cmp $1000, %cx\n"
	"	jne 1b\n"
	"	hlt\n");

TEST(out_many)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_out_loop), &vcpu);
	uint32_t i;

	for (i = 0; i < 1000; i++)
		ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x50, 2), i);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}
