// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: the AMD SVM backend.
 *
 * One VMCB per vCPU, nested paging for guest memory (shadow paging
 * without it, or with tdp=0: arch/x86/shadow.c), ASIDs handed out per
 * CPU.  The backend enters the guest and turns each #VMEXIT into a struct
 * okvm_exit; arch/x86/x86.c does the rest.  It relies on neither NRIPS
 * nor decode assists, which QEMU's emulated SVM lacks (the instruction
 * bytes of a nested page fault are used when there): port I/O exits
 * carry the next RIP anyway (EXITINFO2), and the few other instructions
 * okvm completes have a fixed length (not counting redundant prefixes,
 * which then leave RIP inside the instruction: a guest can only hurt
 * itself that way).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/io.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <asm/cpufeature.h>
#include <asm/msr.h>
#include <asm/nospec-branch.h>
#include <asm/pgtable_types.h>
#include <asm/processor-flags.h>
#include <asm/traps.h>

#include "x86.h"
#include "svm.h"

/*
 * Host state VMRUN does not save, and the address it saves the rest to,
 * for each CPU; plus that CPU's ASID allocator.  A vCPU keeps its ASID
 * while it stays on one CPU and the CPU's generation does not change;
 * when the ASIDs run out the generation moves on and the whole TLB is
 * flushed once (APM 15.16).
 */
struct svm_cpu {
	bool enabled;
	struct page *hsave;
	struct page *host_area;
	u64 asid_generation;
	u32 next_asid;
	struct vmcb *last_vmcb;
};

static DEFINE_PER_CPU(struct svm_cpu, svm_cpus);

/* SVM feature bits (CPUID Fn8000_000A_EDX) and the highest usable ASID. */
static u32 svm_features;
static u32 svm_max_asid;

/*
 * The I/O and MSR permission maps: every bit set, so every port and every
 * MSR access exits.  Shared by all VMs, read-only for the hardware.
 */
#define SVM_IOPM_ORDER	2	/* 12 KiB used (APM 15.10.1) */
#define SVM_MSRPM_ORDER	1	/* 8 KiB (APM 15.11) */
static struct page *svm_iopm;
static struct page *svm_msrpm;

/*
 * Nested page tables use the host's PTE format and depth (APM vol. 2,
 * 15.25.5), 2 MiB leaves included; guest accesses are user accesses.
 * Accessed and Dirty are set up front, as KVM does: okvm never reads them
 * (a page is mapped writable only after the VMM's page table has it
 * dirty, and a write fault logs it), and preset bits spare the walker
 * a locked update of the entry on the guest's first access.  QEMU's TCG
 * also depends on it: there, a guest store that has to set a Dirty bit
 * misses code it overwrites ahead of itself, and the guest runs the old
 * bytes (tools/testing/fuzz/guest_repro_smc.c).
 */
static struct okvm_tdp_format npt_format __ro_after_init = {
	.nonleaf	= _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED,
	.leaf_rw	= _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED |
			  _PAGE_DIRTY,
	.leaf_ro	= _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED,
	.present	= _PAGE_PRESENT,
	.writable	= _PAGE_RW,
	.huge		= true,
};

/*
 * struct svm_vcpu - per-vCPU SVM state
 * @vmcb:		the VMCB
 * @asid_generation:	generation of the CPU's allocator the ASID is from
 * @last_cpu:		CPU of the last VMRUN, -1 before the first
 * @dirty:		VMCB clean bits to clear on the next VMRUN
 * @guest:		shadow paging: the guest's CR0, CR3, CR4 and EFER,
 *			indexed by enum okvm_ctl; the VMCB has the hardware's
 */
struct svm_vcpu {
	struct vmcb *vmcb;
	u64 asid_generation;
	int last_cpu;
	u32 dirty;
	u64 guest[OKVM_CTL_EFER + 1];
};

static struct svm_vcpu *to_svm(struct okvm_vcpu *vcpu)
{
	return vcpu->arch.vendor;
}

static void svm_check_busy(void *busy)
{
	u64 efer;

	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME)
		*(bool *)busy = true;
}

static void svm_free_cpu_pages(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sc = per_cpu_ptr(&svm_cpus, cpu);

		if (sc->hsave)
			__free_page(sc->hsave);
		if (sc->host_area)
			__free_page(sc->host_area);
		sc->hsave = NULL;
		sc->host_area = NULL;
	}
	if (svm_iopm)
		__free_pages(svm_iopm, SVM_IOPM_ORDER);
	if (svm_msrpm)
		__free_pages(svm_msrpm, SVM_MSRPM_ORDER);
	svm_iopm = NULL;
	svm_msrpm = NULL;
}

