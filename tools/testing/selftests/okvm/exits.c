// SPDX-License-Identifier: GPL-2.0
/*
 * Exits other than port I/O: HLT, shutdown on a triple fault, a failed
 * VMRUN or VM entry, and an access to guest physical memory that no slot
 * backs.
 */
#include "kvm_util.h"

GUEST_CODE16(guest_hlt,
	"	hlt\n"
	"	mov $0x42, %al\n"
	"	out %al, $0x10\n"
	"	mov $100, %cx\n"
	"1:	hlt\n"
	"	loop 1b\n"
	"	out %al, $0x11\n");

TEST(hlt)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_hlt), &vcpu);
	int i;

	vcpu_run_expect_hlt(vcpu);
	ASSERT_EQ(vcpu_get_rip(vcpu), GUEST_LOAD_ADDR + 1);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 1), 0x42);
	for (i = 0; i < 100; i++)
		vcpu_run_expect_hlt(vcpu);
	vcpu_run_expect_io(vcpu, 0x11, 1, KVM_EXIT_IO_OUT);
	vm_free(vm);
}

/*
 * With the IDT limit 0 (lidt from zeroed memory), the #UD cannot be
 * delivered, nor the #GP, nor the #DF: the CPU shuts down.
 */
GUEST_CODE16(guest_triple_fault16,
	"	lidt 0x8000\n"
	"tf16_ud2:\n"
	"	ud2\n");
extern const uint8_t tf16_ud2[];

TEST(triple_fault_real_mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	skip_if_kvm_real_mode_vm86("its triple fault is an emulation failure (KVM_EXIT_INTERNAL_ERROR)");
	vm = vm_create_guest(GUEST(guest_triple_fault16), &vcpu);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	vm_free(vm);
}

GUEST_CODE32(guest_triple_fault32,
	"	mov $0x12345678, %eax\n"
	"	ud2\n");

TEST(triple_fault_protected_mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_triple_fault32),
					      &vcpu);
	struct kvm_sregs s;

	vcpu_get_sregs(vcpu, &s);
	s.idt.base = 0x8000;
	s.idt.limit = 0;
	vcpu_set_sregs(vcpu, &s);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	vm_free(vm);
}

/*
 * An IDT whose gates all name a selector beyond the GDT limit: the #GP
 * raised while delivering the #UD cannot be delivered either.
 */
TEST(triple_fault_bad_gate)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_triple_fault32),
					      &vcpu);
	uint32_t *idt = vm_hva(vm, 0x8000);
	struct kvm_sregs s;
	int i;

	/* 32 interrupt gates, selector 0x08 (beyond the GDT), present. */
	for (i = 0; i < 32; i++) {
		idt[2 * i] = 0x00081000;
		idt[2 * i + 1] = 0x00008e00;
	}
	vcpu_get_sregs(vcpu, &s);
	s.idt.base = 0x8000;
	s.idt.limit = 32 * 8 - 1;
	s.gdt.base = 0x9000;
	s.gdt.limit = 0;
	vcpu_set_sregs(vcpu, &s);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	vm_free(vm);
}

/*
 * After a shutdown intercept the VMCB is undefined (AMD APM vol. 2,
 * 15.11 "Miscellaneous Intercepts"); kvm_amd INITs the vCPU
 * (shutdown_interception()), so the registers read back are the reset
 * state.  A triple-fault VM exit leaves a well-defined VMCS (Intel SDM
 * vol. 3C, "Exits Due to Triple Fault"), and kvm_intel returns
 * KVM_EXIT_SHUTDOWN with the vCPU as the fault left it
 * (handle_triple_fault()): see shutdown_keeps_state.
 */
TEST(shutdown_inits_vcpu)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct kvm_sregs s;
	struct kvm_regs r;

	if (!host_svm())
		test_skip("SVM only: on VMX KVM does not INIT after a triple fault");
	vm = vm_create_guest(GUEST(guest_triple_fault16), &vcpu);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	vcpu_get_regs(vcpu, &r);
	vcpu_get_sregs(vcpu, &s);
	ASSERT_EQ(r.rip, 0xfff0);
	ASSERT_EQ(r.rflags, 0x2);
	ASSERT_EQ(s.cs.selector, 0xf000);
	ASSERT_EQ(s.cs.base, 0xffff0000);
	ASSERT_EQ(s.idt.limit, 0xffff);
	ASSERT_EQ(s.cr0, 0x60000010);
	vm_free(vm);
}

