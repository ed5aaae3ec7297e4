// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl_fuzz: the guests it runs.  Each is a few instructions aimed at
 * one exit or one corner of the entry path (port I/O, HLT, CPUID, MSRs,
 * XSETBV, the SVM instructions, a triple fault, MMIO, string I/O, single
 * step, debug registers, paging, alignment checks...), or a page of
 * random bytes, put in real mode, flat 32-bit protected mode (ring 0 or
 * 3, with or without paging), long mode or virtual-8086 mode directly
 * through KVM_SET_SREGS, the way a VMM would, and now and then with a
 * few bits of that state flipped.
 *
 * Layout of the first GUEST_SETUP_SIZE bytes of the memslot (offsets
 * from its guest-physical base):
 *
 *   0x0000  IVT (real mode) or IDT (protected and long mode)
 *   0x1000  GDT; 0x1800 TSS
 *   0x2000  the handler every vector points at: HLT, then again
 *   0x3000  page tables (32-bit: one page directory; long mode: PML4,
 *           PDPT and PD at 0x3000, 0x4000, 0x5000)
 *   0x8000  the program; the stack grows down from here
 *
 * A guest can only hurt itself or exit: whatever it does must leave the
 * host alone, which is the point.
 */
#include <stdio.h>
#include <string.h>

#include "ioctl_fuzz.h"
#include "../lib/x86.h"

#define OFF_GDT		0x1000
#define OFF_TSS		0x1800
#define OFF_HANDLER	0x2000
#define OFF_PT		0x3000
#define OFF_STACK	0x8000
#define OFF_CODE	0x8000
#define CODE_MAX	(GUEST_SETUP_SIZE - OFF_CODE)
#define GDT_ENTRIES	(GDT_FLAT_ENTRIES + 2)	/* and the TSS */

/* Guest code, assembled here; the bytes lie between name_start/_end. */
#define GUEST_CODE(name, mode, code)					\
	asm(".pushsection .rodata.ioctl_guest, \"a\"\n"			\
	    "." mode "\n"						\
	    #name "_start:\n"						\
	    code "\n"							\
	    #name "_end:\n"						\
	    ".code64\n"							\
	    ".popsection\n");						\
	extern const uint8_t name##_start[], name##_end[]

enum guest_mode {
	MODE_REAL,
	MODE_FLAT32,
	MODE_USER32,	/* flat 32-bit, ring 3 */
	MODE_PAGED32,	/* flat 32-bit with 4 MiB pages, or a random CR3 */
	MODE_LONG,
	MODE_V86,
	MODE_MUTANT,	/* the vCPU's current state, much flipped */
	NR_MODES,
	GUEST_RANDOM = NR_MODES,	/* in guest_modes: random-byte programs */
};

static const char *const mode_names[] = {
	"real", "flat32", "user32", "paged32", "long", "v86", "mutant",
	"random",
};

unsigned int guest_modes = (1u << (NR_MODES + 1)) - 1;
bool guest_modes_set;
bool guest_tcg_safe;

int guest_parse_modes(const char *list)
{
	guest_modes_set = true;
	char buf[256], *tok, *save;
	unsigned int i;

	if (!strcmp(list, "all")) {
		guest_modes = (1u << (NR_MODES + 1)) - 1;
		return 0;
	}
	guest_modes = 0;
	if (!strcmp(list, "none"))
		return 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i <= NR_MODES; i++)
			if (!strcmp(tok, mode_names[i]))
				break;
		if (i > NR_MODES)
			return -1;
		guest_modes |= 1u << i;
	}
	return 0;
}

/* A mode among those allowed other than random bytes, or -1. */
static int pick_mode(struct rng *r)
{
	unsigned int m = guest_modes & ((1u << NR_MODES) - 1);
	int i, n = 0, pick = -1;

	for (i = 0; i < NR_MODES; i++)
		if ((m & (1u << i)) && rng_below(r, ++n) == 0)
			pick = i;
	return pick;
}

GUEST_CODE(g16_hlt, "code16", "hlt");
GUEST_CODE(g16_out, "code16",
	   "mov $0x3f8, %dx\n mov $0x41, %al\n out %al, %dx\n"
	   "outw %ax, %dx\n outl %eax, %dx\n out %al, $0x7e\n"
	   "out %al, $0x80\n hlt");
