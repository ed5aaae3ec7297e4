// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: shared x86 code.  The KVM_RUN loop and what it does with each
 * normalised exit, the register ioctls, and the state that must be
 * switched around every guest entry whatever the vendor (XCR0, PKRU,
 * DR0-DR3, the FPU).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hw_breakpoint.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/fpu/xcr.h>
#include <asm/pgtable_types.h>
#include <asm/processor-flags.h>
#include <asm/special_insns.h>
#include <asm/traps.h>

#include "compat.h"
#include "x86.h"

const struct okvm_x86_ops *okvm_ops;
static u64 okvm_host_xcr0;

/* KVM's kvm_amd.npt and kvm_intel.ept in one: 0 asks for shadow paging. */
bool okvm_tdp_enabled = true;
module_param_named(tdp, okvm_tdp_enabled, bool, 0444);
MODULE_PARM_DESC(tdp, "Nested paging (NPT, EPT) if the CPU has it; 0: shadow paging");

/* X86_CR0_* and X86_CR4_* give single bits; the checks need these sets. */
#define CR0_RESERVED_HIGH	GENMASK_ULL(63, 32)
#define APIC_BASE_RESERVED	0x2ffULL	/* bits 0-7 and 9 */
#define APIC_BASE_X2APIC	BIT_ULL(10)
#define APIC_BASE_ENABLE	BIT_ULL(11)
#define APIC_BASE_BSP		BIT_ULL(8)
#define APIC_DEFAULT_BASE	0xfee00000ULL
#define OKVM_RESET_RDX		0x600
#define OKVM_RESET_CR0		(X86_CR0_CD | X86_CR0_NW | X86_CR0_ET)
#define OKVM_RESET_DR6		0xffff0ff0ULL
#define OKVM_RESET_DR7		0x400ULL
#define CR8_PRIORITY_BITS		0xfULL	/* CR8 holds a 4-bit priority */
/* PAE page-directory-pointer entries: bits 2:1 and 8:5 reserved (SDM 4.4.1). */
#define PDPTE_RESERVED		(GENMASK_ULL(2, 1) | GENMASK_ULL(8, 5))
#define SEG_TYPE_LDT		2

int okvm_arch_init(void)
{
	int r;

	switch (boot_cpu_data.x86_vendor) {
	case X86_VENDOR_AMD:
	case X86_VENDOR_HYGON:
		okvm_ops = &svm_ops;
		break;
	case X86_VENDOR_INTEL:
		okvm_ops = &vmx_ops;
		break;
	default:
		pr_err("no supported hardware virtualization (AMD-V or Intel VT-x)\n");
		return -ENODEV;
	}
	/* First: the VMX probe takes the CR4 bits the guest may own from it. */
	okvm_cpuid_init();
	r = okvm_ops->probe();
	if (r)
		return r;
	okvm_tdp_setup(okvm_ops->tdp_fmt);
	if (boot_cpu_has(X86_FEATURE_OSXSAVE))
		okvm_host_xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
	return 0;
}

void okvm_arch_exit(void)
{
	okvm_ops->exit();
}

int okvm_arch_hardware_enable(void)
{
	return okvm_ops->hardware_enable();
}

void okvm_arch_hardware_disable(void)
{
	okvm_ops->hardware_disable();
}

long okvm_arch_check_extension(long ext)
{
	switch (ext) {
	case KVM_CAP_HLT:
	case KVM_CAP_SET_TSS_ADDR:
	case KVM_CAP_SET_IDENTITY_MAP_ADDR:
		return 1;
	default:
		return 0;
	}
}

long okvm_arch_dev_ioctl(unsigned int ioctl, unsigned long arg)
{
	/* x86 KVM answers an unknown system ioctl with EINVAL. */
	return -EINVAL;
}

/*
 * KVM_SET_TSS_ADDR and KVM_SET_IDENTITY_MAP_ADDR name guest-physical pages
 * that kvm_intel may use, without unrestricted guest, for the TSS of
 * real mode run in virtual-8086 mode and for the identity page table of
 * paging-off guests under EPT.  okvm needs neither: its virtual-8086 mode
 * runs with a TR limit of 0 and every event delivered in software
 * (architecture.rst, "Real mode in virtual-8086 mode"), and with EPT but
 * no unrestricted guest it runs no paging-off guest at all
 * (OKVM_EXIT_NO_REAL_MODE).  It takes both, as QEMU requires them, with
 * KVM's checks: the three TSS pages end at 4 GiB at the latest, and the
 * identity map is set before the first vCPU.
 */
static long okvm_x86_set_tss_addr(unsigned long addr)
{
	return addr > (u32)(-3 * PAGE_SIZE) ? -EINVAL : 0;
}

static long okvm_x86_set_identity_map_addr(struct okvm *vm,
					   void __user *argp)
{
	u64 addr;
	long r = -EINVAL;

	mutex_lock(&vm->lock);
	if (vm->nr_vcpus)
		goto out;
	r = copy_from_user(&addr, argp, sizeof(addr)) ? -EFAULT : 0;
out:
	mutex_unlock(&vm->lock);
	return r;
}

long okvm_arch_vm_ioctl(struct okvm *vm, unsigned int ioctl,
			void __user *argp)
{
	switch (ioctl) {
	case KVM_SET_TSS_ADDR:
		return okvm_x86_set_tss_addr((unsigned long)argp);
	case KVM_SET_IDENTITY_MAP_ADDR:
		return okvm_x86_set_identity_map_addr(vm, argp);
	default:
		return -ENOTTY;
	}
}

int okvm_arch_vm_init(struct okvm *vm)
{
	/* Guest TSCs start near 0 at VM creation and stay in step. */
	vm->arch.tsc_offset = -rdtsc();
	return okvm_tdp_init(vm);
}

void okvm_arch_vm_destroy(struct okvm *vm)
{
	okvm_tdp_destroy(vm);
}

int okvm_arch_validate_memslot(struct okvm *vm, u64 gpa, u64 size)
{
	return gpa + size > okvm_max_gpa() ? -EINVAL : 0;
}

/**
 * okvm_get_ctl() - read a control register of a vCPU
 * @vcpu:	the vCPU
 * @ctl:	which one
 *
 * Return: its value as the guest sees it.
 */
u64 okvm_get_ctl(struct okvm_vcpu *vcpu, enum okvm_ctl ctl)
{
	return okvm_ops->get_ctl(vcpu, ctl);
}

/**
 * okvm_queue_exception() - deliver an exception on the next entry
 * @vcpu:	the vCPU
 * @vector:	exception vector
 * @has_error:	whether the exception pushes an error code
 * @error_code:	the error code
 */
