// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU registers: the state after KVM_CREATE_VCPU, KVM_SET/GET_REGS and
 * KVM_SET/GET_SREGS round trips, and what the guest itself sees.
 */
#include "kvm_util.h"

static void log_seg(const char *name, struct kvm_segment *s)
{
	test_log("%-4s sel 0x%04x base 0x%llx limit 0x%x type 0x%x p %u dpl %u db %u s %u l %u g %u avl %u unusable %u",
		 name, s->selector, s->base, s->limit, s->type, s->present,
		 s->dpl, s->db, s->s, s->l, s->g, s->avl, s->unusable);
}

static void log_sregs(struct kvm_sregs *s)
{
	unsigned int i;

	log_seg("cs", &s->cs);
	log_seg("ds", &s->ds);
	log_seg("es", &s->es);
	log_seg("fs", &s->fs);
	log_seg("gs", &s->gs);
	log_seg("ss", &s->ss);
	log_seg("tr", &s->tr);
	log_seg("ldt", &s->ldt);
	test_log("gdt base 0x%llx limit 0x%x, idt base 0x%llx limit 0x%x",
		 s->gdt.base, s->gdt.limit, s->idt.base, s->idt.limit);
	test_log("cr0 0x%llx cr2 0x%llx cr3 0x%llx cr4 0x%llx cr8 0x%llx",
		 s->cr0, s->cr2, s->cr3, s->cr4, s->cr8);
	test_log("efer 0x%llx apic_base 0x%llx", s->efer, s->apic_base);
	for (i = 0; i < 4; i++)
		if (s->interrupt_bitmap[i])
			test_log("interrupt_bitmap[%u] 0x%llx", i,
				 s->interrupt_bitmap[i]);
}

static void log_regs(struct kvm_regs *r)
{
	test_log("rax 0x%llx rbx 0x%llx rcx 0x%llx rdx 0x%llx",
		 r->rax, r->rbx, r->rcx, r->rdx);
	test_log("rsi 0x%llx rdi 0x%llx rsp 0x%llx rbp 0x%llx",
		 r->rsi, r->rdi, r->rsp, r->rbp);
	test_log("r8 0x%llx r9 0x%llx r10 0x%llx r11 0x%llx",
		 r->r8, r->r9, r->r10, r->r11);
	test_log("r12 0x%llx r13 0x%llx r14 0x%llx r15 0x%llx",
		 r->r12, r->r13, r->r14, r->r15);
	test_log("rip 0x%llx rflags 0x%llx", r->rip, r->rflags);
}

TEST(reset_regs)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	struct kvm_regs r, want = {
		.rdx = 0x600,	/* family 6: KVM's signature without CPUID */
		.rip = 0xfff0,
		.rflags = 0x2,
	};

	vcpu_get_regs(vcpu, &r);
	log_regs(&r);
	ASSERT_MEMEQ(&r, &want, sizeof(r));
	vcpu_free(vcpu);
	vm_free(vm);
}

static void check_reset_seg(struct kvm_segment *s, uint16_t sel,
			    uint64_t base, uint8_t type, uint8_t sys)
{
	ASSERT_EQ(s->selector, sel);
	ASSERT_EQ(s->base, base);
	ASSERT_EQ(s->limit, 0xffff);
	ASSERT_EQ(s->type, type);
	ASSERT_EQ(s->present, 1);
	ASSERT_EQ(s->dpl, 0);
	ASSERT_EQ(s->db, 0);
	ASSERT_EQ(s->s, sys ? 0 : 1);
	ASSERT_EQ(s->l, 0);
	ASSERT_EQ(s->g, 0);
	ASSERT_EQ(s->avl, 0);
	ASSERT_EQ(s->unusable, 0);
}

