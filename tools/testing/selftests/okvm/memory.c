// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory is the host's memslot mapping: guest writes show in it,
 * host writes show to the guest, across every page of 64 MiB in two
 * slots.
 */
#include "kvm_util.h"

#define BIG_SLOT	(32 * MiB)
#define BIG_MEM		(2 * BIG_SLOT)
#define GUEST_MARK_OFF	0x800		/* where the guest marks each page */
#define HOST_MARK_OFF	0x900		/* where the host marks each page */

GUEST_CODE16(guest_rw,
	"	movl $0x11223344, 0x8000\n"
	"	movw $0x5566, 0x8004\n"
	"	movb $0x77, 0x8006\n"
	"	mov 0x8100, %eax\n"
	"	out %eax, $0x10\n"
	"	mov 0x8100, %eax\n"
	"	out %eax, $0x10\n"
	"	hlt\n");

TEST(host_and_guest_see_each_other)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_rw), &vcpu);
	uint8_t *data = vm_hva(vm, GUEST_DATA_ADDR);

	*(uint32_t *)(data + 0x100) = 0xcafebabe;
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), 0xcafebabe);
	ASSERT_EQ(*(uint32_t *)data, 0x11223344);
	ASSERT_EQ(*(uint16_t *)(data + 4), 0x5566);
	ASSERT_EQ(data[6], 0x77);
	ASSERT_EQ(data[7], 0);
	/* A host write between two runs is seen by the next guest read. */
	*(uint32_t *)(data + 0x100) = 0x0badc0de;
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), 0x0badc0de);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/*
 * Flat 32-bit guest: marks every page of [0, 64 MiB) at GUEST_MARK_OFF
 * with its address xor 0xa5a5a5a5, reports on port 0x10, then counts the
 * pages whose HOST_MARK_OFF dword is not ~address and reports the count
 * on port 0x11 and the first bad page on port 0x12.
 */
GUEST_CODE32(guest_pages,
	"	xor %esi, %esi\n"
	"1:	mov %esi, %eax\n"
	"	xor $0xa5a5a5a5, %eax\n"
	"	mov %eax, 0x800(%esi)\n"
	"	add $0x1000, %esi\n"
	"	cmp $0x4000000, %esi\n"
	"	jne 1b\n"
	"	out %al, $0x10\n"
	"	xor %esi, %esi\n"
	"	xor %ecx, %ecx\n"
	"	mov $-1, %edi\n"
	"2:	mov %esi, %eax\n"
	"	not %eax\n"
	"	cmp %eax, 0x900(%esi)\n"
	"	je 3f\n"
	"	inc %ecx\n"
	"	cmp $-1, %edi\n"
	"	jne 3f\n"
	"	mov %esi, %edi\n"
	"3:	add $0x1000, %esi\n"
	"	cmp $0x4000000, %esi\n"
	"	jne 2b\n"
	"	mov %ecx, %eax\n"
	"	out %eax, $0x11\n"
	"	mov %edi, %eax\n"
	"	out %eax, $0x12\n"
	"	hlt\n");

TEST_TIMEOUT(pages_64m_two_slots, 120)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu;
	uint8_t *lo, *hi;
	uint64_t gpa;
	uint32_t bad;

	lo = vm_add_mem(vm, 0, 0, BIG_SLOT);
	hi = vm_add_mem(vm, 1, BIG_SLOT, BIG_SLOT);
	vm_load(vm, GUEST_LOAD_ADDR, GUEST(guest_pages));
	vcpu = vcpu_add(vm, 0);
	vcpu_set_flat32(vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);

	for (gpa = 0; gpa < BIG_MEM; gpa += PAGE_SIZE) {
		uint8_t *page = gpa < BIG_SLOT ? lo + gpa : hi + gpa - BIG_SLOT;

		*(uint32_t *)(page + HOST_MARK_OFF) = ~(uint32_t)gpa;
	}

	vcpu_run_expect_io(vcpu, 0x10, 1, KVM_EXIT_IO_OUT);
	for (gpa = 0; gpa < BIG_MEM; gpa += PAGE_SIZE) {
		uint32_t mark = *(uint32_t *)vm_hva(vm, gpa + GUEST_MARK_OFF);

		if (mark != ((uint32_t)gpa ^ 0xa5a5a5a5))
			test_fail("page 0x%llx: guest mark 0x%x, expected 0x%x",
				  (unsigned long long)gpa, mark,
				  (uint32_t)gpa ^ 0xa5a5a5a5);
	}

	bad = vcpu_run_expect_out(vcpu, 0x11, 4);
	test_log("guest found %u pages without the host's mark, first at 0x%x",
		 bad, vcpu_run_expect_out(vcpu, 0x12, 4));
	ASSERT_EQ(bad, 0);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/*
 * Flat 32-bit guest above 1 MiB: copies 64 KiB from 16 MiB to 40 MiB
 * (other slot) with REP MOVSL, then sums the copy into EAX.
 */
GUEST_CODE32(guest_copy,
	"	mov $0x1000000, %esi\n"
	"	mov $0x2800000, %edi\n"
	"	mov $0x4000, %ecx\n"
	"	cld\n"
	"	rep movsl\n"
	"	mov $0x2800000, %esi\n"
	"	mov $0x4000, %ecx\n"
	"	xor %eax, %eax\n"
	"1:	add (%esi), %eax\n"
	"	add $4, %esi\n"
	"	loop 1b\n"
	"	out %eax, $0x10\n"
	"	hlt\n");

TEST(copy_across_slots)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu;
	uint32_t *src, *dst, sum = 0;
	int i;

	vm_add_mem(vm, 0, 0, BIG_SLOT);
	vm_add_mem(vm, 1, BIG_SLOT, BIG_SLOT);
	vm_load(vm, GUEST_LOAD_ADDR, GUEST(guest_copy));
	vcpu = vcpu_add(vm, 0);
	vcpu_set_flat32(vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);

	src = vm_hva(vm, 0x1000000);
	dst = vm_hva(vm, 0x2800000);
	for (i = 0; i < 0x4000; i++) {
		src[i] = i * 0x9e3779b9U;
		sum += src[i];
	}
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), sum);
	ASSERT_MEMEQ(dst, src, 0x10000);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}
