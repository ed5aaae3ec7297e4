// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: the Intel VMX backend.
 *
 * One VMCS per vCPU, EPT for guest memory (shadow paging without it, or
 * with tdp=0: arch/x86/shadow.c), a VPID per vCPU, and unrestricted guest
 * so that real mode runs natively.  The backend enters the guest and
 * turns each VM exit into a struct okvm_exit; arch/x86/x86.c does the
 * rest, as for SVM.
 *
 * A VMCS can only be read and written while it is current on the CPU
 * doing it (Intel SDM vol. 3, 24.1), and must be VMCLEARed on the CPU it
 * was last active on before another CPU may load it (24.11.1).  okvm has
 * no vcpu_load: every access, from KVM_RUN or from a register ioctl, first
 * makes the VMCS current on the CPU it runs on (vmx_get()), pulling it
 * over from the previous CPU with an IPI when the thread has moved.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/idr.h>
#include <linux/io.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <asm/cpufeature.h>
#include <asm/debugreg.h>
#include <asm/desc.h>
#include <asm/msr.h>
#include <asm/nospec-branch.h>
#include <asm/processor-flags.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/traps.h>

#include "compat.h"
#include "x86.h"
#include "vmx.h"

/* CPUID.1:ECX.VMX (SDM vol. 3, 24.6). */
#define CPUID_1_ECX_VMX		BIT(5)
#define VMCS_LINK_NONE		(~0ULL)
#define PAT_POWER_ON		0x0007040600070406ULL
#define VPID_MAX		0xffff

/*
 * Per-CPU state: the VMXON region, which VMCS is current, and every VMCS
 * active on the CPU, which must be VMCLEARed before VMXOFF or before
 * another CPU loads it.  The list is changed only on its CPU with
 * interrupts off.
 */
struct vmx_cpu {
	bool enabled;
	struct page *vmxon;
	struct vmx_vcpu *current_vmcs;
	struct list_head loaded;
};

static DEFINE_PER_CPU(struct vmx_cpu, vmx_cpus);

/* What probe found, the same on every CPU (SDM vol. 3, appendix A). */
static struct {
	u32 revision;
	u32 pin, cpu, cpu2, exit, entry;
	bool ug, vpid, ept_ad, invept_single, invvpid_single;
} vmx_caps __ro_after_init;

/*
 * CR0 and CR4 as the guest sees them: the bits of @mask from the read
 * shadow, the others from the register VM entry loads, which must keep
 * the bits VMX operation fixes (@fixed0 set, outside @fixed1 clear).
 */
struct vmx_shadowed_cr {
	enum vmcs_field reg, shadow, mask_field;
	u64 mask, fixed0, fixed1;
};

static struct vmx_shadowed_cr vmx_cr0 __ro_after_init = {
	.reg = GUEST_CR0,
	.shadow = CR0_READ_SHADOW,
	.mask_field = CR0_GUEST_HOST_MASK,
};

static struct vmx_shadowed_cr vmx_cr4 __ro_after_init = {
	.reg = GUEST_CR4,
	.shadow = CR4_READ_SHADOW,
	.mask_field = CR4_GUEST_HOST_MASK,
};

static DEFINE_IDA(vmx_vpids);

/* The guest-state fields of one segment register (24.4.1). */
struct vmx_seg_regs {
	u64 base;
	u32 limit;
	u32 ar;
	u16 sel;
};

/*
 * struct vmx_vcpu - per-vCPU VMX state
 * @vmcs:	the VMCS region
 * @vapic:	virtual-APIC page: the TPR shadow behind the guest's CR8
 * @cpu:	CPU the VMCS is active on, -1 when clear
 * @launched:	VMLAUNCHed since the last VMCLEAR: enter with VMRESUME
 * @arrived:	loaded on a CPU it was not active on: flush the VM's
 *		translations there before entering
 * @loaded:	entry in that CPU's list
 * @vpid:	the vCPU's VPID, 0 when none was free
 * @cr2:	guest CR2, which the VMCS does not hold
 * @dr6:	guest DR6, neither
 * @kernel_gs_base: guest IA32_KERNEL_GS_BASE (SWAPGS), neither
 * @exit_rip:	guest RIP at the last exit
 * @pdptes_dirty: GUEST_PDPTEn must be written before the next entry
 * @pdpte:	the PDPTEs to write
 * @guest_cr3:	shadow paging: the guest's CR3 (GUEST_CR3 has the shadow root)
 * @guest_efer:	and its EFER (GUEST_IA32_EFER may lack LME)
 * @vm86:	the last entry ran the guest's real mode in virtual-8086 mode
 * @rm:		the guest's ES, CS, SS, DS, FS, GS and TR meanwhile
 * @rm_idtr_limit: and its IDTR limit
 */
struct vmx_vcpu {
	void *vmcs;
	u8 *vapic;
	int cpu;
	bool launched;
	bool arrived;
	struct list_head loaded;
	u16 vpid;
	unsigned long cr2;
	unsigned long dr6;
	u64 kernel_gs_base;
	unsigned long exit_rip;
	bool pdptes_dirty;
	u64 pdpte[4];
	u64 guest_cr3;
	u64 guest_efer;
	bool vm86;
	struct vmx_seg_regs rm[VMX_TR + 1];
	u32 rm_idtr_limit;
};

static struct vmx_vcpu *to_vmx(struct okvm_vcpu *vcpu)
{
	return vcpu->arch.vendor;
}

/*
 * The VMX instructions.  VMREAD and VMWRITE of fields okvm uses cannot
 * fail with a current VMCS, which vmx_get() guarantees; the others report
 * failure through CF or ZF (SDM vol. 3, 31.2).
 */
static __always_inline unsigned long vmcs_read(enum vmcs_field field)
{
	unsigned long val;

	asm volatile("vmread %1, %0" : "=rm"(val) : "r"((unsigned long)field)
		     : "cc");
	return val;
}

static __always_inline void vmcs_write(enum vmcs_field field, u64 val)
{
	asm volatile("vmwrite %0, %1" : : "rm"(val), "r"((unsigned long)field)
		     : "cc");
}

#define VMX_PA_INSN(name, insn)						\
static int name(u64 pa)							\
{									\
	bool fail;							\
									\
	asm volatile(insn " %1" : "=@ccbe"(fail) : "m"(pa) : "memory");	\
	if (fail)							\
		pr_err_ratelimited(insn " of %llx failed\n", pa);	\
	return fail ? -EIO : 0;						\
}

VMX_PA_INSN(vmx_on, "vmxon")
VMX_PA_INSN(vmx_clear, "vmclear")
VMX_PA_INSN(vmx_ptrld, "vmptrld")

static void vmx_invept(unsigned long type, u64 eptp)
{
	struct { u64 eptp, reserved; } desc = { eptp, 0 };

	asm volatile("invept %0, %1" : : "m"(desc), "r"(type) : "cc", "memory");
}

static void vmx_invvpid(unsigned long type, u16 vpid)
{
	struct { u64 vpid, linear; } desc = { vpid, 0 };

	asm volatile("invvpid %0, %1" : : "m"(desc), "r"(type) : "cc", "memory");
}

/*
 * Merge wanted and optional control bits with what the CPU allows: the
 * low half of the capability MSR has the bits that must be 1, the high
 * half those that may be 1 (appendix A.3 to A.5).
 */
static int vmx_adjust(u32 msr, u32 want, u32 optional, u32 *ctl)
{
	u32 must, may;

	rdmsr(msr, must, may);
	*ctl = ((want | optional) & may) | must;
	return (*ctl & want) == want ? 0 : -ENODEV;
}

static void vmx_check_busy(void *busy)
{
	if (__read_cr4() & X86_CR4_VMXE)
		*(bool *)busy = true;
}

/*
 * EPT entries (SDM vol. 3, 28.2.2): read, write and execute rights, the
 * memory type in leaves (write-back; the guest's PAT still applies), and
 * Accessed and Dirty set up front as for NPT, for the same reasons.  A
 * CPU without EPT A/D ignores those bits.  2 MiB leaves where the CPU
 * has them (IA32_VMX_EPT_VPID_CAP bit 16, appendix A.10).
 */
static struct okvm_tdp_format ept_format __ro_after_init = {
	.nonleaf	= EPT_READ | EPT_WRITE | EPT_EXEC | EPT_ACCESSED,
	.leaf_rw	= EPT_READ | EPT_WRITE | EPT_EXEC | EPT_MT_WB |
			  EPT_ACCESSED | EPT_DIRTY,
	.leaf_ro	= EPT_READ | EPT_EXEC | EPT_MT_WB | EPT_ACCESSED,
	.present	= EPT_READ | EPT_WRITE | EPT_EXEC,
	.writable	= EPT_WRITE,
	.levels		= 4,
};