static int svm_alloc_cpu_pages(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sc = per_cpu_ptr(&svm_cpus, cpu);

		sc->hsave = alloc_page(GFP_KERNEL | __GFP_ZERO);
		sc->host_area = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!sc->hsave || !sc->host_area)
			goto err;
	}
	svm_iopm = alloc_pages(GFP_KERNEL, SVM_IOPM_ORDER);
	svm_msrpm = alloc_pages(GFP_KERNEL, SVM_MSRPM_ORDER);
	if (!svm_iopm || !svm_msrpm)
		goto err;
	memset(page_address(svm_iopm), 0xff, PAGE_SIZE << SVM_IOPM_ORDER);
	memset(page_address(svm_msrpm), 0xff, PAGE_SIZE << SVM_MSRPM_ORDER);
	return 0;
err:
	svm_free_cpu_pages();
	return -ENOMEM;
}

static int svm_probe(void)
{
	bool busy = false;
	u64 vm_cr;

	if (!boot_cpu_has(X86_FEATURE_SVM)) {
		pr_err("no AMD-V (SVM) on this CPU\n");
		return -ENODEV;
	}
	rdmsrl(MSR_VM_CR, vm_cr);
	if (vm_cr & SVM_VM_CR_SVMDIS) {
		pr_err("AMD-V (SVM) is disabled by the firmware (VM_CR.SVMDIS)\n");
		return -ENODEV;
	}
	svm_features = cpuid_edx(SVM_CPUID_LEAF);
	if (!(svm_features & SVM_FEATURE_NPT))
		okvm_tdp_enabled = false;
	svm_max_asid = cpuid_ebx(SVM_CPUID_LEAF) - 1;
	if (!svm_max_asid || svm_max_asid == U32_MAX) {
		pr_err("AMD-V reports no ASIDs\n");
		return -ENODEV;
	}
	on_each_cpu(svm_check_busy, &busy, 1);
	if (busy) {
		pr_err("AMD-V is already in use by another hypervisor (kvm_amd?)\n");
		return -EBUSY;
	}
	if (svm_alloc_cpu_pages())
		return -ENOMEM;
	/* The nested walk uses the host's paging mode (APM 15.25.3). */
	npt_format.levels = pgtable_l5_enabled() ? 5 : 4;
	pr_info("AMD-V with %s paging, %u ASIDs%s\n",
		okvm_tdp_enabled ? "nested" : "shadow", svm_max_asid,
		svm_features & SVM_FEATURE_NRIPS ? "" : ", no NRIPS");
	return 0;
}

static void svm_exit_backend(void)
{
	svm_free_cpu_pages();
}

/* APM 15.4: EFER.SVME on, and where VMRUN may keep host state. */
static int svm_hardware_enable(void)
{
	struct svm_cpu *sc = this_cpu_ptr(&svm_cpus);
	u64 efer;

	if (sc->enabled)
		return 0;
	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME) {
		pr_err("AMD-V is already in use on CPU %d by another hypervisor\n",
		       smp_processor_id());
		return -EBUSY;
	}
	wrmsrl(MSR_EFER, efer | EFER_SVME);
	wrmsrl(MSR_VM_HSAVE_PA, page_to_phys(sc->hsave));
	/*
	 * TLB entries tagged with any ASID may be left from before: start a
	 * new generation whose first ASID comes with a full flush.
	 */
	sc->asid_generation++;
	sc->next_asid = svm_max_asid + 1;
	sc->enabled = true;
	return 0;
}

static void svm_hardware_disable(void)
{
	struct svm_cpu *sc = this_cpu_ptr(&svm_cpus);
	u64 efer;

	if (!sc->enabled)
		return;
	wrmsrl(MSR_VM_HSAVE_PA, 0);
	rdmsrl(MSR_EFER, efer);
	wrmsrl(MSR_EFER, efer & ~EFER_SVME);
	sc->enabled = false;
}