void okvm_queue_exception(struct okvm_vcpu *vcpu, u8 vector, bool has_error,
			  u32 error_code)
{
	struct okvm_event *ev = &vcpu->arch.event;

	ev->pending = true;
	ev->type = OKVM_EVENT_EXCEPTION;
	ev->vector = vector;
	ev->has_error = has_error;
	ev->error_code = error_code;
}

/**
 * okvm_take_event() - the queued event, for the backend to inject
 * @vcpu:	the vCPU
 * @real_mode:	CR0.PE is clear: no error code is pushed (SDM vol. 3,
 *		20.1.4; APM vol. 2, 8.2)
 * @error_code:	set to the error code when the result says there is one
 *
 * Return: the event in the layout of the OKVM_EVT_* bits, 0 when none is
 * queued.  The event counts as delivered from here on.
 */
u32 okvm_take_event(struct okvm_vcpu *vcpu, bool real_mode, u32 *error_code)
{
	static const u32 evt_type[] = {
		[OKVM_EVENT_EXCEPTION]	= OKVM_EVT_TYPE_EXCEPTION,
		[OKVM_EVENT_INTR]	= OKVM_EVT_TYPE_INTR,
		[OKVM_EVENT_NMI]	= OKVM_EVT_TYPE_NMI,
	};
	struct okvm_event *ev = &vcpu->arch.event;
	u32 info;

	if (!ev->pending)
		return 0;
	info = OKVM_EVT_VALID | evt_type[ev->type] | ev->vector;
	if (ev->has_error && !real_mode) {
		info |= OKVM_EVT_ERROR_VALID;
		*error_code = ev->error_code;
	}
	ev->pending = false;
	return info;
}

/**
 * okvm_requeue_event() - queue again an event whose delivery an exit cut
 * short (a nested page fault on the IDT or the stack, say)
 * @vcpu:	the vCPU
 * @info:	the vendor's record of it, in the OKVM_EVT_* layout
 * @error_code:	its error code
 *
 * Software interrupts and INT3/INTO are not queued but run again: RIP
 * still points at the instruction that raised them.
 */
void okvm_requeue_event(struct okvm_vcpu *vcpu, u32 info, u32 error_code)
{
	struct okvm_event *ev = &vcpu->arch.event;
	u8 vector = info & OKVM_EVT_VECTOR_MASK;

	if (!(info & OKVM_EVT_VALID))
		return;
	switch (info & OKVM_EVT_TYPE_MASK) {
	case OKVM_EVT_TYPE_EXCEPTION:
		if (vector == X86_TRAP_BP || vector == X86_TRAP_OF)
			return;
		ev->type = OKVM_EVENT_EXCEPTION;
		break;
	case OKVM_EVT_TYPE_INTR:
		ev->type = OKVM_EVENT_INTR;
		break;
	case OKVM_EVT_TYPE_NMI:
		ev->type = OKVM_EVENT_NMI;
		break;
	default:
		return;
	}
	ev->pending = true;
	ev->vector = vector;
	ev->has_error = info & OKVM_EVT_ERROR_VALID;
	ev->error_code = error_code;
}

/*
 * The segment, descriptor-table and control register state of reset
 * (SDM vol. 3, table 10-1; APM vol. 2, table 14-1): real mode at
 * F000:FFF0 with CS based at FFFF0000 and 64 KiB segments.
 */
static void okvm_reset_state(struct okvm_vcpu *vcpu)
{
	const struct okvm_reset_types *t = &okvm_ops->reset_types;
	struct kvm_segment seg = {
		.limit = 0xffff,
		.present = 1,
		.s = 1,
		.type = t->data,
	};
	struct kvm_dtable dt = { .limit = 0xffff };
	enum okvm_seg i;

	for (i = 0; i < OKVM_NR_SEGS; i++)
		okvm_ops->set_segment(vcpu, &seg, i);
	seg.selector = 0xf000;
	seg.base = 0xffff0000;
	seg.type = t->code;
	okvm_ops->set_segment(vcpu, &seg, OKVM_SEG_CS);
	seg.selector = 0;
	seg.base = 0;
	seg.s = 0;
	seg.type = t->tr;
	okvm_ops->set_segment(vcpu, &seg, OKVM_SEG_TR);
	seg.type = SEG_TYPE_LDT;
	okvm_ops->set_segment(vcpu, &seg, OKVM_SEG_LDTR);
	okvm_ops->set_dt(vcpu, &dt, false);
	okvm_ops->set_dt(vcpu, &dt, true);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR0, OKVM_RESET_CR0);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR2, 0);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR3, 0);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR4, 0);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR8, 0);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_EFER, 0);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_DR6, OKVM_RESET_DR6);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_DR7, OKVM_RESET_DR7);
}

/*
 * Architectural reset: power-on, or INIT (@init) after a triple fault.
 * INIT keeps XCR0, PKRU and the APIC base (SDM table 10-1, "Power up"
 * and "INIT" columns).
 */
static void okvm_vcpu_reset(struct okvm_vcpu *vcpu, bool init)
{
	struct okvm_vcpu_arch *a = &vcpu->arch;

	memset(a->regs, 0, sizeof(a->regs));
	memset(a->dr, 0, sizeof(a->dr));
	/*
	 * RDX holds the processor signature (SDM 9.1.4); KVM puts 0x600
	 * there until userspace sets CPUID, which it can only do later.
	 */
	a->regs[OKVM_RDX] = OKVM_RESET_RDX;
	a->rip = 0xfff0;
	a->rflags = X86_EFLAGS_FIXED;
	if (!init) {
		a->xcr0 = XFEATURE_MASK_FP;
		a->pkru = 0;
		a->apic_base = APIC_DEFAULT_BASE | APIC_BASE_ENABLE |
			       (vcpu->id == 0 ? APIC_BASE_BSP : 0);
	}
	memset(&a->event, 0, sizeof(a->event));
	memset(&a->pio, 0, sizeof(a->pio));
	memset(&a->emul, 0, sizeof(a->emul));
	okvm_ops->vcpu_reset(vcpu);
	okvm_reset_state(vcpu);
}

int okvm_arch_vcpu_create(struct okvm_vcpu *vcpu)
{
	int r;

	if (!fpu_alloc_guest_fpstate(&vcpu->arch.fpu))
		return -ENOMEM;
	r = okvm_shadow_init(vcpu);
	if (r)
		goto err_fpu;
	r = okvm_ops->vcpu_create(vcpu);
	if (r)
		goto err_shadow;
	okvm_vcpu_reset(vcpu, false);
	return 0;
err_shadow:
	okvm_shadow_destroy(vcpu);
err_fpu:
	fpu_free_guest_fpstate(&vcpu->arch.fpu);
	return r;
}

void okvm_arch_vcpu_destroy(struct okvm_vcpu *vcpu)
{
	okvm_ops->vcpu_free(vcpu);
	fpu_free_guest_fpstate(&vcpu->arch.fpu);
	okvm_shadow_destroy(vcpu);
	okvm_tdp_vcpu_destroy(vcpu);
}

