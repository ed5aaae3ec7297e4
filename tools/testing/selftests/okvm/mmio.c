// SPDX-License-Identifier: GPL-2.0
/*
 * MMIO from a 64-bit C guest (lib/long_mode.h): every access to guest
 * physical memory outside the memslots is an instruction the hypervisor
 * emulates, handing the access to userspace as KVM_EXIT_MMIO.  The host
 * here plays a device that is plain memory (mmio_dev): writes store, reads
 * return what is there.  The guest runs MOV of every size and form (to
 * and from registers, immediates, moffs), the addressing forms (RIP-
 * relative, SIB with and without base and index, REX registers, 32-bit
 * addresses), MOVZX, MOVSX and MOVSXD, MOVS, STOS and LODS with and
 * without REP and backwards, between RAM and MMIO both ways and MMIO to
 * MMIO, the ALU forms with a memory operand and XCHG; accesses that
 * straddle two MMIO pages or RAM and MMIO; the #PFs the emulator's page
 * walk raises (not present, read-only, reserved bit), a #GP, and an
 * instruction neither okvm nor KVM emulates.
 *
 * The ALU forms are checked against the processor: the guest runs the
 * same instruction on RAM, where the CPU executes it, and on MMIO, where
 * the hypervisor does, and compares result and arithmetic flags (AF
 * only where defined).  Nothing here counts exits: KVM and okvm split
 * string instructions differently.
 */
#include <string.h>

#include "long_mode.h"

#define MMIO_GPA	0x80000000UL
#define MMIO_GVA	0x60000000UL
#define MMIO_PAGES	3
#define MMIO_SIZE	(MMIO_PAGES * PAGE_SIZE)
/* A page of RAM mapped right below MMIO_GVA: accesses straddle both. */
#define RAM_GPA		LM_TEST_GPA
#define RAM_GVA		(MMIO_GVA - PAGE_SIZE)
#define UNMAPPED_GVA	0x70000000UL
#define NONCANONICAL	0x8000000000000000UL

/*
 * MMIO_GVA as a symbol the linker places (the Makefile defines it), so
 * that the assembler emits true RIP-relative and absolute operands.
 */

#define MMIO(type, off)	(*(volatile type *)(MMIO_GVA + (off)))

#define X86_EFLAGS_CF	0x0001UL
#define X86_EFLAGS_PF	0x0004UL
#define X86_EFLAGS_AF	0x0010UL
#define X86_EFLAGS_ZF	0x0040UL
#define X86_EFLAGS_SF	0x0080UL
#define X86_EFLAGS_OF	0x0800UL
#define ARITH_FLAGS	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
			 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_OF)

/* The device: host memory userspace answers MMIO from. */
static uint8_t mmio_dev[MMIO_SIZE];

static void mmio_access(struct kvm_run *run)
{
	uint64_t off = run->mmio.phys_addr - MMIO_GPA;
	uint32_t len = run->mmio.len;

	ASSERT_GE(len, 1);
	ASSERT_LE(len, 8);
	ASSERT_LT(off, MMIO_SIZE);
	ASSERT_LE(off + len, MMIO_SIZE);
	/* No access crosses a page. */
	ASSERT_LE(off % PAGE_SIZE + len, PAGE_SIZE);
	if (run->mmio.is_write)
		memcpy(mmio_dev + off, run->mmio.data, len);
	else
		memcpy(run->mmio.data, mmio_dev + off, len);
}

/* KVM_RUN through MMIO exits up to the guest's next ucall. */
static uint64_t run_ucall(struct kvm_vcpu *vcpu, struct ucall *uc, bool any)
{
	struct kvm_run *run = vcpu->run;

	for (;;) {
		vcpu_run_ok(vcpu);
		if (run->exit_reason != KVM_EXIT_MMIO)
			break;
		mmio_access(run);
	}
	return __vcpu_ucall(__FILE__, __LINE__, vcpu, uc, any);
}

static void run_to_done(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	ASSERT_EQ(run_ucall(vcpu, &uc, false), UCALL_DONE);
}

static struct kvm_vm *mmio_vm(void (*guest)(void), struct kvm_vcpu **vcpu)
{
	struct kvm_vm *vm = vm_create_guest64(guest, vcpu);
	size_t i;