GUEST_CODE(g16_in, "code16",
	   "in $0x60, %al\n inw %dx, %ax\n inl %dx, %eax\n in $0x71, %ax\n hlt");
GUEST_CODE(g16_io_loop, "code16",
	   "1: out %al, $0x80\n in $0x71, %al\n inc %dx\n outw %ax, %dx\n"
	   "jmp 1b");
GUEST_CODE(g16_spin, "code16", "1: jmp 1b");
GUEST_CODE(g16_cpuid, "code16",
	   "xor %eax, %eax\n 1: mov %eax, %esi\n cpuid\n mov %esi, %eax\n"
	   "inc %eax\n cmp $0x20, %eax\n jne 1b\n"
	   "mov $0x80000000, %eax\n cpuid\n hlt");
GUEST_CODE(g16_msr, "code16",
	   "mov $0xc0000080, %ecx\n rdmsr\n or $0x100, %eax\n wrmsr\n hlt");
GUEST_CODE(g16_xsetbv, "code16",
	   "xor %ecx, %ecx\n xgetbv\n mov $7, %eax\n xor %edx, %edx\n"
	   "xsetbv\n mov $3, %eax\n xsetbv\n mov $1, %ecx\n xsetbv\n hlt");
GUEST_CODE(g16_svm, "code16",
	   "vmmcall\n vmrun\n vmload\n vmsave\n stgi\n clgi\n skinit\n"
	   "invlpga\n hlt");
GUEST_CODE(g16_mwait, "code16",
	   "xor %eax, %eax\n xor %ecx, %ecx\n xor %edx, %edx\n"
	   "monitor\n mwait\n hlt");
GUEST_CODE(g16_misc, "code16",
	   "xor %ecx, %ecx\n rdpmc\n invd\n wbinvd\n rdtsc\n rdtscp\n pause\n"
	   "invlpg (%bx)\n clflush (%bx)\n hlt");
/* An empty IDT: the INT3 becomes #GP, #DF, then a shutdown. */
GUEST_CODE(g16_triple, "code16",
	   "xor %ax, %ax\n push %ax\n push %ax\n push %ax\n mov %sp, %bx\n"
	   "lidt (%bx)\n int3\n hlt");
GUEST_CODE(g16_mmio, "code16",
	   "mov $0xffff, %ax\n mov %ax, %ds\n movb $1, (0x0)\n mov (0x10), %al\n"
	   "hlt");
GUEST_CODE(g16_string_io, "code16",
	   "mov $0x3f8, %dx\n mov $4, %cx\n xor %si, %si\n rep outsb\n"
	   "mov $0x9000, %di\n insb\n rep insw\n hlt");
GUEST_CODE(g16_single_step, "code16",
	   "pushf\n pop %ax\n or $0x100, %ax\n push %ax\n popf\n nop\n cpuid\n"
	   "out %al, $0x80\n in $0x80, %al\n hlt");
GUEST_CODE(g16_cr, "code16",
	   "mov %cr0, %eax\n xor $0x60000000, %eax\n mov %eax, %cr0\n"
	   "mov %cr4, %eax\n or $0x600, %eax\n mov %eax, %cr4\n"
	   "mov %eax, %cr3\n mov %cr2, %eax\n hlt");
GUEST_CODE(g16_dr, "code16",
	   "mov $0x8000, %eax\n mov %eax, %dr0\n mov $0x30003, %eax\n"
	   "mov %eax, %dr7\n mov (0x8000), %al\n mov %dr6, %eax\n"
	   "mov %eax, %dr1\n mov $0x400, %eax\n mov %eax, %dr7\n hlt");
GUEST_CODE(g16_fpu, "code16",
	   "fninit\n fld1\n fldpi\n faddp\n fstp %st(0)\n fwait\n hlt");
