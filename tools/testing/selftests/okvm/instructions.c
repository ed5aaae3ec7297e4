// SPDX-License-Identifier: GPL-2.0
/*
 * Instructions the hypervisor intercepts and handles in the kernel:
 * CPUID; the SVM and VMX instructions, which a guest without SVM and VMX
 * in its CPUID must see raise #UD, whichever the host has (on the other
 * vendor's CPU they are undefined opcodes and raise #UD natively); and
 * the hypercall instructions, VMMCALL and VMCALL, which KVM takes as its
 * paravirtual hypercall and okvm does not.
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
	"	hlt\n"
	"svm_vmcall:\n"
	"	vmcall\n"
	"	hlt\n");
extern const uint8_t svm_ud_handler[], svm_vmrun[], svm_vmload[];
extern const uint8_t svm_vmsave[], svm_stgi[], svm_clgi[], svm_skinit[];
extern const uint8_t svm_invlpga[], svm_vmmcall[], svm_vmcall[];

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

/*
 * okvm has no hypercalls: VMMCALL and VMCALL raise #UD in its guests, on
 * either vendor (the foreign one natively, the own one by okvm's
 * intercept: VMMCALL exits under SVM, APM vol. 2, 15.9; VMCALL exits
 * unconditionally in VMX non-root operation, also in real mode, SDM vol.
 * 3C, "Instructions That Cause VM Exits Unconditionally").
 */
static void hypercall_insn_ud(const uint8_t *insn, const char *name)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = svm_guest(&vcpu);
	struct kvm_regs r;

	vcpu_get_regs(vcpu, &r);
	r.rip = guest_addr(insn, guest_svm);
	vcpu_set_regs(vcpu, &r);
	expect_ud(vcpu, name, r.rip);
	vcpu_run_expect_hlt(vcpu);
	vm_free(vm);
}

TEST_OKVM_ONLY(vmmcall_ud,
	       "KVM treats VMMCALL as its paravirtual hypercall")
{
	hypercall_insn_ud(svm_vmmcall, "vmmcall");
}

TEST_OKVM_ONLY(vmcall_ud,
	       "KVM treats VMCALL as its paravirtual hypercall")
{
	hypercall_insn_ud(svm_vmcall, "vmcall");
}

/*
 * KVM's hypercall from a real-mode guest (CPL 0): an unknown number in
 * EAX gives -KVM_ENOSYS (-1000) truncated to 32 bits outside 64-bit mode,
 * and RIP moves past the instruction (kvm_emulate_hypercall()).  The
 * host's own instruction, VMMCALL under SVM and VMCALL under VMX, exits
 * to KVM directly.  (The other vendor's one KVM would emulate on #UD,
 * rewriting it in guest memory, KVM_X86_QUIRK_FIX_HYPERCALL_INSN; its
 * emulator takes VMMCALL in protected mode only, so that is not checked
 * here.)
 */
#define KVM_ENOSYS_32	((uint32_t)-1000)

GUEST_CODE16(guest_hypercall,
	"	mov $0x5a5a, %eax\n"
	"	vmmcall\n"
	"	out %eax, $0x10\n"
	"hc_vmmcall_hlt:\n"
	"	hlt\n"
	"hc_vmcall_start:\n"
	"	mov $0x5a5a, %eax\n"
	"	vmcall\n"
	"	out %eax, $0x10\n"
	"hc_vmcall_hlt:\n"
	"	hlt\n");
extern const uint8_t hc_vmmcall_hlt[], hc_vmcall_start[], hc_vmcall_hlt[];

TEST_KVM_ONLY(hypercall_enosys,
	      "okvm has no hypercalls: VMMCALL and VMCALL raise #UD")
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_hypercall), &vcpu);
	const uint8_t *hlt = hc_vmmcall_hlt;
	struct kvm_regs r;

	if (host_vmx()) {
		vcpu_get_regs(vcpu, &r);
		r.rip = guest_addr(hc_vmcall_start, guest_hypercall);
		vcpu_set_regs(vcpu, &r);
		hlt = hc_vmcall_hlt;
	}
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4), KVM_ENOSYS_32);
	vcpu_run_expect_hlt(vcpu);
	ASSERT_EQ(vcpu_get_rip(vcpu), guest_addr(hlt, guest_hypercall) + 1);
	vm_free(vm);
}

/*
 * The VMX instructions in flat 32-bit protected mode at CPL 0, where
 * under VMX each one exits to the hypervisor (SDM vol. 3C, "Instructions
 * That Cause VM Exits Unconditionally"; in real mode the CPU raises #UD
 * itself before any exit): without VMX in the guest's CPUID and with
 * CR4.VMXE clear, VMXON must raise #UD, and the others, outside VMX
 * operation, too (SDM vol. 3C, chapter "VMX Instruction Reference").  On
 * an AMD CPU the opcodes are undefined.  VMCALL is the hypercall, above.
 *
 * The #UD handler reports vector 6 on port 0x60 and the faulting EIP on
 * port 0x61, then returns to the EIP the host answers an IN from port
 * 0x62 with: the next instruction's.
 */