static struct vmcb_seg *svm_seg(struct vmcb *vmcb, enum okvm_seg seg)
{
	switch (seg) {
	case OKVM_SEG_CS:	return &vmcb->save.cs;
	case OKVM_SEG_DS:	return &vmcb->save.ds;
	case OKVM_SEG_ES:	return &vmcb->save.es;
	case OKVM_SEG_FS:	return &vmcb->save.fs;
	case OKVM_SEG_GS:	return &vmcb->save.gs;
	case OKVM_SEG_SS:	return &vmcb->save.ss;
	case OKVM_SEG_TR:	return &vmcb->save.tr;
	default:		return &vmcb->save.ldtr;
	}
}

/*
 * The VMCB packs attributes in 12 bits and has no "unusable" flag.  What
 * userspace reads back follows KVM on AMD, so that state moves between
 * the two (and to VMX) unchanged: G is derived from the limit, unusable
 * means not present, TR always reads busy, a usable data segment always
 * reads accessed, SS's DPL is the CPL.
 */
static void svm_get_segment(struct okvm_vcpu *vcpu, struct kvm_segment *var,
			    enum okvm_seg seg)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;
	struct vmcb_seg *s = svm_seg(vmcb, seg);
	u16 a = s->attrib;

	memset(var, 0, sizeof(*var));
	var->base = s->base;
	var->limit = s->limit;
	var->selector = s->selector;
	var->type = a & SVM_ATTR_TYPE_MASK;
	var->s = (a >> SVM_ATTR_S_SHIFT) & 1;
	var->dpl = (a >> SVM_ATTR_DPL_SHIFT) & 3;
	var->present = (a >> SVM_ATTR_P_SHIFT) & 1;
	var->avl = (a >> SVM_ATTR_AVL_SHIFT) & 1;
	var->l = (a >> SVM_ATTR_L_SHIFT) & 1;
	var->db = (a >> SVM_ATTR_DB_SHIFT) & 1;
	var->g = s->limit > 0xfffff;
	var->unusable = !var->present;

	switch (seg) {
	case OKVM_SEG_TR:
		var->type |= 2;
		break;
	case OKVM_SEG_DS:
	case OKVM_SEG_ES:
	case OKVM_SEG_FS:
	case OKVM_SEG_GS:
		if (!var->unusable)
			var->type |= 1;
		break;
	case OKVM_SEG_SS:
		if (var->unusable)
			var->db = 0;
		var->dpl = vmcb->save.cpl;
		break;
	default:
		break;
	}
}

static void svm_set_segment(struct okvm_vcpu *vcpu,
			    const struct kvm_segment *var, enum okvm_seg seg)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb_seg *s = svm_seg(svm->vmcb, seg);

	s->base = var->base;
	s->limit = var->limit;
	s->selector = var->selector;
	s->attrib = (var->type & SVM_ATTR_TYPE_MASK) |
		    (var->s & 1) << SVM_ATTR_S_SHIFT |
		    (var->dpl & 3) << SVM_ATTR_DPL_SHIFT |
		    ((var->present & 1) && !var->unusable) << SVM_ATTR_P_SHIFT |
		    (var->avl & 1) << SVM_ATTR_AVL_SHIFT |
		    (var->l & 1) << SVM_ATTR_L_SHIFT |
		    (var->db & 1) << SVM_ATTR_DB_SHIFT |
		    (var->g & 1) << SVM_ATTR_G_SHIFT;
	/* The VMCB keeps the CPL apart (APM 15.5.1); it follows SS.DPL. */
	if (seg == OKVM_SEG_SS)
		svm->vmcb->save.cpl = var->dpl & 3;
	svm->dirty |= SVM_CLEAN_SEG;
}

static void svm_get_dt(struct okvm_vcpu *vcpu, struct kvm_dtable *dt, bool idt)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;
	struct vmcb_seg *s = idt ? &vmcb->save.idtr : &vmcb->save.gdtr;

	memset(dt, 0, sizeof(*dt));
	dt->base = s->base;
	dt->limit = s->limit;
}

static void svm_set_dt(struct okvm_vcpu *vcpu, const struct kvm_dtable *dt,
		       bool idt)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb_seg *s = idt ? &svm->vmcb->save.idtr : &svm->vmcb->save.gdtr;

	s->base = dt->base;
	s->limit = dt->limit;
	svm->dirty |= SVM_CLEAN_DT;
}

/* Control registers the hardware sees otherwise under shadow paging. */
static bool svm_shadowed_ctl(enum okvm_ctl ctl)
{
	return !okvm_tdp_enabled &&
	       (ctl == OKVM_CTL_CR0 || ctl == OKVM_CTL_CR3 ||
		ctl == OKVM_CTL_CR4 || ctl == OKVM_CTL_EFER);
}

