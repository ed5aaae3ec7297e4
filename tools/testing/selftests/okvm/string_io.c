// SPDX-License-Identifier: GPL-2.0
/*
 * String port I/O: INS and OUTS from real-mode and flat 32-bit guests,
 * with and without REP, forwards and backwards (DF), with 16- and 32-bit
 * address sizes (the 67h prefix), a segment override on OUTS and one INS
 * ignores, chunks that cross a page, and RCX of 0.
 *
 * KVM gives OUTS one element per KVM_EXIT_IO and INS up to 1024 bytes;
 * okvm gives both in chunks.  So the host here loops over the exits
 * (count elements of size bytes each in the I/O data page), collects
 * what the guest wrote and answers its reads from a buffer, and compares
 * the data and the registers once the guest halts, never the number of
 * exits.
 */
#include <string.h>

#include "kvm_util.h"

#define PORT		0x3f0
#define DATA		GUEST_DATA_ADDR

struct pio_log {
	uint8_t out[16384];
	size_t out_len;
	const uint8_t *in;
	size_t in_len;
	size_t in_pos;
};

/* Run to HLT, serving port I/O of @size bytes on PORT from @log. */
static void run_pio(struct kvm_vcpu *vcpu, int size, struct pio_log *log)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data;
	size_t n;

	for (;;) {
		vcpu_run_ok(vcpu);
		if (run->exit_reason == KVM_EXIT_HLT)
			return;
		vcpu_expect_exit(vcpu, KVM_EXIT_IO);
		ASSERT_EQ(run->io.port, PORT);
		ASSERT_EQ(run->io.size, size);
		ASSERT_GE(run->io.count, 1);
		n = (size_t)run->io.count * run->io.size;
		ASSERT_GE(run->io.data_offset, sizeof(*run));
		ASSERT_LE(run->io.data_offset + n, vcpu->run_size);
		data = (uint8_t *)run + run->io.data_offset;
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			ASSERT_LE(log->out_len + n, sizeof(log->out));
			memcpy(log->out + log->out_len, data, n);
			log->out_len += n;
		} else {
			ASSERT_LE(log->in_pos + n, log->in_len);
			memcpy(data, log->in + log->in_pos, n);
			log->in_pos += n;
		}
	}
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = seed + i * 7;
}

GUEST_CODE16(guest_rep_outsb,
	"	mov $0x8000, %si\n"
	"	mov $13, %cx\n"
	"	mov $0x3f0, %dx\n"
	"	cld\n"
	"	rep outsb\n"
	"	hlt\n");

TEST(rep_outsb)
{
	struct pio_log log = {};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rep_outsb), &vcpu);
	struct kvm_regs regs;

	memcpy(vm_hva(vm, DATA), "Hello, world!", 13);
	run_pio(vcpu, 1, &log);
	ASSERT_EQ(log.out_len, 13);
	ASSERT_MEMEQ(log.out, "Hello, world!", 13);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rsi, DATA + 13);
	ASSERT_EQ(regs.rcx, 0);
	vm_free(vm);
}

/* DF=1: the highest word first, SI ending below the block. */
GUEST_CODE16(guest_rep_outsw_down,
	"	mov $0x8000 + 2 * 9, %si\n"
	"	mov $10, %cx\n"
	"	mov $0x3f0, %dx\n"
	"	std\n"
	"	rep outsw\n"
	"	cld\n"
	"	hlt\n");

TEST(rep_outsw_backwards)
{
	struct pio_log log = {};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rep_outsw_down), &vcpu);
	uint16_t *src = vm_hva(vm, DATA), *out = (uint16_t *)log.out;
	struct kvm_regs regs;
	int i;

	for (i = 0; i < 10; i++)
		src[i] = 0x1000 + i;
	run_pio(vcpu, 2, &log);
	ASSERT_EQ(log.out_len, 20);
	for (i = 0; i < 10; i++)
		ASSERT_EQ(out[i], 0x1000 + 9 - i);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rsi, DATA - 2);
	ASSERT_EQ(regs.rcx, 0);
	vm_free(vm);
}

GUEST_CODE16(guest_rep_insw,
	"	mov $0x8100, %di\n"
	"	mov $10, %cx\n"
	"	mov $0x3f0, %dx\n"
	"	cld\n"
	"	rep insw\n"
	"	hlt\n");