/*
 * On VMX the vCPU stays where the triple fault left it: real mode, CS 0,
 * the IDT limit the guest loaded, RIP at the UD2 whose #UD (a fault,
 * reported at the instruction) could not be delivered, not the reset
 * vector.
 */
TEST(shutdown_keeps_state)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct kvm_sregs s;
	struct kvm_regs r;

	if (!host_vmx())
		test_skip("VMX only: on SVM KVM INITs the vCPU after a shutdown");
	skip_if_kvm_real_mode_vm86("its triple fault is an emulation failure (KVM_EXIT_INTERNAL_ERROR)");
	vm = vm_create_guest(GUEST(guest_triple_fault16), &vcpu);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_SHUTDOWN);
	vcpu_get_regs(vcpu, &r);
	vcpu_get_sregs(vcpu, &s);
	test_log("after shutdown: rip 0x%llx cs 0x%x idt limit 0x%x cr0 0x%llx",
		 r.rip, s.cs.selector, s.idt.limit, s.cr0);
	ASSERT_EQ(s.cs.selector, 0);
	ASSERT_EQ(s.cs.base, 0);
	ASSERT_EQ(s.idt.limit, 0);
	ASSERT_EQ(s.cr0 & X86_CR0_PE, 0);
	ASSERT_EQ(r.rip, guest_addr(tf16_ud2, guest_triple_fault16));
	vm_free(vm);
}

/*
 * A state KVM_SET_SREGS accepts but the hardware refuses to enter
 * (vcpu_set_bad_long_mode()): EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D
 * all set.  kvm_amd reports VMRUN's VMEXIT_INVALID exit code (-1, AMD APM
 * vol. 2, 15.5.1 "Basic Operation") as the failure reason, truncated to
 * 32 bits.  kvm_intel reports the VM exit reason of the failed VM entry
 * as it is: bit 31 set for a VM-entry failure and basic reason 33,
 * invalid guest state (Intel SDM vol. 3C, "VM-Entry Failures During or
 * After Loading Guest State" and appendix C, "VMX Basic Exit Reasons").
 * With unrestricted guest KVM leaves these checks to the CPU.
 */
#define SVM_EXIT_INVALID_32		0xffffffffULL
#define VMX_EXIT_ENTRY_FAILURE		(1ULL << 31)
#define VMX_EXIT_INVALID_GUEST_STATE	33

static uint64_t fail_entry_reason(void)
{
	return host_vmx() ? VMX_EXIT_ENTRY_FAILURE | VMX_EXIT_INVALID_GUEST_STATE :
			    SVM_EXIT_INVALID_32;
}

GUEST_CODE16(guest_spin,
	"1:	jmp 1b\n");

TEST(fail_entry_cs_l_and_d)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_spin), &vcpu);

	vcpu_set_bad_long_mode(vcpu);
	vcpu_run_expect_exit(vcpu, KVM_EXIT_FAIL_ENTRY);
	ASSERT_EQ(vcpu->run->fail_entry.hardware_entry_failure_reason,
		  fail_entry_reason());
	vm_free(vm);
}

/*
 * Guest accesses below 0x20000 hit slot 0; DS = 0x2000 points past it,
 * where nothing is mapped.
 */
GUEST_CODE16(guest_unmapped,
	"	mov $0x2000, %ax\n"
	"	mov %ax, %ds\n"
	"	movl $0x12345678, 0x10\n"
	"	mov 0x20, %eax\n"
	"	out %eax, $0x10\n"
	"	movb $0xab, 0x31\n"
	"	hlt\n");

TEST(unmapped_gpa_mmio)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_unmapped), &vcpu);
	struct kvm_run *run = vcpu->run;

	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, 0x20010);
	ASSERT_EQ(run->mmio.len, 4);
	ASSERT_EQ(run->mmio.is_write, 1);
	ASSERT_EQ(*(uint32_t *)run->mmio.data, 0x12345678);

	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, 0x20020);
	ASSERT_EQ(run->mmio.len, 4);
	ASSERT_EQ(run->mmio.is_write, 0);
	memcpy(run->mmio.data, "\xef\xbe\xad\xde", 4);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), 0xdeadbeef);

	vcpu_run_expect_exit(vcpu, KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, 0x20031);
	ASSERT_EQ(run->mmio.len, 1);
	ASSERT_EQ(run->mmio.is_write, 1);
	ASSERT_EQ(run->mmio.data[0], 0xab);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}