static void check_reset_sregs(struct kvm_sregs *s)
{
	bool vmx = host_vmx();
	unsigned int i;

	/*
	 * kvm_amd (init_vmcb()) sets CS up as execute/read, not accessed,
	 * and the data segments read/write, not accessed, but reports DS,
	 * ES, FS and GS accessed (svm_get_segment()); TR is a busy 16-bit
	 * TSS.  kvm_intel (vmx_vcpu_reset(), seg_setup()) sets the accessed
	 * bit everywhere, as the SDM's reset state has it (vol. 3A, table
	 * "IA-32 and Intel 64 Processor States Following Power-up, Reset,
	 * or INIT": access rights 93H, CS 9BH), and TR is a busy 32-bit TSS
	 * (8BH), which VM entry requires outside IA-32e mode too.
	 */
	check_reset_seg(&s->cs, 0xf000, 0xffff0000, vmx ? 0xb : 0xa, 0);
	check_reset_seg(&s->ds, 0, 0, 0x3, 0);
	check_reset_seg(&s->es, 0, 0, 0x3, 0);
	check_reset_seg(&s->fs, 0, 0, 0x3, 0);
	check_reset_seg(&s->gs, 0, 0, 0x3, 0);
	check_reset_seg(&s->ss, 0, 0, vmx ? 0x3 : 0x2, 0);
	/* A busy TSS and an LDT, both system segments. */
	check_reset_seg(&s->tr, 0, 0, vmx ? 0xb : 0x3, 1);
	check_reset_seg(&s->ldt, 0, 0, 0x2, 1);
	ASSERT_EQ(s->gdt.base, 0);
	ASSERT_EQ(s->gdt.limit, 0xffff);
	ASSERT_EQ(s->idt.base, 0);
	ASSERT_EQ(s->idt.limit, 0xffff);
	ASSERT_EQ(s->cr0, 0x60000010);
	ASSERT_EQ(s->cr2, 0);
	ASSERT_EQ(s->cr3, 0);
	ASSERT_EQ(s->cr4, 0);
	ASSERT_EQ(s->cr8, 0);
	ASSERT_EQ(s->efer, 0);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(s->interrupt_bitmap[i], 0);
}

TEST(reset_sregs)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	struct kvm_sregs s;

	vcpu_get_sregs(vcpu, &s);
	log_sregs(&s);
	check_reset_sregs(&s);
	/* Enabled, xAPIC mode, and BSP: vCPU 0 is the bootstrap processor. */
	ASSERT_EQ(s.apic_base, 0xfee00900);
	vcpu_free(vcpu);
	vm_free(vm);
}

/* Other vCPUs reset the same, but are not the BSP. */
TEST(reset_sregs_ap)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu0 = vcpu_add(vm, 0);
	struct kvm_vcpu *vcpu = vcpu_add(vm, 1);
	struct kvm_sregs s;
	struct kvm_regs r;

	vcpu_get_sregs(vcpu, &s);
	log_sregs(&s);
	check_reset_sregs(&s);
	ASSERT_EQ(s.apic_base, 0xfee00800);
	vcpu_get_regs(vcpu, &r);
	ASSERT_EQ(r.rip, 0xfff0);
	ASSERT_EQ(r.rdx, 0x600);
	vcpu_free(vcpu);
	vcpu_free(vcpu0);
	vm_free(vm);
}

static const struct kvm_regs odd_regs = {
	.rax = 0x0123456789abcdefULL,
	.rbx = 0xfedcba9876543210ULL,
	.rcx = 0x8000000000000001ULL,
	.rdx = 0xffffffffffffffffULL,
	.rsi = 0x5555aaaa5555aaaaULL,
	.rdi = 0xaaaa5555aaaa5555ULL,
	.rsp = 0x00007ffffffffff8ULL,
	.rbp = 0xdeadbeefcafef00dULL,
	.r8 = 0x0808080808080808ULL,
	.r9 = 0x0909090909090909ULL,
	.r10 = 0x1010101010101010ULL,
	.r11 = 0x1111111111111111ULL,
	.r12 = 0x1212121212121212ULL,
	.r13 = 0x1313131313131313ULL,
	.r14 = 0x1414141414141414ULL,
	.r15 = 0x1515151515151515ULL,
	.rip = 0xffffffff80001234ULL,
	/* CF PF AF ZF SF IF DF OF and the fixed bit 1. */
	.rflags = 0xed7,
};