	vm_add_mem64(vm, 1, RAM_GPA, PAGE_SIZE);
	virt_map(vm, RAM_GVA, RAM_GPA, PAGE_SIZE);
	virt_map(vm, MMIO_GVA, MMIO_GPA, MMIO_SIZE);
	for (i = 0; i < MMIO_SIZE; i++)
		mmio_dev[i] = i * 13 + 1;
	return vm;
}

static uint64_t dev64(uint64_t off)
{
	uint64_t v;

	memcpy(&v, mmio_dev + off, 8);
	return v;
}

/* MOV: every size, from registers and immediates, and back. */
static void guest_mov(void)
{
	register uint64_t r9 asm("r9") = 0xc9;
	uint64_t v;

	asm volatile("movb %b0, (%1)" :: "q"(0x81), "r"(MMIO_GVA) : "memory");
	asm volatile("movw %w0, (%1)" :: "r"(0x8382), "r"(MMIO_GVA + 2)
		     : "memory");
	asm volatile("movl %k0, (%1)" :: "r"(0x87868584), "r"(MMIO_GVA + 4)
		     : "memory");
	asm volatile("movq %0, (%1)" :: "r"(0x8f8e8d8c8b8a8988UL),
		     "r"(MMIO_GVA + 8) : "memory");
	asm volatile("movb $0x91, (%0)" :: "r"(MMIO_GVA + 0x10) : "memory");
	asm volatile("movw $0x9392, (%0)" :: "r"(MMIO_GVA + 0x12) : "memory");
	asm volatile("movl $0x97969594, (%0)" :: "r"(MMIO_GVA + 0x14)
		     : "memory");
	asm volatile("movq $-0x6a6b6c6d, (%0)" :: "r"(MMIO_GVA + 0x18)
		     : "memory");
	asm volatile("movb %%ah, (%0)" :: "r"(MMIO_GVA + 0x20), "a"(0xa1a0)
		     : "memory");
	asm volatile("movb %%sil, (%0)" :: "D"(MMIO_GVA + 0x21), "S"(0xb2)
		     : "memory");
	asm volatile("movb %b0, (%1)" :: "r"(r9), "r"(MMIO_GVA + 0x22)
		     : "memory");
	/* A3 and A1 with a 64-bit moffs. */
	asm volatile(".byte 0xa3; .quad 0x60000024" :: "a"(0xd3d2d1d0)
		     : "memory");
	asm volatile(".byte 0x48, 0xa1; .quad 0x60000008" : "=a"(v));
	GUEST_ASSERT_EQ(v, 0x8f8e8d8c8b8a8988UL);

	/* Reads: byte and word merge, dword zero-extends. */
	v = ~0UL;
	asm volatile("movb (%1), %b0" : "+q"(v) : "r"(MMIO_GVA));
	GUEST_ASSERT_EQ(v, 0xffffffffffffff81UL);
	asm volatile("movw (%1), %w0" : "+r"(v) : "r"(MMIO_GVA + 2));
	GUEST_ASSERT_EQ(v, 0xffffffffffff8382UL);
	asm volatile("movl (%1), %k0" : "+r"(v) : "r"(MMIO_GVA + 4));
	GUEST_ASSERT_EQ(v, 0x87868584UL);
	asm volatile("movq (%1), %0" : "=r"(v) : "r"(MMIO_GVA + 0x18));
	GUEST_ASSERT_EQ(v, 0xffffffff95949393UL);
	v = 0x1111;
	asm volatile("movb (%1), %%ah" : "+a"(v) : "r"(MMIO_GVA + 0x20));
	GUEST_ASSERT_EQ(v, 0xa111);
	asm volatile("movb (%1), %b0" : "+r"(r9) : "r"(MMIO_GVA + 0x21));
	GUEST_ASSERT_EQ(r9, 0xb2);
	v = 0;
	asm volatile(".byte 0xa0; .quad 0x60000010" : "+a"(v));
	GUEST_ASSERT_EQ(v, 0x91);
	GUEST_ASSERT_EQ(MMIO(uint32_t, 0x24), 0xd3d2d1d0);
	GUEST_DONE();
}