/*
 * Shadow paging intercepts what its tables depend on: MOV to and from
 * CR3 (with no CR3-target values, every load exits, 25.1.3), INVLPG, and
 * #PF (in the exception bitmap, with a zero error-code mask and match
 * every #PF exits, 25.2).
 */
#define CPU_SHADOW_EXITING	(CPU_CR3_LOAD_EXITING | \
				 CPU_CR3_STORE_EXITING | CPU_INVLPG_EXITING)

static int vmx_probe_controls(void)
{
	bool true_ctls;
	u32 cpu2_must, cpu2_may;
	u64 basic, ept = 0;
	int r;

	rdmsrl(MSR_IA32_VMX_BASIC, basic);
	if ((basic & VMX_BASIC_SIZE_MASK) >> VMX_BASIC_SIZE_SHIFT > PAGE_SIZE ||
	    (basic & VMX_BASIC_32BIT_ADDRESSES) ||
	    (basic & VMX_BASIC_MEMTYPE_MASK) >> VMX_BASIC_MEMTYPE_SHIFT != 6) {
		pr_err("VT-x: unusable VMCS layout (IA32_VMX_BASIC %llx)\n", basic);
		return -ENODEV;
	}
	vmx_caps.revision = basic & VMX_BASIC_REVISION_MASK;
	/*
	 * Without the TRUE_ MSRs some controls okvm wants off (CR3 load and
	 * store exiting) are forced on; x86.c emulates those MOVs (A.2).
	 */
	true_ctls = basic & VMX_BASIC_HAS_TRUE_CTLS;
	/* No EPT: shadow paging, as SVM without NPT. */
	rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2, cpu2_must, cpu2_may);
	if (!(cpu2_may & CPU2_ENABLE_EPT))
		okvm_tdp_enabled = false;

	r = vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS :
				   MSR_IA32_VMX_PINBASED_CTLS,
		       PIN_EXT_INTR_EXITING | PIN_NMI_EXITING, 0, &vmx_caps.pin);
	r = r ?: vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
					MSR_IA32_VMX_PROCBASED_CTLS,
			    CPU_USE_TSC_OFFSETTING | CPU_HLT_EXITING |
			    CPU_MWAIT_EXITING | CPU_RDPMC_EXITING |
			    CPU_TPR_SHADOW | CPU_UNCOND_IO_EXITING |
			    CPU_MONITOR_EXITING | CPU_SECONDARY_CONTROLS |
			    (okvm_tdp_enabled ? 0 : CPU_SHADOW_EXITING),
			    0, &vmx_caps.cpu);
	/* Unrestricted guest needs EPT (26.3.1.1). */
	r = r ?: vmx_adjust(MSR_IA32_VMX_PROCBASED_CTLS2,
			    okvm_tdp_enabled ? CPU2_ENABLE_EPT : 0,
			    CPU2_ENABLE_VPID | CPU2_WBINVD_EXITING |
			    (okvm_tdp_enabled ? CPU2_UNRESTRICTED_GUEST : 0),
			    &vmx_caps.cpu2);
	r = r ?: vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS :
					MSR_IA32_VMX_EXIT_CTLS,
			    EXIT_SAVE_DEBUG_CONTROLS | EXIT_HOST_ADDR_SPACE_SIZE |
			    EXIT_SAVE_EFER | EXIT_LOAD_EFER,
			    EXIT_SAVE_PAT | EXIT_LOAD_PAT, &vmx_caps.exit);
	r = r ?: vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS :
					MSR_IA32_VMX_ENTRY_CTLS,
			    ENTRY_LOAD_DEBUG_CONTROLS | ENTRY_LOAD_EFER,
			    ENTRY_LOAD_PAT, &vmx_caps.entry);
	if (r) {
		pr_err("VT-x without a TPR shadow or EFER switching is not supported\n");
		return r;
	}
	/* The guest's CR8 reads and writes go to the TPR shadow instead. */
	vmx_caps.cpu &= ~(CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING);
	/* PAT is switched only together. */
	if (!(vmx_caps.entry & ENTRY_LOAD_PAT) ||
	    !(vmx_caps.exit & EXIT_LOAD_PAT)) {
		vmx_caps.entry &= ~ENTRY_LOAD_PAT;
		vmx_caps.exit &= ~(EXIT_LOAD_PAT | EXIT_SAVE_PAT);
	}

	/* The EPT and VPID capabilities exist with either control (A.10). */
	if (cpu2_may & (CPU2_ENABLE_EPT | CPU2_ENABLE_VPID))
		rdmsrl(MSR_IA32_VMX_EPT_VPID_CAP, ept);
	if (okvm_tdp_enabled &&
	    (!(ept & VMX_EPT_WALK_4) || !(ept & VMX_EPT_WB) ||
	     !(ept & VMX_EPT_INVEPT) ||
	     !(ept & (VMX_EPT_INVEPT_SINGLE | VMX_EPT_INVEPT_ALL)))) {
		pr_err("VT-x: EPT lacks 4-level tables, write-back or INVEPT\n");
		return -ENODEV;
	}
	vmx_caps.ept_ad = ept & VMX_EPT_AD;
	ept_format.huge = ept & VMX_EPT_2MB;
	vmx_caps.invept_single = ept & VMX_EPT_INVEPT_SINGLE;
	vmx_caps.ug = vmx_caps.cpu2 & CPU2_UNRESTRICTED_GUEST;
	vmx_caps.vpid = (vmx_caps.cpu2 & CPU2_ENABLE_VPID) &&
			(ept & VMX_VPID_INVVPID) &&
			(ept & (VMX_VPID_INVVPID_SINGLE | VMX_VPID_INVVPID_ALL));
	vmx_caps.invvpid_single = ept & VMX_VPID_INVVPID_SINGLE;
	if (!vmx_caps.vpid)
		vmx_caps.cpu2 &= ~CPU2_ENABLE_VPID;
	return 0;
}

/*
 * CR0 and CR4 bits fixed in VMX operation (appendix A.7, A.8): the guest
 * sees its own values through the read shadows, and writes that would
 * change one exit.  With unrestricted guest, PE and PG are free (26.3.1.1),
 * but PG is intercepted anyway: entering and leaving long mode changes
 * EFER.LMA, which okvm must track.  The guest owns only the CR0 bits LMSW
 * and CLTS can change, and WP; CD and NW stay clear in the real CR0, as
 * KVM keeps them, or a guest fresh from reset (CD and NW set) would run
 * with the caches off.  Under shadow paging okvm also owns WP and every
 * CR4 bit: the shadow tables depend on WP, PAE, PSE, PGE, SMEP, SMAP,
 * PKE and LA57, and the hardware runs with values of its own
 * (vmx_shadow_sync()).  With EPT it owns, besides the fixed CR4 bits,
 * those the guest's CPUID does not offer, so that setting one exits and
 * okvm_write_cr4() raises #GP, as on a CPU without the feature (SDM vol.
 * 3, 2.5) and as KVM does, where the CPU would take any bit it has.
 */
#define CR0_GUEST_OWNED	(X86_CR0_PE | X86_CR0_MP | X86_CR0_EM | X86_CR0_TS | \
			 X86_CR0_WP)
#define CR0_ALWAYS_OFF	(X86_CR0_CD | X86_CR0_NW)

static void vmx_probe_fixed_bits(void)
{
	u64 free = vmx_caps.ug ? X86_CR0_PE | X86_CR0_PG : 0;

	rdmsrl(MSR_IA32_VMX_CR0_FIXED0, vmx_cr0.fixed0);
	rdmsrl(MSR_IA32_VMX_CR0_FIXED1, vmx_cr0.fixed1);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED0, vmx_cr4.fixed0);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED1, vmx_cr4.fixed1);
	vmx_cr0.fixed0 &= ~free;
	vmx_cr0.mask = ~(u64)CR0_GUEST_OWNED | vmx_cr0.fixed0 | ~vmx_cr0.fixed1;
	vmx_cr0.fixed1 &= ~(u64)CR0_ALWAYS_OFF;
	vmx_cr4.mask = vmx_cr4.fixed0 | ~vmx_cr4.fixed1 |
		       okvm_cr4_reserved_bits();
	if (!okvm_tdp_enabled) {
		vmx_cr0.mask |= X86_CR0_WP;
		vmx_cr4.mask = ~0ULL;
	}
}

