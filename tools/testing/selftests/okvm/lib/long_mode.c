// SPDX-License-Identifier: GPL-2.0
/*
 * The host side of long_mode.h: page tables, descriptor tables and the
 * copy of the binary in guest memory, the vCPU state for long mode, and
 * the ucalls.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "long_mode.h"

#define X86_CR0_MP		(1UL << 1)
#define X86_CR0_NE		(1UL << 5)
#define X86_CR0_WP		(1UL << 16)

/* GDT selectors: null, 64-bit code, data, and the 16-byte TSS. */
#define LM_CS			0x08
#define LM_DS			0x10
#define LM_TSS			0x18
#define LM_GDT_SIZE		0x28

#define LM_TSS_SIZE		0x68

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

/*
 * The entry that maps gva at level leaf (0: a PTE, 4 KiB; 1: a PDE,
 * 2 MiB), making the tables above it when alloc is set.  A large page
 * met on the way ends the walk: its entry is returned, with its level
 * in *level.  NULL when a table is missing and alloc is not set.
 */
static uint64_t *lm_entry(struct kvm_vm *vm, uint64_t gva, int leaf,
			  bool alloc, int *level)
{
	uint64_t table = vm->lm->pml4;
	uint64_t *entry;

	for (*level = 3; ; (*level)--) {
		entry = (uint64_t *)vm_hva(vm, table) +
			((gva >> (12 + 9 * *level)) & 511);
		if (*level == leaf)
			return entry;
		if (!(*entry & PTE_P)) {
			if (!alloc)
				return NULL;
			*entry = lm_alloc_page(vm) | PTE_P | PTE_RW;
		} else if (*entry & PTE_PS) {
			return entry;
		}
		table = *entry & PTE_ADDR_MASK;
	}
}

/* Map with pages of 4 KiB (leaf 0) or 2 MiB (leaf 1). */
static void lm_map(struct kvm_vm *vm, uint64_t gva, uint64_t gpa,
		   uint64_t size, int leaf)
{
	uint64_t page = PAGE_SIZE << (9 * leaf), off, *entry;
	int level;

	if ((gva | gpa | size) & (page - 1) || !gva_canonical(gva) ||
	    !gva_canonical(gva + size - 1))
		test_fail("virt_map: gva %#lx gpa %#lx size %#lx: not aligned to %lu KiB or not canonical",
			  gva, gpa, size, page / 1024);
	for (off = 0; off < size; off += page) {
		entry = lm_entry(vm, gva + off, leaf, true, &level);
		if (*entry & PTE_P)
			test_fail("virt_map: gva %#lx is already mapped",
				  gva + off);
		*entry = (gpa + off) | PTE_P | PTE_RW | (leaf ? PTE_PS : 0);
	}
}

void virt_map(struct kvm_vm *vm, uint64_t gva, uint64_t gpa, uint64_t size)
{
	lm_map(vm, gva, gpa, size, 0);
}

void virt_map_2m(struct kvm_vm *vm, uint64_t gva, uint64_t gpa,
		 uint64_t size)
{
	lm_map(vm, gva, gpa, size, 1);
}

void *gva2hva(struct kvm_vm *vm, uint64_t gva)
{
	uint64_t *entry = NULL, page;
	int level;

	if (gva_canonical(gva))
		entry = lm_entry(vm, gva, 0, false, &level);
	if (!entry || !(*entry & PTE_P))
		test_fail("gva2hva: gva %#lx is not mapped", gva);
	page = PAGE_SIZE << (9 * level);
	return vm_hva(vm, (*entry & PTE_ADDR_MASK & ~(page - 1)) +
		      (gva & (page - 1)));
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

/*
 * A stack of LM_STACK_SIZE; returns its top.  Below it, the page left
 * unmapped catches an overflow.
 */
static uint64_t lm_alloc_stack(struct kvm_vm *vm)
{
	uint64_t top = 0;
	int i;

	lm_alloc_page(vm);
	for (i = 0; i < LM_STACK_SIZE / PAGE_SIZE; i++)
		top = lm_alloc_mapped(vm) + PAGE_SIZE;
	return top;
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

	regs.rsp = lm_alloc_stack(vm);
	lm_set_sregs(vm, vcpu);
	vcpu_set_regs(vcpu, &regs);
	return vcpu;
}

/* The lib's memory, tables and the binary's copy; no vCPU yet. */
static struct kvm_vm *lm_vm_create(void)
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
	/* So that the guest can add mappings of its own. */
	virt_map(vm, vm->lm->pml4, vm->lm->pml4, PAGE_SIZE);
	vm->lm->tss = lm_alloc_mapped(vm);
	vm->lm->gdt = lm_setup_gdt(vm, vm->lm->tss);
	vm->lm->idt = lm_setup_idt(vm);
	lm_map_image(vm);
	return vm;
}

