// SPDX-License-Identifier: GPL-2.0
/*
 * Instructions the hypervisor intercepts and handles in the kernel:
 * CPUID, and the SVM instructions, which a guest without SVM must see
 * raise #UD.
 */
#include <cpuid.h>

#include "kvm_util.h"

GUEST_CODE16(guest_cpuid,
	"	xor %eax, %eax\n"
	"	xor %ecx, %ecx\n"
	"	cpuid\n"
	"	mov %eax, %esi\n"
	"	mov %ebx, %eax\n"
	"	out %eax, $0x10\n"
	"	mov %edx, %eax\n"
	"	out %eax, $0x10\n"
	"	mov %ecx, %eax\n"
	"	out %eax, $0x10\n"
	"	mov %esi, %eax\n"
	"	out %eax, $0x11\n"
	"	mov $1, %eax\n"
	"	cpuid\n"
	"	hlt\n");

/* Runs CPUID leaf 0; returns the vendor string and the maximum leaf. */
static uint32_t guest_cpuid0(struct kvm_vcpu *vcpu, char vendor[13])
{
	uint32_t r;
	int i;

	for (i = 0; i < 3; i++) {
		r = vcpu_run_expect_out(vcpu, 0x10, 4);
		memcpy(vendor + 4 * i, &r, 4);
	}
	vendor[12] = '\0';
	return vcpu_run_expect_out(vcpu, 0x11, 4);
}

/* CPUID never exits to userspace, whatever it answers. */
TEST(cpuid_in_kernel)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_cpuid), &vcpu);
	char vendor[13];
	uint32_t max;

	max = guest_cpuid0(vcpu, vendor);
	test_log("guest CPUID.0: max leaf 0x%x vendor \"%s\"", max, vendor);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

TEST_OKVM_ONLY(cpuid_vendor_is_host,
	       "KVM without KVM_SET_CPUID2 returns zeros; okvm answers from a default set until the CPUID ioctls exist")
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_cpuid), &vcpu);
	unsigned int a, b, c, d;
	char vendor[13], host[13];
	uint32_t max;

	__cpuid(0, a, b, c, d);
	memcpy(host, &b, 4);
	memcpy(host + 4, &d, 4);
	memcpy(host + 8, &c, 4);
	host[12] = '\0';

	max = guest_cpuid0(vcpu, vendor);
	test_log("guest \"%s\" max 0x%x, host \"%s\" max 0x%x", vendor, max,
		 host, a);
	ASSERT_EQ(strcmp(vendor, host), 0);
	ASSERT_GE(max, 1);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/*
 * The #UD handler reports vector 6 on port 0x60 and the faulting IP on
 * port 0x61, then returns past the 3-byte instruction.
 */
#define SVM_INSNS							\
	"svm_vmrun:	vmrun\n"					\
	"svm_vmload:	vmload\n"					\
	"svm_vmsave:	vmsave\n"					\
	"svm_stgi:	stgi\n"						\
	"svm_clgi:	clgi\n"						\
	"svm_skinit:	skinit\n"					\
	"svm_invlpga:	invlpga\n"

GUEST_CODE16(guest_svm,
	"	jmp 1f\n"
	"svm_ud_handler:\n"
	"	push %bp\n"
	"	mov %sp, %bp\n"
	"	mov $6, %al\n"
	"	out %al, $0x60\n"
	"	mov 2(%bp), %ax\n"
	"	out %ax, $0x61\n"
	"	addw $3, 2(%bp)\n"
	"	pop %bp\n"
	"	iret\n"
	"1:\n"
	SVM_INSNS
	"	hlt\n"
	"svm_vmmcall:\n"
	"	vmmcall\n"
	"	hlt\n");
extern const uint8_t svm_ud_handler[], svm_vmrun[], svm_vmload[];
extern const uint8_t svm_vmsave[], svm_stgi[], svm_clgi[], svm_skinit[];
extern const uint8_t svm_invlpga[], svm_vmmcall[];