static void vmx_free_cpu_pages(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct vmx_cpu *vc = per_cpu_ptr(&vmx_cpus, cpu);

		if (vc->vmxon)
			__free_page(vc->vmxon);
		vc->vmxon = NULL;
	}
}

static int vmx_probe(void)
{
	bool busy = false;
	u64 feat;
	int cpu, r;

	/* The raw bit: the kernel clears its own flag when firmware locks VMX off. */
	if (!(cpuid_ecx(1) & CPUID_1_ECX_VMX)) {
		pr_err("no Intel VT-x (VMX) on this CPU\n");
		return -ENODEV;
	}
	rdmsrl(MSR_IA32_FEAT_CTL, feat);
	if (!(feat & FEAT_CTL_LOCKED) ||
	    !(feat & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX)) {
		pr_err("Intel VT-x is disabled by the firmware (IA32_FEATURE_CONTROL %llx)\n",
		       feat);
		return -ENODEV;
	}
	on_each_cpu(vmx_check_busy, &busy, 1);
	if (busy) {
		pr_err("Intel VT-x is already in use by another hypervisor (kvm_intel?)\n");
		return -EBUSY;
	}
	r = vmx_probe_controls();
	if (r)
		return r;
	vmx_probe_fixed_bits();

	for_each_possible_cpu(cpu) {
		struct vmx_cpu *vc = per_cpu_ptr(&vmx_cpus, cpu);

		INIT_LIST_HEAD(&vc->loaded);
		vc->vmxon = alloc_pages_node(cpu_to_node(cpu),
					     GFP_KERNEL | __GFP_ZERO, 0);
		if (!vc->vmxon) {
			vmx_free_cpu_pages();
			return -ENOMEM;
		}
		*(u32 *)page_address(vc->vmxon) = vmx_caps.revision;
	}
	pr_info("Intel VT-x with %s%s%s\n",
		!okvm_tdp_enabled ? "shadow paging" :
		vmx_caps.ept_ad ? "EPT (A/D)" : "EPT",
		vmx_caps.vpid ? ", VPID" : "",
		vmx_caps.ug ? ", unrestricted guest" : ", no unrestricted guest");
	return 0;
}

static void vmx_exit_backend(void)
{
	vmx_free_cpu_pages();
}

/* SDM vol. 3, 24.7: CR4.VMXE, then VMXON with the CPU's region. */
static int vmx_hardware_enable(void)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);

	if (vc->enabled)
		return 0;
	if (cr4_read_shadow() & X86_CR4_VMXE) {
		pr_err("Intel VT-x is already in use on CPU %d by another hypervisor\n",
		       smp_processor_id());
		return -EBUSY;
	}
	cr4_set_bits(X86_CR4_VMXE);
	if (vmx_on(page_to_phys(vc->vmxon))) {
		cr4_clear_bits(X86_CR4_VMXE);
		return -EIO;
	}
	vc->enabled = true;
	return 0;
}

/* With interrupts off, on the VMCS's CPU. */
static void vmx_clear_vmcs(struct vmx_cpu *vc, struct vmx_vcpu *vmx)
{
	vmx_clear(__pa(vmx->vmcs));
	list_del(&vmx->loaded);
	if (vc->current_vmcs == vmx)
		vc->current_vmcs = NULL;
	vmx->launched = false;
	/* Pairs with the READ_ONCE in vmx_get(). */
	smp_store_release(&vmx->cpu, -1);
}

static void vmx_hardware_disable(void)
{
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);
	struct vmx_vcpu *vmx, *tmp;
	unsigned long flags;

	if (!vc->enabled)
		return;
	/* VMCS data may sit in the CPU until VMCLEAR (24.11.1). */
	local_irq_save(flags);
	list_for_each_entry_safe(vmx, tmp, &vc->loaded, loaded)
		vmx_clear_vmcs(vc, vmx);
	asm volatile("vmxoff" ::: "cc", "memory");
	vc->enabled = false;
	local_irq_restore(flags);
	cr4_clear_bits(X86_CR4_VMXE);
}

static void vmx_clear_remote(void *arg)
{
	struct vmx_vcpu *vmx = arg;

	if (READ_ONCE(vmx->cpu) == smp_processor_id())
		vmx_clear_vmcs(this_cpu_ptr(&vmx_cpus), vmx);
}

/* Host state that differs between CPUs but not between entries. */
static void vmx_set_host_cpu_state(void)
{
	struct desc_ptr gdt, idt;
	struct ldttss_desc *tss;
	u64 base;

	native_store_gdt(&gdt);
	store_idt(&idt);
	tss = (struct ldttss_desc *)(gdt.address + GDT_ENTRY_TSS * 8);
	base = tss->base0 | (u64)tss->base1 << 16 | (u64)tss->base2 << 24 |
	       (u64)tss->base3 << 32;
	vmcs_write(HOST_GDTR_BASE, gdt.address);
	vmcs_write(HOST_IDTR_BASE, idt.address);
	vmcs_write(HOST_TR_BASE, base);
	rdmsrl(MSR_GS_BASE, base);
	vmcs_write(HOST_GS_BASE, base);
	rdmsrl(MSR_IA32_SYSENTER_ESP, base);
	vmcs_write(HOST_SYSENTER_ESP, base);
}

/*
 * Make the vCPU's VMCS current on this CPU, which the caller keeps by
 * having preemption off.  A VMCS still active on another CPU is VMCLEARed
 * there first (an IPI, so interrupts must be on).  Return: false when VMX
 * is off on this CPU (reboot) or the VMCS could not be had.
 */
static bool vmx_load(struct vmx_vcpu *vmx)
{
	int cpu = smp_processor_id();
	struct vmx_cpu *vc = this_cpu_ptr(&vmx_cpus);
	int old = READ_ONCE(vmx->cpu);
	unsigned long flags;

	if (old >= 0 && old != cpu) {
		smp_call_function_single(old, vmx_clear_remote, vmx, 1);
		old = smp_load_acquire(&vmx->cpu);
		if (old >= 0)
			return false;
	}
	if (!vc->enabled)
		return false;
	if (old != cpu) {
		local_irq_save(flags);
		list_add(&vmx->loaded, &vc->loaded);
		WRITE_ONCE(vmx->cpu, cpu);
		local_irq_restore(flags);
		if (vmx_ptrld(__pa(vmx->vmcs)))
			return false;
		vc->current_vmcs = vmx;
		vmx_set_host_cpu_state();
		/*
		 * The CPU may still hold translations of this VM from an
		 * earlier stay, made stale since.
		 */
		vmx->arrived = true;
	} else if (vc->current_vmcs != vmx) {
		if (vmx_ptrld(__pa(vmx->vmcs)))
			return false;
		vc->current_vmcs = vmx;
	} else {
		return true;
	}
	/* Keep one guest's branch predictions from steering another's. */
	indirect_branch_prediction_barrier();
	return true;
}

/* Begin and end an access to the VMCS outside KVM_RUN. */
static bool vmx_get(struct vmx_vcpu *vmx)
{
	preempt_disable();
	return vmx_load(vmx);
}

static void vmx_put(void)
{
	preempt_enable();
}

static enum vmx_seg vmx_seg_index(enum okvm_seg seg)
{
	static const enum vmx_seg map[OKVM_NR_SEGS] = {
		[OKVM_SEG_CS] = VMX_CS, [OKVM_SEG_DS] = VMX_DS,
		[OKVM_SEG_ES] = VMX_ES, [OKVM_SEG_FS] = VMX_FS,
		[OKVM_SEG_GS] = VMX_GS, [OKVM_SEG_SS] = VMX_SS,
		[OKVM_SEG_TR] = VMX_TR, [OKVM_SEG_LDTR] = VMX_LDTR,
	};

	return map[seg];
}

/*
 * Access rights (table 24-2) are the descriptor's attribute bits plus an
 * "unusable" bit.  As KVM does on Intel, a segment reads back present
 * exactly when it is usable, and one that is unusable or not present is
 * stored with all its bits and the unusable one set.
 */
static void vmx_get_segment(struct okvm_vcpu *vcpu, struct kvm_segment *var,
			    enum okvm_seg seg)
{
	unsigned int n = 2 * vmx_seg_index(seg);
	u32 ar;