TEST(regs_round_trip)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	struct kvm_regs r = odd_regs;

	vcpu_set_regs(vcpu, &r);
	memset(&r, 0, sizeof(r));
	vcpu_get_regs(vcpu, &r);
	log_regs(&r);
	ASSERT_MEMEQ(&r, &odd_regs, sizeof(r));
	vcpu_free(vcpu);
	vm_free(vm);
}

static struct kvm_segment seg(uint16_t sel, uint64_t base, uint32_t limit,
			      uint8_t type, uint8_t s, uint8_t db)
{
	struct kvm_segment r = {
		.base = base,
		.limit = limit,
		.selector = sel,
		.type = type,
		.present = 1,
		.s = s,
		.db = db,
		.g = limit > 0xfffff,
	};

	return r;
}

/*
 * Values KVM keeps as given: consistent segments (G matching the limit,
 * data segments accessed, TR busy), unusual bases and limits, odd
 * control register bits.
 */
TEST(sregs_round_trip)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	struct kvm_sregs s, want;

	vcpu_get_sregs(vcpu, &s);
	s.cs = seg(0x1234, 0x12340, 0xffff, 0xb, 1, 0);
	s.ds = seg(0, 0xabcd0000, 0xffffffff, 0x3, 1, 1);
	s.es = seg(0x5678, 0x56780, 0xfffff, 0x3, 1, 0);
	s.fs = seg(0x18, 0x7fff12345000ULL, 0xffffffff, 0x3, 1, 1);
	s.gs = seg(0x20, 0xffffffff80000000ULL, 0x1234, 0x1, 1, 0);
	s.ss = seg(0x10, 0x1000, 0xffffffff, 0x3, 1, 1);
	s.tr = seg(0x28, 0x3000, 0x67, 0xb, 0, 0);
	s.ldt = seg(0x30, 0x4000, 0xfff, 0x2, 0, 0);
	s.gdt.base = 0x12345678;
	s.gdt.limit = 0x3ff;
	s.idt.base = 0x9abcd000;
	s.idt.limit = 0x7ff;
	/* PE MP ET NE WP AM */
	s.cr0 = 0x50033;
	s.cr2 = 0xdeadbeef12345678ULL;
	s.cr3 = 0x1234000;
	/* VME PVI TSD DE PSE PGE PCE OSFXSR OSXMMEXCPT */
	s.cr4 = 0x79f;
	s.cr8 = 0x7;
	s.efer = EFER_SCE | EFER_NX;
	want = s;
	vcpu_set_sregs(vcpu, &s);
	memset(&s, 0, sizeof(s));
	vcpu_get_sregs(vcpu, &s);
	log_sregs(&s);
	ASSERT_MEMEQ(&s.cs, &want.cs, sizeof(s.cs));
	ASSERT_MEMEQ(&s.ds, &want.ds, sizeof(s.ds));
	ASSERT_MEMEQ(&s.es, &want.es, sizeof(s.es));
	ASSERT_MEMEQ(&s.fs, &want.fs, sizeof(s.fs));
	ASSERT_MEMEQ(&s.gs, &want.gs, sizeof(s.gs));
	ASSERT_MEMEQ(&s.ss, &want.ss, sizeof(s.ss));
	ASSERT_MEMEQ(&s.tr, &want.tr, sizeof(s.tr));
	ASSERT_MEMEQ(&s.ldt, &want.ldt, sizeof(s.ldt));
	ASSERT_MEMEQ(&s, &want, sizeof(s));
	vcpu_free(vcpu);
	vm_free(vm);
}