GUEST_CODE32(guest_vmx,
	"	jmp 1f\n"
	"vmx_ud_handler:\n"
	"	mov $6, %al\n"
	"	out %al, $0x60\n"
	"	mov (%esp), %eax\n"
	"	out %eax, $0x61\n"
	"	in $0x62, %eax\n"
	"	mov %eax, (%esp)\n"
	"	iret\n"
	"1:\n"
	"vmx_vmxon:	vmxon 0x8000\n"
	"vmx_vmxoff:	vmxoff\n"
	"vmx_vmlaunch:	vmlaunch\n"
	"vmx_vmresume:	vmresume\n"
	"vmx_vmptrld:	vmptrld 0x8000\n"
	"vmx_vmptrst:	vmptrst 0x8000\n"
	"vmx_vmclear:	vmclear 0x8000\n"
	"vmx_vmread:	vmread %eax, %ebx\n"
	"vmx_vmwrite:	vmwrite %ebx, %eax\n"
	"vmx_invept:	invept 0x8000, %eax\n"
	"vmx_invvpid:	invvpid 0x8000, %eax\n"
	"vmx_end:	hlt\n");
extern const uint8_t vmx_ud_handler[], vmx_vmxon[], vmx_vmxoff[];
extern const uint8_t vmx_vmlaunch[], vmx_vmresume[], vmx_vmptrld[];
extern const uint8_t vmx_vmptrst[], vmx_vmclear[], vmx_vmread[];
extern const uint8_t vmx_vmwrite[], vmx_invept[], vmx_invvpid[];
extern const uint8_t vmx_end[];

#define GDT32_ADDR	0x9000
#define IDT32_ADDR	0x9800

/*
 * A GDT behind vcpu_set_flat32()'s selectors (0x08 flat code, 0x10 flat
 * data), which delivering an exception and IRET read, and an IDT up to
 * vector vec, an interrupt gate to handler in the 0x08 code segment.
 */
static void vm_setup_idt32(struct kvm_vm *vm, struct kvm_vcpu *vcpu,
			   int vec, uint32_t handler)
{
	uint64_t *gdt = vm_hva(vm, GDT32_ADDR);
	uint64_t *idt = vm_hva(vm, IDT32_ADDR);
	struct kvm_sregs s;

	gdt[0] = 0;
	gdt[1] = 0x00cf9b000000ffffULL;		/* code, execute/read */
	gdt[2] = 0x00cf93000000ffffULL;		/* data, read/write */
	idt[vec] = (handler & 0xffff) | (0x08ULL << 16) |
		   (0x8eULL << 40) |		/* present 32-bit int gate */
		   ((uint64_t)(handler >> 16) << 48);
	vcpu_get_sregs(vcpu, &s);
	s.gdt.base = GDT32_ADDR;
	s.gdt.limit = 3 * 8 - 1;
	s.idt.base = IDT32_ADDR;
	s.idt.limit = (vec + 1) * 8 - 1;
	vcpu_set_sregs(vcpu, &s);
}

TEST(vmx_instructions_ud)
{
	static const struct {
		const char *name;
		const uint8_t *insn;
	} insns[] = {
		{ "vmxon", vmx_vmxon },
		{ "vmxoff", vmx_vmxoff },
		{ "vmlaunch", vmx_vmlaunch },
		{ "vmresume", vmx_vmresume },
		{ "vmptrld", vmx_vmptrld },
		{ "vmptrst", vmx_vmptrst },
		{ "vmclear", vmx_vmclear },
		{ "vmread", vmx_vmread },
		{ "vmwrite", vmx_vmwrite },
		{ "invept", vmx_invept },
		{ "invvpid", vmx_invvpid },
		{ "(end)", vmx_end },
	};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest32(GUEST(guest_vmx), &vcpu);
	unsigned int i;

	vm_setup_idt32(vm, vcpu, 6, guest_addr(vmx_ud_handler, guest_vmx));
	for (i = 0; i + 1 < sizeof(insns) / sizeof(insns[0]); i++) {
		uint64_t ip = guest_addr(insns[i].insn, guest_vmx);

		test_log("%s at 0x%llx", insns[i].name,
			 (unsigned long long)ip);
		ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x60, 1), 6);
		ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x61, 4), ip);
		vcpu_run_expect_in(vcpu, 0x62, 4,
				   guest_addr(insns[i + 1].insn, guest_vmx));
	}
	vcpu_run_expect_hlt(vcpu);
	ASSERT_EQ(vcpu_get_rip(vcpu), guest_addr(vmx_end, guest_vmx) + 1);
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
	struct kvm_vm *vm;

	skip_if_kvm_real_mode_vm86("the #DB handler single-steps itself, its own first instruction reported");
	vm = vm_create_guest(GUEST(guest_step), &vcpu);
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