/*
 * Under shadow paging the hardware walks okvm's tables (arch/x86/shadow.c)
 * with CR0.PG and WP and CR4.PAE set whatever the guest's; with the
 * guest's paging off ("paged real mode", APM vol. 2, 15.19) without
 * SMEP, SMAP or long mode, and never with EFER.LME and CR4.PAE clear
 * together (which QEMU's TCG cannot leave either).  The guest reads and
 * writes its own values: those accesses are intercepted.
 */
static void svm_shadow_sync(struct okvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb_save *s = &svm->vmcb->save;
	u64 *g = svm->guest;

	s->cr0 = g[OKVM_CTL_CR0] | X86_CR0_PG | X86_CR0_WP;
	s->cr3 = okvm_shadow_root_pa(vcpu);
	s->cr4 = g[OKVM_CTL_CR4] | X86_CR4_PAE;
	s->efer = g[OKVM_CTL_EFER] | EFER_SVME;
	if (!(g[OKVM_CTL_CR0] & X86_CR0_PG)) {
		s->cr4 &= ~(X86_CR4_SMEP | X86_CR4_SMAP);
		s->efer &= ~(EFER_LME | EFER_LMA);
	}
	svm->dirty |= SVM_CLEAN_CR;
}

static u64 svm_get_ctl(struct okvm_vcpu *vcpu, enum okvm_ctl ctl)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;

	if (svm_shadowed_ctl(ctl))
		return to_svm(vcpu)->guest[ctl];
	switch (ctl) {
	case OKVM_CTL_CR0:	return vmcb->save.cr0;
	case OKVM_CTL_CR2:	return vmcb->save.cr2;
	case OKVM_CTL_CR3:	return vmcb->save.cr3;
	case OKVM_CTL_CR4:	return vmcb->save.cr4;
	case OKVM_CTL_EFER:	return vmcb->save.efer & ~EFER_SVME;
	case OKVM_CTL_DR6:	return vmcb->save.dr6;
	case OKVM_CTL_DR7:	return vmcb->save.dr7;
	case OKVM_CTL_CR8:	return vmcb->control.int_ctl & SVM_V_TPR_MASK;
	}
	return 0;
}

static void svm_set_ctl(struct okvm_vcpu *vcpu, enum okvm_ctl ctl, u64 val)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb *vmcb = svm->vmcb;

	if (svm_shadowed_ctl(ctl)) {
		/* EFER.SVME is the VMCB's alone, as with nested paging. */
		if (ctl == OKVM_CTL_EFER)
			val &= ~EFER_SVME;
		okvm_shadow_ctl_changed(vcpu, ctl, svm->guest[ctl], val);
		svm->guest[ctl] = val;
		svm_shadow_sync(vcpu);
		return;
	}
	switch (ctl) {
	case OKVM_CTL_CR0:
		vmcb->save.cr0 = val;
		svm->dirty |= SVM_CLEAN_CR;
		break;
	case OKVM_CTL_CR2:
		vmcb->save.cr2 = val;
		svm->dirty |= SVM_CLEAN_CR2;
		break;
	case OKVM_CTL_CR3:
		vmcb->save.cr3 = val;
		svm->dirty |= SVM_CLEAN_CR;
		break;
	case OKVM_CTL_CR4:
		vmcb->save.cr4 = val;
		svm->dirty |= SVM_CLEAN_CR;
		break;
	case OKVM_CTL_EFER:
		/* VMRUN refuses a guest without EFER.SVME (APM 15.5.1). */
		vmcb->save.efer = val | EFER_SVME;
		svm->dirty |= SVM_CLEAN_CR;
		break;
	case OKVM_CTL_DR6:
		vmcb->save.dr6 = val;
		svm->dirty |= SVM_CLEAN_DR;
		break;
	case OKVM_CTL_DR7:
		vmcb->save.dr7 = val;
		svm->dirty |= SVM_CLEAN_DR;
		break;
	case OKVM_CTL_CR8:
		vmcb->control.int_ctl &= ~SVM_V_TPR_MASK;
		vmcb->control.int_ctl |= val & SVM_V_TPR_MASK;
		svm->dirty |= SVM_CLEAN_TPR;
		break;
	}
}

static int svm_get_cpl(struct okvm_vcpu *vcpu)
{
	return to_svm(vcpu)->vmcb->save.cpl;
}