/*
 * What KVM makes of inconsistent segments.  kvm_amd: the VMCB has no G
 * bit that sticks and no "unusable", so KVM reports G from the limit and
 * unusable from !present, sets the accessed bit of usable data segments
 * and the busy bit of TR.  kvm_intel: the VMCS access rights hold G and
 * an unusable bit as given (SDM vol. 3C, "Guest Register State"); KVM
 * makes a segment that is not present unusable, reports unusable ones
 * not present (vmx_segment_access_rights(), vmx_get_segment()), and with
 * unrestricted guest sets the accessed bit in the type of every segment
 * but LDTR (__vmx_set_segment()), TR's and an unusable one's too.  The
 * rest it leaves for VM entry to check.
 */
TEST(sregs_normalized)
{
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	bool vmx = host_vmx();
	struct kvm_sregs s, want;

	vcpu_get_sregs(vcpu, &s);
	s.ds = seg(0, 0, 0xffff, 0x2, 1, 0);		/* not accessed */
	s.es = seg(0, 0, 0xffff, 0x2, 1, 0);
	s.es.present = 0;				/* unusable */
	s.fs = seg(0, 0, 0xffffffff, 0x3, 1, 1);
	s.fs.g = 0;					/* G missing */
	s.gs = seg(0, 0, 0xfffff, 0x3, 1, 0);
	s.gs.g = 1;					/* G extra */
	s.tr = seg(0, 0x3000, 0x67, 0x9, 0, 0);		/* available TSS */
	vcpu_set_sregs(vcpu, &s);
	want = s;
	vcpu_get_sregs(vcpu, &s);
	log_sregs(&s);
	/*
	 * kvm_intel without unrestricted guest keeps a real-mode vCPU's
	 * segments aside as they were set (vm86 mode runs with others).
	 */
	if (kvm_real_mode_vm86()) {
		ASSERT_MEMEQ(&s.ds, &want.ds, 6 * sizeof(s.ds));
		return;
	}
	ASSERT_EQ(s.ds.type, 0x3);
	ASSERT_EQ(s.es.type, vmx ? 0x3 : 0x2);
	ASSERT_EQ(s.es.present, 0);
	ASSERT_EQ(s.es.unusable, 1);
	ASSERT_EQ(s.fs.g, vmx ? 0 : 1);
	ASSERT_EQ(s.gs.g, vmx ? 1 : 0);
	ASSERT_EQ(s.tr.type, vmx ? 0x9 : 0xb);
	vcpu_free(vcpu);
	vm_free(vm);
}

/*
 * The guest stores the registers the host gave it, and loads others of
 * its own; registers it cannot reach stay as the host set them.  (Bits
 * 63:32 of a register the guest wrote in 16-bit code are not checked:
 * the CPU need not keep them.)
 */
GUEST_CODE16(guest_regs,
	"	mov %eax, 0x8000\n"
	"	mov %ebx, 0x8004\n"
	"	mov %ecx, 0x8008\n"
	"	mov %edx, 0x800c\n"
	"	mov %esi, 0x8010\n"
	"	mov %edi, 0x8014\n"
	"	mov %ebp, 0x8018\n"
	"	mov %esp, 0x801c\n"
	"	pushfl\n"
	"	popl 0x8020\n"
	"	mov $0x11111111, %eax\n"
	"	mov $0x22222222, %ebx\n"
	"	mov $0x33333333, %ecx\n"
	"	mov $0x44444444, %edx\n"
	"	mov $0x55555555, %esi\n"
	"	mov $0x66666666, %edi\n"
	"	mov $0x77777777, %ebp\n"
	"	mov $0x0ff0, %sp\n"
	"	stc\n"
	"	std\n"
	"	hlt\n");