	memset(var, 0, sizeof(*var));
	if (!vmx_get(to_vmx(vcpu)))
		goto out;
	var->base = vmcs_read(GUEST_ES_BASE + n);
	var->limit = vmcs_read(GUEST_ES_LIMIT + n);
	var->selector = vmcs_read(GUEST_ES_SELECTOR + n);
	ar = vmcs_read(GUEST_ES_AR + n);
	var->unusable = !!(ar & VMX_AR_UNUSABLE);
	var->type = ar & 0xf;
	var->s = (ar >> 4) & 1;
	var->dpl = (ar >> 5) & 3;
	var->present = !var->unusable;
	var->avl = (ar >> 12) & 1;
	var->l = (ar >> 13) & 1;
	var->db = (ar >> 14) & 1;
	var->g = (ar >> 15) & 1;
out:
	vmx_put();
}

static void vmx_set_segment(struct okvm_vcpu *vcpu,
			    const struct kvm_segment *var, enum okvm_seg seg)
{
	unsigned int n = 2 * vmx_seg_index(seg);
	u8 type = var->type & 0xf;
	u32 ar;

	/*
	 * VM entry with unrestricted guest wants every usable segment but
	 * LDTR accessed (26.3.1.2); KVM sets the bit for userspace that
	 * leaves it clear.  So does okvm under shadow paging, whose
	 * protected mode, without unrestricted guest, wants it too.
	 */
	if ((vmx_caps.ug || !okvm_tdp_enabled) && seg != OKVM_SEG_LDTR)
		type |= 1;
	ar = type | (var->s & 1) << 4 | (var->dpl & 3) << 5 |
	     (var->present & 1) << 7 | (var->avl & 1) << 12 |
	     (var->l & 1) << 13 | (var->db & 1) << 14 | (var->g & 1) << 15;
	if (var->unusable || !var->present)
		ar |= VMX_AR_UNUSABLE;
	if (vmx_get(to_vmx(vcpu))) {
		vmcs_write(GUEST_ES_BASE + n, var->base);
		vmcs_write(GUEST_ES_LIMIT + n, var->limit);
		vmcs_write(GUEST_ES_SELECTOR + n, var->selector);
		vmcs_write(GUEST_ES_AR + n, ar);
	}
	vmx_put();
}

static void vmx_get_dt(struct okvm_vcpu *vcpu, struct kvm_dtable *dt, bool idt)
{
	memset(dt, 0, sizeof(*dt));
	if (vmx_get(to_vmx(vcpu))) {
		dt->base = vmcs_read(idt ? GUEST_IDTR_BASE : GUEST_GDTR_BASE);
		dt->limit = vmcs_read(idt ? GUEST_IDTR_LIMIT : GUEST_GDTR_LIMIT);
	}
	vmx_put();
}

static void vmx_set_dt(struct okvm_vcpu *vcpu, const struct kvm_dtable *dt,
		       bool idt)
{
	if (vmx_get(to_vmx(vcpu))) {
		vmcs_write(idt ? GUEST_IDTR_BASE : GUEST_GDTR_BASE, dt->base);
		vmcs_write(idt ? GUEST_IDTR_LIMIT : GUEST_GDTR_LIMIT, dt->limit);
	}
	vmx_put();
}

static u64 vmx_read_cr(const struct vmx_shadowed_cr *cr)
{
	return (vmcs_read(cr->reg) & ~cr->mask) |
	       (vmcs_read(cr->shadow) & cr->mask);
}

static void vmx_write_cr(const struct vmx_shadowed_cr *cr, u64 val)
{
	vmcs_write(cr->shadow, val);
	vmcs_write(cr->reg, (val | cr->fixed0) & cr->fixed1);
}

/*
 * Under shadow paging the hardware walks okvm's tables (arch/x86/shadow.c):
 * GUEST_CR3 holds their root, and CR0.PE, PG and WP and CR4.PAE are set
 * whatever the guest's.  Without EPT there is no unrestricted guest
 * (26.3.1.1): a guest with paging off runs paged, on tables that map it
 * one to one.  With the guest's paging off SMEP and SMAP are off, and so
 * is EFER.LME, which VM entry wants equal to LMA when CR0.PG is set
 * (26.3.1.1).  The guest reads its own values from the read shadows.
 */
static void vmx_shadow_sync(struct okvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 cr0 = vmx_read_cr(&vmx_cr0);
	u64 cr4 = vmcs_read(CR4_READ_SHADOW) | X86_CR4_PAE;
	u64 efer = vmx->guest_efer;

	if (!(cr0 & X86_CR0_PG)) {
		cr4 &= ~(X86_CR4_SMEP | X86_CR4_SMAP);
		efer &= ~EFER_LME;
	}
	/* Real mode runs in virtual-8086 mode, as on a CPU without them. */
	if (!(cr0 & X86_CR0_PE))
		cr4 &= ~(X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD);
	cr0 |= vmx_cr0.fixed0 | X86_CR0_WP;
	vmcs_write(GUEST_CR0, cr0 & vmx_cr0.fixed1);
	vmcs_write(GUEST_CR4, (cr4 | vmx_cr4.fixed0) & vmx_cr4.fixed1);
	vmcs_write(GUEST_CR3, okvm_shadow_root_pa(vcpu));
	vmcs_write(GUEST_IA32_EFER, efer);
}

/* The TPR shadow's priority class is bits 7:4 of VTPR (29.1.1). */
#define VAPIC_TPR	0x80

static u64 vmx_get_ctl(struct okvm_vcpu *vcpu, enum okvm_ctl ctl)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 val = 0;

	switch (ctl) {
	case OKVM_CTL_CR2:
		return vmx->cr2;
	case OKVM_CTL_DR6:
		return vmx->dr6;
	case OKVM_CTL_CR8:
		return vmx->vapic[VAPIC_TPR] >> 4;
	default:
		break;
	}
	if (!vmx_get(vmx))
		goto out;
	switch (ctl) {
	case OKVM_CTL_CR0:
		val = vmx_read_cr(&vmx_cr0);
		break;
	case OKVM_CTL_CR3:
		val = okvm_tdp_enabled ? vmcs_read(GUEST_CR3) : vmx->guest_cr3;
		break;
	case OKVM_CTL_CR4:
		val = vmx_read_cr(&vmx_cr4);
		break;
	case OKVM_CTL_EFER:
		val = okvm_tdp_enabled ? vmcs_read(GUEST_IA32_EFER) :
					 vmx->guest_efer;
		break;
	case OKVM_CTL_DR7:
		val = vmcs_read(GUEST_DR7);
		break;
	default:
		break;
	}
out:
	vmx_put();
	return val;
}

static void vmx_set_ctl(struct okvm_vcpu *vcpu, enum okvm_ctl ctl, u64 val)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 old = 0;
	u32 entry;

	switch (ctl) {
	case OKVM_CTL_CR2:
		vmx->cr2 = val;
		return;
	case OKVM_CTL_DR6:
		vmx->dr6 = val;
		return;
	case OKVM_CTL_CR8:
		vmx->vapic[VAPIC_TPR] = val << 4;
		return;
	default:
		break;
	}
	if (!vmx_get(vmx))
		goto out;
	if (!okvm_tdp_enabled)
		old = vmx_get_ctl(vcpu, ctl);
	switch (ctl) {
	case OKVM_CTL_CR0:
		vmx_write_cr(&vmx_cr0, val);
		break;
	case OKVM_CTL_CR3:
		vmx->guest_cr3 = val;
		vmcs_write(GUEST_CR3, val);
		break;
	case OKVM_CTL_CR4:
		vmx_write_cr(&vmx_cr4, val);
		break;
	case OKVM_CTL_EFER:
		/* VM entry wants "IA-32e mode guest" to match LMA (26.2.4). */
		vmx->guest_efer = val;
		vmcs_write(GUEST_IA32_EFER, val);
		entry = vmcs_read(VM_ENTRY_CONTROLS) & ~ENTRY_IA32E_MODE;
		vmcs_write(VM_ENTRY_CONTROLS,
			   entry | (val & EFER_LMA ? ENTRY_IA32E_MODE : 0));
		break;
	case OKVM_CTL_DR7:
		vmcs_write(GUEST_DR7, val);
		break;
	default:
		break;
	}
	if (!okvm_tdp_enabled && ctl <= OKVM_CTL_EFER) {
		okvm_shadow_ctl_changed(vcpu, ctl, old, val);
		vmx_shadow_sync(vcpu);
	}
out:
	vmx_put();
}

/* VMX has no CPL of its own: it is SS.DPL (24.4.1). */
static int vmx_get_cpl(struct okvm_vcpu *vcpu)
{
	int cpl = 0;

	if (vmx_get(to_vmx(vcpu)))
		cpl = (vmcs_read(GUEST_ES_AR + 2 * VMX_SS) >> 5) & 3;
	vmx_put();
	return cpl;
}