/**
 * okvm_enter_guest_mode() - announce that the vCPU is about to enter
 * @vcpu: the vCPU, on this CPU with interrupts off
 *
 * Return: false if the entry must be abandoned because the task should
 * reschedule or handle a signal first.
 */
bool okvm_enter_guest_mode(struct okvm_vcpu *vcpu)
{
	WRITE_ONCE(vcpu->cpu, smp_processor_id());
	smp_wmb();
	/*
	 * Pairs with okvm_flush_remote_tlbs(): either it sees IN_GUEST and
	 * interrupts this CPU, or okvm_tlb_flush_pending() sees its tlb_gen.
	 */
	smp_store_mb(vcpu->mode, OKVM_IN_GUEST);
	if (need_resched() || signal_pending(current)) {
		WRITE_ONCE(vcpu->mode, OKVM_OUTSIDE_GUEST);
		return false;
	}
	return true;
}

/**
 * okvm_tlb_flush_pending() - what this vCPU must flush before entering
 * @vcpu: the vCPU, in guest mode
 *
 * Return: OKVM_FLUSH_TDP once per removal of a TDP translation in the
 * VM, else OKVM_FLUSH_GUEST once after okvm changed the guest's paging
 * state behind its back, else OKVM_FLUSH_NONE.  The caller flushes.
 */
enum okvm_flush okvm_tlb_flush_pending(struct okvm_vcpu *vcpu)
{
	u64 gen = READ_ONCE(vcpu->vm->tlb_gen);
	bool flush = vcpu->arch.flush_tlb;

	vcpu->arch.flush_tlb = false;
	if (gen != vcpu->tlb_gen) {
		vcpu->tlb_gen = gen;
		return OKVM_FLUSH_TDP;
	}
	return flush ? OKVM_FLUSH_GUEST : OKVM_FLUSH_NONE;
}

/**
 * okvm_exit_guest_mode() - the counterpart of okvm_enter_guest_mode()
 * @vcpu: the vCPU
 */
void okvm_exit_guest_mode(struct okvm_vcpu *vcpu)
{
	smp_store_release(&vcpu->mode, OKVM_OUTSIDE_GUEST);
}

/**
 * okvm_load_guest_state() - load what the hardware does not switch
 * @vcpu: the vCPU, right before entry with interrupts off
 *
 * The guest's FPU registers (if the host used the FPU since KVM_RUN
 * began), XCR0, PKRU and DR0-DR3.
 */
void okvm_load_guest_state(struct okvm_vcpu *vcpu)
{
	struct okvm_vcpu_arch *a = &vcpu->arch;

	if (test_thread_flag(TIF_NEED_FPU_LOAD))
		switch_fpu_return();
	if (okvm_host_xcr0 && a->xcr0 != okvm_host_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, a->xcr0);
	if (cpu_feature_enabled(X86_FEATURE_OSPKE)) {
		a->host_pkru = rdpkru();
		if (a->pkru != a->host_pkru)
			wrpkru(a->pkru);
	}
	set_debugreg(a->dr[0], 0);
	set_debugreg(a->dr[1], 1);
	set_debugreg(a->dr[2], 2);
	set_debugreg(a->dr[3], 3);
}

/**
 * okvm_put_guest_state() - save the guest's and restore the host's
 * @vcpu: the vCPU, right after exit with interrupts off
 */
void okvm_put_guest_state(struct okvm_vcpu *vcpu)
{
	struct okvm_vcpu_arch *a = &vcpu->arch;

	get_debugreg(a->dr[0], 0);
	get_debugreg(a->dr[1], 1);
	get_debugreg(a->dr[2], 2);
	get_debugreg(a->dr[3], 3);
	/* #VMEXIT/VM exit leave DR7 cleared: put back live breakpoints. */
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
	if (cpu_feature_enabled(X86_FEATURE_OSPKE)) {
		a->pkru = rdpkru();
		if (a->pkru != a->host_pkru)
			wrpkru(a->host_pkru);
	}
	if (okvm_host_xcr0 && a->xcr0 != okvm_host_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, okvm_host_xcr0);
}

/**
 * okvm_emulation_failure() - stop with an instruction okvm cannot emulate
 * @vcpu:	the vCPU
 * @exit:	the exit that asked for it (for an instruction resumed at
 *		KVM_RUN, the one that began it)
 * @insn:	the instruction bytes fetched, or NULL
 * @insn_len:	how many
 *
 * KVM's layout for KVM_INTERNAL_ERROR_EMULATION: a flags word, with
 * KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES when the bytes
 * follow as insn_size and insn_bytes (two more words, padded with NOPs),
 * then the exit reason, the two exit information words, the interrupted
 * event and its error code.
 */
void okvm_emulation_failure(struct okvm_vcpu *vcpu,
			    const struct okvm_exit *exit, const u8 *insn,
			    unsigned int insn_len)
{
	struct kvm_run *run = vcpu->run;
	unsigned int info = 1;

	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	memset(run->internal.data, 0, sizeof(run->internal.data));
	insn_len = min_t(unsigned int, insn_len,
			 sizeof(run->emulation_failure.insn_bytes));
	if (insn_len) {
		run->emulation_failure.flags =
			KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
		run->emulation_failure.insn_size = insn_len;
		memset(run->emulation_failure.insn_bytes, 0x90,
		       sizeof(run->emulation_failure.insn_bytes));
		memcpy(run->emulation_failure.insn_bytes, insn, insn_len);
		info = 3;
	}
	run->internal.ndata = info + 5;
	run->internal.data[info] = exit->hw_reason;
	run->internal.data[info + 1] = exit->info[0];
	run->internal.data[info + 2] = exit->info[1];
}

/**
 * okvm_complete_insn() - finish an instruction okvm carried out
 * @vcpu:	the vCPU
 * @next_rip:	RIP after it
 *
 * With RFLAGS.TF set the hardware would have raised a single-step #DB
 * after it, with DR6.BS set (SDM 17.3.1.4): so does okvm.
 */
void okvm_complete_insn(struct okvm_vcpu *vcpu, unsigned long next_rip)
{
	u64 dr6;

	vcpu->arch.rip = next_rip;
	if (!(vcpu->arch.rflags & X86_EFLAGS_TF))
		return;
	dr6 = okvm_ops->get_ctl(vcpu, OKVM_CTL_DR6);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_DR6, (dr6 & ~DR_TRAP_BITS) | DR_STEP);
	okvm_queue_exception(vcpu, X86_TRAP_DB, false, 0);
}