TEST(mov)
{
	static const uint8_t want[] = {
		0x81, 0xcc, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
		0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
		0x91, 0xcc, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
		0x93, 0x93, 0x94, 0x95, 0xff, 0xff, 0xff, 0xff,
		0xa1, 0xb2, 0xc9, 0xcc, 0xd0, 0xd1, 0xd2, 0xd3,
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_mov, &vcpu);
	size_t i;

	mmio_dev[1] = mmio_dev[0x11] = mmio_dev[0x23] = 0xcc;
	run_to_done(vcpu);
	for (i = 0; i < sizeof(want); i++)
		ASSERT_EQ(mmio_dev[i], want[i]);
	vm_free(vm);
}

/* The addressing forms, each a store then a load of the same place. */
static void guest_addressing(void)
{
	register uint64_t r12 asm("r12") = MMIO_GVA + 0x400;
	register uint64_t r13 asm("r13") = MMIO_GVA + 0x410;
	register uint64_t r9 asm("r9") = 5;
	uint64_t base = MMIO_GVA + 0x200, idx = 3, v;

	asm volatile("movl $0x11223344, mmio_abs+0x100(%%rip)" ::: "memory");
	asm volatile("movl mmio_abs+0x100(%%rip), %k0" : "=r"(v));
	GUEST_ASSERT_EQ(v, 0x11223344);

	/* base + index * 4 + disp8 */
	asm volatile("movl %k2, 0x10(%0,%1,4)" :: "r"(base), "r"(idx),
		     "r"(0x55667788) : "memory");
	asm volatile("movl 0x10(%1,%2,4), %k0" : "=r"(v) : "r"(base),
		     "r"(idx));
	GUEST_ASSERT_EQ(v, 0x55667788);
	GUEST_ASSERT_EQ(MMIO(uint32_t, 0x21c), 0x55667788);
	/* base + index * 8 + disp32, in the next page */
	asm volatile("movq %2, 0x1000(%0,%1,8)" :: "r"(base), "r"(idx),
		     "r"(0x0102030405060708UL) : "memory");
	GUEST_ASSERT_EQ(MMIO(uint64_t, 0x1218), 0x0102030405060708UL);
	/* no base: disp32 + index * 2 */
	asm volatile("movw %w1, mmio_abs+0x300(,%0,2)" :: "r"(idx),
		     "r"(0xbeef) : "memory");
	asm volatile("movzwl mmio_abs+0x300(,%1,2), %k0" : "=r"(v)
		     : "r"(idx));
	GUEST_ASSERT_EQ(v, 0xbeef);
	/* R12 needs a SIB byte, R13 a displacement; R9 as index (REX.X) */
	asm volatile("movl %k1, (%0)" :: "r"(r12), "r"(0xa12a12) : "memory");
	asm volatile("movl %k1, (%0)" :: "r"(r13), "r"(0xb13b13) : "memory");
	asm volatile("movl %k2, (%0,%1,1)" :: "r"(r12), "r"(r9),
		     "r"(0xc9c9c9) : "memory");
	GUEST_ASSERT_EQ(MMIO(uint32_t, 0x400), 0xa12a12);
	GUEST_ASSERT_EQ(MMIO(uint32_t, 0x410), 0xb13b13);
	asm volatile("movl (%1,%2,1), %k0" : "=r"(v) : "r"(r12), "r"(r9));
	GUEST_ASSERT_EQ(v, 0xc9c9c9);
	/* 32-bit address (67h) */
	asm volatile("movl %k1, 0x20(%k0)" :: "r"(MMIO_GVA + 0x500),
		     "r"(0x67676767) : "memory");
	asm volatile("movl 0x20(%k1), %k0" : "=r"(v) : "r"(MMIO_GVA + 0x500));
	GUEST_ASSERT_EQ(v, 0x67676767);
	GUEST_DONE();
}

TEST(addressing)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_addressing, &vcpu);
	uint32_t v;

	run_to_done(vcpu);
	memcpy(&v, mmio_dev + 0x100, 4);
	ASSERT_EQ(v, 0x11223344);
	memcpy(&v, mmio_dev + 0x306, 2);
	ASSERT_EQ(v & 0xffff, 0xbeef);
	memcpy(&v, mmio_dev + 0x405, 4);
	ASSERT_EQ(v, 0xc9c9c9);
	memcpy(&v, mmio_dev + 0x520, 4);
	ASSERT_EQ(v, 0x67676767);
	vm_free(vm);
}