GUEST_CODE(g16_ud, "code16", "ud2");
GUEST_CODE(g16_div0, "code16", "xor %ax, %ax\n div %al\n hlt");
GUEST_CODE(g16_int, "code16", "int $0x21\n int3\n into\n int $0xff\n hlt");
GUEST_CODE(g16_stack, "code16", "xor %sp, %sp\n 1: push %ax\n jmp 1b");
GUEST_CODE(g16_sti_hlt, "code16", "sti\n hlt\n cli\n hlt\n sti\n 1: jmp 1b");
GUEST_CODE(g16_hlt_loop, "code16", "1: hlt\n jmp 1b");
/* CR0.PE with CS still a real-mode segment, then a selector load. */
GUEST_CODE(g16_to_pm, "code16",
	   "mov %cr0, %eax\n or $1, %eax\n mov %eax, %cr0\n jmp 1f\n"
	   "1: mov $0x10, %ax\n mov %ax, %ds\n mov %ax, %ss\n hlt");

GUEST_CODE(g32_hlt, "code32", "hlt");
GUEST_CODE(g32_mmio, "code32",
	   "movl $1, 0xfee00000\n movl 0xfec00000, %eax\n"
	   "movl $2, 0xfffffff0\n hlt");
/* Touch one page after another until past the memslot (MMIO exit). */
GUEST_CODE(g32_walk, "code32",
	   "1: movl %eax, (%edi)\n add $0x1000, %edi\n jmp 1b");
GUEST_CODE(g32_read_walk, "code32",
	   "1: movl (%esi), %eax\n add $0x1000, %esi\n jmp 1b");
GUEST_CODE(g32_paging, "code32",
	   "mov %cr4, %eax\n or $0x10, %eax\n mov %eax, %cr4\n"
	   "mov %cr0, %eax\n or $0x80000000, %eax\n mov %eax, %cr0\n"
	   "mov (%esi), %eax\n movl %eax, (%edi)\n hlt");
GUEST_CODE(g32_ac, "code32",
	   "pushf\n orl $0x40000, (%esp)\n popf\n mov 0x1(%esp), %eax\n"
	   "hlt");
GUEST_CODE(g32_sse, "code32",
	   "sub $32, %esp\n and $~15, %esp\n movups (%esp), %xmm0\n"
	   "addps %xmm0, %xmm0\n movaps %xmm0, (%esp)\n hlt");
GUEST_CODE(g32_xsave, "code32",
	   "mov %cr4, %eax\n or $0x40000, %eax\n mov %eax, %cr4\n"
	   "xor %ecx, %ecx\n xgetbv\n or $3, %eax\n xsetbv\n"
	   "or $4, %eax\n xsetbv\n hlt");
GUEST_CODE(g32_io, "code32",
	   "mov $0xcf8, %dx\n mov $0x80000000, %eax\n outl %eax, %dx\n"
	   "mov $0xcfc, %dx\n inl %dx, %eax\n outw %ax, %dx\n outb %al, %dx\n"
	   "hlt");
GUEST_CODE(g32_cpuid, "code32",
	   "xor %eax, %eax\n 1: mov %eax, %esi\n xor %ecx, %ecx\n cpuid\n"
	   "mov %esi, %eax\n inc %eax\n cmp $0x14, %eax\n jne 1b\n"
	   "mov $0x80000000, %eax\n 2: mov %eax, %esi\n cpuid\n"
	   "mov %esi, %eax\n inc %eax\n cmp $0x80000009, %eax\n jne 2b\n"
	   "mov $0x40000000, %eax\n cpuid\n hlt");
GUEST_CODE(g32_efer, "code32",
	   "mov $0xc0000080, %ecx\n rdmsr\n or $0x100, %eax\n wrmsr\n"
	   "mov $0x1b, %ecx\n rdmsr\n hlt");
/* Self-modifying code: the NOP becomes a HLT. */
GUEST_CODE(g32_smc, "code32",
	   "call 1f\n 1: pop %ebx\n movb $0xf4, 2f-1b(%ebx)\n 2: nop\n hlt");
GUEST_CODE(g32_int, "code32", "int $0x80\n int3\n ud2");
/* LOCK MOV CR0 is AMD's CR8 in 32-bit code: #UD without AltMovCr8. */
GUEST_CODE(g32_cr8, "code32", ".byte 0xf0, 0x0f, 0x22, 0xc0\n hlt");
/* A string copy that runs off the end of the memslot. */
GUEST_CODE(g32_rep_movs, "code32",
	   "mov %esi, %edi\n add $0x1000, %edi\n mov $0x100000, %ecx\n"
	   "rep movsb\n hlt");