/*
 * KVM_RUN after a port I/O exit completes the instruction: an IN takes
 * the data userspace left in the PIO page into AL/AX/EAX, and RIP moves
 * past the instruction.  As in KVM, nothing happens if userspace moved
 * RIP meanwhile (it then took the instruction over itself).
 */
static void okvm_complete_pio(struct okvm_vcpu *vcpu)
{
	struct okvm_pio *pio = &vcpu->arch.pio;
	unsigned long *rax = &vcpu->arch.regs[OKVM_RAX];
	unsigned long val = pio->size < 4 ? *rax : 0;

	pio->pending = false;
	if (vcpu->arch.rip != pio->rip)
		return;
	if (pio->in) {
		memcpy(&val, vcpu->pio_data, pio->size);
		*rax = val;
	}
	okvm_complete_insn(vcpu, pio->next_rip);
}

/*
 * KVM's OUT_7E_INC_RIP quirk, on by default: an OUT to port 0x7e is
 * complete (RIP past it) already when userspace sees the exit.
 */
#define OKVM_PORT_7E	0x7e

static int okvm_handle_io(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	struct kvm_run *run = vcpu->run;
	struct okvm_pio *pio = &vcpu->arch.pio;

	if (exit->io.string)
		return okvm_emulate_string_io(vcpu, exit);

	pio->size = exit->io.size;
	pio->in = exit->io.in;
	pio->rip = vcpu->arch.rip;
	pio->next_rip = exit->next_rip;
	pio->pending = true;
	if (!pio->in)
		memcpy(vcpu->pio_data, &vcpu->arch.regs[OKVM_RAX], pio->size);
	if (!pio->in && exit->io.port == OKVM_PORT_7E) {
		okvm_complete_insn(vcpu, exit->next_rip);
		pio->pending = false;
	}

	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = pio->in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
	run->io.size = pio->size;
	run->io.port = exit->io.port;
	run->io.count = 1;
	run->io.data_offset = OKVM_PIO_PAGE_OFFSET * PAGE_SIZE;
	return 0;
}

static void okvm_handle_cpuid(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	unsigned long *r = vcpu->arch.regs;
	u32 eax, ebx, ecx, edx;

	okvm_cpuid(vcpu, r[OKVM_RAX], r[OKVM_RCX], &eax, &ebx, &ecx, &edx);
	r[OKVM_RAX] = eax;
	r[OKVM_RBX] = ebx;
	r[OKVM_RCX] = ecx;
	r[OKVM_RDX] = edx;
	okvm_complete_insn(vcpu, exit->next_rip);
}

/* XSETBV: #GP(0) unless CPL 0, XCR0 and a value the guest may use (SDM). */
static void okvm_handle_xsetbv(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	unsigned long *r = vcpu->arch.regs;
	u64 val = (r[OKVM_RDX] << 32) | (u32)r[OKVM_RAX];

	if (okvm_ops->get_cpl(vcpu) || (u32)r[OKVM_RCX] != 0 ||
	    !(val & XFEATURE_MASK_FP) ||
	    (val & ~okvm_guest_supported_xcr0()) ||
	    ((val & XFEATURE_MASK_YMM) && !(val & XFEATURE_MASK_SSE))) {
		okvm_queue_exception(vcpu, X86_TRAP_GP, true, 0);
		return;
	}
	vcpu->arch.xcr0 = val;
	okvm_complete_insn(vcpu, exit->next_rip);
}

/*
 * WRMSR to EFER: #GP for a bit the guest's CPUID does not offer, or for
 * LME changed while paging is on (SDM vol. 3, 2.2.1 and 9.8.5; APM vol.
 * 2, 3.1.7).  LMA is the processor's: a write leaves it as it is, and the
 * MOV to CR0 that turns paging on or off sets or clears it.
 */
static bool okvm_write_efer(struct okvm_vcpu *vcpu, u64 val)
{
	u64 old = okvm_get_ctl(vcpu, OKVM_CTL_EFER);

	if (val & ~okvm_efer_allowed())
		return false;
	if ((okvm_get_ctl(vcpu, OKVM_CTL_CR0) & X86_CR0_PG) &&
	    ((val ^ old) & EFER_LME))
		return false;
	okvm_ops->set_ctl(vcpu, OKVM_CTL_EFER,
			  (val & ~EFER_LMA) | (old & EFER_LMA));
	return true;
}

/*
 * RDMSR and WRMSR, which exit for every MSR; the processor has checked
 * CPL 0 before the exit (SDM vol. 3C, 25.1.1; APM vol. 2, 15.7.1).  Only
 * EFER is emulated: any other MSR is #GP, as KVM answers one it does
 * not know.
 */
static void okvm_handle_msr(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	unsigned long *r = vcpu->arch.regs;
	u64 val;

	if (exit->msr.index != MSR_EFER)
		goto gp;
	if (exit->msr.write) {
		val = (r[OKVM_RDX] << 32) | (u32)r[OKVM_RAX];
		if (!okvm_write_efer(vcpu, val))
			goto gp;
	} else {
		val = okvm_get_ctl(vcpu, OKVM_CTL_EFER);
		r[OKVM_RAX] = (u32)val;
		r[OKVM_RDX] = val >> 32;
	}
	okvm_complete_insn(vcpu, exit->next_rip);
	return;
gp:
	okvm_queue_exception(vcpu, X86_TRAP_GP, true, 0);
}

/* Paging with PAE but not 4-level: CR3 points at four PDPTEs. */
static bool okvm_pae_paging(u64 cr0, u64 cr4, u64 efer)
{
	return (cr0 & X86_CR0_PG) && (cr4 & X86_CR4_PAE) && !(efer & EFER_LMA);
}

/*
 * Give a backend that caches the PDPTEs (VMX with EPT: SDM vol. 3,
 * 26.3.2.4) the ones CR3 points at, as the processor reads them when it
 * loads CR3, or enters PAE paging through CR0 or CR4.  False when they
 * cannot be read or have reserved bits set: #GP for the instruction.
 */
static bool okvm_load_pdptes(struct okvm_vcpu *vcpu, u64 cr3)
{
	u64 reserved = PDPTE_RESERVED | ~(okvm_max_gpa() - 1);
	u64 pdpte[4];
	int i;

	if (!okvm_ops->set_pdptes)
		return true;
	if (okvm_read_guest(vcpu->vm, cr3 & OKVM_PDPT_ADDR_MASK, pdpte,
			    sizeof(pdpte)))
		return false;
	for (i = 0; i < ARRAY_SIZE(pdpte); i++)
		if ((pdpte[i] & _PAGE_PRESENT) && (pdpte[i] & reserved))
			return false;
	okvm_ops->set_pdptes(vcpu, pdpte);
	return true;
}

static bool okvm_long_mode_cs(struct okvm_vcpu *vcpu)
{
	struct kvm_segment cs;

	okvm_ops->get_segment(vcpu, &cs, OKVM_SEG_CS);
	return cs.l;
}