/* Data the host put in the device, widened as each form does. */
static void guest_movx(void)
{
	uint64_t v;

	asm volatile("movzbl (%1), %k0" : "=r"(v) : "r"(MMIO_GVA + 0x40));
	GUEST_ASSERT_EQ(v, 0x80);
	asm volatile("movzbq (%1), %0" : "=r"(v) : "r"(MMIO_GVA + 0x40));
	GUEST_ASSERT_EQ(v, 0x80);
	asm volatile("movzwl (%1), %k0" : "=r"(v) : "r"(MMIO_GVA + 0x42));
	GUEST_ASSERT_EQ(v, 0x8001);
	asm volatile("movsbl (%1), %k0" : "=r"(v) : "r"(MMIO_GVA + 0x40));
	GUEST_ASSERT_EQ(v, 0xffffff80);
	asm volatile("movsbq (%1), %0" : "=r"(v) : "r"(MMIO_GVA + 0x40));
	GUEST_ASSERT_EQ(v, 0xffffffffffffff80UL);
	asm volatile("movswq (%1), %0" : "=r"(v) : "r"(MMIO_GVA + 0x42));
	GUEST_ASSERT_EQ(v, 0xffffffffffff8001UL);
	asm volatile("movslq (%1), %0" : "=r"(v) : "r"(MMIO_GVA + 0x44));
	GUEST_ASSERT_EQ(v, 0xffffffff80000001UL);
	asm volatile("movsbq (%1), %0" : "=r"(v) : "r"(MMIO_GVA + 0x41));
	GUEST_ASSERT_EQ(v, 0x7f);
	v = 0x1234567890abcdefUL;
	asm volatile("movsbw (%1), %w0" : "+r"(v) : "r"(MMIO_GVA + 0x40));
	GUEST_ASSERT_EQ(v, 0x1234567890abff80UL);
	GUEST_DONE();
}

TEST(movzx_movsx)
{
	static const uint8_t dev[] = { 0x80, 0x7f, 0x01, 0x80,
				       0x01, 0x00, 0x00, 0x80 };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_movx, &vcpu);

	memcpy(mmio_dev + 0x40, dev, sizeof(dev));
	run_to_done(vcpu);
	vm_free(vm);
}

static uint8_t ram_buf[64];

static void rep_movs(void *dst, const void *src, uint64_t n, int size,
		     bool down)
{
	if (down)
		asm volatile("std" ::: "cc");
	switch (size) {
	case 1:
		asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n)
			     :: "memory");
		break;
	case 2:
		asm volatile("rep movsw" : "+D"(dst), "+S"(src), "+c"(n)
			     :: "memory");
		break;
	case 4:
		asm volatile("rep movsl" : "+D"(dst), "+S"(src), "+c"(n)
			     :: "memory");
		break;
	default:
		asm volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(n)
			     :: "memory");
		break;
	}
	asm volatile("cld" ::: "cc");
}

/* MOVS, STOS and LODS; the host checks the device at the end. */
static void guest_string(void)
{
	uint64_t dst = MMIO_GVA + 0x500, src, n = 5, v;
	int i;

	asm volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(0x5a) : "memory");
	GUEST_ASSERT_EQ(dst, MMIO_GVA + 0x505);
	GUEST_ASSERT_EQ(n, 0);
	dst = MMIO_GVA + 0x520;
	n = 3;
	asm volatile("rep stosq" : "+D"(dst), "+c"(n)
		     : "a"(0x0123456789abcdefUL) : "memory");
	GUEST_ASSERT_EQ(dst, MMIO_GVA + 0x538);
	/* Across the end of the first page. */
	dst = MMIO_GVA + 0xff8;
	n = 4;
	asm volatile("rep stosl" : "+D"(dst), "+c"(n) : "a"(0xfeedf00d)
		     : "memory");

	for (i = 0; i < 16; i++)
		ram_buf[i] = 0x30 + i;
	rep_movs((void *)(MMIO_GVA + 0x600), ram_buf, 16, 1, false);
	rep_movs(ram_buf + 32, (void *)(MMIO_GVA + 0x600), 4, 4, false);
	for (i = 0; i < 16; i++)
		GUEST_ASSERT_EQ(ram_buf[32 + i], 0x30 + i);
	rep_movs((void *)(MMIO_GVA + 0x700), (void *)(MMIO_GVA + 0x600), 8,
		 2, false);
	/* Backwards, from the last byte of each. */
	rep_movs((void *)(MMIO_GVA + 0x807), (void *)(MMIO_GVA + 0x607), 8,
		 1, true);
	/* One MOVSQ and one LODSQ without REP. */
	dst = MMIO_GVA + 0x900;
	src = MMIO_GVA + 0x600;
	asm volatile("movsq" : "+D"(dst), "+S"(src) :: "memory");
	GUEST_ASSERT_EQ(dst, MMIO_GVA + 0x908);
	GUEST_ASSERT_EQ(src, MMIO_GVA + 0x608);
	src = MMIO_GVA + 0x900;
	asm volatile("lodsq" : "=a"(v), "+S"(src));
	GUEST_ASSERT_EQ(v, 0x3736353433323130UL);
	GUEST_ASSERT_EQ(src, MMIO_GVA + 0x908);
	GUEST_DONE();
}

