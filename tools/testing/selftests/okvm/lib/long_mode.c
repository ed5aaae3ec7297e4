// SPDX-License-Identifier: GPL-2.0
/*
 * The host side of long_mode.h: page tables, descriptor tables and the
 * copy of the binary in guest memory, the vCPU state for long mode, and
 * the ucalls.
 */
#include <stdio.h>
#include <stdlib.h>

#include "long_mode.h"

/* Page table entry bits; the lib maps everything present and writable. */
#define PTE_P			(1UL << 0)
#define PTE_RW			(1UL << 1)
#define PTE_ADDR_MASK		0x000ffffffffff000UL

#define X86_CR0_MP		(1UL << 1)
#define X86_CR0_NE		(1UL << 5)
#define X86_CR0_WP		(1UL << 16)

/* GDT selectors: null, 64-bit code, data, and the 16-byte TSS. */
#define LM_CS			0x08
#define LM_DS			0x10
#define LM_TSS			0x18
#define LM_GDT_SIZE		0x28

#define LM_TSS_SIZE		0x68
#define LM_NR_VECTORS		32

/* The binary's copy starts here; the lib's pages come below it. */
#define LM_IMAGE_GPA		LM_SYS_SIZE

/* Guest physical addresses of what the lib keeps in slot 0. */
struct lm_vm {
	uint64_t next_page;	/* the next free page below LM_SYS_SIZE */
	uint64_t pml4;
	uint64_t gdt;
	uint64_t idt;
	uint64_t tss;
};

/* The linker's bounds of the binary, text to bss. */
extern const char __executable_start[], _end[];

/* In long_mode_guest.c. */
extern const char lm_guest_entry[], lm_vectors[];

static uint64_t round_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return round_down(x + a - 1, a);
}

/*
 * A zeroed page of the lib's memory, not yet mapped.  Page 0 is never
 * handed out, so that it stays unmapped.
 */
static uint64_t lm_alloc_page(struct kvm_vm *vm)
{
	uint64_t gpa = vm->lm->next_page;

	if (gpa >= LM_SYS_SIZE)
		test_fail("long mode lib: out of its %lu KiB of guest memory",
			  LM_SYS_SIZE / 1024);
	vm->lm->next_page += PAGE_SIZE;
	return gpa;
}

/* An allocated page mapped at its guest physical address. */
static uint64_t lm_alloc_mapped(struct kvm_vm *vm)
{
	uint64_t gpa = lm_alloc_page(vm);

	virt_map(vm, gpa, gpa, PAGE_SIZE);
	return gpa;
}

static bool gva_canonical(uint64_t gva)
{
	return (uint64_t)((int64_t)(gva << 16) >> 16) == gva;
}

/* The PTE for gva, making the tables above it when alloc is set. */
static uint64_t *lm_pte(struct kvm_vm *vm, uint64_t gva, bool alloc)
{
	uint64_t table = vm->lm->pml4;
	uint64_t *entry;
	int level;

	for (level = 3; ; level--) {
		entry = (uint64_t *)vm_hva(vm, table) +
			((gva >> (12 + 9 * level)) & 511);
		if (!level)
			return entry;
		if (!(*entry & PTE_P)) {
			if (!alloc)
				return NULL;
			*entry = lm_alloc_page(vm) | PTE_P | PTE_RW;
		}
		table = *entry & PTE_ADDR_MASK;
	}
}

void virt_map(struct kvm_vm *vm, uint64_t gva, uint64_t gpa, uint64_t size)
{
	uint64_t off, *pte;

	if ((gva | gpa | size) & (PAGE_SIZE - 1) || !gva_canonical(gva) ||
	    !gva_canonical(gva + size - 1))
		test_fail("virt_map: gva %#lx gpa %#lx size %#lx: not page-aligned or not canonical",
			  gva, gpa, size);
	for (off = 0; off < size; off += PAGE_SIZE) {
		pte = lm_pte(vm, gva + off, true);
		if (*pte & PTE_P)
			test_fail("virt_map: gva %#lx is already mapped",
				  gva + off);
		*pte = (gpa + off) | PTE_P | PTE_RW;
	}
}

void *gva2hva(struct kvm_vm *vm, uint64_t gva)
{
	uint64_t *pte = gva_canonical(gva) ? lm_pte(vm, gva, false) : NULL;

	if (!pte || !(*pte & PTE_P))
		test_fail("gva2hva: gva %#lx is not mapped", gva);
	return vm_hva(vm, (*pte & PTE_ADDR_MASK) + (gva & (PAGE_SIZE - 1)));
}

void *vm_add_mem64(struct kvm_vm *vm, uint32_t slot, uint64_t gpa,
		   uint64_t size)
{
	void *hva = vm_add_mem(vm, slot, gpa, size);

	virt_map(vm, gpa, gpa, size);
	return hva;
}

/*
 * Copy the binary's pages, from the ELF headers at __executable_start to
 * the end of bss, to LM_IMAGE_GPA on and map them where they are in this
 * process.  /proc/self/maps says which pages exist: the segments need
 * not be contiguous.  Only the pages, not the file, matter: whether the
 * binary is static or static-PIE, and wherever it was loaded, the
 * guest's copy has the relocated pointers and the data as they are now.
 */