/**
 * okvm_write_cr0() - MOV to CR0 (also CLTS, LMSW) for a backend that
 * intercepts it, or the emulator
 * @vcpu:	the vCPU
 * @val:	the new value
 *
 * The checks of the SDM vol. 2, "MOV--Move to/from Control Registers";
 * entering and leaving IA-32e mode: vol. 3, 10.8.5 and 10.8.5.4.
 *
 * Return: false for #GP.
 */
bool okvm_write_cr0(struct okvm_vcpu *vcpu, u64 val)
{
	u64 old = okvm_get_ctl(vcpu, OKVM_CTL_CR0);
	u64 cr4 = okvm_get_ctl(vcpu, OKVM_CTL_CR4);
	u64 efer = okvm_get_ctl(vcpu, OKVM_CTL_EFER);
	bool cs_l = okvm_long_mode_cs(vcpu);

	/* Outside 64-bit mode the operand is 32 bits wide. */
	if (!((efer & EFER_LMA) && cs_l))
		val = (u32)val;
	if ((val & CR0_RESERVED_HIGH) ||
	    ((val & X86_CR0_NW) && !(val & X86_CR0_CD)) ||
	    ((val & X86_CR0_PG) && !(val & X86_CR0_PE)))
		return false;
	if ((val & X86_CR0_PG) && !(old & X86_CR0_PG) && (efer & EFER_LME)) {
		if (!(cr4 & X86_CR4_PAE) || cs_l)
			return false;
		efer |= EFER_LMA;
	}
	if (!(val & X86_CR0_PG) && (old & X86_CR0_PG)) {
		if (((efer & EFER_LMA) && cs_l) || (cr4 & X86_CR4_PCIDE))
			return false;
		efer &= ~EFER_LMA;
	}
	if (okvm_pae_paging(val, cr4, efer) &&
	    !okvm_pae_paging(old, cr4, efer) &&
	    !okvm_load_pdptes(vcpu, okvm_get_ctl(vcpu, OKVM_CTL_CR3)))
		return false;
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR0, val);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_EFER, efer);
	/* A change of PG, WP or CD flushes the TLB (SDM vol. 3, 4.10.4.1). */
	if ((val ^ old) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_CD))
		vcpu->arch.flush_tlb = true;
	return true;
}

/**
 * okvm_write_cr4() - MOV to CR4, likewise
 * @vcpu:	the vCPU
 * @val:	the new value
 *
 * Return: false for #GP.
 */
static bool okvm_write_cr4(struct okvm_vcpu *vcpu, u64 val)
{
	u64 old = okvm_get_ctl(vcpu, OKVM_CTL_CR4);
	u64 cr0 = okvm_get_ctl(vcpu, OKVM_CTL_CR0);
	u64 efer = okvm_get_ctl(vcpu, OKVM_CTL_EFER);
	u64 cr3 = okvm_get_ctl(vcpu, OKVM_CTL_CR3);

	if (val & okvm_cr4_reserved_bits())
		return false;
	if ((efer & EFER_LMA) && !(val & X86_CR4_PAE))
		return false;
	if ((val & X86_CR4_PCIDE) && !(old & X86_CR4_PCIDE) &&
	    (!(efer & EFER_LMA) || (cr3 & 0xfff)))
		return false;
	if (okvm_pae_paging(cr0, val, efer) &&
	    ((val ^ old) & (X86_CR4_PAE | X86_CR4_PSE | X86_CR4_PGE |
			    X86_CR4_SMEP)) &&
	    !okvm_load_pdptes(vcpu, cr3))
		return false;
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR4, val);
	vcpu->arch.flush_tlb = true;
	return true;
}

/**
 * okvm_write_cr3() - MOV to CR3, likewise (a VT-x CPU without TRUE
 * controls may force the exit)
 * @vcpu:	the vCPU
 * @val:	the new value
 *
 * Return: false for #GP.
 */
static bool okvm_write_cr3(struct okvm_vcpu *vcpu, u64 val)
{
	u64 cr0 = okvm_get_ctl(vcpu, OKVM_CTL_CR0);
	u64 cr4 = okvm_get_ctl(vcpu, OKVM_CTL_CR4);
	u64 efer = okvm_get_ctl(vcpu, OKVM_CTL_EFER);

	/* Bit 63 only asks to keep the PCID's translations. */
	if (cr4 & X86_CR4_PCIDE)
		val &= ~BIT_ULL(63);
	if (!(efer & EFER_LMA))
		val = (u32)val;
	else if (val & ~(okvm_max_gpa() - 1))
		return false;
	if (okvm_pae_paging(cr0, cr4, efer) && !okvm_load_pdptes(vcpu, val))
		return false;
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR3, val);
	vcpu->arch.flush_tlb = true;
	return true;
}

/**
 * okvm_write_cr8() - MOV to CR8, likewise
 * @vcpu:	the vCPU
 * @val:	the new value
 *
 * Return: false for #GP.
 */
static bool okvm_write_cr8(struct okvm_vcpu *vcpu, u64 val)
{
	if (val & ~CR8_PRIORITY_BITS)
		return false;
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR8, val);
	return true;
}

/**
 * okvm_cr_ctl() - the register get_ctl and set_ctl know as CRn
 * @cr:	the control register's number, as MOV CR encodes it
 *
 * Return: OKVM_CTL_CR0, CR2, CR3, CR4 or CR8, or -1 for a control
 * register that does not exist (MOV to or from it is #UD).
 */
int okvm_cr_ctl(unsigned int cr)
{
	static const int ctl[] = {
		[0] = OKVM_CTL_CR0, [1] = -1, [2] = OKVM_CTL_CR2,
		[3] = OKVM_CTL_CR3, [4] = OKVM_CTL_CR4, [5 ... 7] = -1,
		[8] = OKVM_CTL_CR8,
	};

	return cr < ARRAY_SIZE(ctl) ? ctl[cr] : -1;
}

/**
 * okvm_write_cr() - MOV to CRn, for an intercepted MOV or the emulator
 * @vcpu:	the vCPU
 * @cr:		a control register okvm_cr_ctl() knows
 * @val:	the new value
 *
 * Any value goes into CR2; the others are checked as the processor
 * checks them.
 *
 * Return: false for #GP.
 */
bool okvm_write_cr(struct okvm_vcpu *vcpu, unsigned int cr, u64 val)
{
	switch (cr) {
	case 0:
		return okvm_write_cr0(vcpu, val);
	case 2:
		okvm_ops->set_ctl(vcpu, OKVM_CTL_CR2, val);
		return true;
	case 3:
		return okvm_write_cr3(vcpu, val);
	case 4:
		return okvm_write_cr4(vcpu, val);
	default:
		return okvm_write_cr8(vcpu, val);
	}
}