/*
 * Fill the VMCB's controls for a vCPU at reset and clear its state;
 * arch/x86/x86.c then loads the architectural reset state through the
 * segment and control register operations.
 */
static void svm_vcpu_reset(struct okvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb *vmcb = svm->vmcb;
	struct vmcb_control *c = &vmcb->control;
	struct vmcb_save *s = &vmcb->save;

	memset(vmcb, 0, sizeof(*vmcb));

	/*
	 * #DB and #AC are intercepted and reflected because a guest can
	 * otherwise make the CPU loop delivering them forever without an
	 * exit (CVE-2015-5307, CVE-2015-8104); #MC belongs to the host.
	 */
	c->intercept_exceptions = BIT(X86_TRAP_DB) | BIT(X86_TRAP_AC) |
				  BIT(X86_TRAP_MC);
	c->intercept_misc1 = SVM_INTERCEPT_INTR | SVM_INTERCEPT_NMI |
			     SVM_INTERCEPT_SMI | SVM_INTERCEPT_RDPMC |
			     SVM_INTERCEPT_CPUID | SVM_INTERCEPT_INVD |
			     SVM_INTERCEPT_HLT | SVM_INTERCEPT_INVLPGA |
			     SVM_INTERCEPT_IOIO | SVM_INTERCEPT_MSR |
			     SVM_INTERCEPT_SHUTDOWN;
	/* VMRUN must be intercepted or VMRUN fails (APM 15.5.1). */
	c->intercept_misc2 = SVM_INTERCEPT_VMRUN | SVM_INTERCEPT_VMMCALL |
			     SVM_INTERCEPT_VMLOAD | SVM_INTERCEPT_VMSAVE |
			     SVM_INTERCEPT_STGI | SVM_INTERCEPT_CLGI |
			     SVM_INTERCEPT_SKINIT | SVM_INTERCEPT_WBINVD |
			     SVM_INTERCEPT_MONITOR | SVM_INTERCEPT_MWAIT |
			     SVM_INTERCEPT_MWAIT_ARMED | SVM_INTERCEPT_XSETBV;
	c->iopm_base_pa = page_to_phys(svm_iopm);
	c->msrpm_base_pa = page_to_phys(svm_msrpm);
	/* The guest's IF masks only virtual interrupts (APM 15.21.1). */
	c->int_ctl = SVM_V_INTR_MASKING;
	/*
	 * MOV to CR4 is checked against the guest's CPUID, as KVM does: a
	 * bit whose feature the CPUID does not offer is #GP, as on a CPU
	 * without it (APM vol. 2, 3.1.3), where the CPU itself would take
	 * any bit it has.
	 */
	c->intercept_cr = SVM_INTERCEPT_CR_WRITE(4);
	if (okvm_tdp_enabled) {
		c->nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
		c->nested_cr3 = okvm_tdp_root_pa(vcpu->vm);
	} else {
		/*
		 * Shadow paging: the guest's CR0, CR3 and CR4 are not the
		 * VMCB's, #PF fills the shadow tables, INVLPG empties them.
		 * CR8 is not intercepted: it is the V_TPR either way.
		 */
		c->intercept_cr |= SVM_INTERCEPT_CR_READ(0) |
				   SVM_INTERCEPT_CR_READ(3) |
				   SVM_INTERCEPT_CR_READ(4) |
				   SVM_INTERCEPT_CR_WRITE(0) |
				   SVM_INTERCEPT_CR_WRITE(3);
		c->intercept_exceptions |= BIT(X86_TRAP_PF);
		c->intercept_misc1 |= SVM_INTERCEPT_INVLPG;
	}
	c->tsc_offset = vcpu->vm->arch.tsc_offset;

	s->rflags = X86_EFLAGS_FIXED;
	s->rip = 0xfff0;
	/* The power-on PAT (APM 7.8.2). */
	s->g_pat = 0x0007040600070406ULL;

	svm->asid_generation = 0;
	svm->dirty = SVM_CLEAN_ALL;
}

static int svm_vcpu_create(struct okvm_vcpu *vcpu)
{
	struct svm_vcpu *svm;
	struct page *page;

	svm = kzalloc(sizeof(*svm), GFP_KERNEL_ACCOUNT);
	if (!svm)
		return -ENOMEM;
	page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!page) {
		kfree(svm);
		return -ENOMEM;
	}
	svm->vmcb = page_address(page);
	svm->last_cpu = -1;
	vcpu->arch.vendor = svm;
	return 0;
}