TEST(guest_sees_regs)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_regs), &vcpu);
	uint32_t *seen = vm_hva(vm, 0x8000);
	struct kvm_regs r = odd_regs;

	r.rip = GUEST_LOAD_ADDR;
	r.rsp = 0xabcd0f00;	/* SP 0x0f00 in the 16-bit stack segment */
	r.rflags = 0x2 | 0x1 | 0x4 | 0x40 | 0x80 | 0x800;
	vcpu_set_regs(vcpu, &r);
	vcpu_run_expect_hlt(vcpu);

	ASSERT_EQ(seen[0], (uint32_t)odd_regs.rax);
	ASSERT_EQ(seen[1], (uint32_t)odd_regs.rbx);
	ASSERT_EQ(seen[2], (uint32_t)odd_regs.rcx);
	ASSERT_EQ(seen[3], (uint32_t)odd_regs.rdx);
	ASSERT_EQ(seen[4], (uint32_t)odd_regs.rsi);
	ASSERT_EQ(seen[5], (uint32_t)odd_regs.rdi);
	ASSERT_EQ(seen[6], (uint32_t)odd_regs.rbp);
	ASSERT_EQ(seen[7], 0xabcd0f00);
	/*
	 * Virtual-8086 mode, where kvm_intel without unrestricted guest and
	 * okvm with shadow paging on VT-x run real mode, needs IOPL 3 for
	 * PUSHF to run: the guest sees it.
	 */
	ASSERT_EQ(seen[8], r.rflags | (real_mode_vm86() ? 0x3000 : 0));

	vcpu_get_regs(vcpu, &r);
	log_regs(&r);
	ASSERT_EQ((uint32_t)r.rax, 0x11111111);
	ASSERT_EQ((uint32_t)r.rbx, 0x22222222);
	ASSERT_EQ((uint32_t)r.rcx, 0x33333333);
	ASSERT_EQ((uint32_t)r.rdx, 0x44444444);
	ASSERT_EQ((uint32_t)r.rsi, 0x55555555);
	ASSERT_EQ((uint32_t)r.rdi, 0x66666666);
	ASSERT_EQ((uint32_t)r.rbp, 0x77777777);
	ASSERT_EQ((uint32_t)r.rsp, 0xabcd0ff0);
	ASSERT_EQ(r.r8, odd_regs.r8);
	ASSERT_EQ(r.r9, odd_regs.r9);
	ASSERT_EQ(r.r10, odd_regs.r10);
	ASSERT_EQ(r.r11, odd_regs.r11);
	ASSERT_EQ(r.r12, odd_regs.r12);
	ASSERT_EQ(r.r13, odd_regs.r13);
	ASSERT_EQ(r.r14, odd_regs.r14);
	ASSERT_EQ(r.r15, odd_regs.r15);
	/* CF and DF set by the guest, the rest as the host left them. */
	ASSERT_EQ(r.rflags, 0x2 | 0x1 | 0x4 | 0x40 | 0x80 | 0x400 | 0x800);
	vm_free(vm);
}

/*
 * Segment bases and control registers set by the host are the ones the
 * guest runs with: DS base 0x20000 behind selector 0, and CR0/CR4 as
 * read by the guest.
 */
GUEST_CODE16(guest_sregs,
	"	movl $0x5eed5eed, 0x10\n"
	"	mov %cr0, %eax\n"
	"	out %eax, $0x10\n"
	"	mov %cr4, %eax\n"
	"	out %eax, $0x10\n"
	"	hlt\n");

TEST(guest_sees_sregs)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_sregs), &vcpu);
	uint32_t *data = vm_add_mem(vm, 1, 0x20000, 0x10000);
	struct kvm_sregs s;

	vcpu_get_sregs(vcpu, &s);
	s.ds.base = 0x20000;
	s.cr4 = X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT | 0x80 /* PGE */;
	s.cr0 = X86_CR0_ET | 0x2 /* MP */ | 0x20 /* NE */;
	vcpu_set_sregs(vcpu, &s);

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4),
		  X86_CR0_ET | 0x2 | 0x20);
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 4),
		  X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT | 0x80);
	vcpu_run_expect_hlt(vcpu);
	ASSERT_EQ(data[0x10 / 4], 0x5eed5eed);
	ASSERT_EQ(*(uint32_t *)vm_hva(vm, 0x10), 0);
	vm_free(vm);
}