GUEST_CODE(g64_hlt, "code64", "hlt");
GUEST_CODE(g64_walk, "code64",
	   "1: movq %rax, (%rdi)\n add $0x1000, %rdi\n jmp 1b");
GUEST_CODE(g64_noncanon, "code64",
	   "movabs $0x8000000000000000, %rax\n mov (%rax), %rbx\n hlt");
GUEST_CODE(g64_io, "code64",
	   "out %al, $0x80\n in $0x80, %eax\n mov $0x3f8, %dx\n outsb\n hlt");
GUEST_CODE(g64_syscall, "code64", "syscall\n sysretq\n hlt");
GUEST_CODE(g64_cr, "code64",
	   "mov %cr4, %rax\n or $0x80, %rax\n mov %rax, %cr4\n"
	   "mov %cr3, %rax\n mov %rax, %cr3\n mov %cr8, %rax\n"
	   "mov $0xf, %eax\n mov %rax, %cr8\n hlt");
GUEST_CODE(g64_cpuid, "code64", "xor %eax, %eax\n cpuid\n swapgs\n rdtscp\n hlt");
/* Zap its own PML4: the next fetch faults, and so does the #PF. */
GUEST_CODE(g64_kill_pt, "code64",
	   "mov %cr3, %rax\n movq $0, (%rax)\n invlpg (%rip)\n hlt");

struct guest_prog {
	const char *name;
	const uint8_t *start, *end;
	enum guest_mode mode;
};

#define PROG(n, m)	{ #n, n##_start, n##_end, m }

static const struct guest_prog progs[] = {
	PROG(g16_hlt, MODE_REAL),
	PROG(g16_out, MODE_REAL),
	PROG(g16_in, MODE_REAL),
	PROG(g16_io_loop, MODE_REAL),
	PROG(g16_spin, MODE_REAL),
	PROG(g16_cpuid, MODE_REAL),
	PROG(g16_msr, MODE_REAL),
	PROG(g16_xsetbv, MODE_REAL),
	PROG(g16_svm, MODE_REAL),
	PROG(g16_mwait, MODE_REAL),
	PROG(g16_misc, MODE_REAL),
	PROG(g16_triple, MODE_REAL),
	PROG(g16_mmio, MODE_REAL),
	PROG(g16_string_io, MODE_REAL),
	PROG(g16_single_step, MODE_REAL),
	PROG(g16_cr, MODE_REAL),
	PROG(g16_dr, MODE_REAL),
	PROG(g16_fpu, MODE_REAL),
	PROG(g16_ud, MODE_REAL),
	PROG(g16_div0, MODE_REAL),
	PROG(g16_int, MODE_REAL),
	PROG(g16_stack, MODE_REAL),
	PROG(g16_sti_hlt, MODE_REAL),
	PROG(g16_hlt_loop, MODE_REAL),
	PROG(g16_to_pm, MODE_REAL),
	PROG(g16_int, MODE_V86),
	PROG(g16_out, MODE_V86),
	PROG(g32_hlt, MODE_FLAT32),
	PROG(g32_mmio, MODE_FLAT32),
	PROG(g32_walk, MODE_FLAT32),
	PROG(g32_read_walk, MODE_FLAT32),
	PROG(g32_paging, MODE_PAGED32),
	PROG(g32_walk, MODE_PAGED32),
	PROG(g32_ac, MODE_USER32),
	PROG(g32_io, MODE_USER32),
	PROG(g32_int, MODE_USER32),
	PROG(g32_sse, MODE_FLAT32),
	PROG(g32_xsave, MODE_FLAT32),
	PROG(g32_io, MODE_FLAT32),
	PROG(g32_cpuid, MODE_FLAT32),
	PROG(g32_efer, MODE_FLAT32),
	PROG(g32_smc, MODE_FLAT32),
	PROG(g32_int, MODE_FLAT32),
	PROG(g32_cr8, MODE_FLAT32),
	PROG(g32_rep_movs, MODE_FLAT32),
	PROG(g64_hlt, MODE_LONG),
	PROG(g64_walk, MODE_LONG),
	PROG(g64_noncanon, MODE_LONG),
	PROG(g64_io, MODE_LONG),
	PROG(g64_syscall, MODE_LONG),
	PROG(g64_cr, MODE_LONG),
	PROG(g64_cpuid, MODE_LONG),
	PROG(g64_kill_pt, MODE_LONG),
};