static void svm_vcpu_free(struct okvm_vcpu *vcpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	int cpu;

	/* A new VMCB at this address is another guest: no IBPB skipped. */
	for_each_possible_cpu(cpu)
		cmpxchg(&per_cpu_ptr(&svm_cpus, cpu)->last_vmcb, svm->vmcb, NULL);

	free_page((unsigned long)svm->vmcb);
	kfree(svm);
	vcpu->arch.vendor = NULL;
}

static void svm_new_asid(struct svm_vcpu *svm, struct svm_cpu *sc)
{
	if (sc->next_asid > svm_max_asid) {
		sc->asid_generation++;
		sc->next_asid = 1;
		svm->vmcb->control.tlb_ctl = SVM_TLB_FLUSH_ALL;
	}
	svm->asid_generation = sc->asid_generation;
	svm->vmcb->control.asid = sc->next_asid++;
	svm->dirty |= SVM_CLEAN_ASID;
}

/*
 * Give the vCPU an ASID that is valid on this CPU, and flush what the
 * VM asked to be flushed.  Without FLUSHBYASID, a fresh ASID is the
 * cheapest way to drop one guest's translations.
 */
static void svm_prepare_asid(struct okvm_vcpu *vcpu, struct svm_cpu *sc,
			     int cpu)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	bool flush = okvm_tlb_flush_pending(vcpu) != OKVM_FLUSH_NONE;

	/*
	 * Another CPU's ASIDs, and TLB entries this CPU may still hold from
	 * an earlier stay, say nothing of the vCPU's translations now.
	 */
	if (svm->last_cpu != cpu) {
		svm->last_cpu = cpu;
		svm->asid_generation = 0;
		svm->dirty = SVM_CLEAN_ALL;
	}
	if (svm->asid_generation != sc->asid_generation)
		svm_new_asid(svm, sc);
	else if (flush && (svm_features & SVM_FEATURE_FLUSHBYASID))
		svm->vmcb->control.tlb_ctl = SVM_TLB_FLUSH_ASID;
	else if (flush)
		svm_new_asid(svm, sc);
}

/* EVENTINJ holds the error code in its upper half (APM 15.20). */
static void svm_inject_event(struct okvm_vcpu *vcpu)
{
	struct vmcb *vmcb = to_svm(vcpu)->vmcb;
	u32 error_code = 0;
	u32 info;

	info = okvm_take_event(vcpu, !(vmcb->save.cr0 & X86_CR0_PE),
			       &error_code);
	vmcb->control.event_inj = info | (u64)error_code << 32;
}

static u64 svm_next_rip(struct okvm_vcpu *vcpu, unsigned int len)
{
	if (svm_features & SVM_FEATURE_NRIPS)
		return to_svm(vcpu)->vmcb->control.next_rip;
	return vcpu->arch.rip + len;
}

static void svm_decode_io(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	u64 info = to_svm(vcpu)->vmcb->control.exit_info1;

	exit->reason = OKVM_EXIT_IO;
	exit->io.port = info >> SVM_IOIO_PORT_SHIFT;
	exit->io.in = info & SVM_IOIO_IN;
	exit->io.string = info & SVM_IOIO_STRING;
	exit->io.rep = info & SVM_IOIO_REP;
	/* SZ8, SZ16, SZ32 are one-hot: 1, 2, 4 bytes. */
	exit->io.size = (info & SVM_IOIO_SIZE_MASK) >> SVM_IOIO_SIZE_SHIFT;
	/* EXITINFO2 holds the next RIP even without NRIPS (APM 15.10.2). */
	exit->next_rip = to_svm(vcpu)->vmcb->control.exit_info2;
}