TEST(rep_insw)
{
	uint8_t in[20];
	struct pio_log log = { .in = in, .in_len = sizeof(in) };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rep_insw), &vcpu);
	struct kvm_regs regs;

	fill(in, sizeof(in), 0x31);
	memset(vm_hva(vm, DATA + 0x100), 0xcc, 32);
	run_pio(vcpu, 2, &log);
	ASSERT_EQ(log.in_pos, sizeof(in));
	ASSERT_MEMEQ(vm_hva(vm, DATA + 0x100), in, sizeof(in));
	ASSERT_EQ(*(uint8_t *)vm_hva(vm, DATA + 0x100 + 20), 0xcc);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rdi, DATA + 0x100 + 20);
	ASSERT_EQ(regs.rcx, 0);
	vm_free(vm);
}

/* DF=1 input: the first byte read lands highest. */
GUEST_CODE16(guest_rep_insb_down,
	"	mov $0x8100 + 7, %di\n"
	"	mov $8, %cx\n"
	"	mov $0x3f0, %dx\n"
	"	std\n"
	"	rep insb\n"
	"	cld\n"
	"	hlt\n");

TEST(rep_insb_backwards)
{
	uint8_t in[8], want[8];
	struct pio_log log = { .in = in, .in_len = sizeof(in) };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rep_insb_down), &vcpu);
	struct kvm_regs regs;
	int i;

	fill(in, sizeof(in), 0x40);
	for (i = 0; i < 8; i++)
		want[i] = in[7 - i];
	run_pio(vcpu, 1, &log);
	ASSERT_MEMEQ(vm_hva(vm, DATA + 0x100), want, 8);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rdi, DATA + 0x100 - 1);
	ASSERT_EQ(regs.rcx, 0);
	vm_free(vm);
}

/* Without REP, one element each; RCX is left alone. */
GUEST_CODE32(guest_outsl_insl,
	"	mov $0x8000, %esi\n"
	"	mov $0x8200, %edi\n"
	"	mov $0x12345678, %ecx\n"
	"	mov $0x3f0, %dx\n"
	"	outsl\n"
	"	outsl\n"
	"	insl\n"
	"	hlt\n");

TEST(outsl_insl_single)
{
	uint8_t in[4] = { 0xde, 0xc0, 0xad, 0x0b };
	struct pio_log log = { .in = in, .in_len = sizeof(in) };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_outsl_insl), &vcpu);
	struct kvm_regs regs;

	fill(vm_hva(vm, DATA), 8, 0x70);
	run_pio(vcpu, 4, &log);
	ASSERT_EQ(log.out_len, 8);
	ASSERT_MEMEQ(log.out, vm_hva(vm, DATA), 8);
	ASSERT_MEMEQ(vm_hva(vm, DATA + 0x200), in, 4);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rsi, DATA + 8);
	ASSERT_EQ(regs.rdi, DATA + 0x200 + 4);
	ASSERT_EQ(regs.rcx, 0x12345678);
	vm_free(vm);
}

/*
 * 16-bit address size in 32-bit code: SI and CX count, the upper halves
 * of ESI and ECX stay as they were.
 */
GUEST_CODE32(guest_addr16_outsb,
	"	mov $0xabcd8000, %esi\n"
	"	mov $0x55550005, %ecx\n"
	"	mov $0x3f0, %dx\n"
	"	addr16 rep outsb\n"
	"	hlt\n");

TEST(addr16_in_32bit_code)
{
	struct pio_log log = {};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_addr16_outsb), &vcpu);
	struct kvm_regs regs;

	fill(vm_hva(vm, DATA), 5, 0x11);
	run_pio(vcpu, 1, &log);
	ASSERT_EQ(log.out_len, 5);
	ASSERT_MEMEQ(log.out, vm_hva(vm, DATA), 5);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rsi, 0xabcd8005);
	ASSERT_EQ(regs.rcx, 0x55550000);
	vm_free(vm);
}

/* 32-bit address size in real mode: ESI and ECX count. */
GUEST_CODE16(guest_addr32_insb,
	"	mov $0x8300, %edi\n"
	"	mov $6, %ecx\n"
	"	mov $0x3f0, %dx\n"
	"	addr32 rep insb\n"
	"	hlt\n");