struct kvm_vm *vm_create_guest64(void (*guest_code)(void),
				 struct kvm_vcpu **vcpu)
{
	struct kvm_vm *vm = lm_vm_create();

	*vcpu = vcpu_add64(vm, 0, guest_code);
	return vm;
}

/*
 * The climb from the power-on state to the lib's long mode, copied to a
 * page of the lib's below 1 MiB, which the reset vector jumps to with CS
 * = page >> 4 and IP = 0, and mapped at its address, so that the code
 * goes on where it is once paging is on.  It uses no stack until RSP is
 * the vCPU's.  The parameters, which the host fills in, follow the code
 * (struct lm_climb); EBX holds the page's address from real mode on.
 * CR4.PAE is set before EFER.LME: QEMU 7.2's TCG hangs the test host at
 * a #VMEXIT from a guest with LME set and PAE clear (mode_switch.c).
 */
#define CLIMB_GDTR	0x20	/* the climb's GDT: limit, 32-bit base */
#define CLIMB_FAR32	0x28	/* ljmpl to the 32-bit code: offset, CS */
#define CLIMB_FAR64	0x30	/* ljmp to the 64-bit code: offset, CS */
#define CLIMB_CR3	0x38
#define CLIMB_GDTR64	0x46	/* the lib's GDT: limit, 64-bit base */
#define CLIMB_IDTR64	0x56	/* the lib's IDT */
#define CLIMB_RSP	0x60
#define CLIMB_ENTRY	0x68	/* lm_guest_entry */
#define CLIMB_CODE	0x70	/* the guest function */

/* The climb's GDT, and the lib's data selector in it too. */
#define CLIMB_CS32	0x08
#define CLIMB_CS64	0x18

#define CLIMB_PARAM(off)						\
	"(lm_climb_params - lm_climb_start + " __stringify(off) ")"

/* The lib's data segment in every data segment register, with its base 0. */
#define CLIMB_DATA_SEGS							\
	"	mov $" __stringify(LM_DS) ", %eax\n"			\
	"	mov %eax, %ds\n"						\
	"	mov %eax, %es\n"						\
	"	mov %eax, %ss\n"						\
	"	mov %eax, %fs\n"						\
	"	mov %eax, %gs\n"

asm(".pushsection .rodata.guest, \"a\"\n"
    ".code16\n"
    "lm_climb_start:\n"
    "	mov %cs, %ax\n"
    "	mov %ax, %ds\n"
    "	movzwl %ax, %ebx\n"
    "	shl $4, %ebx\n"
    "	lgdtl " CLIMB_PARAM(CLIMB_GDTR) "\n"
    "	mov %cr0, %eax\n"
    "	or $1, %eax\n"				/* PE */
    "	mov %eax, %cr0\n"
    "	ljmpl *" CLIMB_PARAM(CLIMB_FAR32) "\n"
    ".code32\n"
    "lm_climb_32:\n"
    CLIMB_DATA_SEGS
    "	mov %cr4, %eax\n"
    "	or $0x620, %eax\n"			/* PAE, OSFXSR, OSXMMEXCPT */
    "	mov %eax, %cr4\n"
    "	mov " CLIMB_PARAM(CLIMB_CR3) "(%ebx), %eax\n"
    "	mov %eax, %cr3\n"
    "	mov $0xc0000080, %ecx\n"		/* EFER */
    "	rdmsr\n"
    "	or $0x100, %eax\n"			/* LME */
    "	wrmsr\n"
    "	mov %cr0, %eax\n"
    "	and $0x9fffffff, %eax\n"		/* caches on: CD, NW off */
    "	or $0x80010022, %eax\n"		/* PG, WP, NE, MP */
    "	mov %eax, %cr0\n"
    "	ljmp *" CLIMB_PARAM(CLIMB_FAR64) "(%ebx)\n"
    ".code64\n"
    "lm_climb_64:\n"
    "	mov %ebx, %ebx\n"
    "	lgdt " CLIMB_PARAM(CLIMB_GDTR64) "(%rbx)\n"
    "	lidt " CLIMB_PARAM(CLIMB_IDTR64) "(%rbx)\n"
    CLIMB_DATA_SEGS
    "	mov " CLIMB_PARAM(CLIMB_RSP) "(%rbx), %rsp\n"
    "	mov " CLIMB_PARAM(CLIMB_CODE) "(%rbx), %rsi\n"
    "	pushq $" __stringify(LM_CS) "\n"
    "	pushq " CLIMB_PARAM(CLIMB_ENTRY) "(%rbx)\n"
    "	lretq\n"
    "	.balign 8\n"
    "lm_climb_params:\n"
    "	.skip 0x78\n"
    "lm_climb_end:\n"
    ".popsection\n");