static void svm_decode_exit(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	struct vmcb_control *c = &to_svm(vcpu)->vmcb->control;
	/*
	 * Every exit code fits in 32 bits; VMEXIT_INVALID is -1 in 64 on
	 * hardware but 32 on some emulations, so only the low half counts
	 * (KVM reads it the same way).
	 */
	u32 code = c->exit_code;

	exit->hw_reason = code;
	exit->info[0] = c->exit_info1;
	exit->info[1] = c->exit_info2;

	switch (code) {
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
	case SVM_EXIT_SMI:
		/* The host takes it once GIF and IF are set again. */
		exit->reason = OKVM_EXIT_NONE;
		break;
	case SVM_EXIT_EXCP_BASE + X86_TRAP_DB:
		/* DR6 in the VMCB already describes the debug condition. */
		okvm_queue_exception(vcpu, X86_TRAP_DB, false, 0);
		exit->reason = OKVM_EXIT_NONE;
		break;
	case SVM_EXIT_EXCP_BASE + X86_TRAP_AC:
		okvm_queue_exception(vcpu, X86_TRAP_AC, true, 0);
		exit->reason = OKVM_EXIT_NONE;
		break;
	case SVM_EXIT_EXCP_BASE + X86_TRAP_MC:
		/* A real machine check: let the host's handler see it. */
		if (IS_ENABLED(CONFIG_X86_MCE))
			asm volatile("int $0x12");
		exit->reason = OKVM_EXIT_NONE;
		break;
	case SVM_EXIT_CPUID:
		exit->reason = OKVM_EXIT_CPUID;
		exit->next_rip = svm_next_rip(vcpu, 2);
		break;
	case SVM_EXIT_HLT:
		exit->reason = OKVM_EXIT_HLT;
		exit->next_rip = svm_next_rip(vcpu, 1);
		break;
	case SVM_EXIT_IOIO:
		svm_decode_io(vcpu, exit);
		break;
	case SVM_EXIT_MSR:
		exit->reason = OKVM_EXIT_MSR;
		exit->msr.index = vcpu->arch.regs[OKVM_RCX];
		exit->msr.write = c->exit_info1 & 1;
		exit->next_rip = svm_next_rip(vcpu, 2);
		break;
	case SVM_EXIT_XSETBV:
		exit->reason = OKVM_EXIT_XSETBV;
		exit->next_rip = svm_next_rip(vcpu, 3);
		break;
	case SVM_EXIT_INVD:
	case SVM_EXIT_WBINVD:
		exit->reason = OKVM_EXIT_NOP;
		exit->next_rip = svm_next_rip(vcpu, 2);
		break;
	case SVM_EXIT_VMRUN:
	case SVM_EXIT_VMMCALL:
	case SVM_EXIT_VMLOAD:
	case SVM_EXIT_VMSAVE:
	case SVM_EXIT_STGI:
	case SVM_EXIT_CLGI:
	case SVM_EXIT_SKINIT:
	case SVM_EXIT_INVLPGA:
	case SVM_EXIT_MONITOR:
	case SVM_EXIT_MWAIT:
	case SVM_EXIT_MWAIT_ARMED:
		/* The guest's CPUID offers neither SVM nor MONITOR/MWAIT. */
		exit->reason = OKVM_EXIT_UD;
		break;
	case SVM_EXIT_RDPMC:
		exit->reason = OKVM_EXIT_GP;
		break;
	case SVM_EXIT_SHUTDOWN:
		exit->reason = OKVM_EXIT_SHUTDOWN;
		break;
	case SVM_EXIT_NPF:
	case SVM_EXIT_EXCP_BASE + X86_TRAP_PF:
		/* Error code in EXITINFO1, address in EXITINFO2 (APM 15.12). */
		exit->reason = code == SVM_EXIT_NPF ? OKVM_EXIT_TDP_FAULT :
						      OKVM_EXIT_SHADOW_FAULT;
		exit->tdp.addr = c->exit_info2;
		exit->tdp.error_code = c->exit_info1;
		exit->tdp.write = c->exit_info1 & SVM_NPF_WRITE;
		/* The bytes at CS:RIP, for the emulator (APM 15.33). */
		if (svm_features & SVM_FEATURE_DECODE_ASSISTS) {
			exit->tdp.insn = c->insn_bytes;
			exit->tdp.insn_len = min_t(u8, c->insn_len,
						   sizeof(c->insn_bytes));
		}
		break;
	case SVM_EXIT_CR_READ_BASE ... SVM_EXIT_CR_WRITE_BASE + 15:
	case SVM_EXIT_INVLPG:
		/*
		 * MOV to CR4, and under shadow paging the other CR accesses
		 * and INVLPG.  Without decode assists (QEMU) these exits
		 * name no operand, so the emulator decodes the instruction;
		 * with them, a MOV's GPR and INVLPG's address are given
		 * (APM 15.33), and NRIPS the next RIP.
		 */
		exit->reason = OKVM_EXIT_EMULATE;
		if (!(svm_features & SVM_FEATURE_NRIPS) ||
		    !(svm_features & SVM_FEATURE_DECODE_ASSISTS))
			break;
		exit->next_rip = c->next_rip;
		if (code == SVM_EXIT_INVLPG) {
			exit->reason = OKVM_EXIT_INVLPG;
			exit->tdp.addr = c->exit_info1;
		} else if (c->exit_info1 & SVM_CR_MOV) {
			exit->reason = code >= SVM_EXIT_CR_WRITE_BASE ?
				       OKVM_EXIT_CR_WRITE : OKVM_EXIT_CR_READ;
			exit->cr.cr = code & 15;
			exit->cr.reg = c->exit_info1 & SVM_CR_GPR_MASK;
		}
		break;
	case SVM_EXIT_INVALID:
		exit->reason = OKVM_EXIT_FAIL_ENTRY;
		break;
	default:
		exit->reason = OKVM_EXIT_UNHANDLED;
		break;
	}
}