static void lm_map_image(struct kvm_vm *vm)
{
	uint64_t start = round_down((uintptr_t)__executable_start, PAGE_SIZE);
	uint64_t end = round_up((uintptr_t)_end, PAGE_SIZE);
	unsigned long lo, hi;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	if (!f)
		test_fail("open /proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			test_fail("/proc/self/maps: cannot parse \"%s\"", line);
		if (lo < start)
			lo = start;
		if (hi > end)
			hi = end;
		if (lo >= hi)
			continue;
		memcpy(vm_hva(vm, LM_IMAGE_GPA + lo - start), (void *)lo,
		       hi - lo);
		virt_map(vm, lo, LM_IMAGE_GPA + lo - start, hi - lo);
	}
	fclose(f);
}

/* A GDT system or code/data descriptor's low quadword. */
static uint64_t desc(uint64_t base, uint32_t limit, uint64_t type_flags)
{
	return (limit & 0xffff) | (base & 0xffffff) << 16 |
	       type_flags << 40 | (uint64_t)(limit >> 16 & 0xf) << 48 |
	       (base >> 24 & 0xff) << 56;
}

/*
 * The GDT as SET_SREGS describes the segments, so that nothing changes
 * should the guest reload one.  The TSS is there because VM entry wants
 * a usable TR (busy, type 11); no stack switch uses it.
 */
static uint64_t lm_setup_gdt(struct kvm_vm *vm, uint64_t tss)
{
	uint64_t gdt = lm_alloc_mapped(vm);
	uint64_t *d = vm_hva(vm, gdt);

	d[LM_CS / 8] = desc(0, 0xfffff, 0xa09b);	/* G, L, P, code */
	d[LM_DS / 8] = desc(0, 0xfffff, 0xc093);	/* G, D, P, data */
	d[LM_TSS / 8] = desc(tss, LM_TSS_SIZE - 1, 0x8b);	/* P, busy */
	d[LM_TSS / 8 + 1] = tss >> 32;
	return gdt;
}

/*
 * Trap gates (type 0xf), so that the handlers run with RFLAGS.IF as it
 * was: an interrupt gate would clear it, which a Bochs host does not
 * survive for a guest that then spins (tools/include/okvm/emulator.h).
 */
static uint64_t lm_setup_idt(struct kvm_vm *vm)
{
	uint64_t idt = lm_alloc_mapped(vm);
	uint64_t *g = vm_hva(vm, idt);
	int v;

	for (v = 0; v < LM_NR_VECTORS; v++) {
		uint64_t handler = (uintptr_t)lm_vectors + 16 * v;

		g[2 * v] = (handler & 0xffff) | LM_CS << 16 |
			   0x8fUL << 40 | (handler >> 16 & 0xffff) << 48;
		g[2 * v + 1] = handler >> 32;
	}
	return idt;
}

static void lm_set_sregs(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	struct kvm_segment code = {
		.limit = 0xffffffff,
		.selector = LM_CS,
		.type = 0xb,		/* execute/read, accessed */
		.present = 1,
		.s = 1,
		.l = 1,
		.g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_segment tr = {
		.base = vm->lm->tss,
		.limit = LM_TSS_SIZE - 1,
		.selector = LM_TSS,
		.type = 0xb,		/* busy 64-bit TSS */
		.present = 1,
	};
	struct kvm_sregs s;

	data.selector = LM_DS;
	data.type = 0x3;		/* read/write, accessed */
	data.l = 0;
	data.db = 1;

	vcpu_get_sregs(vcpu, &s);
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = tr;
	s.gdt.base = vm->lm->gdt;
	s.gdt.limit = LM_GDT_SIZE - 1;
	s.idt.base = vm->lm->idt;
	s.idt.limit = LM_NR_VECTORS * 16 - 1;
	/* MP with EM and TS clear, OSFXSR and OSXMMEXCPT: compiled code uses SSE. */
	s.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
		X86_CR0_WP | X86_CR0_PG;
	s.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	s.efer = EFER_LME | EFER_LMA;
	s.cr3 = vm->lm->pml4;
	vcpu_set_sregs(vcpu, &s);
}

struct kvm_vcpu *vcpu_add64(struct kvm_vm *vm, int id,
			    void (*guest_code)(void))
{
	struct kvm_vcpu *vcpu = vcpu_add(vm, id);
	struct kvm_regs regs = {
		.rip = (uintptr_t)lm_guest_entry,
		.rsi = (uintptr_t)guest_code,
		.rflags = vcpu_entry_rflags(),
	};
	int i;

	/* Below the stack, the page left unmapped catches an overflow. */
	lm_alloc_page(vm);
	for (i = 0; i < LM_STACK_SIZE / PAGE_SIZE; i++)
		regs.rsp = lm_alloc_mapped(vm) + PAGE_SIZE;

	lm_set_sregs(vm, vcpu);
	vcpu_set_regs(vcpu, &regs);
	return vcpu;
}

struct kvm_vm *vm_create_guest64(void (*guest_code)(void),
				 struct kvm_vcpu **vcpu)
{
	uint64_t image_size = round_up((uintptr_t)_end, PAGE_SIZE) -
		round_down((uintptr_t)__executable_start, PAGE_SIZE);
	struct kvm_vm *vm = vm_create();

	vm->lm = calloc(1, sizeof(*vm->lm));
	if (!vm->lm)
		test_fail("out of memory");
	vm_add_mem(vm, 0, 0, LM_IMAGE_GPA + image_size);
	vm->lm->next_page = PAGE_SIZE;
	vm->lm->pml4 = lm_alloc_page(vm);
	vm->lm->tss = lm_alloc_mapped(vm);
	vm->lm->gdt = lm_setup_gdt(vm, vm->lm->tss);
	vm->lm->idt = lm_setup_idt(vm);
	lm_map_image(vm);

	*vcpu = vcpu_add64(vm, 0, guest_code);
	return vm;
}

const char *exception_name(uint64_t vector)
{
	static const char * const names[] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
		"#DF", "#CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
		"#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
	};

	return vector < sizeof(names) / sizeof(names[0]) ?
	       names[vector] : "#?";
}