static void expect_ud(struct kvm_vcpu *vcpu, const char *name,
		      uint64_t ip)
{
	test_log("%s at 0x%llx", name, (unsigned long long)ip);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x60, 1), 6);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x61, 2), ip);
}

static struct kvm_vm *svm_guest(struct kvm_vcpu **vcpu)
{
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_svm), vcpu);

	vm_set_ivt(vm, 6, guest_addr(svm_ud_handler, guest_svm));
	return vm;
}

TEST(svm_instructions_ud)
{
	static const struct {
		const char *name;
		const uint8_t *insn;
	} insns[] = {
		{ "vmrun", svm_vmrun },
		{ "vmload", svm_vmload },
		{ "vmsave", svm_vmsave },
		{ "stgi", svm_stgi },
		{ "clgi", svm_clgi },
		{ "skinit", svm_skinit },
		{ "invlpga", svm_invlpga },
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = svm_guest(&vcpu);
	unsigned int i;

	for (i = 0; i < sizeof(insns) / sizeof(insns[0]); i++)
		expect_ud(vcpu, insns[i].name,
			  guest_addr(insns[i].insn, guest_svm));
	vcpu_run_expect_hlt(vcpu);
	ASSERT_EQ(vcpu_get_rip(vcpu), guest_addr(svm_vmmcall, guest_svm));
	vm_free(vm);
}

TEST_OKVM_ONLY(vmmcall_ud,
	       "KVM treats VMMCALL as its paravirtual hypercall")
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = svm_guest(&vcpu);
	struct kvm_regs r;

	vcpu_get_regs(vcpu, &r);
	r.rip = guest_addr(svm_vmmcall, guest_svm);
	vcpu_set_regs(vcpu, &r);
	expect_ud(vcpu, "vmmcall", r.rip);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

/*
 * With RFLAGS.TF set, an instruction the hypervisor carries out itself
 * still ends with a single-step #DB, as on bare metal: CPUID, answered in
 * the kernel, and OUT, completed by the next KVM_RUN.  POPF setting TF
 * traps after the instruction that follows it (SDM 17.3.1.4).  The #DB
 * handler reports the return IP on port 0x71 and DR6 on port 0x72, then
 * returns with TF clear.
 */
GUEST_CODE16(guest_step,
	"	jmp 1f\n"
	"step_db_handler:\n"
	"	push %bp\n"
	"	mov %sp, %bp\n"
	"	mov 2(%bp), %ax\n"
	"	out %ax, $0x71\n"
	"	mov %dr6, %eax\n"
	"	out %eax, $0x72\n"
	"	andw $0xfeff, 6(%bp)\n"
	"	pop %bp\n"
	"	iret\n"
	"1:\n"
	"	pushf\n"
	"	pop %ax\n"
	"	or $0x100, %ax\n"
	"	push %ax\n"
	"	popf\n"
	"	cpuid\n"
	"step_after_cpuid:\n"
	"	pushf\n"
	"	pop %ax\n"
	"	or $0x100, %ax\n"
	"	push %ax\n"
	"	popf\n"
	"	out %al, $0x70\n"
	"step_after_out:\n"
	"	hlt\n");
extern const uint8_t step_db_handler[], step_after_cpuid[], step_after_out[];

TEST(single_step_after_completed_insn)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_step), &vcpu);

	vm_set_ivt(vm, 1, guest_addr(step_db_handler, guest_step));
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x71, 2),
		  guest_addr(step_after_cpuid, guest_step));
	ASSERT_TRUE(vcpu_run_expect_out(vcpu, 0x72, 4) & 0x4000);
	vcpu_run_expect_out(vcpu, 0x70, 1);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x71, 2),
		  guest_addr(step_after_out, guest_step));
	ASSERT_TRUE(vcpu_run_expect_out(vcpu, 0x72, 4) & 0x4000);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}