static void vmx_set_pdptes(struct okvm_vcpu *vcpu, const u64 *pdpte)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	memcpy(vmx->pdpte, pdpte, sizeof(vmx->pdpte));
	vmx->pdptes_dirty = true;
}

/*
 * #DB and #AC are intercepted and reflected because a guest can otherwise
 * make the CPU loop delivering them forever without an exit
 * (CVE-2015-5307, CVE-2015-8104); #MC belongs to the host; #PF fills the
 * shadow tables.  Virtual-8086 mode intercepts every exception.
 */
static u32 vmx_exception_bitmap(const struct vmx_vcpu *vmx)
{
	if (vmx->vm86)
		return ~0U;
	return BIT(X86_TRAP_DB) | BIT(X86_TRAP_AC) | BIT(X86_TRAP_MC) |
	       (okvm_tdp_enabled ? 0 : BIT(X86_TRAP_PF));
}

static u64 vmx_eptp(struct okvm *vm)
{
	return okvm_tdp_root_pa(vm) | EPTP_MT_WB |
	       (u64)(okvm_tdp_levels() - 1) << EPTP_WALK_SHIFT |
	       (vmx_caps.ept_ad ? EPTP_AD : 0);
}

/*
 * Fill the VMCS's controls and host state for a vCPU at reset, and clear
 * the guest state x86.c does not set; x86.c then loads the architectural
 * reset state through the segment and control register operations.
 */
static void vmx_vcpu_reset(struct okvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 val;

	vmx->cr2 = 0;
	vmx->kernel_gs_base = 0;
	vmx->pdptes_dirty = false;
	memset(vmx->pdpte, 0, sizeof(vmx->pdpte));
	if (!vmx_get(vmx))
		goto out;

	vmcs_write(PIN_BASED_CONTROLS, vmx_caps.pin);
	vmcs_write(CPU_BASED_CONTROLS, vmx_caps.cpu);
	/* VPID 0 is the host's: a vCPU without its own runs without VPID. */
	vmcs_write(SECONDARY_CONTROLS, vmx->vpid ? vmx_caps.cpu2 :
				       vmx_caps.cpu2 & ~CPU2_ENABLE_VPID);
	vmcs_write(VM_EXIT_CONTROLS, vmx_caps.exit);
	vmcs_write(VM_ENTRY_CONTROLS, vmx_caps.entry);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(vmx_cr0.mask_field, vmx_cr0.mask);
	vmcs_write(vmx_cr4.mask_field, vmx_cr4.mask);
	vmcs_write(VIRTUAL_APIC_PAGE_ADDR, __pa(vmx->vapic));
	vmcs_write(TPR_THRESHOLD, 0);
	if (okvm_tdp_enabled)
		vmcs_write(EPT_POINTER, vmx_eptp(vcpu->vm));
	if (vmx->vpid)
		vmcs_write(VIRTUAL_PROCESSOR_ID, vmx->vpid);
	vmcs_write(TSC_OFFSET, vcpu->vm->arch.tsc_offset);
	vmcs_write(VMCS_LINK_POINTER, VMCS_LINK_NONE);
	vmcs_write(VM_ENTRY_INTR_INFO, 0);

	/* Host state that is the same for every entry (27.5). */
	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_RIP, (unsigned long)okvm_vmx_vmexit);
	rdmsrl(MSR_IA32_SYSENTER_CS, val);
	vmcs_write(HOST_SYSENTER_CS, val);
	rdmsrl(MSR_IA32_SYSENTER_EIP, val);
	vmcs_write(HOST_SYSENTER_EIP, val);
	rdmsrl(MSR_EFER, val);
	vmcs_write(HOST_IA32_EFER, val);
	if (vmx_caps.entry & ENTRY_LOAD_PAT) {
		rdmsrl(MSR_IA32_CR_PAT, val);
		vmcs_write(HOST_IA32_PAT, val);
		/* The power-on PAT (SDM vol. 3, 12.12.4). */
		vmcs_write(GUEST_IA32_PAT, PAT_POWER_ON);
	}

	vmcs_write(GUEST_RIP, 0xfff0);
	vmcs_write(GUEST_RSP, 0);
	vmcs_write(GUEST_RFLAGS, X86_EFLAGS_FIXED);
	vmcs_write(GUEST_INTERRUPTIBILITY, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
out:
	vmx_put();
	vmx->exit_rip = 0xfff0;
}

static int vmx_vcpu_create(struct okvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx;
	int vpid;

	vmx = kzalloc(sizeof(*vmx), GFP_KERNEL_ACCOUNT);
	if (!vmx)
		return -ENOMEM;
	vmx->vmcs = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	vmx->vapic = (u8 *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vmx->vmcs || !vmx->vapic)
		goto err;
	*(u32 *)vmx->vmcs = vmx_caps.revision;
	vmx->cpu = -1;
	INIT_LIST_HEAD(&vmx->loaded);
	/* Without a free VPID the vCPU runs with VPID 0: flushed every entry. */
	if (vmx_caps.vpid) {
		vpid = ida_alloc_range(&vmx_vpids, 1, VPID_MAX, GFP_KERNEL);
		vmx->vpid = vpid > 0 ? vpid : 0;
	}
	vcpu->arch.vendor = vmx;
	return 0;
err:
	free_page((unsigned long)vmx->vapic);
	free_page((unsigned long)vmx->vmcs);
	kfree(vmx);
	return -ENOMEM;
}

static void vmx_vcpu_free(struct okvm_vcpu *vcpu)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	int cpu = READ_ONCE(vmx->cpu);

	if (cpu >= 0)
		smp_call_function_single(cpu, vmx_clear_remote, vmx, 1);
	if (vmx->vpid)
		ida_free(&vmx_vpids, vmx->vpid);
	free_page((unsigned long)vmx->vapic);
	free_page((unsigned long)vmx->vmcs);
	kfree(vmx);
	vcpu->arch.vendor = NULL;
}

/*
 * INVEPT drops every translation derived from the VM's EPT tables, for
 * all VPIDs (28.3.3.1); INVVPID only this vCPU's guest-virtual ones.
 * Under shadow paging every translation is a linear one of the vCPU's
 * VPID, and without a VPID of its own (VPID 0) VM entry flushes them all
 * (28.3.3.1).
 */
static void vmx_flush(struct okvm_vcpu *vcpu, enum okvm_flush what)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);

	if (what == OKVM_FLUSH_NONE || (!okvm_tdp_enabled && !vmx->vpid))
		return;
	if ((what == OKVM_FLUSH_GUEST || !okvm_tdp_enabled) && vmx->vpid)
		vmx_invvpid(vmx_caps.invvpid_single ? VMX_INVVPID_SINGLE :
						      VMX_INVVPID_ALL, vmx->vpid);
	else if (vmx_caps.invept_single)
		vmx_invept(VMX_INVEPT_SINGLE, vmx_eptp(vcpu->vm));
	else
		vmx_invept(VMX_INVEPT_ALL, 0);
}

/*
 * Deliver the queued event.  An external interrupt can only be injected
 * when the guest could take it (26.3.1.5): otherwise ask for an exit as
 * soon as it can, and keep the interrupt queued.  Return: false when the
 * event is for real mode run in virtual-8086 mode, where the hardware
 * would take it through the protected-mode IDT: x86.c delivers it.
 */
static bool vmx_inject_event(struct okvm_vcpu *vcpu, u64 cr0, bool vm86)
{
	struct okvm_event *ev = &vcpu->arch.event;
	u32 cpu = vmcs_read(CPU_BASED_CONTROLS) & ~CPU_INTR_WINDOW_EXITING;
	u32 error_code = 0;
	u32 info;

	if (ev->pending && ev->type == OKVM_EVENT_INTR &&
	    (!(vcpu->arch.rflags & X86_EFLAGS_IF) ||
	     (vmcs_read(GUEST_INTERRUPTIBILITY) &
	      (INTR_BLOCKING_STI | INTR_BLOCKING_MOV_SS)))) {
		vmcs_write(CPU_BASED_CONTROLS, cpu | CPU_INTR_WINDOW_EXITING);
		return true;
	}
	vmcs_write(CPU_BASED_CONTROLS, cpu);
	if (vm86)
		return !ev->pending;
	info = okvm_take_event(vcpu, !(cr0 & X86_CR0_PE), &error_code);
	if (info & OKVM_EVT_ERROR_VALID)
		vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, error_code);
	vmcs_write(VM_ENTRY_INTR_INFO, info);
	return true;
}