/* The registers the guest leaves are what KVM_GET_SREGS reports. */
GUEST_CODE16(guest_sets_sregs,
	"	mov $0x2000, %ax\n"
	"	mov %ax, %es\n"
	"	mov $0x3000, %ax\n"
	"	mov %ax, %fs\n"
	"	lidt 0x8000\n"
	"	lgdt 0x8008\n"
	"	mov %cr0, %eax\n"
	"	or $0x20, %eax\n"		/* NE */
	"	mov %eax, %cr0\n"
	"	hlt\n");

TEST(host_sees_guest_sregs)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(guest_sets_sregs), &vcpu);
	uint8_t *desc = vm_hva(vm, 0x8000);
	struct kvm_sregs s;

	/* IDT limit 0x3ff base 0x12345, GDT limit 0x17 base 0x6000. */
	memcpy(desc, "\xff\x03\x45\x23\x01\x00", 6);
	memcpy(desc + 8, "\x17\x00\x00\x60\x00\x00", 6);
	vcpu_run_expect_hlt(vcpu);
	vcpu_get_sregs(vcpu, &s);
	log_sregs(&s);
	ASSERT_EQ(s.es.selector, 0x2000);
	ASSERT_EQ(s.es.base, 0x20000);
	ASSERT_EQ(s.fs.selector, 0x3000);
	ASSERT_EQ(s.fs.base, 0x30000);
	ASSERT_EQ(s.idt.base, 0x12345);
	ASSERT_EQ(s.idt.limit, 0x3ff);
	ASSERT_EQ(s.gdt.base, 0x6000);
	ASSERT_EQ(s.gdt.limit, 0x17);
	ASSERT_EQ(s.cr0, 0x60000030);
	vm_free(vm);
}

/*
 * States KVM_SET_SREGS refuses itself, before any VMRUN could: CR0.PG
 * without CR0.PE, CR0.NW without CR0.CD, long mode without CR4.PAE or
 * EFER.LMA, EFER.LMA or CS.L outside long mode.
 */
TEST(sregs_invalid_einval)
{
	static const struct {
		const char *what;
		uint64_t cr0, cr4, efer;
		uint8_t cs_l;
	} bad[] = {
		{ "PG without PE", X86_CR0_PG | X86_CR0_ET, X86_CR4_PAE,
		  EFER_LME | EFER_LMA, 0 },
		{ "NW without CD", X86_CR0_NW | X86_CR0_ET, 0, 0, 0 },
		{ "LME+PG without PAE", X86_CR0_PG | X86_CR0_PE, 0,
		  EFER_LME | EFER_LMA, 0 },
		{ "LME+PG without LMA", X86_CR0_PG | X86_CR0_PE, X86_CR4_PAE,
		  EFER_LME, 0 },
		{ "LMA without PG", X86_CR0_PE, X86_CR4_PAE,
		  EFER_LME | EFER_LMA, 0 },
		{ "CS.L outside long mode", X86_CR0_PE, 0, 0, 1 },
	};
	struct kvm_vm *vm = vm_create();
	struct kvm_vcpu *vcpu = vcpu_add(vm, 0);
	struct kvm_sregs s, orig;
	unsigned int i;

	vcpu_get_sregs(vcpu, &orig);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		test_log("%s", bad[i].what);
		s = orig;
		s.cr0 = bad[i].cr0;
		s.cr4 = bad[i].cr4;
		s.efer = bad[i].efer;
		s.cs.l = bad[i].cs_l;
		ASSERT_ERRNO(ioctl(vcpu->fd, KVM_SET_SREGS, &s), EINVAL);
	}
	/* Nothing of it stuck. */
	vcpu_get_sregs(vcpu, &s);
	ASSERT_MEMEQ(&s, &orig, sizeof(s));
	vcpu_free(vcpu);
	vm_free(vm);
}