TEST(movs_stos)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_string, &vcpu);
	int i;

	run_to_done(vcpu);
	for (i = 0; i < 5; i++)
		ASSERT_EQ(mmio_dev[0x500 + i], 0x5a);
	ASSERT_NE(mmio_dev[0x505], 0x5a);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(dev64(0x520 + 8 * i), 0x0123456789abcdefUL);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(((uint32_t *)(mmio_dev + 0xff8))[i], 0xfeedf00d);
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(mmio_dev[0x600 + i], 0x30 + i);
		ASSERT_EQ(mmio_dev[0x700 + i], 0x30 + i);
	}
	for (i = 0; i < 8; i++)
		ASSERT_EQ(mmio_dev[0x800 + i], 0x30 + i);
	ASSERT_EQ(dev64(0x900), 0x3736353433323130UL);
	vm_free(vm);
}

/* One ALU instruction on *m, with flags in and out. */
#define ALU_MEM(name, insn, mod, type)					\
static uint64_t name(volatile void *m, uint64_t s, uint64_t *fl)	\
{									\
	uint64_t f = *fl;						\
									\
	asm volatile("push %[f]\n\tpopf\n\t"				\
		     insn " %" mod "[s], %[m]\n\t"			\
		     "pushf\n\tpop %[f]"				\
		     : [m] "+m"(*(volatile type *)m), [f] "+r"(f)	\
		     : [s] "r"((type)s) : "cc");			\
	*fl = f;							\
	return *(volatile type *)m;					\
}

#define ALU_REG(name, insn, mod, type)					\
static uint64_t name(volatile void *m, uint64_t d, uint64_t *fl)	\
{									\
	uint64_t f = *fl;						\
	type r = d;							\
									\
	asm volatile("push %[f]\n\tpopf\n\t"				\
		     insn " %[m], %" mod "[r]\n\t"			\
		     "pushf\n\tpop %[f]"				\
		     : [r] "+r"(r), [f] "+r"(f)				\
		     : [m] "m"(*(volatile type *)m) : "cc");		\
	*fl = f;							\
	return r;							\
}

#define ALU_IMM(name, insn, imm, type)					\
static uint64_t name(volatile void *m, uint64_t s, uint64_t *fl)	\
{									\
	uint64_t f = *fl;						\
									\
	asm volatile("push %[f]\n\tpopf\n\t"				\
		     insn " $" #imm ", %[m]\n\t"			\
		     "pushf\n\tpop %[f]"				\
		     : [m] "+m"(*(volatile type *)m), [f] "+r"(f)	\
		     :: "cc");						\
	*fl = f;							\
	return *(volatile type *)m;					\
}