/*
 * Real mode without unrestricted guest runs in virtual-8086 mode (SDM
 * vol. 3, chapter 20), paged on the shadow tables' one-to-one map.  VM
 * entry wants every segment there based at 16 times its selector, with a
 * limit of 0xffff and access rights 0xf3 (26.3.1.2), and RFLAGS.VM set;
 * IOPL 3 lets CLI, STI, PUSHF, POPF and IRET run as in real mode
 * (20.2.7).  What would not run as in real mode faults and exits, for
 * every exception is intercepted there: the privileged instructions;
 * port I/O, for TR gets a limit of 0, which leaves no I/O permission
 * bitmap (20.2.8); INT n, for IDTR gets a limit of 0 (20.3.3).
 * okvm_decode_vm86_gp() sorts the #GPs out, and x86.c delivers events in
 * software (OKVM_EXIT_REAL_EVENT).
 *
 * The guest's own segments are put back at every exit, so that the rest
 * of okvm sees real mode.  One the guest loaded meanwhile takes the new
 * selector and base, and keeps its limit and attributes, as real mode
 * does (20.1.1).  A segment based at a multiple of 16 below 1 MiB runs
 * with the selector that gives that base, which the guest reads back
 * when it differs from its own (the segment cache of protected mode, or
 * of KVM_SET_SREGS); any other (CS at reset, based at 0xffff0000) cannot
 * run, and the instruction at CS:IP is emulated instead (the far JMP of
 * a reset vector) until it can.  The guest's segments must still pass
 * the checks VM entry makes with unrestricted guest, which it does not
 * make of them now (a limit G agrees with, a busy TSS in TR: 26.3.1.2):
 * okvm fails the entry as that VM entry would.
 */
#define VM86_SEG_LIMIT		0xffff
#define VM86_SEG_AR		0xf3	/* present, DPL 3, data, accessed */
#define VM86_SEG_BASES		0xffff0ULL
#define VM86_TR_AR		0x8b	/* present, busy 32-bit TSS */

static void vmx_seg_read(struct vmx_seg_regs *r, enum vmx_seg seg)
{
	unsigned int n = 2 * seg;

	r->base = vmcs_read(GUEST_ES_BASE + n);
	r->limit = vmcs_read(GUEST_ES_LIMIT + n);
	r->ar = vmcs_read(GUEST_ES_AR + n);
	r->sel = vmcs_read(GUEST_ES_SELECTOR + n);
}

static void vmx_seg_write(const struct vmx_seg_regs *r, enum vmx_seg seg)
{
	unsigned int n = 2 * seg;

	vmcs_write(GUEST_ES_BASE + n, r->base);
	vmcs_write(GUEST_ES_LIMIT + n, r->limit);
	vmcs_write(GUEST_ES_AR + n, r->ar);
	vmcs_write(GUEST_ES_SELECTOR + n, r->sel);
}

/* G agrees with the limit of a usable segment (26.3.1.2). */
static bool vmx_seg_limit_ok(const struct vmx_seg_regs *r)
{
	if (r->ar & VMX_AR_UNUSABLE)
		return true;
	if (r->ar & VMX_AR_G)
		return (r->limit & 0xfff) == 0xfff;
	return r->limit <= 0xfffff;
}

/*
 * Return: OKVM_EXIT_NONE when the guest can enter in virtual-8086 mode,
 * OKVM_EXIT_EMULATE when a segment cannot be had there, or
 * OKVM_EXIT_FAIL_ENTRY for a state VM entry would refuse.
 */
static enum okvm_exit_reason vmx_enter_vm86(struct vmx_vcpu *vmx)
{
	struct vmx_seg_regs vm86 = {
		.limit = VM86_SEG_LIMIT,
		.ar = VM86_SEG_AR,
	};
	struct vmx_seg_regs tss = { .ar = VM86_TR_AR };
	struct vmx_seg_regs *tr = &vmx->rm[VMX_TR];
	enum okvm_exit_reason reason = OKVM_EXIT_NONE;
	enum vmx_seg i;

	for (i = VMX_ES; i <= VMX_GS; i++) {
		vmx_seg_read(&vmx->rm[i], i);
		if (!vmx_seg_limit_ok(&vmx->rm[i]))
			return OKVM_EXIT_FAIL_ENTRY;
		if (vmx->rm[i].base & ~VM86_SEG_BASES)
			reason = OKVM_EXIT_EMULATE;
	}
	vmx_seg_read(tr, VMX_TR);
	if (!vmx_seg_limit_ok(tr) || (tr->ar & VMX_AR_UNUSABLE) ||
	    (tr->ar & 7) != 3)
		return OKVM_EXIT_FAIL_ENTRY;
	if (reason != OKVM_EXIT_NONE)
		return reason;
	for (i = VMX_ES; i <= VMX_GS; i++) {
		vm86.base = vmx->rm[i].base;
		vm86.sel = vm86.base >> 4;
		vmx_seg_write(&vm86, i);
	}
	vmx_seg_write(&tss, VMX_TR);
	vmx->rm_idtr_limit = vmcs_read(GUEST_IDTR_LIMIT);
	vmcs_write(GUEST_IDTR_LIMIT, 0);
	return OKVM_EXIT_NONE;
}

static void vmx_leave_vm86(struct vmx_vcpu *vmx)
{
	struct vmx_seg_regs *r;
	enum vmx_seg i;
	u16 sel;

	for (i = VMX_ES; i <= VMX_GS; i++) {
		r = &vmx->rm[i];
		sel = vmcs_read(GUEST_ES_SELECTOR + 2 * i);
		if (sel != r->base >> 4) {
			r->sel = sel;
			r->base = (u64)sel << 4;
		}
		vmx_seg_write(r, i);
	}
	vmx_seg_write(&vmx->rm[VMX_TR], VMX_TR);
	vmcs_write(GUEST_IDTR_LIMIT, vmx->rm_idtr_limit);
}

/*
 * Guest state VM entry does not load: CR2 and DR6 (SDM 27.3, KVM keeps
 * them by hand too), and the SYSCALL MSRs and IA32_KERNEL_GS_BASE, which
 * AMD's VMLOAD switches but VMX leaves to software.  The guest cannot
 * write the SYSCALL MSRs (every WRMSR exits), so theirs are reset values
 * and need no saving; SWAPGS changes KERNEL_GS_BASE.
 */
struct vmx_host_state {
	u64 star, lstar, cstar, sfmask, kernel_gs_base, fs_base, debugctl;
	unsigned long dr6;
	u16 ds, es, fs, gs, ldt;
};

static void vmx_switch_to_guest(struct vmx_vcpu *vmx, struct vmx_host_state *h)
{
	savesegment(ds, h->ds);
	savesegment(es, h->es);
	savesegment(fs, h->fs);
	savesegment(gs, h->gs);
	store_ldt(h->ldt);
	rdmsrl(MSR_FS_BASE, h->fs_base);
	vmcs_write(HOST_FS_BASE, h->fs_base);
	rdmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	rdmsrl(MSR_STAR, h->star);
	rdmsrl(MSR_LSTAR, h->lstar);
	rdmsrl(MSR_CSTAR, h->cstar);
	rdmsrl(MSR_SYSCALL_MASK, h->sfmask);
	rdmsrl(MSR_IA32_DEBUGCTLMSR, h->debugctl);
	get_debugreg(h->dr6, 6);
	wrmsrl(MSR_KERNEL_GS_BASE, vmx->kernel_gs_base);
	wrmsrl(MSR_STAR, 0);
	wrmsrl(MSR_LSTAR, 0);
	wrmsrl(MSR_CSTAR, 0);
	wrmsrl(MSR_SYSCALL_MASK, 0);
	set_debugreg(vmx->dr6, 6);
	if (native_read_cr2() != vmx->cr2)
		native_write_cr2(vmx->cr2);
}

static void vmx_switch_to_host(struct vmx_vcpu *vmx, struct vmx_host_state *h)
{
	vmx->cr2 = native_read_cr2();
	get_debugreg(vmx->dr6, 6);
	set_debugreg(h->dr6, 6);
	rdmsrl(MSR_KERNEL_GS_BASE, vmx->kernel_gs_base);
	/*
	 * VM exit loaded null DS, ES, FS and GS, FS and GS with the bases
	 * okvm wrote, no LDT, and a TR limit of 0x67 (27.5.2).
	 */
	loadsegment(ds, h->ds);
	loadsegment(es, h->es);
	if (h->fs) {
		loadsegment(fs, h->fs);
		wrmsrl(MSR_FS_BASE, h->fs_base);
	}
	if (h->gs)
		load_gs_index(h->gs);
	if (h->ldt)
		asm volatile("lldt %0" : : "rm"(h->ldt));
	invalidate_tss_limit();
	wrmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	wrmsrl(MSR_STAR, h->star);
	wrmsrl(MSR_LSTAR, h->lstar);
	wrmsrl(MSR_CSTAR, h->cstar);
	wrmsrl(MSR_SYSCALL_MASK, h->sfmask);
	if (h->debugctl)
		wrmsrl(MSR_IA32_DEBUGCTLMSR, h->debugctl);
}