#define NR_PROGS	(sizeof(progs) / sizeof(progs[0]))

/*
 * Under TCG: no program that writes debug registers, and none that sets
 * EFER.LME with CR4.PAE clear, which okvm's WRMSR takes (kvm_amd without
 * a CPUID from KVM_SET_CPUID2 raises #GP) and QEMU's next #VMEXIT cannot
 * leave (the README's "Under QEMU's TCG").
 */
static bool tcg_unsafe(const struct guest_prog *p)
{
	return guest_tcg_safe &&
	       (p->start == g16_dr_start || p->start == g16_msr_start ||
		p->start == g32_efer_start);
}

static bool prog_allowed(const struct guest_prog *p)
{
	return (guest_modes & (1u << p->mode)) && !tcg_unsafe(p);
}

/*
 * The shared flat segments, then the TSS (16 bytes: the high half of its
 * base for long mode).
 */
static void build_gdt(uint8_t *mem, uint64_t gpa)
{
	uint64_t g[GDT_ENTRIES] = { 0 };

	x86_gdt_flat(g);
	g[SEL_TSS >> 3] = x86_desc(gpa + OFF_TSS, TSS_SIZE - 1, SEG_TSS_AVAIL,
				   0, 0, 0, 0, 0);
	g[(SEL_TSS >> 3) + 1] = (gpa + OFF_TSS) >> 32;
	memcpy(mem + OFF_GDT, g, sizeof(g));
}

/* Every IVT/IDT entry points at the HLT handler; the GDT and TSS. */
static void build_tables(struct rng *r, uint8_t *mem, uint64_t gpa,
			 enum guest_mode mode)
{
	uint64_t handler = gpa + OFF_HANDLER;
	int i;

	/* hlt; jmp .-1: the same bytes in 16, 32 and 64-bit code. */
	mem[OFF_HANDLER] = 0xf4;
	mem[OFF_HANDLER + 1] = 0xeb;
	mem[OFF_HANDLER + 2] = 0xfd;
	build_gdt(mem, gpa);
	memset(mem + OFF_TSS, 0, TSS_SIZE);

	if (mode == MODE_REAL || mode == MODE_V86) {
		/* Segment:offset; right only when the slot is below 1 MiB. */
		for (i = 0; i < 256; i++) {
			uint16_t ivt[2] = { OFF_HANDLER, gpa >> 4 };

			memcpy(mem + i * 4, ivt, 4);
		}
	} else if (mode == MODE_LONG) {
		for (i = 0; i < 256; i++) {
			uint64_t e[2] = {
				x86_gate(handler, SEL_CODE64, GATE_INTR, 0),
				handler >> 32,
			};

			memcpy(mem + i * 16, e, 16);
		}
		handler = gpa + OFF_STACK - 0x1000;
		memcpy(mem + OFF_TSS + TSS_SP0, &handler, 8);
	} else {
		/* Interrupt gates, DPL 3 now and then so INT n works in ring 3. */
		int dpl = rng_chance(r, 1, 2) ? 3 : 0;

		for (i = 0; i < 256; i++) {
			uint64_t e = x86_gate(handler, SEL_CODE32, GATE_INTR,
					      dpl);

			memcpy(mem + i * 8, &e, 8);
		}
		*(uint32_t *)(mem + OFF_TSS + TSS_SP0) = gpa + OFF_STACK - 0x1000;
		*(uint32_t *)(mem + OFF_TSS + TSS32_SS0) = SEL_DATA;
	}
}