static void okvm_handle_cr(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	unsigned long *reg = &vcpu->arch.regs[exit->cr.reg];

	if (exit->reason == OKVM_EXIT_CR_READ) {
		*reg = okvm_get_ctl(vcpu, okvm_cr_ctl(exit->cr.cr));
		okvm_complete_insn(vcpu, exit->next_rip);
	} else if (okvm_write_cr(vcpu, exit->cr.cr, *reg)) {
		okvm_complete_insn(vcpu, exit->next_rip);
	} else {
		okvm_queue_exception(vcpu, X86_TRAP_GP, true, 0);
	}
}

/*
 * A triple fault.  The VMCB is undefined after a shutdown intercept (APM
 * vol. 2, "Miscellaneous Intercepts"), and KVM on AMD answers with an
 * INIT; a VMCS keeps the state of the triple fault, and KVM on Intel
 * leaves it so.  okvm does as KVM does.
 */
static int okvm_shutdown(struct okvm_vcpu *vcpu)
{
	if (okvm_ops->init_on_shutdown)
		okvm_vcpu_reset(vcpu, true);
	vcpu->run->exit_reason = KVM_EXIT_SHUTDOWN;
	return 0;
}

/* #DE, #TS, #NP, #SS and #GP (SDM vol. 3, 6.15, table 6-4). */
static bool okvm_contributory(u8 vector)
{
	return vector == X86_TRAP_DE ||
	       (vector >= X86_TRAP_TS && vector <= X86_TRAP_GP);
}

/**
 * okvm_queue_fault() - queue a fault okvm found while the vCPU may have
 * been delivering an event (one an exit cut short is pending again)
 * @vcpu:	the vCPU
 * @vector:	a fault with an error code (#PF for shadow paging)
 * @error_code:	its error code
 *
 * The processor's rules for a fault during delivery (SDM vol. 3, 6.15,
 * table 6-5; APM vol. 2, 8.2.9): #PF or a contributory fault while
 * delivering #PF, or a contributory fault while delivering one, is #DF;
 * either while delivering #DF shuts the processor down.  Anything else
 * is delivered first, replacing the event.
 *
 * Return: 1 to enter the guest, 0 with KVM_EXIT_SHUTDOWN in vcpu->run.
 */
int okvm_queue_fault(struct okvm_vcpu *vcpu, u8 vector, u32 error_code)
{
	const struct okvm_event *ev = &vcpu->arch.event;
	bool serious = vector == X86_TRAP_PF || okvm_contributory(vector);

	if (ev->pending && ev->type == OKVM_EVENT_EXCEPTION && serious) {
		if (ev->vector == X86_TRAP_DF)
			return okvm_shutdown(vcpu);
		if (ev->vector == X86_TRAP_PF ||
		    (okvm_contributory(ev->vector) &&
		     okvm_contributory(vector))) {
			okvm_queue_exception(vcpu, X86_TRAP_DF, true, 0);
			return 1;
		}
	}
	okvm_queue_exception(vcpu, vector, true, error_code);
	return 1;
}

/*
 * Deliver the queued event as the processor does in real mode (SDM vol.
 * 3, 20.1.4), for a backend that runs real mode in virtual-8086 mode,
 * where the hardware would take it through the protected-mode IDT:
 * FLAGS, CS and IP go on the stack at SS:SP, IF, TF and AC are cleared,
 * and CS:IP come from the vector's entry of the interrupt vector table
 * at IDTR.base.  An exception raised on the way (the entry past the
 * IDTR limit) ends in a shutdown there, and so does a vector table or
 * stack outside guest RAM here, which KVM would emulate as MMIO.
 *
 * Return: false for that shutdown.
 */
static bool okvm_deliver_real_mode(struct okvm_vcpu *vcpu)
{
	struct okvm_vcpu_arch *a = &vcpu->arch;
	struct kvm_segment cs, ss;
	struct kvm_dtable idt;
	u16 frame[3], ivt[2];
	u32 info, error_code;
	u16 sp = a->regs[OKVM_RSP];
	u8 vector;
	int i;

	info = okvm_take_event(vcpu, true, &error_code);
	if (!info)
		return true;
	vector = info & OKVM_EVT_VECTOR_MASK;
	okvm_ops->get_dt(vcpu, &idt, true);
	okvm_ops->get_segment(vcpu, &cs, OKVM_SEG_CS);
	okvm_ops->get_segment(vcpu, &ss, OKVM_SEG_SS);
	if (vector * 4 + 3 > idt.limit ||
	    okvm_read_guest(vcpu->vm, (u32)(idt.base + vector * 4), ivt,
			    sizeof(ivt)))
		return false;
	/* Pushed in this order: FLAGS ends up highest, IP at the new SP. */
	frame[0] = a->rflags;
	frame[1] = cs.selector;
	frame[2] = a->rip;
	for (i = 0; i < ARRAY_SIZE(frame); i++) {
		sp -= 2;
		if (okvm_write_guest(vcpu->vm, (u32)(ss.base + sp), &frame[i],
				     sizeof(frame[i])))
			return false;
	}
	a->regs[OKVM_RSP] = (a->regs[OKVM_RSP] & ~0xffffUL) | sp;
	a->rflags &= ~(X86_EFLAGS_IF | X86_EFLAGS_TF | X86_EFLAGS_AC);
	cs.selector = ivt[1];
	cs.base = ivt[1] << 4;
	okvm_ops->set_segment(vcpu, &cs, OKVM_SEG_CS);
	a->rip = ivt[0];
	return true;
}

/*
 * Return: 1 to enter the guest again, 0 to return to userspace with
 * vcpu->run describing why, or a negative errno for KVM_RUN.
 */