/* Host state that can change between two entries on one CPU. */
static void vmx_set_host_entry_state(void)
{
	vmcs_write(HOST_CR0, read_cr0());
	vmcs_write(HOST_CR3, __read_cr3());
	vmcs_write(HOST_CR4, cr4_read_shadow());
}

/* What a VM exit left in the exit-information fields (27.2), read once. */
struct vmx_exit_info {
	u32 reason;
	u32 intr_info;
	u64 qual;
};

/*
 * An event whose delivery the exit interrupted is in the IDT-vectoring
 * information; an exit that came from an IRET which unblocked NMIs must
 * block them again before the IRET runs again (27.2.3).
 */
static void vmx_after_exit_events(struct okvm_vcpu *vcpu,
				  const struct vmx_exit_info *ei)
{
	u32 idt = vmcs_read(IDT_VECTORING_INFO);
	bool unblocked = false;

	if (idt & OKVM_EVT_VALID) {
		okvm_requeue_event(vcpu, idt, vmcs_read(IDT_VECTORING_ERROR_CODE));
		return;
	}
	if (ei->reason == EXIT_REASON_EXCEPTION_NMI)
		unblocked = ei->intr_info & INTR_INFO_NMI_UNBLOCKED;
	else if (ei->reason == EXIT_REASON_EPT_VIOLATION)
		unblocked = ei->qual & QUAL_EPT_NMI_UNBLOCKED;
	if (unblocked)
		vmcs_write(GUEST_INTERRUPTIBILITY,
			   vmcs_read(GUEST_INTERRUPTIBILITY) | INTR_BLOCKING_NMI);
}

static void vmx_decode_io(u64 qual, struct okvm_exit *exit)
{
	exit->reason = OKVM_EXIT_IO;
	exit->io.port = qual >> QUAL_IO_PORT_SHIFT;
	exit->io.size = (qual & QUAL_IO_SIZE_MASK) + 1;
	exit->io.in = qual & QUAL_IO_IN;
	exit->io.string = qual & QUAL_IO_STRING;
	exit->io.rep = qual & QUAL_IO_REP;
}

static void vmx_decode_exception(struct okvm_vcpu *vcpu, struct okvm_exit *exit,
				 const struct vmx_exit_info *ei)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u32 info = ei->intr_info;
	u8 vector = info & OKVM_EVT_VECTOR_MASK;
	u64 qual = ei->qual;

	exit->reason = OKVM_EXIT_NONE;
	switch (vector) {
	case X86_TRAP_PF:
		/* Shadow paging: the linear address is the qualification. */
		exit->reason = OKVM_EXIT_SHADOW_FAULT;
		exit->tdp.addr = qual;
		exit->tdp.error_code = vmcs_read(VM_EXIT_INTR_ERROR_CODE);
		exit->tdp.write = exit->tdp.error_code & OKVM_PF_WRITE;
		break;
	case X86_TRAP_DB:
		/*
		 * The exit qualification, not DR6, has the conditions
		 * (27.1).  ICEBP is a trap reported before the instruction
		 * completes: complete it, then deliver the #DB.
		 */
		vmx->dr6 = (vmx->dr6 & ~(unsigned long)QUAL_DB_MASK) |
			   (qual & QUAL_DB_MASK);
		if ((info & INTR_INFO_TYPE_MASK) == INTR_INFO_TYPE_PRIV_SOFT)
			vcpu->arch.rip += vmcs_read(VM_EXIT_INSTRUCTION_LEN);
		okvm_queue_exception(vcpu, X86_TRAP_DB, false, 0);
		break;
	case X86_TRAP_AC:
		okvm_queue_exception(vcpu, X86_TRAP_AC, true, 0);
		break;
	case X86_TRAP_GP:
		/* Only virtual-8086 mode intercepts #GP. */
		exit->reason = OKVM_EXIT_VM86_GP;
		break;
	default:
		/* #MC and NMIs: handled before interrupts came back on. */
		if (!vmx->vm86 || vector == X86_TRAP_MC ||
		    (info & INTR_INFO_TYPE_MASK) == INTR_INFO_TYPE_NMI)
			break;
		/* Any other in virtual-8086 mode: INT3 and INTO are traps. */
		if ((info & INTR_INFO_TYPE_MASK) == INTR_INFO_TYPE_SOFT_EXC)
			vcpu->arch.rip += vmcs_read(VM_EXIT_INSTRUCTION_LEN);
		okvm_queue_exception(vcpu, vector, false, 0);
		break;
	}
}

static void vmx_decode_exit(struct okvm_vcpu *vcpu, struct okvm_exit *exit,
			    const struct vmx_exit_info *ei)
{
	u32 reason = ei->reason;
	u64 qual = ei->qual;

	exit->hw_reason = reason;
	exit->info[0] = qual;
	exit->info[1] = ei->intr_info;
	exit->next_rip = vcpu->arch.rip + vmcs_read(VM_EXIT_INSTRUCTION_LEN);

	switch (reason) {
	case EXIT_REASON_EXCEPTION_NMI:
		vmx_decode_exception(vcpu, exit, ei);
		break;
	case EXIT_REASON_EXTERNAL_INTERRUPT:
	case EXIT_REASON_INTERRUPT_WINDOW:
	case EXIT_REASON_MCE_DURING_ENTRY:
		/* The host takes an interrupt once IF is set again. */
		exit->reason = OKVM_EXIT_NONE;
		break;
	case EXIT_REASON_TRIPLE_FAULT:
		exit->reason = OKVM_EXIT_SHUTDOWN;
		break;
	case EXIT_REASON_CPUID:
		exit->reason = OKVM_EXIT_CPUID;
		break;
	case EXIT_REASON_HLT:
		exit->reason = OKVM_EXIT_HLT;
		break;
	case EXIT_REASON_INVD:
	case EXIT_REASON_WBINVD:
		exit->reason = OKVM_EXIT_NOP;
		break;
	case EXIT_REASON_INVLPG:
		/*
		 * Shadow paging, or forced on by a CPU without TRUE controls
		 * (which only flushes then).
		 */
		exit->reason = OKVM_EXIT_INVLPG;
		exit->tdp.addr = qual;
		break;
	case EXIT_REASON_RDPMC:
		exit->reason = OKVM_EXIT_GP;
		break;
	case EXIT_REASON_IO:
		vmx_decode_io(qual, exit);
		break;
	case EXIT_REASON_RDMSR:
	case EXIT_REASON_WRMSR:
		exit->reason = OKVM_EXIT_MSR;
		exit->msr.index = vcpu->arch.regs[OKVM_RCX];
		exit->msr.write = reason == EXIT_REASON_WRMSR;
		break;
	case EXIT_REASON_XSETBV:
		exit->reason = OKVM_EXIT_XSETBV;
		break;
	case EXIT_REASON_CR_ACCESS:
		exit->cr.cr = qual & QUAL_CR_NUMBER_MASK;
		exit->cr.reg = (qual & QUAL_CR_GPR_MASK) >> QUAL_CR_GPR_SHIFT;
		if ((qual & QUAL_CR_ACCESS_MASK) == QUAL_CR_MOV_TO)
			exit->reason = OKVM_EXIT_CR_WRITE;
		else if ((qual & QUAL_CR_ACCESS_MASK) == QUAL_CR_MOV_FROM)
			exit->reason = OKVM_EXIT_CR_READ;
		else
			/* CLTS, LMSW: CR0.PE is okvm's under shadow paging. */
			exit->reason = OKVM_EXIT_EMULATE;
		break;
	case EXIT_REASON_GETSEC:
	case EXIT_REASON_VMCALL:
	case EXIT_REASON_VMCLEAR:
	case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD:
	case EXIT_REASON_VMPTRST:
	case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMRESUME:
	case EXIT_REASON_VMWRITE:
	case EXIT_REASON_VMXOFF:
	case EXIT_REASON_VMXON:
	case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID:
	case EXIT_REASON_MONITOR:
	case EXIT_REASON_MWAIT:
		/* The guest's CPUID offers neither VMX, SMX nor MONITOR. */
		exit->reason = OKVM_EXIT_UD;
		break;
	case EXIT_REASON_EPT_VIOLATION:
		exit->reason = OKVM_EXIT_TDP_FAULT;
		exit->tdp.addr = vmcs_read(GUEST_PHYSICAL_ADDRESS);
		exit->tdp.write = qual & QUAL_EPT_WRITE;
		break;
	default:
		/* Task switches among them: KVM emulates those, okvm cannot. */
		exit->reason = OKVM_EXIT_UNHANDLED;
		break;
	}
}