/* Identity-map, with large pages, the 1 GiB (long) or 4 GiB (32-bit) around gpa. */
static void build_page_tables(uint8_t *mem, uint64_t gpa, bool long_mode)
{
	uint64_t *pt = (uint64_t *)(mem + OFF_PT);
	int i;

	if (long_mode) {
		uint64_t *pdpt = pt + 512, *pd = pt + 1024;
		uint64_t base = gpa & ~((1ULL << 30) - 1);

		memset(pt, 0, 3 * PAGE_SIZE);
		pt[(gpa >> 39) & 511] = (gpa + OFF_PT + 0x1000) | 7;
		pdpt[(gpa >> 30) & 511] = (gpa + OFF_PT + 0x2000) | 7;
		for (i = 0; i < 512; i++)
			pd[i] = (base + ((uint64_t)i << 21)) | 0x87;
	} else {
		uint32_t *pd = (uint32_t *)pt;

		for (i = 0; i < 1024; i++)
			pd[i] = ((uint32_t)i << 22) | 0x87;
	}
}

/*
 * Real or virtual-8086 mode segments, all at sel and based at gpa: above
 * 1 MiB a base that no selector gives, as after a switch back from
 * protected mode.
 */
static void real_segments(struct kvm_sregs *s, uint64_t gpa, uint16_t sel,
			  int dpl)
{
	x86_sregs_real(s, sel, sel, sel, 0xffff, dpl);
	s->cs.base = s->ds.base = s->es.base = s->fs.base = s->gs.base =
		s->ss.base = gpa;
}

static void mode_real(struct rng *r, uint64_t gpa, struct kvm_sregs *s,
		      struct kvm_regs *regs)
{
	uint16_t sel = gpa < 0x100000 ? gpa >> 4 : rng_next(r);

	real_segments(s, gpa, sel, 0);
	s->cr0 = CR0_ET;
	if (rng_chance(r, 1, 4))
		s->cr0 |= CR0_CD | CR0_NW;
	s->idt.base = gpa;
	s->idt.limit = 0x3ff;
	regs->rip = OFF_CODE;
	regs->rsp = OFF_STACK;
}

static void mode_v86(struct rng *r, uint64_t gpa, struct kvm_sregs *s,
		     struct kvm_regs *regs)
{
	uint16_t sel = gpa >> 4;

	real_segments(s, gpa, sel, 3);
	s->cr0 = CR0_PE | CR0_ET;
	if (rng_chance(r, 1, 2))
		s->cr4 |= CR4_VME;
	regs->rflags |= RFLAGS_VM;
	regs->rip = OFF_CODE;
	regs->rsp = OFF_STACK;
}

static void mode_flat32(struct rng *r, uint64_t gpa, struct kvm_sregs *s,
			struct kvm_regs *regs, bool user)
{
	x86_sregs_flat(s, false, user);
	s->cr0 = CR0_PE | CR0_ET;
	if (rng_chance(r, 1, 3))
		s->cr0 |= CR0_NE;
	if (rng_chance(r, 1, 8))
		s->cr0 |= CR0_WP;
	if (user || rng_chance(r, 1, 8))
		s->cr0 |= CR0_AM;
	if (rng_chance(r, 1, 16))
		s->cr0 |= CR0_TS;
	if (rng_chance(r, 1, 16))
		s->cr0 |= CR0_EM;
	if (rng_chance(r, 2, 3))
		s->cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->idt.base = gpa;
	s->idt.limit = 0x7ff;
	regs->rip = gpa + OFF_CODE;
	regs->rsp = gpa + OFF_STACK;
	regs->rsi = gpa;
	regs->rdi = gpa + GUEST_SETUP_SIZE;
	if (user && rng_chance(r, 1, 2))
		regs->rflags |= RFLAGS_AC;
}

static void mode_long(struct rng *r, uint64_t gpa, struct kvm_sregs *s,
		      struct kvm_regs *regs)
{
	x86_sregs_flat(s, true, false);
	s->cr0 = CR0_PE | CR0_ET | CR0_PG | CR0_NE;
	s->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	s->cr3 = gpa + OFF_PT;
	s->efer = EFER_LME | EFER_LMA;
	if (rng_chance(r, 1, 2))
		s->efer |= EFER_SCE;
	if (rng_chance(r, 1, 8))
		s->efer |= EFER_NXE;
	s->idt.base = gpa;
	s->idt.limit = 0xfff;
	regs->rip = gpa + OFF_CODE;
	regs->rsp = gpa + OFF_STACK;
	regs->rsi = gpa;
	regs->rdi = gpa + GUEST_SETUP_SIZE;
}