extern const uint8_t lm_climb_start[], lm_climb_32[], lm_climb_64[],
	lm_climb_params[], lm_climb_end[];

struct lm_climb {
	uint64_t gdt[4];
	uint16_t gdt_limit;		/* lgdtl's operand: limit, base */
	uint32_t gdt_base;
	uint16_t pad1;
	uint32_t far32_off;		/* ljmpl's: offset, selector */
	uint16_t far32_sel;
	uint16_t pad2;
	uint32_t far64_off;
	uint16_t far64_sel;
	uint16_t pad3;
	uint64_t cr3;
	uint16_t pad4[3];
	uint16_t gdt64_limit;
	uint64_t gdt64_base;
	uint16_t pad5[3];
	uint16_t idt64_limit;
	uint64_t idt64_base;
	uint64_t rsp;
	uint64_t entry;
	uint64_t code;
} __attribute__((packed));

#define CLIMB_CHECK(field, off)						\
	_Static_assert(offsetof(struct lm_climb, field) == (off), #field)
CLIMB_CHECK(gdt_limit, CLIMB_GDTR);
CLIMB_CHECK(far32_off, CLIMB_FAR32);
CLIMB_CHECK(far64_off, CLIMB_FAR64);
CLIMB_CHECK(cr3, CLIMB_CR3);
CLIMB_CHECK(gdt64_limit, CLIMB_GDTR64);
CLIMB_CHECK(idt64_limit, CLIMB_IDTR64);
CLIMB_CHECK(rsp, CLIMB_RSP);
CLIMB_CHECK(entry, CLIMB_ENTRY);
CLIMB_CHECK(code, CLIMB_CODE);
_Static_assert(sizeof(struct lm_climb) == 0x78, "lm_climb's size");

struct kvm_vm *vm_create_guest64_from_reset(void (*guest_code)(void),
					    struct kvm_vcpu **vcpu)
{
	struct kvm_vm *vm = lm_vm_create();
	uint64_t page = lm_alloc_mapped(vm);
	uint8_t *code = vm_hva(vm, page), *reset;
	struct lm_climb *c;
	struct kvm_regs regs;

	if (page + (lm_climb_end - lm_climb_start) > 1024 * 1024)
		test_fail("long mode lib: the climb's page %#lx is above 1 MiB",
			  page);
	memcpy(code, lm_climb_start, lm_climb_end - lm_climb_start);
	c = (struct lm_climb *)(code + (lm_climb_params - lm_climb_start));
	/* lm_setup_gdt()'s descriptors, and 32-bit code. */
	c->gdt[CLIMB_CS32 / 8] = desc(0, 0xfffff, 0xc09b);
	c->gdt[LM_DS / 8] = desc(0, 0xfffff, 0xc093);
	c->gdt[CLIMB_CS64 / 8] = desc(0, 0xfffff, 0xa09b);
	c->gdt_limit = sizeof(c->gdt) - 1;
	c->gdt_base = page + (lm_climb_params - lm_climb_start);
	c->far32_off = page + (lm_climb_32 - lm_climb_start);
	c->far32_sel = CLIMB_CS32;
	c->far64_off = page + (lm_climb_64 - lm_climb_start);
	c->far64_sel = CLIMB_CS64;
	c->cr3 = vm->lm->pml4;
	c->gdt64_limit = LM_GDT_SIZE - 1;
	c->gdt64_base = vm->lm->gdt;
	c->idt64_limit = LM_NR_VECTORS * 16 - 1;
	c->idt64_base = vm->lm->idt;
	c->rsp = lm_alloc_stack(vm);
	c->entry = (uintptr_t)lm_guest_entry;
	c->code = (uintptr_t)guest_code;

	/* The reset vector, 0xfffffff0: ljmp $(page >> 4), $0. */
	reset = vm_add_mem(vm, LM_RESET_SLOT, LM_RESET_GPA, PAGE_SIZE);
	reset += 0xff0;
	reset[0] = 0xea;
	reset[1] = reset[2] = 0;
	reset[3] = page >> 4;
	reset[4] = page >> 12;

	*vcpu = vcpu_add(vm, 0);
	vcpu_set_kvm_cpuid(*vcpu);
	vcpu_get_regs(*vcpu, &regs);
	regs.rflags = vcpu_entry_rflags();
	vcpu_set_regs(*vcpu, &regs);
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