uint64_t __vcpu_run_ucall(const char *file, int line, struct kvm_vcpu *vcpu,
			  struct ucall *uc, bool any)
{
	__vcpu_run_ok(file, line, vcpu);
	return __vcpu_ucall(file, line, vcpu, uc, any);
}

uint64_t __vcpu_ucall(const char *file, int line, struct kvm_vcpu *vcpu,
		      struct ucall *uc, bool any)
{
	uint32_t gva;

	memcpy(&gva, __vcpu_expect_io(file, line, vcpu, UCALL_PORT, 4,
				      KVM_EXIT_IO_OUT), 4);
	memcpy(uc, gva2hva(vcpu->vm, gva), sizeof(*uc));
	if (any)
		return uc->type;

	switch (uc->type) {
	case UCALL_SYNC:
	case UCALL_DONE:
		return uc->type;
	case UCALL_ASSERT:
		if (uc->has_values)
			test_fail("%s:%d: guest assertion %s failed at %s:%lu: 0x%lx != 0x%lx",
				  file, line, uc->expr, uc->file, uc->line,
				  uc->args[0], uc->args[1]);
		test_fail("%s:%d: guest assertion %s failed at %s:%lu",
			  file, line, uc->expr, uc->file, uc->line);
	case UCALL_EXCEPTION:
		test_fail("%s:%d: guest exception %s (vector %lu) at rip 0x%lx, error code 0x%lx, cr2 0x%lx",
			  file, line, exception_name(uc->args[0]),
			  uc->args[0], uc->args[2], uc->args[1], uc->args[3]);
	}
	test_fail("%s:%d: guest ucall of unknown type %lu", file, line,
		  uc->type);
}

void __vcpu_run_expect_sync(const char *file, int line,
			    struct kvm_vcpu *vcpu, uint64_t n)
{
	struct ucall uc;
	uint64_t type = __vcpu_run_ucall(file, line, vcpu, &uc, false);

	if (type != UCALL_SYNC || uc.args[0] != n)
		test_fail("%s:%d: guest ucall type %lu arg 0x%lx, expected GUEST_SYNC(0x%lx)",
			  file, line, type, uc.args[0], n);
}

void __vcpu_run_expect_exception(const char *file, int line,
				 struct kvm_vcpu *vcpu, uint64_t vector,
				 uint64_t error_code, const void *rip,
				 uint64_t cr2)
{
	struct ucall uc;
	uint64_t type = __vcpu_run_ucall(file, line, vcpu, &uc, true);

	if (type != UCALL_EXCEPTION)
		test_fail("%s:%d: guest ucall type %lu arg 0x%lx, expected an exception",
			  file, line, type, uc.args[0]);
	test_log("guest: %s at rip 0x%lx, error code 0x%lx, cr2 0x%lx",
		 exception_name(uc.args[0]), uc.args[2], uc.args[1],
		 uc.args[3]);
	if (uc.args[0] != vector || uc.args[1] != error_code ||
	    uc.args[2] != (uintptr_t)rip ||
	    (vector == PF_VECTOR && uc.args[3] != cr2))
		test_fail("%s:%d: expected %s at rip 0x%lx, error code 0x%lx, cr2 0x%lx",
			  file, line, exception_name(vector), (uintptr_t)rip,
			  error_code, vector == PF_VECTOR ? cr2 : uc.args[3]);
}

void __vcpu_run_expect_done(const char *file, int line,
			    struct kvm_vcpu *vcpu)
{
	struct ucall uc;
	uint64_t type = __vcpu_run_ucall(file, line, vcpu, &uc, false);

	if (type != UCALL_DONE)
		test_fail("%s:%d: guest ucall type %lu arg 0x%lx, expected GUEST_DONE()",
			  file, line, type, uc.args[0]);
}