const char *guest_build(struct rng *r, uint8_t *mem, uint64_t gpa,
			struct kvm_sregs *s, struct kvm_regs *regs)
{
	const struct guest_prog *p = NULL;
	enum guest_mode mode;
	size_t len;
	int i;

	bool random_ok = guest_modes & (1u << GUEST_RANDOM), native = false;
	unsigned int i_prog;

	if (!(guest_modes & ((1u << NR_MODES) - 1)) && !random_ok)
		return NULL;
	for (i_prog = 0; i_prog < NR_PROGS; i_prog++)
		native |= prog_allowed(&progs[i_prog]);
	if (random_ok && (!native || rng_chance(r, 1, 5))) {
		len = 1 + rng_below(r, CODE_MAX);
		rng_fill(r, mem + OFF_CODE, len);
		/* Under TCG, as if with EFER.LME: the mode may change. */
		if (guest_tcg_safe)
			fuzz_tcg_sanitize(mem + OFF_CODE, len, true);
		mode = pick_mode(r);
		if ((int)mode < 0)
			mode = rng_below(r, NR_MODES);
	} else {
		/* A program of an allowed mode, or any, run in an allowed mode. */
		do {
			p = &progs[rng_below(r, NR_PROGS)];
		} while ((native && !prog_allowed(p)) || tcg_unsafe(p));
		len = p->end - p->start;
		memcpy(mem + OFF_CODE, p->start, len);
		/* What follows: a HLT, or whatever the page held. */
		if (rng_chance(r, 3, 4))
			mem[OFF_CODE + len] = 0xf4;
		mode = p->mode;
		if (!native || rng_chance(r, 1, 10))
			mode = pick_mode(r);
	}
	build_tables(r, mem, gpa, mode);

	memset(regs, 0, sizeof(*regs));
	for (i = 0; i < 4; i++)
		((uint64_t *)regs)[rng_below(r, 16)] = rng_edge(r);
	regs->rflags = RFLAGS_FIXED;
	if (rng_chance(r, 1, 4))
		regs->rflags |= RFLAGS_IF;
	if (rng_chance(r, 1, 32))
		regs->rflags |= RFLAGS_TF;

	if (mode != MODE_MUTANT) {
		struct kvm_segment tr = x86_seg(gpa + OFF_TSS, TSS_SIZE - 1,
						SEL_TSS, SEG_TSS_AVAIL | 2, 0,
						0, 0, 0);
		struct kvm_segment ldt = { .type = 2, .unusable = 1 };
		uint64_t apic_base = s->apic_base;

		memset(s, 0, sizeof(*s));
		s->apic_base = apic_base;
		s->tr = tr;
		s->ldt = ldt;
		s->gdt.base = gpa + OFF_GDT;
		s->gdt.limit = GDT_ENTRIES * 8 - 1;
	}

	switch (mode) {
	case MODE_REAL:
		mode_real(r, gpa, s, regs);
		break;
	case MODE_V86:
		mode_v86(r, gpa, s, regs);
		break;
	case MODE_FLAT32:
		mode_flat32(r, gpa, s, regs, false);
		break;
	case MODE_USER32:
		mode_flat32(r, gpa, s, regs, true);
		break;
	case MODE_PAGED32:
		mode_flat32(r, gpa, s, regs, false);
		build_page_tables(mem, gpa, false);
		s->cr4 |= CR4_PSE;
		s->cr3 = rng_chance(r, 3, 4) ? gpa + OFF_PT :
					       rng_next(r) & ~0xfffULL;
		if (rng_chance(r, 1, 2))
			s->cr0 |= CR0_PG;
		break;
	case MODE_LONG:
		build_page_tables(mem, gpa, true);
		mode_long(r, gpa, s, regs);
		break;
	default:
		for (i = 0; i < 8; i++)
			guest_mutate_sregs(r, s);
		regs->rip = rng_chance(r, 1, 2) ? gpa + OFF_CODE : OFF_CODE;
		break;
	}
	/* A few flipped bits now and then, as the mutant mode is allowed. */
	if ((guest_modes & (1u << MODE_MUTANT)) && rng_chance(r, 1, 8))
		guest_mutate_sregs(r, s);
	if ((guest_modes & (1u << MODE_MUTANT)) && rng_chance(r, 1, 8))
		guest_mutate_regs(r, regs);
	/* Now and then an interrupt to deliver on entry. */
	if (rng_chance(r, 1, 16)) {
		unsigned int v = rng_below(r, 256);

		s->interrupt_bitmap[v / 64] |= 1ULL << (v % 64);
	}
	return p ? p->name : "random-bytes";
}