static int okvm_handle_exit(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	struct kvm_run *run = vcpu->run;
	int r;

	switch (exit->reason) {
	case OKVM_EXIT_NONE:
		return 1;
	case OKVM_EXIT_IO:
		return okvm_handle_io(vcpu, exit);
	case OKVM_EXIT_HLT:
		/* No in-kernel irqchip: userspace does the waiting, as in KVM. */
		okvm_complete_insn(vcpu, exit->next_rip);
		run->exit_reason = KVM_EXIT_HLT;
		return 0;
	case OKVM_EXIT_CPUID:
		okvm_handle_cpuid(vcpu, exit);
		return 1;
	case OKVM_EXIT_MSR:
		okvm_handle_msr(vcpu, exit);
		return 1;
	case OKVM_EXIT_XSETBV:
		okvm_handle_xsetbv(vcpu, exit);
		return 1;
	case OKVM_EXIT_NOP:
		okvm_complete_insn(vcpu, exit->next_rip);
		return 1;
	case OKVM_EXIT_UD:
		okvm_queue_exception(vcpu, X86_TRAP_UD, false, 0);
		return 1;
	case OKVM_EXIT_GP:
		okvm_queue_exception(vcpu, X86_TRAP_GP, true, 0);
		return 1;
	case OKVM_EXIT_CR_READ:
	case OKVM_EXIT_CR_WRITE:
		okvm_handle_cr(vcpu, exit);
		return 1;
	case OKVM_EXIT_NO_REAL_MODE:
		/* What KVM does when it cannot run a state and may not emulate. */
		okvm_emulation_failure(vcpu, exit, NULL, 0);
		return 0;
	case OKVM_EXIT_VM86_GP:
		okvm_decode_vm86_gp(vcpu, exit);
		return okvm_handle_exit(vcpu, exit);
	case OKVM_EXIT_REAL_EVENT:
		if (okvm_deliver_real_mode(vcpu))
			return 1;
		fallthrough;
	case OKVM_EXIT_SHUTDOWN:
		return okvm_shutdown(vcpu);
	case OKVM_EXIT_TDP_FAULT:
		r = okvm_tdp_fault(vcpu, exit->tdp.addr, exit->tdp.write);
		/* No memslot, or a write to a read-only one: MMIO. */
		if (r == -ENOENT)
			return okvm_emulate_mmio(vcpu, exit);
		return r ? r : 1;
	case OKVM_EXIT_SHADOW_FAULT:
		return okvm_shadow_fault(vcpu, exit);
	case OKVM_EXIT_EMULATE:
		return okvm_emulate_insn(vcpu, exit);
	case OKVM_EXIT_INVLPG:
		okvm_shadow_invlpg(vcpu, exit->tdp.addr);
		okvm_complete_insn(vcpu, exit->next_rip);
		return 1;
	case OKVM_EXIT_FAIL_ENTRY:
		run->exit_reason = KVM_EXIT_FAIL_ENTRY;
		run->fail_entry.hardware_entry_failure_reason = exit->hw_reason;
		run->fail_entry.cpu = vcpu->cpu;
		return 0;
	case OKVM_EXIT_HW_OFF:
		return -EIO;
	case OKVM_EXIT_UNHANDLED:
	default:
		/* KVM's layout: the exit reason and the CPU it happened on. */
		run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		run->internal.suberror = KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON;
		run->internal.ndata = 2;
		run->internal.data[0] = exit->hw_reason;
		run->internal.data[1] = vcpu->cpu;
		return 0;
	}
}

/* What KVM leaves in kvm_run after every KVM_RUN on x86. */
static void okvm_post_run(struct okvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	run->if_flag = !!(vcpu->arch.rflags & X86_EFLAGS_IF);
	run->cr8 = okvm_ops->get_ctl(vcpu, OKVM_CTL_CR8);
	run->apic_base = vcpu->arch.apic_base;
	run->ready_for_interrupt_injection = 0;
}

int okvm_arch_vcpu_run(struct okvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct okvm_exit exit;
	int r;

	run->flags = 0;
	/* No KVM_CAP_SYNC_REGS: no register set can be synced. */
	if (run->kvm_valid_regs || run->kvm_dirty_regs) {
		r = -EINVAL;
		goto out;
	}
	/* Without a local APIC, userspace owns the TPR and passes it here. */
	if (run->cr8 & ~CR8_PRIORITY_BITS) {
		r = -EINVAL;
		goto out;
	}
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR8, run->cr8);
	/*
	 * Userspace completes port I/O and MMIO with KVM_RUN, even an
	 * immediate exit; an MMIO instruction may need another exit first.
	 */
	if (vcpu->arch.pio.pending)
		okvm_complete_pio(vcpu);
	r = okvm_emulate_complete(vcpu);
	if (r <= 0)
		goto out;
	if (okvm_run_immediate_exit(run)) {
		r = -EINTR;
		goto out;
	}

	fpu_swap_kvm_fpstate(&vcpu->arch.fpu, true);
	do {
		if (signal_pending(current)) {
			run->exit_reason = KVM_EXIT_INTR;
			r = -EINTR;
			break;
		}
		cond_resched();
		okvm_shadow_reset(vcpu);
		memset(&exit, 0, sizeof(exit));
		okvm_ops->run(vcpu, &exit);
		r = okvm_handle_exit(vcpu, &exit);
	} while (r > 0);
	fpu_swap_kvm_fpstate(&vcpu->arch.fpu, false);
out:
	okvm_post_run(vcpu);
	return r;
}

static void okvm_get_regs(struct okvm_vcpu *vcpu, struct kvm_regs *regs)
{
	const unsigned long *r = vcpu->arch.regs;

	memset(regs, 0, sizeof(*regs));
	regs->rax = r[OKVM_RAX];
	regs->rbx = r[OKVM_RBX];
	regs->rcx = r[OKVM_RCX];
	regs->rdx = r[OKVM_RDX];
	regs->rsi = r[OKVM_RSI];
	regs->rdi = r[OKVM_RDI];
	regs->rsp = r[OKVM_RSP];
	regs->rbp = r[OKVM_RBP];
	regs->r8 = r[OKVM_R8];
	regs->r9 = r[OKVM_R9];
	regs->r10 = r[OKVM_R10];
	regs->r11 = r[OKVM_R11];
	regs->r12 = r[OKVM_R12];
	regs->r13 = r[OKVM_R13];
	regs->r14 = r[OKVM_R14];
	regs->r15 = r[OKVM_R15];
	regs->rip = vcpu->arch.rip;
	regs->rflags = vcpu->arch.rflags;
}

static void okvm_set_regs(struct okvm_vcpu *vcpu, const struct kvm_regs *regs)
{
	unsigned long *r = vcpu->arch.regs;

	r[OKVM_RAX] = regs->rax;
	r[OKVM_RBX] = regs->rbx;
	r[OKVM_RCX] = regs->rcx;
	r[OKVM_RDX] = regs->rdx;
	r[OKVM_RSI] = regs->rsi;
	r[OKVM_RDI] = regs->rdi;
	r[OKVM_RSP] = regs->rsp;
	r[OKVM_RBP] = regs->rbp;
	r[OKVM_R8] = regs->r8;
	r[OKVM_R9] = regs->r9;
	r[OKVM_R10] = regs->r10;
	r[OKVM_R11] = regs->r11;
	r[OKVM_R12] = regs->r12;
	r[OKVM_R13] = regs->r13;
	r[OKVM_R14] = regs->r14;
	r[OKVM_R15] = regs->r15;
	vcpu->arch.rip = regs->rip;
	/* Bit 1 of RFLAGS always reads as 1. */
	vcpu->arch.rflags = regs->rflags | X86_EFLAGS_FIXED;
	/* New registers supersede an exception raised by the old ones. */
	if (vcpu->arch.event.type == OKVM_EVENT_EXCEPTION)
		vcpu->arch.event.pending = false;
}