/*
 * Before the guest's state is loaded: write what must come from guest
 * memory, and make sure the state can run at all.  Return: false when it
 * cannot (real mode without unrestricted guest).
 */
static bool vmx_prepare(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	u64 cr0 = vmcs_read(GUEST_CR0);
	u64 guest_cr0 = vmcs_read(CR0_READ_SHADOW);
	bool vm86;
	int i;

	/*
	 * Without unrestricted guest, shadow paging runs a guest with
	 * paging off on its own tables, and real mode in virtual-8086 mode;
	 * EPT would need tables of its own for that.
	 */
	if (!vmx_caps.ug && okvm_tdp_enabled &&
	    (guest_cr0 & (X86_CR0_PE | X86_CR0_PG)) !=
	    (X86_CR0_PE | X86_CR0_PG)) {
		exit->reason = OKVM_EXIT_NO_REAL_MODE;
		exit->hw_reason = 0;
		return false;
	}
	vm86 = !vmx_caps.ug && !(guest_cr0 & X86_CR0_PE);
	vmx->vm86 = false;
	if (vmx->pdptes_dirty) {
		for (i = 0; i < 4; i++)
			vmcs_write(GUEST_PDPTE0 + 2 * i, vmx->pdpte[i]);
		vmx->pdptes_dirty = false;
	}
	/*
	 * A completed instruction ends an STI/MOV SS shadow and its pending
	 * single-step trap (okvm raised that one itself); VM entry also
	 * refuses STI blocking with IF clear (26.3.1.5).
	 */
	if (vmx->exit_rip != vcpu->arch.rip ||
	    !(vcpu->arch.rflags & X86_EFLAGS_IF)) {
		u32 intr = vmcs_read(GUEST_INTERRUPTIBILITY);

		if (vmx->exit_rip != vcpu->arch.rip) {
			intr &= ~(INTR_BLOCKING_STI | INTR_BLOCKING_MOV_SS);
			vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
		} else {
			intr &= ~INTR_BLOCKING_STI;
		}
		vmcs_write(GUEST_INTERRUPTIBILITY, intr);
	}
	if (!vmx_inject_event(vcpu, cr0, vm86)) {
		exit->reason = OKVM_EXIT_REAL_EVENT;
		return false;
	}
	if (vm86) {
		exit->reason = vmx_enter_vm86(vmx);
		exit->hw_reason = exit->reason == OKVM_EXIT_FAIL_ENTRY ?
			EXIT_REASON_FAILED_ENTRY | EXIT_REASON_INVALID_STATE : 0;
		if (exit->reason != OKVM_EXIT_NONE)
			return false;
	}
	vmx->vm86 = vm86;
	vmcs_write(EXCEPTION_BITMAP, vmx_exception_bitmap(vmx));
	vmcs_write(GUEST_RIP, vcpu->arch.rip);
	vmcs_write(GUEST_RSP, vcpu->arch.regs[OKVM_RSP]);
	vmcs_write(GUEST_RFLAGS, vcpu->arch.rflags |
		   (vm86 ? X86_EFLAGS_VM | X86_EFLAGS_IOPL : 0));
	return true;
}

static void vmx_run(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	struct vmx_vcpu *vmx = to_vmx(vcpu);
	struct vmx_host_state host;
	struct vmx_exit_info ei;
	enum okvm_flush flush;
	unsigned long rflags;
	int fail;

	preempt_disable();
	if (!vmx_load(vmx)) {
		exit->reason = OKVM_EXIT_HW_OFF;
		goto out;
	}
	if (!vmx_prepare(vcpu, exit))
		goto out;

	local_irq_disable();
	/* A reboot's IPI may have switched VMX off since vmx_load(). */
	if (!this_cpu_ptr(&vmx_cpus)->enabled ||
	    READ_ONCE(vmx->cpu) != smp_processor_id()) {
		local_irq_enable();
		exit->reason = OKVM_EXIT_HW_OFF;
		goto out;
	}
	if (!okvm_enter_guest_mode(vcpu)) {
		if (vmx->vm86)
			vmx_leave_vm86(vmx);
		local_irq_enable();
		exit->reason = OKVM_EXIT_NONE;
		goto out;
	}
	flush = okvm_tlb_flush_pending(vcpu);
	if (vmx->arrived)
		flush = OKVM_FLUSH_TDP;
	vmx->arrived = false;
	vmx_flush(vcpu, flush);
	vmx_set_host_entry_state();
	vmx_switch_to_guest(vmx, &host);
	okvm_load_guest_state(vcpu);

	fail = okvm_vmx_vmrun(vcpu->arch.regs, vmx->launched);

	okvm_put_guest_state(vcpu);
	vmx_switch_to_host(vmx, &host);
	ei.reason = vmcs_read(VM_EXIT_REASON);
	ei.intr_info = vmcs_read(VM_EXIT_INTR_INFO);
	ei.qual = vmcs_read(EXIT_QUALIFICATION);
	if (vmx->vm86)
		vmx_leave_vm86(vmx);
	if (!fail && (ei.reason & EXIT_REASON_BASIC_MASK) ==
		     EXIT_REASON_EXCEPTION_NMI) {
		if ((ei.intr_info & INTR_INFO_TYPE_MASK) == INTR_INFO_TYPE_NMI)
			okvm_vmx_call_nmi();
		else if ((ei.intr_info & OKVM_EVT_VECTOR_MASK) == X86_TRAP_MC &&
			 IS_ENABLED(CONFIG_X86_MCE))
			/* A real machine check: let the host's handler see it. */
			asm volatile("int $0x12");
	}
	okvm_exit_guest_mode(vcpu);
	vmcs_write(VM_ENTRY_INTR_INFO, 0);

	if (fail) {
		/* VMfail: the controls or host state were refused (30.4). */
		local_irq_enable();
		exit->reason = OKVM_EXIT_FAIL_ENTRY;
		exit->hw_reason = vmcs_read(VM_INSTRUCTION_ERROR);
		goto out;
	}
	vcpu->arch.rip = vmcs_read(GUEST_RIP);
	rflags = vmcs_read(GUEST_RFLAGS);
	/* Virtual-8086 mode cannot change VM or IOPL (20.2.7): the guest's. */
	if (vmx->vm86)
		rflags = (rflags & ~(X86_EFLAGS_VM | X86_EFLAGS_IOPL)) |
			 (vcpu->arch.rflags & X86_EFLAGS_IOPL);
	vcpu->arch.rflags = rflags;
	vcpu->arch.regs[OKVM_RSP] = vmcs_read(GUEST_RSP);
	vmx->exit_rip = vcpu->arch.rip;
	local_irq_enable();

	if (ei.reason & EXIT_REASON_FAILED_ENTRY) {
		/* The guest state was refused; KVM reports the whole reason. */
		exit->reason = OKVM_EXIT_FAIL_ENTRY;
		exit->hw_reason = ei.reason;
		goto out;
	}
	vmx->launched = true;
	ei.reason &= EXIT_REASON_BASIC_MASK;
	vmx_after_exit_events(vcpu, &ei);
	vmx_decode_exit(vcpu, exit, &ei);
out:
	preempt_enable();
}

const struct okvm_x86_ops vmx_ops = {
	.name			= "vmx",
	.probe			= vmx_probe,
	.exit			= vmx_exit_backend,
	.hardware_enable	= vmx_hardware_enable,
	.hardware_disable	= vmx_hardware_disable,
	.vcpu_create		= vmx_vcpu_create,
	.vcpu_free		= vmx_vcpu_free,
	.vcpu_reset		= vmx_vcpu_reset,
	.run			= vmx_run,
	.get_segment		= vmx_get_segment,
	.set_segment		= vmx_set_segment,
	.get_dt			= vmx_get_dt,
	.set_dt			= vmx_set_dt,
	.get_ctl		= vmx_get_ctl,
	.set_ctl		= vmx_set_ctl,
	.get_cpl		= vmx_get_cpl,
	.set_pdptes		= vmx_set_pdptes,
	.tdp_fmt		= &ept_format,
	/* KVM on Intel: CS and data segments accessed, TR a 32-bit busy TSS. */
	.reset_types		= { .code = 0xb, .data = 0x3, .tr = 0xb },
};