static void mutate_segment(struct rng *r, struct kvm_segment *seg)
{
	switch (rng_below(r, 12)) {
	case 0: seg->base = rng_edge(r); break;
	case 1: seg->limit = rng_edge(r); break;
	case 2: seg->selector = rng_next(r); break;
	case 3: seg->type = rng_below(r, 16); break;
	case 4: seg->present ^= 1; break;
	case 5: seg->dpl = rng_below(r, 4); break;
	case 6: seg->db ^= 1; break;
	case 7: seg->s ^= 1; break;
	case 8: seg->l ^= 1; break;
	case 9: seg->g ^= 1; break;
	case 10: seg->avl ^= 1; break;
	default: seg->unusable ^= 1; break;
	}
}

static void flip(struct rng *r, uint64_t *v)
{
	if (rng_chance(r, 1, 4))
		*v = rng_edge(r);
	else
		*v ^= 1ULL << rng_below(r, 64);
}

void guest_mutate_sregs(struct rng *r, struct kvm_sregs *s)
{
	struct kvm_segment *segs[] = {
		&s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt,
	};
	uint64_t v;

	switch (rng_below(r, 12)) {
	case 0:
		/* Mostly the bits that matter: PE, PG, CD, NW, AM, ET, NE. */
		if (rng_chance(r, 3, 4))
			s->cr0 ^= 1ULL << ((const uint8_t[]){ 0, 31, 30, 29, 18,
							       4, 5, 1, 2, 3,
							       16 })[rng_below(r, 11)];
		else
			flip(r, (uint64_t *)&s->cr0);
		break;
	case 1: flip(r, (uint64_t *)&s->cr3); break;
	case 2:
		if (rng_chance(r, 3, 4))
			s->cr4 ^= 1ULL << rng_below(r, 24);
		else
			flip(r, (uint64_t *)&s->cr4);
		break;
	case 3:
		if (rng_chance(r, 3, 4))
			s->efer ^= 1ULL << ((const uint8_t[]){ 0, 8, 10, 11, 12,
								13, 14, 15 })[rng_below(r, 8)];
		else
			flip(r, (uint64_t *)&s->efer);
		break;
	case 4: flip(r, (uint64_t *)&s->apic_base); break;
	case 5: s->cr8 = rng_chance(r, 3, 4) ? rng_below(r, 16) : rng_edge(r); break;
	case 6: flip(r, (uint64_t *)&s->cr2); break;
	case 7:
		v = rng_below(r, 256);
		s->interrupt_bitmap[v / 64] ^= 1ULL << (v % 64);
		break;
	case 8:
		s->gdt.base = rng_edge(r);
		s->gdt.limit = rng_next(r);
		break;
	case 9:
		s->idt.base = rng_edge(r);
		s->idt.limit = rng_next(r);
		break;
	default:
		mutate_segment(r, segs[rng_below(r, 8)]);
		break;
	}
}

void guest_mutate_regs(struct rng *r, struct kvm_regs *regs)
{
	uint64_t *v = (uint64_t *)regs;

	switch (rng_below(r, 3)) {
	case 0:
		/* RFLAGS: TF, IF, VM, AC, NT, IOPL, RF, or any bit. */
		regs->rflags ^= 1ULL << ((const uint8_t[]){ 8, 9, 17, 18, 14, 12,
							     13, 16, 1 })[rng_below(r, 9)];
		break;
	case 1:
		regs->rip = rng_edge(r);
		break;
	default:
		flip(r, &v[rng_below(r, sizeof(*regs) / 8)]);
		break;
	}
}