/* Where each segment register sits in struct kvm_sregs. */
static const size_t sregs_seg_offset[OKVM_NR_SEGS] = {
	[OKVM_SEG_CS]	= offsetof(struct kvm_sregs, cs),
	[OKVM_SEG_DS]	= offsetof(struct kvm_sregs, ds),
	[OKVM_SEG_ES]	= offsetof(struct kvm_sregs, es),
	[OKVM_SEG_FS]	= offsetof(struct kvm_sregs, fs),
	[OKVM_SEG_GS]	= offsetof(struct kvm_sregs, gs),
	[OKVM_SEG_SS]	= offsetof(struct kvm_sregs, ss),
	[OKVM_SEG_TR]	= offsetof(struct kvm_sregs, tr),
	[OKVM_SEG_LDTR]	= offsetof(struct kvm_sregs, ldt),
};

static struct kvm_segment *sregs_seg(const struct kvm_sregs *s,
				     enum okvm_seg seg)
{
	return (struct kvm_segment *)((char *)s + sregs_seg_offset[seg]);
}

static void okvm_get_sregs(struct okvm_vcpu *vcpu, struct kvm_sregs *s)
{
	const struct okvm_event *ev = &vcpu->arch.event;
	enum okvm_seg seg;

	memset(s, 0, sizeof(*s));
	for (seg = 0; seg < OKVM_NR_SEGS; seg++)
		okvm_ops->get_segment(vcpu, sregs_seg(s, seg), seg);
	okvm_ops->get_dt(vcpu, &s->gdt, false);
	okvm_ops->get_dt(vcpu, &s->idt, true);
	s->cr0 = okvm_ops->get_ctl(vcpu, OKVM_CTL_CR0);
	s->cr2 = okvm_ops->get_ctl(vcpu, OKVM_CTL_CR2);
	s->cr3 = okvm_ops->get_ctl(vcpu, OKVM_CTL_CR3);
	s->cr4 = okvm_ops->get_ctl(vcpu, OKVM_CTL_CR4);
	s->cr8 = okvm_ops->get_ctl(vcpu, OKVM_CTL_CR8);
	s->efer = okvm_ops->get_ctl(vcpu, OKVM_CTL_EFER);
	s->apic_base = vcpu->arch.apic_base;
	/* An interrupt queued but not yet delivered shows in the bitmap. */
	if (ev->pending && ev->type == OKVM_EVENT_INTR)
		__set_bit(ev->vector, (unsigned long *)s->interrupt_bitmap);
}

/* The consistency KVM demands of KVM_SET_SREGS (EINVAL otherwise). */
static bool okvm_sregs_valid(const struct kvm_sregs *s)
{
	u64 gpa_reserved = ~(okvm_max_gpa() - 1);

	if ((s->efer & EFER_LME) && (s->cr0 & X86_CR0_PG)) {
		if (!(s->cr4 & X86_CR4_PAE) || !(s->efer & EFER_LMA))
			return false;
		if (s->cr3 & gpa_reserved)
			return false;
	} else if ((s->efer & EFER_LMA) || s->cs.l) {
		return false;
	}
	if (s->cr4 & okvm_cr4_reserved_bits())
		return false;
	if ((s->cr0 & CR0_RESERVED_HIGH) ||
	    ((s->cr0 & X86_CR0_NW) && !(s->cr0 & X86_CR0_CD)) ||
	    ((s->cr0 & X86_CR0_PG) && !(s->cr0 & X86_CR0_PE)))
		return false;
	/* No x2APIC in the guest's CPUID: its enable bit is reserved. */
	if (s->apic_base & (gpa_reserved | APIC_BASE_RESERVED |
			    APIC_BASE_X2APIC))
		return false;
	return true;
}

static int okvm_set_sregs(struct okvm_vcpu *vcpu, const struct kvm_sregs *s)
{
	enum okvm_seg seg;
	int vector;

	if (!okvm_sregs_valid(s))
		return -EINVAL;

	for (seg = 0; seg < OKVM_NR_SEGS; seg++)
		okvm_ops->set_segment(vcpu, sregs_seg(s, seg), seg);
	okvm_ops->set_dt(vcpu, &s->gdt, false);
	okvm_ops->set_dt(vcpu, &s->idt, true);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR0, s->cr0);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR2, s->cr2);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR3, s->cr3);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR4, s->cr4);
	okvm_ops->set_ctl(vcpu, OKVM_CTL_CR8, s->cr8);
	/* Like KVM, EFER is taken as given: VMRUN judges it. */
	okvm_ops->set_ctl(vcpu, OKVM_CTL_EFER, s->efer);
	vcpu->arch.apic_base = s->apic_base;
	/*
	 * Loading CR3 or CR4 from here bypasses the flush the guest's own
	 * MOV would have done, and VM entry flushes nothing by itself.  As in
	 * KVM, PDPTEs that cannot be read leave the old ones in place.
	 */
	vcpu->arch.flush_tlb = true;
	if (okvm_pae_paging(s->cr0, s->cr4, s->efer))
		okvm_load_pdptes(vcpu, s->cr3);

	/* A set bit is an interrupt to inject, as when migrating. */
	vector = find_first_bit((const unsigned long *)s->interrupt_bitmap,
				KVM_NR_INTERRUPTS);
	if (vector < KVM_NR_INTERRUPTS) {
		vcpu->arch.event = (struct okvm_event) {
			.pending = true,
			.type = OKVM_EVENT_INTR,
			.vector = vector,
		};
	}
	return 0;
}

long okvm_arch_vcpu_ioctl(struct okvm_vcpu *vcpu, unsigned int ioctl,
			  void __user *argp)
{
	switch (ioctl) {
	case KVM_GET_REGS: {
		struct kvm_regs regs;

		okvm_get_regs(vcpu, &regs);
		return copy_to_user(argp, &regs, sizeof(regs)) ? -EFAULT : 0;
	}
	case KVM_SET_REGS: {
		struct kvm_regs regs;

		if (copy_from_user(&regs, argp, sizeof(regs)))
			return -EFAULT;
		okvm_set_regs(vcpu, &regs);
		return 0;
	}
	case KVM_GET_SREGS: {
		struct kvm_sregs sregs;

		okvm_get_sregs(vcpu, &sregs);
		return copy_to_user(argp, &sregs, sizeof(sregs)) ? -EFAULT : 0;
	}
	case KVM_SET_SREGS: {
		struct kvm_sregs sregs;

		if (copy_from_user(&sregs, argp, sizeof(sregs)))
			return -EFAULT;
		return okvm_set_sregs(vcpu, &sregs);
	}
	default:
		/* x86 KVM answers an unknown vCPU ioctl with EINVAL. */
		return -EINVAL;
	}
}