static void svm_run(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	struct svm_vcpu *svm = to_svm(vcpu);
	struct vmcb *vmcb = svm->vmcb;
	struct svm_cpu *sc;
	int cpu;

	local_irq_disable();
	cpu = smp_processor_id();
	sc = this_cpu_ptr(&svm_cpus);
	if (!sc->enabled) {
		local_irq_enable();
		exit->reason = OKVM_EXIT_HW_OFF;
		return;
	}
	if (!okvm_enter_guest_mode(vcpu)) {
		local_irq_enable();
		exit->reason = OKVM_EXIT_NONE;
		return;
	}
	svm_prepare_asid(vcpu, sc, cpu);
	svm_inject_event(vcpu);
	/* Keep one guest's branch predictions from steering another's. */
	if (sc->last_vmcb != vmcb) {
		indirect_branch_prediction_barrier();
		sc->last_vmcb = vmcb;
	}

	/* A completed instruction ends an STI/MOV SS interrupt shadow. */
	if (vmcb->save.rip != vcpu->arch.rip)
		vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW;
	vmcb->save.rip = vcpu->arch.rip;
	vmcb->save.rflags = vcpu->arch.rflags;
	vmcb->save.rsp = vcpu->arch.regs[OKVM_RSP];
	vmcb->save.rax = vcpu->arch.regs[OKVM_RAX];
	vmcb->control.clean = SVM_CLEAN_ALL & ~svm->dirty;

	asm volatile("clgi" ::: "memory");
	okvm_load_guest_state(vcpu);
	okvm_svm_vmrun(__pa(vmcb), vcpu->arch.regs,
		       page_to_phys(sc->host_area));
	okvm_put_guest_state(vcpu);
	asm volatile("stgi" ::: "memory");
	okvm_exit_guest_mode(vcpu);

	svm->dirty = 0;
	vmcb->control.tlb_ctl = SVM_TLB_FLUSH_NOTHING;
	vmcb->control.event_inj = 0;
	vcpu->arch.rip = vmcb->save.rip;
	vcpu->arch.rflags = vmcb->save.rflags;
	vcpu->arch.regs[OKVM_RSP] = vmcb->save.rsp;
	vcpu->arch.regs[OKVM_RAX] = vmcb->save.rax;
	/* An exit during event delivery leaves the event in EXITINTINFO. */
	okvm_requeue_event(vcpu, vmcb->control.exit_int_info,
			   vmcb->control.exit_int_info >> 32);
	local_irq_enable();

	svm_decode_exit(vcpu, exit);
}


const struct okvm_x86_ops svm_ops = {
	.name			= "svm",
	.probe			= svm_probe,
	.exit			= svm_exit_backend,
	.hardware_enable	= svm_hardware_enable,
	.hardware_disable	= svm_hardware_disable,
	.vcpu_create		= svm_vcpu_create,
	.vcpu_free		= svm_vcpu_free,
	.vcpu_reset		= svm_vcpu_reset,
	.run			= svm_run,
	.get_segment		= svm_get_segment,
	.set_segment		= svm_set_segment,
	.get_dt			= svm_get_dt,
	.set_dt			= svm_set_dt,
	.get_ctl		= svm_get_ctl,
	.set_ctl		= svm_set_ctl,
	.get_cpl		= svm_get_cpl,
	.tdp_fmt		= &npt_format,
	/* KVM on AMD leaves CS and SS not accessed, TR a 16-bit TSS. */
	.reset_types		= { .code = 0xa, .data = 0x2, .tr = 0x3 },
	.init_on_shutdown	= true,
};