TEST(addr32_in_real_mode)
{
	uint8_t in[6];
	struct pio_log log = { .in = in, .in_len = sizeof(in) };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_addr32_insb), &vcpu);
	struct kvm_regs regs;

	fill(in, sizeof(in), 0x90);
	run_pio(vcpu, 1, &log);
	ASSERT_MEMEQ(vm_hva(vm, DATA + 0x300), in, sizeof(in));
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rdi, DATA + 0x300 + 6);
	ASSERT_EQ(regs.rcx, 0);
	vm_free(vm);
}

/*
 * OUTS takes a segment override (ES here, based at 0x8000); INS always
 * stores through ES, whatever prefix it has (FS here, based at 0).
 */
GUEST_CODE16(guest_seg_override,
	"	mov $0x0800, %ax\n"
	"	mov %ax, %es\n"
	"	xor %ax, %ax\n"
	"	mov %ax, %ds\n"
	"	mov %ax, %fs\n"
	"	mov $0x10, %si\n"
	"	mov $4, %cx\n"
	"	mov $0x3f0, %dx\n"
	"	es rep outsb\n"
	"	mov $0x400, %di\n"
	"	mov $2, %cx\n"
	"	fs rep insb\n"
	"	hlt\n");

TEST(segment_override)
{
	uint8_t in[2] = { 0x5a, 0xa5 };
	struct pio_log log = { .in = in, .in_len = sizeof(in) };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_seg_override), &vcpu);

	fill(vm_hva(vm, DATA + 0x10), 4, 0x21);
	memset(vm_hva(vm, 0x400), 0xcc, 2);
	run_pio(vcpu, 1, &log);
	ASSERT_EQ(log.out_len, 4);
	ASSERT_MEMEQ(log.out, vm_hva(vm, DATA + 0x10), 4);
	ASSERT_MEMEQ(vm_hva(vm, DATA + 0x400), in, 2);
	ASSERT_EQ(*(uint8_t *)vm_hva(vm, 0x400), 0xcc);
	vm_free(vm);
}

/*
 * Chunks across page boundaries: 16 dwords from 0x8ff0 on, and one
 * dword straddling 0x9ffe; then 3000 dwords (12000 bytes) out, more than
 * any one exit carries on either.
 */
GUEST_CODE32(guest_cross_page,
	"	mov $0x3f0, %dx\n"
	"	mov $0x8ff0, %edi\n"
	"	mov $16, %ecx\n"
	"	rep insl\n"
	"	mov $0x9ffe, %edi\n"
	"	insl\n"
	"	mov $0xa000 + 4, %esi\n"
	"	mov $3000, %ecx\n"
	"	rep outsl\n"
	"	hlt\n");

TEST(cross_page_and_long)
{
	uint8_t in[68];
	struct pio_log log = { .in = in, .in_len = sizeof(in) };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_cross_page), &vcpu);
	struct kvm_regs regs;

	fill(in, sizeof(in), 0x03);
	fill(vm_hva(vm, 0xa004), 12000, 0x55);
	run_pio(vcpu, 4, &log);
	ASSERT_EQ(log.in_pos, sizeof(in));
	ASSERT_MEMEQ(vm_hva(vm, 0x8ff0), in, 64);
	ASSERT_MEMEQ(vm_hva(vm, 0x9ffe), in + 64, 4);
	ASSERT_EQ(log.out_len, 12000);
	ASSERT_MEMEQ(log.out, vm_hva(vm, 0xa004), 12000);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rdi, 0x9ffe + 4);
	ASSERT_EQ(regs.rsi, 0xa004 + 12000);
	ASSERT_EQ(regs.rcx, 0);
	vm_free(vm);
}

/* REP with CX = 0 does nothing: the first exit is the HLT. */
GUEST_CODE16(guest_rep_zero,
	"	mov $0x8000, %si\n"
	"	xor %cx, %cx\n"
	"	mov $0x3f0, %dx\n"
	"	rep outsb\n"
	"	rep insb\n"
	"	hlt\n");

TEST(rep_count_zero)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rep_zero), &vcpu);
	struct kvm_regs regs;

	vcpu_run_expect_hlt(vcpu);
	vcpu_get_regs(vcpu, &regs);
	ASSERT_EQ(regs.rsi, DATA);
	ASSERT_EQ(regs.rcx, 0);
	vm_free(vm);
}