#define ALU_SIZES(op)							\
	ALU_MEM(op##_mb, #op "b", "b", uint8_t)				\
	ALU_MEM(op##_mw, #op "w", "w", uint16_t)			\
	ALU_MEM(op##_ml, #op "l", "k", uint32_t)			\
	ALU_MEM(op##_mq, #op "q", "q", uint64_t)			\
	ALU_REG(op##_rb, #op "b", "b", uint8_t)				\
	ALU_REG(op##_rw, #op "w", "w", uint16_t)			\
	ALU_REG(op##_rl, #op "l", "k", uint32_t)			\
	ALU_REG(op##_rq, #op "q", "q", uint64_t)			\
	ALU_IMM(op##_ib, #op "b", 0x81, uint8_t)			\
	ALU_IMM(op##_iw, #op "w", 0x1234, uint16_t)			\
	ALU_IMM(op##_il, #op "l", 0x7f, uint32_t)			\
	ALU_IMM(op##_il2, #op "l", 0x80000001, uint32_t)		\
	ALU_IMM(op##_iq, #op "q", -2, uint64_t)

ALU_SIZES(add)
ALU_SIZES(or)
ALU_SIZES(adc)
ALU_SIZES(sbb)
ALU_SIZES(and)
ALU_SIZES(sub)
ALU_SIZES(xor)
ALU_SIZES(cmp)
ALU_MEM(test_mb, "testb", "b", uint8_t)
ALU_MEM(test_mw, "testw", "w", uint16_t)
ALU_MEM(test_ml, "testl", "k", uint32_t)
ALU_MEM(test_mq, "testq", "q", uint64_t)
ALU_IMM(test_ib, "testb", 0x81, uint8_t)
ALU_IMM(test_iw, "testw", 0x8001, uint16_t)
ALU_IMM(test_il, "testl", 0x80000001, uint32_t)
ALU_IMM(test_iq, "testq", -2, uint64_t)

typedef uint64_t (*alu_fn)(volatile void *m, uint64_t s, uint64_t *fl);

struct alu_case {
	alu_fn fn;
	int size;
	bool logic;	/* AF undefined */
};

#define ALU_CASES(op, logic)						\
	{ op##_mb, 1, logic }, { op##_mw, 2, logic },			\
	{ op##_ml, 4, logic }, { op##_mq, 8, logic },			\
	{ op##_rb, 1, logic }, { op##_rw, 2, logic },			\
	{ op##_rl, 4, logic }, { op##_rq, 8, logic },			\
	{ op##_ib, 1, logic }, { op##_iw, 2, logic },			\
	{ op##_il, 4, logic }, { op##_il2, 4, logic },			\
	{ op##_iq, 8, logic }

static const struct alu_case alu_cases[] = {
	ALU_CASES(add, false), ALU_CASES(or, true), ALU_CASES(adc, false),
	ALU_CASES(sbb, false), ALU_CASES(and, true), ALU_CASES(sub, false),
	ALU_CASES(xor, true), ALU_CASES(cmp, false),
	{ test_mb, 1, true }, { test_mw, 2, true }, { test_ml, 4, true },
	{ test_mq, 8, true }, { test_ib, 1, true }, { test_iw, 2, true },
	{ test_il, 4, true }, { test_iq, 8, true },
};

static const uint64_t alu_values[][2] = {
	{ 0, 0 },
	{ 1, ~0UL },
	{ 0x7f7f7f7f7f7f7f7fUL, 1 },
	{ 0x8080808080808080UL, 1 },
	{ 0x0f0f0f0f0f0f0f0fUL, 0x0101010101010101UL },
	{ 0x5a5a5a5a5a5a5a5aUL, 0xa5a5a5a5a5a5a5a5UL },
	{ 0x8000000000000000UL, 0x8000000000000000UL },
};

static volatile uint64_t alu_ram;

static uint64_t guest_flags(void)
{
	uint64_t f;

	asm volatile("pushf\n\tpop %0" : "=r"(f));
	return f;
}

/* Each case on RAM (the CPU) and on MMIO (the emulator), CF in clear and set. */
static void guest_alu(void)
{
	volatile uint64_t *mmio = (volatile uint64_t *)(MMIO_GVA + 0x800);
	uint64_t base = guest_flags() & ~ARITH_FLAGS;
	unsigned int c, v, cf;

	for (c = 0; c < sizeof(alu_cases) / sizeof(alu_cases[0]); c++) {
		const struct alu_case *ac = &alu_cases[c];
		uint64_t mask = ARITH_FLAGS & ~(ac->logic ? X86_EFLAGS_AF : 0);

		for (v = 0; v < sizeof(alu_values) / sizeof(alu_values[0]);
		     v++) {
			for (cf = 0; cf < 2; cf++) {
				uint64_t f1 = base | cf, f2 = base | cf;
				uint64_t r1, r2;

				alu_ram = alu_values[v][0];
				*mmio = alu_values[v][0];
				r1 = ac->fn(&alu_ram, alu_values[v][1], &f1);
				r2 = ac->fn(mmio, alu_values[v][1], &f2);
				GUEST_ASSERT_EQ(r2, r1);
				GUEST_ASSERT_EQ(f2 & mask, f1 & mask);
				/* The memory as the CPU left it. */
				GUEST_ASSERT_EQ(*mmio, alu_ram);
			}
		}
	}
	GUEST_DONE();
}

TEST_TIMEOUT(alu_flags, 120)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_alu, &vcpu);

	run_to_done(vcpu);
	vm_free(vm);
}

/* XCHG of every size: the register gets the device's data. */
static void guest_xchg(void)
{
	uint64_t v = 0x1111111111111111UL;

	asm volatile("xchgb %b0, (%1)" : "+q"(v) : "r"(MMIO_GVA + 0xa00)
		     : "memory");
	GUEST_ASSERT_EQ(v, 0x11111111111111a0UL);
	asm volatile("xchgw %w0, (%1)" : "+r"(v) : "r"(MMIO_GVA + 0xa02)
		     : "memory");
	GUEST_ASSERT_EQ(v, 0x111111111111b3b2UL);
	asm volatile("xchgl %k0, (%1)" : "+r"(v) : "r"(MMIO_GVA + 0xa04)
		     : "memory");
	GUEST_ASSERT_EQ(v, 0xc7c6c5c4UL);
	v = 0x2222222222222222UL;
	asm volatile("xchgq %0, (%1)" : "+r"(v) : "r"(MMIO_GVA + 0xa08)
		     : "memory");
	GUEST_ASSERT_EQ(v, 0xdfdedddcdbdad9d8UL);
	GUEST_DONE();
}

TEST(xchg)
{
	static const uint8_t dev[] = {
		0xa0, 0, 0xb2, 0xb3, 0xc4, 0xc5, 0xc6, 0xc7,
		0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_xchg, &vcpu);

	memcpy(mmio_dev + 0xa00, dev, sizeof(dev));
	run_to_done(vcpu);
	ASSERT_EQ(mmio_dev[0xa00], 0x11);
	ASSERT_EQ(mmio_dev[0xa02], 0xa0);
	ASSERT_EQ(mmio_dev[0xa03], 0x11);
	ASSERT_EQ(*(uint32_t *)(mmio_dev + 0xa04), 0x1111b3b2);
	ASSERT_EQ(dev64(0xa08), 0x2222222222222222UL);
	vm_free(vm);
}

/* Accesses across two MMIO pages, and across RAM and MMIO. */
static void guest_straddle(void)
{
	volatile uint8_t *ram = (volatile uint8_t *)RAM_GPA;
	uint64_t v;

	asm volatile("movq %0, (%1)" :: "r"(0x1122334455667788UL),
		     "r"(MMIO_GVA + 0xffc) : "memory");
	asm volatile("movq (%1), %0" : "=r"(v) : "r"(MMIO_GVA + 0xffc));
	GUEST_ASSERT_EQ(v, 0x1122334455667788UL);
	asm volatile("movq %0, (%1)" :: "r"(0x99aabbccddeeff00UL),
		     "r"(RAM_GVA + 0xffc) : "memory");
	GUEST_ASSERT_EQ(ram[0xffc], 0x00);
	GUEST_ASSERT_EQ(ram[0xfff], 0xdd);
	asm volatile("movq (%1), %0" : "=r"(v) : "r"(RAM_GVA + 0xffa));
	GUEST_ASSERT_EQ(v >> 16, 0xbbccddeeff00UL);
	GUEST_DONE();
}

TEST(straddle)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_straddle, &vcpu);

	run_to_done(vcpu);
	ASSERT_EQ(*(uint32_t *)(mmio_dev + 0xffc), 0x55667788);
	ASSERT_EQ(*(uint32_t *)(mmio_dev + 0x1000), 0x11223344);
	ASSERT_EQ(*(uint32_t *)mmio_dev, 0x99aabbcc);
	vm_free(vm);
}

/*
 * MOVS from MMIO to an unmapped address: the CPU stops at the MMIO read,
 * so the emulator translates the destination and raises the #PF (a
 * not-present write) with CR2 at the destination.
 */
static void guest_movs_pf(void)
{
	uint64_t dst = UNMAPPED_GVA + 8, src = MMIO_GVA;

	asm volatile("movsq" : "+D"(dst), "+S"(src) :: "memory");
	GUEST_DONE();
}

/* Run @guest to the exception it takes; check vector and error code. */
static struct ucall expect_exception(void (*guest)(void), uint64_t vector,
				     uint64_t error_code)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest, &vcpu);
	struct ucall uc;

	ASSERT_EQ(run_ucall(vcpu, &uc, true), UCALL_EXCEPTION);
	ASSERT_EQ(uc.args[0], vector);
	ASSERT_EQ(uc.args[1], error_code);
	vm_free(vm);
	return uc;
}

TEST(movs_page_fault)
{
	struct ucall uc = expect_exception(guest_movs_pf, PF_VECTOR,
					   PFERR_WRITE);

	ASSERT_EQ(uc.args[3], UNMAPPED_GVA + 8);
}

/* The same to a non-canonical address: #GP(0). */
static void guest_movs_gp(void)
{
	uint64_t dst = NONCANONICAL, src = MMIO_GVA;

	asm volatile("movsb" : "+D"(dst), "+S"(src) :: "memory");
	GUEST_DONE();
}

TEST(movs_noncanonical_gp)
{
	expect_exception(guest_movs_gp, GP_VECTOR, 0);
}

/* MOVS from MMIO to the RAM page, whose PTE the host has spoilt. */
static void guest_movs_ram(void)
{
	uint64_t dst = RAM_GVA + 0x10, src = MMIO_GVA;

	asm volatile("movsq" : "+D"(dst), "+S"(src) :: "memory");
	GUEST_DONE();
}

/* The PTE of @gva in the lib's 4-level tables. */
static uint64_t *host_pte(struct kvm_vm *vm, struct kvm_vcpu *vcpu,
			  uint64_t gva)
{
	struct kvm_sregs sregs;
	uint64_t *table;
	int level;

	vcpu_get_sregs(vcpu, &sregs);
	table = vm_hva(vm, sregs.cr3 & 0x000ffffffffff000UL);
	for (level = 3; level > 0; level--)
		table = vm_hva(vm, table[(gva >> (12 + 9 * level)) & 511] &
				   0x000ffffffffff000UL);
	return &table[(gva >> 12) & 511];
}

/* Run guest_movs_ram with @set and @clear applied to the RAM page's PTE. */
static void expect_pte_fault(uint64_t set, uint64_t clear,
			     uint64_t error_code)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_movs_ram, &vcpu);
	uint64_t *pte = host_pte(vm, vcpu, RAM_GVA);
	struct ucall uc;

	*pte = (*pte | set) & ~clear;
	ASSERT_EQ(run_ucall(vcpu, &uc, true), UCALL_EXCEPTION);
	ASSERT_EQ(uc.args[0], PF_VECTOR);
	ASSERT_EQ(uc.args[1], error_code);
	ASSERT_EQ(uc.args[3], RAM_GVA + 0x10);
	vm_free(vm);
}

/* A read-only page under CR0.WP: a protection fault on the write. */
TEST(movs_readonly_page_fault)
{
	expect_pte_fault(0, PTE_RW, PFERR_PRESENT | PFERR_WRITE);
}

/* Bit 51, above any physical address width the hosts have: RSVD. */
TEST(movs_reserved_bit_page_fault)
{
	expect_pte_fault(1UL << 51, 0,
			 PFERR_PRESENT | PFERR_WRITE | PFERR_RSVD);
}

/*
 * FLDS (D9 /0) from MMIO: an instruction neither emulator knows.  Both
 * stop with KVM_INTERNAL_ERROR_EMULATION and the instruction's bytes.
 */
static void guest_flds(void)
{
	asm volatile(".byte 0xd9, 0x00" :: "a"(MMIO_GVA));
	GUEST_DONE();
}

TEST(unemulated_internal_error)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = mmio_vm(guest_flds, &vcpu);
	struct kvm_run *run = vcpu->run;

	vcpu_run_expect_exit(vcpu, KVM_EXIT_INTERNAL_ERROR);
	ASSERT_EQ(run->emulation_failure.suberror,
		  KVM_INTERNAL_ERROR_EMULATION);
	ASSERT_TRUE(run->emulation_failure.flags &
		    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES);
	ASSERT_GE(run->emulation_failure.ndata, 3);
	ASSERT_GE(run->emulation_failure.insn_size, 2);
	ASSERT_LE(run->emulation_failure.insn_size, 15);
	ASSERT_EQ(run->emulation_failure.insn_bytes[0], 0xd9);
	ASSERT_EQ(run->emulation_failure.insn_bytes[1], 0x00);
	vm_free(vm);
}
