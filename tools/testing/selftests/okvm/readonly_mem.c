// SPDX-License-Identifier: GPL-2.0
/*
 * KVM_MEM_READONLY slots from a 64-bit C guest (lib/long_mode.h): reads
 * come from the VMM's memory, as for any slot; every write is handed to
 * userspace as KVM_EXIT_MMIO, as for guest-physical memory in no slot,
 * and the memory keeps what it held.  A ROM copied to RAM with REP MOVSB
 * arrives whole; the ROM's own page stays as it was.
 */
#include <string.h>
#include <sys/mman.h>

#include "long_mode.h"

#define ROM_SLOT	1
#define RAM_SLOT	2
#define ROM_GPA		LM_TEST_GPA
#define ROM_SIZE	(4 * PAGE_SIZE)
#define RAM_GPA		(LM_TEST_GPA + 16 * PAGE_SIZE)
#define RAM_SIZE	(4 * PAGE_SIZE)
#define ROM_WORD	0x0123456789abcdefUL
#define COPY_BYTES	(2 * PAGE_SIZE + 100)

static volatile uint64_t *const rom = (uint64_t *)ROM_GPA;
static volatile uint64_t *const ram = (uint64_t *)RAM_GPA;

static void guest_rom(void)
{
	void *dst = (void *)RAM_GPA, *src = (void *)(ROM_GPA + 8);
	uint64_t n = COPY_BYTES;

	GUEST_SYNC(rom[0]);
	rom[1] = 0x11111111;			/* 8-byte write: MMIO */
	*(volatile uint32_t *)&rom[2] = 0x2222;	/* 4-byte write: MMIO */
	GUEST_SYNC(rom[1]);
	asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
	GUEST_SYNC(ram[0]);
	ram[RAM_SIZE / 8 - 1] = 7;
	GUEST_DONE();
}

/* The next exit must be a write of len bytes of value to gpa. */
static void expect_mmio_write(struct kvm_vcpu *vcpu, uint64_t gpa,
			      unsigned int len, uint64_t value)
{
	struct kvm_run *run = vcpu->run;
	uint64_t data = 0;

	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, gpa);
	ASSERT_EQ(run->mmio.len, len);
	ASSERT_EQ(run->mmio.is_write, 1);
	memcpy(&data, run->mmio.data, len);
	ASSERT_EQ(data, value);
}

TEST(readonly_slot)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest64(guest_rom, &vcpu);
	uint64_t *rom_hva = mmap(NULL, ROM_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ram_hva;
	size_t i;

	if (!kvm_check_cap(KVM_CAP_READONLY_MEM))
		test_skip("no KVM_CAP_READONLY_MEM");
	ASSERT_TRUE(rom_hva != MAP_FAILED);
	for (i = 0; i < ROM_SIZE / 8; i++)
		rom_hva[i] = ROM_WORD + i;
	ASSERT_OK(vm_set_region(vm->fd, ROM_SLOT, KVM_MEM_READONLY, ROM_GPA,
				ROM_SIZE, (uintptr_t)rom_hva));
	virt_map(vm, ROM_GPA, ROM_GPA, ROM_SIZE);
	ram_hva = vm_add_mem64(vm, RAM_SLOT, RAM_GPA, RAM_SIZE);

	vcpu_run_expect_sync(vcpu, ROM_WORD);
	expect_mmio_write(vcpu, ROM_GPA + 8, 8, 0x11111111);
	expect_mmio_write(vcpu, ROM_GPA + 16, 4, 0x2222);
	/* The writes went nowhere: the guest reads the ROM's word back. */
	vcpu_run_expect_sync(vcpu, ROM_WORD + 1);
	ASSERT_EQ(rom_hva[1], ROM_WORD + 1);
	ASSERT_EQ(rom_hva[2], ROM_WORD + 2);
	vcpu_run_expect_sync(vcpu, ROM_WORD + 1);
	ASSERT_MEMEQ(ram_hva, (uint8_t *)rom_hva + 8, COPY_BYTES);
	vcpu_run_expect_done(vcpu);
	ASSERT_EQ(((uint64_t *)ram_hva)[RAM_SIZE / 8 - 1], 7);
	vcpu_free(vcpu);
	vm_free(vm);
	munmap(rom_hva, ROM_SIZE);
}
