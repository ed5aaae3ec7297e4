// SPDX-License-Identifier: GPL-2.0
/*
 * okvm: the x86 instruction emulator, shared by both backends.
 *
 * okvm emulates an instruction when the hardware cannot finish it: an
 * access to a guest-physical address in no memslot (MMIO; also a write
 * to a read-only slot), and string port I/O.  It decodes the
 * instruction at RIP (the bytes SVM's decode assists give, else fetched
 * through the guest's page tables), computes the linear addresses with
 * the segment checks of the SDM vol. 3, 5.3 and 5.4 (canonical checks in
 * 64-bit mode, vol. 1, 3.3.7.1), translates them with okvm_walk(), and
 * carries it out on a copy of the registers:
 *
 * - reads of RAM are done at once; a read of MMIO that userspace has not
 *   answered yet ends the emulation with KVM_EXIT_MMIO, and the next
 *   KVM_RUN decodes and runs the same bytes again from the start, this
 *   time with the answer (reads are answered in the order made);
 * - writes are kept until the instruction is known to complete, then
 *   stored to RAM through okvm_write_guest() or handed to userspace,
 *   one KVM_EXIT_MMIO each, after the registers were updated, as KVM
 *   does;
 * - a fault raised on the way (#PF from the walk, #GP or #SS from a
 *   segment or canonical check) is queued for the guest and nothing is
 *   changed.
 *
 * An access is cut at page boundaries, so an MMIO exit never carries more
 * than 8 bytes nor crosses a page, as in KVM.  A repeated MOVS or STOS
 * does one element per emulation and enters the guest again, which
 * repeats the instruction: the work done in the kernel per guest exit is
 * bounded, and KVM_RUN's loop sees signals between elements.
 *
 * The instructions are those an MMIO access needs: MOV (88-8B, C6, C7,
 * A0-A3), MOVZX, MOVSX, MOVSXD, the ALU forms with a memory operand (ADD,
 * OR, ADC, SBB, AND, SUB, XOR, CMP; 00-3B and 80-83), TEST (84, 85, F6,
 * F7), XCHG (86, 87), MOVS, STOS and LODS; INS and OUTS for port I/O.
 * Under shadow paging, MOV to and from CR0, CR2, CR3, CR4 and CR8, CLTS,
 * LMSW, SMSW and INVLPG too (okvm_emulate_insn()), and for real mode run
 * in virtual-8086 mode (VMX without unrestricted guest), LGDT, LIDT, MOV
 * to and from DRn and the direct far JMP of real mode, and the decoding
 * of the instructions that fault there (okvm_decode_vm86_gp()).
 * Anything else stops with KVM_EXIT_INTERNAL_ERROR at CPL 0 and raises
 * #UD above it, as in KVM.  XCHG and LOCKed forms are not atomic towards
 * other vCPUs on RAM.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <asm/processor-flags.h>
#include <asm/traps.h>

#include "x86.h"

/* How an emulation step ended; negative values are errnos for KVM_RUN. */
enum {
	EMUL_DONE,	/* carried out: commit */
	EMUL_FAULT,	/* an exception is queued for the guest */
	EMUL_MMIO_READ,	/* waits for userspace to answer a read */
	EMUL_FAIL,	/* not emulated: KVM_EXIT_INTERNAL_ERROR */
	EMUL_RETRY,	/* enter the guest again and let it retry */
};

#define EFLAGS_ARITH	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
			 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_OF)

#define REX_B		BIT(0)
#define REX_X		BIT(1)
#define REX_R		BIT(2)
#define REX_W		BIT(3)

/* String port I/O: elements per exit, in bytes, as KVM's read-ahead. */
#define PIO_STRING_MAX	1024

/* The ALU operations, numbered as opcode bits 5:3 and ModRM.reg of 80-83. */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

enum emul_op_kind { OP_NONE, OP_REG, OP_MEM, OP_IMM };

/**
 * struct emul_op - an operand of the instruction
 * @kind:	register, memory or immediate
 * @bytes:	its size
 * @reg:	OP_REG: register number
 * @high8:	OP_REG: AH, CH, DH or BH
 * @seg:	OP_MEM: segment
 * @ea:		OP_MEM: effective address
 * @val:	OP_IMM: the value, sign-extended
 */
struct emul_op {
	enum emul_op_kind kind;
	unsigned int bytes;
	u8 reg;
	bool high8;
	enum okvm_seg seg;
	u64 ea;
	u64 val;
};

/* One store to guest memory, kept until the instruction completes. */
struct emul_store {
	u64 gpa;
	u8 len;
	u8 data[8];
};

struct emul {
	struct okvm_vcpu *vcpu;
	const struct okvm_exit *exit;
	struct okvm_paging pg;
	int cpl;
	int mode;		/* code size: 16, 32 or 64 */
	bool real;		/* real or virtual-8086 mode */
	/* decoding */
	u8 insn[OKVM_MAX_INSN_LEN];
	unsigned int len;	/* bytes in @insn */
	unsigned int pos;	/* bytes decoded */
	unsigned int op_bytes;
	unsigned int ad_bytes;
	u8 rex;
	u8 rep;			/* 0, 0xf2 or 0xf3 */
	bool lock;
	int seg_override;	/* -1: none */
	bool twobyte;
	u8 opcode;
	u8 modrm_reg;
	bool rip_rel;
	struct emul_op dst;
	struct emul_op src;
	unsigned long next_rip;
	/* segment registers, read when first needed */
	struct kvm_segment segs[OKVM_NR_SEGS];
	unsigned int segs_read;
	/* the registers as the instruction leaves them */
	unsigned long regs[OKVM_NR_REGS];
	unsigned long rflags;
	/* MMIO reads made so far, stores kept for the commit */
	unsigned int reads;
	unsigned int nr_stores;
	struct emul_store stores[OKVM_EMUL_FRAGS];
};

static u64 bytes_mask(unsigned int bytes)
{
	return bytes >= 8 ? ~0ULL : (1ULL << (bytes * 8)) - 1;
}

static int emul_exception(struct emul *e, u8 vector, bool has_error, u32 ec)
{
	okvm_queue_exception(e->vcpu, vector, has_error, ec);
	return EMUL_FAULT;
}

static int emul_gp(struct emul *e)
{
	return emul_exception(e, X86_TRAP_GP, true, 0);
}

static struct kvm_segment *emul_seg(struct emul *e, enum okvm_seg s)
{
	if (!(e->segs_read & BIT(s))) {
		okvm_ops->get_segment(e->vcpu, &e->segs[s], s);
		e->segs_read |= BIT(s);
	}
	return &e->segs[s];
}

static bool emul_canonical(struct emul *e, u64 la)
{
	unsigned int shift = (e->pg.cr4 & X86_CR4_LA57) ? 64 - 57 : 64 - 48;

	return (u64)((s64)(la << shift) >> shift) == la;
}

/*
 * The linear address of @len bytes at @ea in segment @s, or false with
 * the vector to raise (#SS for SS, #GP otherwise).  Outside 64-bit mode:
 * a null or unusable segment, a write to a code or read-only segment, a
 * read of an execute-only one, and bytes outside the limit fault (SDM
 * vol. 3, 5.3 and 5.4); in 64-bit mode only FS and GS have a base, and
 * the address must be canonical (vol. 1, 3.3.7.1).
 */
static bool emul_seg_check(struct emul *e, enum okvm_seg s, u64 ea,
			   unsigned int len, bool write, u64 *la, u8 *vector)
{
	struct kvm_segment *seg = emul_seg(e, s);
	u64 last = ea + len - 1;

	*vector = s == OKVM_SEG_SS ? X86_TRAP_SS : X86_TRAP_GP;
	if (e->mode == 64) {
		*la = ea;
		if (s == OKVM_SEG_FS || s == OKVM_SEG_GS)
			*la += seg->base;
		return emul_canonical(e, *la) &&
		       emul_canonical(e, *la + len - 1);
	}
	*la = (u32)(seg->base + ea);
	if (e->real)
		return last <= seg->limit;
	if (seg->unusable || !seg->present)
		return false;
	if (seg->type & 8) {
		/* Code: never writable, readable with bit 1. */
		if (write || !(seg->type & 2))
			return false;
	} else {
		if (write && !(seg->type & 2))
			return false;
		/* Expand-down: the valid offsets lie above the limit. */
		if (seg->type & 4)
			return ea > seg->limit &&
			       last <= (seg->db ? 0xffffffffULL : 0xffffULL);
	}
	return last <= seg->limit;
}

static int emul_linear(struct emul *e, enum okvm_seg s, u64 ea,
		       unsigned int len, bool write, u64 *la)
{
	u8 vector;

	if (!emul_seg_check(e, s, ea, len, write, la, &vector))
		return emul_exception(e, vector, true, 0);
	return EMUL_DONE;
}

/* Guest-physical address of @la for @access, or the fault it raises. */
static int emul_translate(struct emul *e, u64 la, u32 access, u64 *gpa)
{
	struct okvm_walk w;
	int r;

	if (e->cpl == 3)
		access |= OKVM_PF_USER;
	r = okvm_walk(e->vcpu, &e->pg, la, access, &w);
	switch (r) {
	case 0:
		*gpa = w.gpa;
		return EMUL_DONE;
	case OKVM_WALK_PF:
		okvm_ops->set_ctl(e->vcpu, OKVM_CTL_CR2, la);
		return emul_exception(e, X86_TRAP_PF, true, w.error_code);
	case -ENOENT:
		/* Guest page tables in MMIO: KVM cannot walk those either. */
		return EMUL_FAIL;
	case -EAGAIN:
		return EMUL_RETRY;
	default:
		return r;
	}
}

/* Fetch the next bytes at CS:RIP, up to the end of their page. */
static int emul_fetch_more(struct emul *e)
{
	struct kvm_segment *cs = emul_seg(e, OKVM_SEG_CS);
	u64 ip = e->vcpu->arch.rip + e->len;
	unsigned int n = OKVM_MAX_INSN_LEN - e->len;
	u64 la, gpa;
	int r;

	/* Longer than 15 bytes is #GP(0) (SDM vol. 2, chapter 2). */
	if (!n)
		return emul_gp(e);
	if (e->mode == 64) {
		la = ip;
		if (!emul_canonical(e, la))
			return emul_gp(e);
	} else {
		ip = (u32)ip;
		if (ip > cs->limit)
			return emul_gp(e);
		n = min_t(u64, n, cs->limit - ip + 1);
		la = (u32)(cs->base + ip);
	}
	n = min_t(unsigned int, n, PAGE_SIZE - offset_in_page(la));
	r = emul_translate(e, la, OKVM_PF_FETCH, &gpa);
	if (r)
		return r;
	r = okvm_read_guest(e->vcpu->vm, gpa, e->insn + e->len, n);
	if (r == -ENOENT)
		return EMUL_FAIL;	/* code in MMIO */
	if (r)
		return r;
	e->len += n;
	return EMUL_DONE;
}

static int emul_byte(struct emul *e, u8 *b)
{
	int r;

	if (e->pos == e->len) {
		r = emul_fetch_more(e);
		if (r)
			return r;
	}
	*b = e->insn[e->pos++];
	return EMUL_DONE;
}

/* A little-endian immediate of @bytes, sign-extended. */
static int emul_imm(struct emul *e, unsigned int bytes, u64 *val)
{
	u64 v = 0;
	unsigned int i;
	u8 b;
	int r;

	for (i = 0; i < bytes; i++) {
		r = emul_byte(e, &b);
		if (r)
			return r;
		v |= (u64)b << (8 * i);
	}
	if (bytes < 8 && (v & BIT_ULL(bytes * 8 - 1)))
		v |= ~bytes_mask(bytes);
	*val = v;
	return EMUL_DONE;
}

static void emul_reg_op(struct emul *e, struct emul_op *op, u8 reg,
			unsigned int bytes)
{
	op->kind = OP_REG;
	op->bytes = bytes;
	/* Without REX, byte registers 4-7 are AH, CH, DH and BH. */
	op->high8 = bytes == 1 && !e->rex && reg >= 4 && reg < 8;
	op->reg = op->high8 ? reg - 4 : reg;
}

static int emul_default_seg(struct emul *e, enum okvm_seg s)
{
	return e->seg_override >= 0 ? e->seg_override : s;
}

/* 16-bit ModRM addressing (SDM vol. 2, table 2-1). */
static int emul_modrm16(struct emul *e, u8 mod, u8 rm, struct emul_op *op)
{
	static const s8 base[8] = { OKVM_RBX, OKVM_RBX, OKVM_RBP, OKVM_RBP,
				    -1, -1, OKVM_RBP, OKVM_RBX };
	static const s8 index[8] = { OKVM_RSI, OKVM_RDI, OKVM_RSI, OKVM_RDI,
				     OKVM_RSI, OKVM_RDI, -1, -1 };
	enum okvm_seg seg = OKVM_SEG_DS;
	u64 ea = 0, disp = 0;
	int r = EMUL_DONE;

	if (mod == 0 && rm == 6) {
		r = emul_imm(e, 2, &disp);
	} else {
		if (base[rm] >= 0)
			ea += e->regs[base[rm]];
		if (index[rm] >= 0)
			ea += e->regs[index[rm]];
		if (base[rm] == OKVM_RBP)
			seg = OKVM_SEG_SS;
		if (mod == 1)
			r = emul_imm(e, 1, &disp);
		else if (mod == 2)
			r = emul_imm(e, 2, &disp);
	}
	op->ea = (ea + disp) & 0xffff;
	op->seg = emul_default_seg(e, seg);
	return r;
}

/* 32- and 64-bit ModRM and SIB addressing (SDM vol. 2, tables 2-2, 2-3). */
static int emul_modrm32(struct emul *e, u8 mod, u8 rm, struct emul_op *op)
{
	enum okvm_seg seg = OKVM_SEG_DS;
	u64 ea = 0, disp = 0;
	u8 sib, base = rm;
	int r;

	if (rm == 4) {
		u8 index;

		r = emul_byte(e, &sib);
		if (r)
			return r;
		index = ((sib >> 3) & 7) | ((e->rex & REX_X) ? 8 : 0);
		base = sib & 7;
		if (index != OKVM_RSP)
			ea += e->regs[index] << (sib >> 6);
		if (base == 5 && mod == 0) {
			r = emul_imm(e, 4, &disp);
			goto out;
		}
	} else if (rm == 5 && mod == 0) {
		/* disp32, relative to the next instruction in 64-bit mode. */
		e->rip_rel = e->mode == 64;
		r = emul_imm(e, 4, &disp);
		goto out;
	}
	base |= (e->rex & REX_B) ? 8 : 0;
	ea += e->regs[base];
	if (base == OKVM_RSP || base == OKVM_RBP)
		seg = OKVM_SEG_SS;
	r = EMUL_DONE;
	if (mod == 1)
		r = emul_imm(e, 1, &disp);
	else if (mod == 2)
		r = emul_imm(e, 4, &disp);
out:
	op->ea = (ea + disp) & bytes_mask(e->ad_bytes);
	op->seg = emul_default_seg(e, seg);
	return r;
}

/*
 * Decode a ModRM byte: @rm becomes the register or memory operand of
 * @rm_bytes; ModRM.reg (with REX.R) is kept in e->modrm_reg.
 */
static int emul_modrm(struct emul *e, struct emul_op *rm,
		      unsigned int rm_bytes)
{
	u8 modrm, mod, r_m;
	int r;

	r = emul_byte(e, &modrm);
	if (r)
		return r;
	mod = modrm >> 6;
	r_m = modrm & 7;
	e->modrm_reg = ((modrm >> 3) & 7) | ((e->rex & REX_R) ? 8 : 0);
	if (mod == 3) {
		emul_reg_op(e, rm, r_m | ((e->rex & REX_B) ? 8 : 0), rm_bytes);
		return EMUL_DONE;
	}
	rm->kind = OP_MEM;
	rm->bytes = rm_bytes;
	if (e->ad_bytes == 2)
		return emul_modrm16(e, mod, r_m, rm);
	return emul_modrm32(e, mod, r_m, rm);
}

static int emul_imm_op(struct emul *e, struct emul_op *op, unsigned int bytes,
		       unsigned int imm_bytes)
{
	op->kind = OP_IMM;
	op->bytes = bytes;
	return emul_imm(e, imm_bytes, &op->val);
}

/* "Iz": an immediate of the operand size, at most 32 bits. */
static unsigned int emul_iz(struct emul *e)
{
	return e->op_bytes == 2 ? 2 : 4;
}

static int emul_prefixes(struct emul *e)
{
	static const enum okvm_seg seg_prefix[] = {
		[0x26 >> 3 & 3] = OKVM_SEG_ES, [0x2e >> 3 & 3] = OKVM_SEG_CS,
		[0x36 >> 3 & 3] = OKVM_SEG_SS, [0x3e >> 3 & 3] = OKVM_SEG_DS,
	};
	bool op16 = false, ad_toggle = false;
	unsigned int def;
	u8 b;
	int r;

	e->seg_override = -1;
	for (;;) {
		r = emul_byte(e, &b);
		if (r)
			return r;
		switch (b) {
		case 0x66:
			op16 = true;
			break;
		case 0x67:
			ad_toggle = true;
			break;
		case 0xf2:
		case 0xf3:
			e->rep = b;
			break;
		case 0xf0:
			/* LOCK: the hardware has already checked its use. */
			e->lock = true;
			break;
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
			e->seg_override = seg_prefix[b >> 3 & 3];
			break;
		case 0x64:
			e->seg_override = OKVM_SEG_FS;
			break;
		case 0x65:
			e->seg_override = OKVM_SEG_GS;
			break;
		default:
			/* REX counts only right before the opcode (SDM 2.2.1). */
			if (e->mode == 64 && (b & 0xf0) == 0x40) {
				e->rex = b;
				continue;
			}
			e->opcode = b;
			goto sizes;
		}
		e->rex = 0;
	}
sizes:
	if (e->mode == 64) {
		e->op_bytes = (e->rex & REX_W) ? 8 : op16 ? 2 : 4;
		e->ad_bytes = ad_toggle ? 4 : 8;
		return EMUL_DONE;
	}
	def = e->mode / 8;
	e->op_bytes = op16 ? 6 - def : def;
	e->ad_bytes = ad_toggle ? 6 - def : def;
	return EMUL_DONE;
}

/*
 * The system instructions shadow paging intercepts: 0F 01 /4 SMSW, /6
 * LMSW, /7 INVLPG; 0F 06 CLTS; 0F 20 and 0F 22 MOV from and to CRn.
 * Real mode in virtual-8086 mode also faults on 0F 01 /2 LGDT and /3
 * LIDT, and 0F 21 and 0F 23 MOV from and to DRn.
 */
static bool emul_is_sys(struct emul *e)
{
	return e->twobyte && (e->opcode == 0x01 || e->opcode == 0x06 ||
			      (e->opcode >= 0x20 && e->opcode <= 0x23));
}

static int emul_decode_sys(struct emul *e)
{
	u8 modrm;
	int r;

	switch (e->opcode) {
	case 0x01:
		r = emul_modrm(e, &e->dst, 2);
		if (r)
			return r;
		switch (e->modrm_reg & 7) {
		case 4:		/* SMSW: all of CR0 to a register */
			if (e->dst.kind == OP_REG)
				e->dst.bytes = e->op_bytes;
			return EMUL_DONE;
		case 6:		/* LMSW */
			return EMUL_DONE;
		case 2:		/* LGDT */
		case 3:		/* LIDT */
		case 7:		/* INVLPG; register forms are other insns */
			return e->dst.kind == OP_MEM ? EMUL_DONE : EMUL_FAIL;
		default:
			return EMUL_FAIL;
		}
	case 0x20 ... 0x23:
		/*
		 * Always a register, whatever ModRM.mod says, of 64 bits in
		 * 64-bit mode and 32 otherwise (SDM vol. 2, "MOV--Move
		 * to/from Control Registers", and Debug Registers).  On
		 * AMD, LOCK makes CR0 CR8 (APM vol. 3, "MOV CRn").
		 */
		r = emul_byte(e, &modrm);
		if (r)
			return r;
		e->modrm_reg = ((modrm >> 3) & 7) | ((e->rex & REX_R) ? 8 : 0);
		if (e->lock && !e->modrm_reg)
			e->modrm_reg = 8;
		emul_reg_op(e, &e->dst, (modrm & 7) | ((e->rex & REX_B) ? 8 : 0),
			    e->mode == 64 ? 8 : 4);
		return EMUL_DONE;
	default:	/* CLTS */
		return EMUL_DONE;
	}
}

static int emul_decode_twobyte(struct emul *e)
{
	int r;

	r = emul_byte(e, &e->opcode);
	if (r)
		return r;
	if (emul_is_sys(e))
		return emul_decode_sys(e);
	switch (e->opcode) {
	case 0xb6:	/* MOVZX Gv, Eb */
	case 0xb7:	/* MOVZX Gv, Ew */
	case 0xbe:	/* MOVSX Gv, Eb */
	case 0xbf:	/* MOVSX Gv, Ew */
		r = emul_modrm(e, &e->src, (e->opcode & 1) ? 2 : 1);
		emul_reg_op(e, &e->dst, e->modrm_reg, e->op_bytes);
		return r;
	default:
		return EMUL_FAIL;
	}
}

static int emul_decode(struct emul *e)
{
	unsigned int bytes;
	u8 op;
	int r;

	r = emul_prefixes(e);
	if (r)
		return r;
	op = e->opcode;
	bytes = (op & 1) ? e->op_bytes : 1;
	if (op == 0x0f) {
		e->twobyte = true;
		r = emul_decode_twobyte(e);
		goto out;
	}
	switch (op) {
	case 0x00 ... 0x3f:
		/* ALU Eb,Gb; Ev,Gv; Gb,Eb; Gv,Ev.  The rest take no memory. */
		if ((op & 7) > 3)
			return EMUL_FAIL;
		if (op & 2) {
			r = emul_modrm(e, &e->src, bytes);
			emul_reg_op(e, &e->dst, e->modrm_reg, bytes);
		} else {
			r = emul_modrm(e, &e->dst, bytes);
			emul_reg_op(e, &e->src, e->modrm_reg, bytes);
		}
		break;
	case 0x63:	/* MOVSXD Gv, Ed: ARPL outside 64-bit mode */
		if (e->mode != 64)
			return EMUL_FAIL;
		r = emul_modrm(e, &e->src, 4);
		emul_reg_op(e, &e->dst, e->modrm_reg, e->op_bytes);
		break;
	case 0x82:	/* an alias of 80, but not in 64-bit mode */
		if (e->mode == 64)
			return EMUL_FAIL;
		fallthrough;
	case 0x80:
	case 0x81:
	case 0x83:
		bytes = op == 0x81 || op == 0x83 ? e->op_bytes : 1;
		r = emul_modrm(e, &e->dst, bytes);
		if (!r)
			r = emul_imm_op(e, &e->src, bytes,
					op == 0x81 ? emul_iz(e) : 1);
		break;
	case 0x84 ... 0x89:	/* TEST, XCHG, MOV Eb/Ev, Gb/Gv */
		r = emul_modrm(e, &e->dst, bytes);
		emul_reg_op(e, &e->src, e->modrm_reg, bytes);
		break;
	case 0x8a:
	case 0x8b:	/* MOV Gb/Gv, Eb/Ev */
		r = emul_modrm(e, &e->src, bytes);
		emul_reg_op(e, &e->dst, e->modrm_reg, bytes);
		break;
	case 0xa0 ... 0xa3: {	/* MOV AL/eAX to and from moffs */
		struct emul_op *mem = (op & 2) ? &e->dst : &e->src;
		struct emul_op *acc = (op & 2) ? &e->src : &e->dst;

		mem->kind = OP_MEM;
		mem->bytes = bytes;
		mem->seg = emul_default_seg(e, OKVM_SEG_DS);
		r = emul_imm(e, e->ad_bytes, &mem->ea);
		mem->ea &= bytes_mask(e->ad_bytes);
		emul_reg_op(e, acc, OKVM_RAX, bytes);
		break;
	}
	case 0xa4:
	case 0xa5:	/* MOVS */
	case 0xaa:
	case 0xab:	/* STOS */
	case 0xac:
	case 0xad:	/* LODS */
	case 0x6c ... 0x6f:	/* INS, OUTS */
		break;
	case 0xea:	/* JMP ptr16:16/32, real mode only: no descriptor */
		if (!e->real || e->mode == 64)
			return EMUL_FAIL;
		r = emul_imm(e, e->op_bytes, &e->src.val);
		if (!r)
			r = emul_imm(e, 2, &e->dst.val);
		break;
	case 0xc6:
	case 0xc7:	/* MOV Eb/Ev, Ib/Iz: only /0 */
	case 0xf6:
	case 0xf7:	/* TEST Eb/Ev, Ib/Iz: only /0 is emulated */
		r = emul_modrm(e, &e->dst, bytes);
		if (r)
			return r;
		if ((e->modrm_reg & 7) != 0)
			return EMUL_FAIL;
		r = emul_imm_op(e, &e->src, bytes, bytes == 1 ? 1 : emul_iz(e));
		break;
	default:
		return EMUL_FAIL;
	}
out:
	if (r)
		return r;
	e->next_rip = e->vcpu->arch.rip + e->pos;
	if (e->mode != 64)
		e->next_rip = (u32)e->next_rip;
	if (e->rip_rel) {
		struct emul_op *mem = e->dst.kind == OP_MEM ? &e->dst : &e->src;

		mem->ea = (mem->ea + e->next_rip) & bytes_mask(e->ad_bytes);
	}
	return EMUL_DONE;
}

static bool emul_is_string_io(struct emul *e)
{
	return !e->twobyte && e->opcode >= 0x6c && e->opcode <= 0x6f;
}

/* A read of MMIO: the answer userspace gave, or an exit to ask for it. */
static int emul_mmio_read(struct emul *e, u64 gpa, void *data,
			  unsigned int len)
{
	struct okvm_emul *st = &e->vcpu->arch.emul;
	struct kvm_run *run = e->vcpu->run;
	unsigned int i = e->reads++;

	if (i < st->nr_reads && st->read_gpa[i] == gpa) {
		memcpy(data, &st->reads[i], len);
		return EMUL_DONE;
	}
	if (i >= OKVM_EMUL_FRAGS)
		return EMUL_FAIL;
	/*
	 * Not asked yet, or asked at another address (a memslot or the
	 * guest's page tables changed since): ask again from here on.
	 */
	st->nr_reads = i;
	st->read_gpa[i] = gpa;
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = gpa;
	run->mmio.len = len;
	run->mmio.is_write = 0;
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	return EMUL_MMIO_READ;
}

/* Read or write @len bytes at @la, within one page. */
static int emul_access_page(struct emul *e, u64 la, void *data,
			    unsigned int len, bool write)
{
	struct emul_store *st;
	u64 gpa;
	int r;

	r = emul_translate(e, la, write ? OKVM_PF_WRITE : 0, &gpa);
	if (r)
		return r;
	if (!write) {
		r = okvm_read_guest(e->vcpu->vm, gpa, data, len);
		if (r == -ENOENT)
			return emul_mmio_read(e, gpa, data, len);
		return r;
	}
	if (e->nr_stores == OKVM_EMUL_FRAGS)
		return EMUL_FAIL;
	st = &e->stores[e->nr_stores++];
	st->gpa = gpa;
	st->len = len;
	memcpy(st->data, data, len);
	return EMUL_DONE;
}

/* Read or write up to 8 bytes at @seg:@ea, split at page boundaries. */
static int emul_access(struct emul *e, enum okvm_seg seg, u64 ea, void *data,
		       unsigned int len, bool write)
{
	unsigned int n;
	u64 la;
	int r;

	r = emul_linear(e, seg, ea, len, write, &la);
	while (!r && len) {
		n = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(la));
		r = emul_access_page(e, la, data, n, write);
		la += n;
		if (e->mode != 64)
			la = (u32)la;
		data += n;
		len -= n;
	}
	return r;
}

static void emul_reg_write(struct emul *e, u8 reg, bool high8,
			   unsigned int bytes, u64 val)
{
	unsigned long *r = &e->regs[reg];

	switch (bytes) {
	case 1:
		if (high8)
			*r = (*r & ~0xff00UL) | ((val & 0xff) << 8);
		else
			*r = (*r & ~0xffUL) | (val & 0xff);
		break;
	case 2:
		*r = (*r & ~0xffffUL) | (val & 0xffff);
		break;
	case 4:
		/* A 32-bit result zero-extends (SDM vol. 1, 3.4.1.1). */
		*r = (u32)val;
		break;
	default:
		*r = val;
		break;
	}
}

static int emul_read_op(struct emul *e, const struct emul_op *op, u64 *val)
{
	u64 v = 0;
	int r;

	switch (op->kind) {
	case OP_REG:
		v = e->regs[op->reg] >> (op->high8 ? 8 : 0);
		break;
	case OP_IMM:
		v = op->val;
		break;
	case OP_MEM:
		r = emul_access(e, op->seg, op->ea, &v, op->bytes, false);
		if (r)
			return r;
		break;
	default:
		return EMUL_FAIL;
	}
	*val = v & bytes_mask(op->bytes);
	return EMUL_DONE;
}

static int emul_write_op(struct emul *e, const struct emul_op *op, u64 val)
{
	switch (op->kind) {
	case OP_REG:
		emul_reg_write(e, op->reg, op->high8, op->bytes, val);
		return EMUL_DONE;
	case OP_MEM:
		return emul_access(e, op->seg, op->ea, &val, op->bytes, true);
	default:
		return EMUL_FAIL;
	}
}

/*
 * The ALU operations and the flags they leave (SDM vol. 2, ADD ... XOR):
 * OF, SF, ZF, AF, PF and CF from the result; the logical ones clear OF
 * and CF, and AF, which they leave undefined, is cleared as the
 * processors okvm runs on do.
 */
static u64 emul_alu(struct emul *e, int op, unsigned int bytes, u64 d, u64 s)
{
	u64 mask = bytes_mask(bytes);
	u64 sign = BIT_ULL(bytes * 8 - 1);
	bool cin = e->rflags & X86_EFLAGS_CF;
	unsigned long flags = 0, inv = 0;
	u64 res;

	switch (op) {
	case ALU_SUB:
	case ALU_SBB:
	case ALU_CMP:
		/*
		 * d - s - borrow is d + ~s + !borrow, whose carries out of
		 * bits 3 and of the top bit are the inverse of the borrows.
		 */
		s = ~s & mask;
		cin = !(cin && op == ALU_SBB);
		inv = X86_EFLAGS_CF | X86_EFLAGS_AF;
		fallthrough;
	case ALU_ADD:
	case ALU_ADC:
		cin = cin && (op == ALU_ADC || inv);
		res = (d + s + cin) & mask;
		if (res < d || (cin && res == d))
			flags |= X86_EFLAGS_CF;
		if ((d ^ res) & (s ^ res) & sign)
			flags |= X86_EFLAGS_OF;
		flags |= (d ^ s ^ res) & X86_EFLAGS_AF;
		flags ^= inv;
		break;
	case ALU_OR:
		res = d | s;
		break;
	case ALU_XOR:
		res = d ^ s;
		break;
	default:	/* ALU_AND, and TEST */
		res = d & s;
		break;
	}
	if (!res)
		flags |= X86_EFLAGS_ZF;
	if (res & sign)
		flags |= X86_EFLAGS_SF;
	if (!(hweight8(res & 0xff) & 1))
		flags |= X86_EFLAGS_PF;
	e->rflags = (e->rflags & ~EFLAGS_ARITH) | flags;
	return res;
}

/* Move an index register of a string instruction by @delta bytes. */
static void emul_string_step(struct emul *e, u8 reg, s64 delta)
{
	emul_reg_write(e, reg, false, e->ad_bytes,
		       (e->regs[reg] + delta) & bytes_mask(e->ad_bytes));
}

/* One element of MOVS, STOS or LODS (SDM vol. 2, 4.3 "REP"). */
static int emul_string(struct emul *e)
{
	unsigned int size = (e->opcode & 1) ? e->op_bytes : 1;
	u64 admask = bytes_mask(e->ad_bytes);
	u64 count = e->regs[OKVM_RCX] & admask;
	s64 delta = (e->rflags & X86_EFLAGS_DF) ? -(s64)size : size;
	enum okvm_seg src_seg = emul_default_seg(e, OKVM_SEG_DS);
	u64 val = 0;
	int r;

	if (e->rep && !count)
		return EMUL_DONE;
	switch (e->opcode) {
	case 0xa4:
	case 0xa5:
		r = emul_access(e, src_seg, e->regs[OKVM_RSI] & admask, &val,
				size, false);
		if (!r)
			r = emul_access(e, OKVM_SEG_ES,
					e->regs[OKVM_RDI] & admask, &val,
					size, true);
		emul_string_step(e, OKVM_RSI, delta);
		emul_string_step(e, OKVM_RDI, delta);
		break;
	case 0xaa:
	case 0xab:
		val = e->regs[OKVM_RAX];
		r = emul_access(e, OKVM_SEG_ES, e->regs[OKVM_RDI] & admask,
				&val, size, true);
		emul_string_step(e, OKVM_RDI, delta);
		break;
	default:	/* LODS */
		r = emul_access(e, src_seg, e->regs[OKVM_RSI] & admask, &val,
				size, false);
		emul_reg_write(e, OKVM_RAX, false, size, val);
		emul_string_step(e, OKVM_RSI, delta);
		break;
	}
	if (r)
		return r;
	if (e->rep) {
		emul_reg_write(e, OKVM_RCX, false, e->ad_bytes, count - 1);
		/* Not the last element: the guest runs it again. */
		if (count > 1)
			e->next_rip = e->vcpu->arch.rip;
	}
	return EMUL_DONE;
}

/* MOV from or to CRn; #UD for a control register that does not exist. */
static int emul_mov_cr(struct emul *e)
{
	int ctl = okvm_cr_ctl(e->modrm_reg);
	u64 val = 0;

	if (ctl < 0)
		return emul_exception(e, X86_TRAP_UD, false, 0);
	if (e->opcode == 0x20)
		return emul_write_op(e, &e->dst, okvm_get_ctl(e->vcpu, ctl));
	emul_read_op(e, &e->dst, &val);
	return okvm_write_cr(e->vcpu, e->modrm_reg, val) ? EMUL_DONE :
							   emul_gp(e);
}

/*
 * MOV from or to DRn: DR4 and DR5 are DR6 and DR7 unless CR4.DE makes
 * them #UD; DR6 and DR7 keep their fixed bits (SDM vol. 3, 17.2).
 */
#define EMUL_DR6_FIXED_1	0xffff0ff0ULL
#define EMUL_DR7_FIXED_1	0x400ULL
#define EMUL_DR7_RESERVED	0xd800ULL	/* bits 11, 12, 14 and 15 */

static int emul_mov_dr(struct emul *e)
{
	struct okvm_vcpu *vcpu = e->vcpu;
	u8 dr = e->modrm_reg;
	u64 val = 0;

	if (dr > 7 || ((dr == 4 || dr == 5) && (e->pg.cr4 & X86_CR4_DE)))
		return emul_exception(e, X86_TRAP_UD, false, 0);
	if (dr == 4 || dr == 5)
		dr += 2;
	if (e->opcode == 0x21) {
		if (dr < 4)
			val = vcpu->arch.dr[dr];
		else
			val = okvm_get_ctl(vcpu, dr == 6 ? OKVM_CTL_DR6 :
							   OKVM_CTL_DR7);
		return emul_write_op(e, &e->dst, val);
	}
	emul_read_op(e, &e->dst, &val);
	if (dr < 4)
		vcpu->arch.dr[dr] = val;
	else if (dr == 6)
		okvm_ops->set_ctl(vcpu, OKVM_CTL_DR6,
				  (u32)val | EMUL_DR6_FIXED_1);
	else
		okvm_ops->set_ctl(vcpu, OKVM_CTL_DR7,
				  ((u32)val & ~EMUL_DR7_RESERVED) |
				  EMUL_DR7_FIXED_1);
	return EMUL_DONE;
}

/*
 * LGDT and LIDT: a 16-bit limit, then a base of 8 bytes in 64-bit mode,
 * else 4, of which a 16-bit operand size keeps 24 bits (SDM vol. 2,
 * "LGDT/LIDT").
 */
static int emul_load_dt(struct emul *e)
{
	struct emul_op op = e->dst;
	struct kvm_dtable dt = {};
	u64 limit, base;
	int r;

	op.bytes = 2;
	r = emul_read_op(e, &op, &limit);
	if (r)
		return r;
	op.ea = (op.ea + 2) & bytes_mask(e->ad_bytes);
	op.bytes = e->mode == 64 ? 8 : 4;
	r = emul_read_op(e, &op, &base);
	if (r)
		return r;
	if (e->op_bytes == 2)
		base &= 0xffffff;
	dt.base = base;
	dt.limit = limit;
	okvm_ops->set_dt(e->vcpu, &dt, (e->modrm_reg & 7) == 3);
	return EMUL_DONE;
}

/*
 * The system instructions, all CPL 0 but SMSW (SDM vol. 2); the
 * processor checks the CPL before the intercept (APM vol. 2, 15.7.1), so
 * this check only matters to an instruction reached some other way.
 * The control register writes come last: nothing faults after them.
 */
static int emul_sys(struct emul *e)
{
	u64 cr0 = e->pg.cr0, val, la;
	u8 vector;
	int r;

	if (e->opcode == 0x01 && (e->modrm_reg & 7) == 4)
		return emul_write_op(e, &e->dst, cr0);
	if (e->cpl)
		return emul_gp(e);
	switch (e->opcode) {
	case 0x06:	/* CLTS */
		return okvm_write_cr0(e->vcpu, cr0 & ~X86_CR0_TS) ?
		       EMUL_DONE : emul_gp(e);
	case 0x20:
	case 0x22:
		return emul_mov_cr(e);
	case 0x21:
	case 0x23:
		return emul_mov_dr(e);
	}
	if ((e->modrm_reg & 7) == 2 || (e->modrm_reg & 7) == 3)
		return emul_load_dt(e);
	if ((e->modrm_reg & 7) == 6) {
		/* LMSW loads PE, MP, EM and TS, and cannot clear PE. */
		r = emul_read_op(e, &e->dst, &val);
		if (r)
			return r;
		val = (cr0 & ~(X86_CR0_MP | X86_CR0_EM | X86_CR0_TS)) |
		      (val & (X86_CR0_PE | X86_CR0_MP | X86_CR0_EM |
			      X86_CR0_TS));
		return okvm_write_cr0(e->vcpu, val) ? EMUL_DONE : emul_gp(e);
	}
	/* INVLPG makes no segment or canonical check: only the address. */
	emul_seg_check(e, e->dst.seg, e->dst.ea, 1, false, &la, &vector);
	okvm_shadow_invlpg(e->vcpu, la);
	return EMUL_DONE;
}

/*
 * The direct far JMP of real mode: CS takes the selector and a base of
 * 16 times it, its limit and attributes stay (SDM vol. 3, 20.1.1), and
 * an offset past the CS limit is #GP(0).  Nothing faults after CS.
 */
static int emul_far_jmp_real(struct emul *e)
{
	struct kvm_segment *cs = emul_seg(e, OKVM_SEG_CS);
	u64 ip = e->src.val & bytes_mask(e->op_bytes);

	if (ip > cs->limit)
		return emul_gp(e);
	cs->selector = e->dst.val;
	cs->base = (u64)cs->selector << 4;
	okvm_ops->set_segment(e->vcpu, cs, OKVM_SEG_CS);
	e->next_rip = ip;
	return EMUL_DONE;
}

static int emul_execute(struct emul *e)
{
	u64 d = 0, s = 0;
	int op, r;

	if (emul_is_sys(e))
		return emul_sys(e);
	if (e->twobyte) {
		unsigned int sbytes = e->src.bytes;

		r = emul_read_op(e, &e->src, &s);
		if (r)
			return r;
		/* MOVSX sign-extends from the source size. */
		if (e->opcode & 8)
			s = (u64)((s64)(s << (64 - 8 * sbytes)) >>
				  (64 - 8 * sbytes));
		return emul_write_op(e, &e->dst, s);
	}
	switch (e->opcode) {
	case 0x00 ... 0x3f:
	case 0x80 ... 0x83:
		op = e->opcode < 0x40 ? e->opcode >> 3 : e->modrm_reg & 7;
		r = emul_read_op(e, &e->dst, &d);
		if (!r)
			r = emul_read_op(e, &e->src, &s);
		if (r)
			return r;
		d = emul_alu(e, op, e->dst.bytes, d, s);
		return op == ALU_CMP ? EMUL_DONE : emul_write_op(e, &e->dst, d);
	case 0x84:
	case 0x85:
	case 0xf6:
	case 0xf7:	/* TEST */
		r = emul_read_op(e, &e->dst, &d);
		if (!r)
			r = emul_read_op(e, &e->src, &s);
		if (!r)
			emul_alu(e, ALU_AND, e->dst.bytes, d, s);
		return r;
	case 0x86:
	case 0x87:	/* XCHG: memory first, as the processor locks it */
		r = emul_read_op(e, &e->dst, &d);
		if (!r)
			r = emul_read_op(e, &e->src, &s);
		if (!r)
			r = emul_write_op(e, &e->dst, s);
		if (!r)
			r = emul_write_op(e, &e->src, d);
		return r;
	case 0x63:	/* MOVSXD */
		r = emul_read_op(e, &e->src, &s);
		return r ? r : emul_write_op(e, &e->dst, (s64)(s32)s);
	case 0xa4:
	case 0xa5:
	case 0xaa:
	case 0xab:
	case 0xac:
	case 0xad:
		return emul_string(e);
	case 0x88 ... 0x8b:
	case 0xa0 ... 0xa3:
	case 0xc6:
	case 0xc7:	/* MOV */
		r = emul_read_op(e, &e->src, &s);
		return r ? r : emul_write_op(e, &e->dst, s);
	case 0xea:
		return emul_far_jmp_real(e);
	default:
		return EMUL_FAIL;
	}
}

static void emul_init(struct emul *e, struct okvm_vcpu *vcpu,
		      const struct okvm_exit *exit, const u8 *insn,
		      unsigned int len)
{
	struct kvm_segment *cs;

	memset(e, 0, sizeof(*e));
	e->vcpu = vcpu;
	e->exit = exit;
	okvm_paging_get(vcpu, &e->pg);
	e->cpl = okvm_ops->get_cpl(vcpu);
	memcpy(e->regs, vcpu->arch.regs, sizeof(e->regs));
	e->rflags = vcpu->arch.rflags;
	e->len = min_t(unsigned int, len, OKVM_MAX_INSN_LEN);
	memcpy(e->insn, insn, e->len);
	cs = emul_seg(e, OKVM_SEG_CS);
	e->real = !(e->pg.cr0 & X86_CR0_PE) || (e->rflags & X86_EFLAGS_VM);
	if ((e->pg.efer & EFER_LMA) && cs->l)
		e->mode = 64;
	else if (!e->real && cs->db)
		e->mode = 32;
	else
		e->mode = 16;
}

/* Hand userspace the next MMIO write of a completed instruction. */
static void emul_next_write(struct okvm_vcpu *vcpu)
{
	struct okvm_emul *st = &vcpu->arch.emul;
	struct okvm_mmio_frag *f = &st->writes[st->next_write++];
	struct kvm_run *run = vcpu->run;

	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = f->gpa;
	run->mmio.len = f->len;
	run->mmio.is_write = 1;
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	memcpy(run->mmio.data, f->data, f->len);
	st->wait = OKVM_EMUL_MMIO_WRITE;
}

/*
 * The instruction completed: store to RAM, take the registers and RIP,
 * then hand the MMIO writes to userspace.
 */
static int emul_commit(struct emul *e)
{
	struct okvm_vcpu *vcpu = e->vcpu;
	struct okvm_emul *st = &vcpu->arch.emul;
	struct okvm_mmio_frag *f;
	unsigned int i;
	int r;

	st->wait = OKVM_EMUL_IDLE;
	st->nr_reads = 0;
	st->nr_writes = 0;
	st->next_write = 0;
	for (i = 0; i < e->nr_stores; i++) {
		struct emul_store *s = &e->stores[i];

		r = okvm_write_guest(vcpu->vm, s->gpa, s->data, s->len);
		if (r == -ENOENT) {
			f = &st->writes[st->nr_writes++];
			f->gpa = s->gpa;
			f->len = s->len;
			memcpy(f->data, s->data, s->len);
		} else if (r) {
			return r;
		}
	}
	memcpy(vcpu->arch.regs, e->regs, sizeof(e->regs));
	vcpu->arch.rflags = e->rflags;
	okvm_complete_insn(vcpu, e->next_rip);
	if (!st->nr_writes)
		return 1;
	emul_next_write(vcpu);
	return 0;
}

/* Keep what resuming the instruction at the next KVM_RUN needs. */
static void emul_wait(struct emul *e, enum okvm_emul_wait wait)
{
	struct okvm_emul *st = &e->vcpu->arch.emul;

	st->wait = wait;
	st->rip = e->vcpu->arch.rip;
	st->insn_len = e->pos;
	memcpy(st->insn, e->insn, e->pos);
	st->exit_info[0] = e->exit->hw_reason;
	st->exit_info[1] = e->exit->info[0];
	st->exit_info[2] = e->exit->info[1];
}

/* The exit an instruction resumed at KVM_RUN began with. */
static void emul_saved_exit(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	struct okvm_emul *st = &vcpu->arch.emul;

	memset(exit, 0, sizeof(*exit));
	exit->hw_reason = st->exit_info[0];
	exit->info[0] = st->exit_info[1];
	exit->info[1] = st->exit_info[2];
}

/* The KVM_RUN return convention for how an emulation ended. */
static int emul_end(struct emul *e, int r)
{
	struct okvm_vcpu *vcpu = e->vcpu;
	struct okvm_emul *st = &vcpu->arch.emul;

	switch (r) {
	case EMUL_DONE:
		return emul_commit(e);
	case EMUL_MMIO_READ:
		emul_wait(e, OKVM_EMUL_MMIO_READ);
		return 0;
	case EMUL_FAIL:
		st->wait = OKVM_EMUL_IDLE;
		/* As KVM: only a CPL 0 failure stops; user code gets #UD. */
		if (e->cpl) {
			okvm_queue_exception(vcpu, X86_TRAP_UD, false, 0);
			return 1;
		}
		okvm_emulation_failure(vcpu, e->exit, e->insn, e->len);
		return 0;
	case EMUL_FAULT:
	case EMUL_RETRY:
		st->wait = OKVM_EMUL_IDLE;
		return 1;
	default:
		st->wait = OKVM_EMUL_IDLE;
		return r;
	}
}

static int emul_insn(struct okvm_vcpu *vcpu, const struct okvm_exit *exit,
		     const u8 *insn, unsigned int len)
{
	struct emul e;
	int r;

	emul_init(&e, vcpu, exit, insn, len);
	r = emul_decode(&e);
	/* INS and OUTS come through okvm_emulate_string_io() only. */
	if (!r && emul_is_string_io(&e))
		r = EMUL_FAIL;
	if (!r)
		r = emul_execute(&e);
	return emul_end(&e, r);
}

/**
 * okvm_emulate_mmio() - emulate the instruction behind a nested page
 * fault on a GPA in no memslot, or a write to a read-only slot
 * @vcpu:	the vCPU
 * @exit:	the fault; the instruction bytes in it are used when there
 *
 * Return: 1 to enter the guest again, 0 to return to userspace with a
 * KVM_EXIT_MMIO or KVM_EXIT_INTERNAL_ERROR in vcpu->run, or an errno.
 */
int okvm_emulate_mmio(struct okvm_vcpu *vcpu, const struct okvm_exit *exit)
{
	/*
	 * An event was being delivered (the IDT or the stack is MMIO): RIP
	 * is not that of the access, and okvm does not emulate delivery.
	 */
	if (vcpu->arch.event.pending) {
		okvm_emulation_failure(vcpu, exit, NULL, 0);
		return 0;
	}
	vcpu->arch.emul.nr_reads = 0;
	return emul_insn(vcpu, exit, exit->tdp.insn, exit->tdp.insn_len);
}

/**
 * struct emul_pio - a chunk of string port I/O
 * @in:		INS (to ES:RDI) rather than OUTS (from seg:RSI)
 * @size:	bytes per element
 * @count:	elements in this chunk
 * @la:		linear address of the lowest byte of the chunk
 */
struct emul_pio {
	bool in;
	unsigned int size;
	u32 count;
	u64 la;
};

/*
 * The chunk of INS or OUTS one exit carries (SDM vol. 2, INS and OUTS):
 * at most RCX elements with REP, else one, no more than KVM's 1024
 * bytes, the elements that start in the page of the first, and none
 * past the end of the address space of the address size.  The segment
 * is checked for the whole chunk, or for the first element alone if
 * the chunk would fault, so that a fault comes at the element that
 * raises it.
 */
static int emul_pio_chunk(struct emul *e, struct emul_pio *p)
{
	bool down = e->rflags & X86_EFLAGS_DF;
	u64 admask = bytes_mask(e->ad_bytes);
	u8 reg = p->in ? OKVM_RDI : OKVM_RSI;
	enum okvm_seg seg = p->in ? OKVM_SEG_ES :
			    emul_default_seg(e, OKVM_SEG_DS);
	u64 ea = e->regs[reg] & admask;
	u64 count = e->rep ? e->regs[OKVM_RCX] & admask : 1;
	u64 la, lo, n, room;
	u8 vector;

	p->size = (e->opcode & 1) ? min(e->op_bytes, 4U) : 1;
	if (!count)
		return EMUL_DONE;
	if (!emul_seg_check(e, seg, ea, p->size, p->in, &la, &vector))
		return emul_exception(e, vector, true, 0);
	n = min_t(u64, count, PIO_STRING_MAX / p->size);
	if (down) {
		room = offset_in_page(la) / p->size + 1;
		n = min3(n, room, ea / p->size + 1);
	} else {
		room = (PAGE_SIZE - offset_in_page(la)) / p->size;
		n = min3(n, max_t(u64, room, 1), (admask - ea) / p->size + 1);
	}
	lo = down ? ea - (n - 1) * p->size : ea;
	if (n > 1 && !emul_seg_check(e, seg, lo, n * p->size, p->in, &la,
				     &vector)) {
		n = 1;
		lo = ea;
		emul_seg_check(e, seg, lo, p->size, p->in, &la, &vector);
	}
	p->count = n;
	p->la = la;
	return EMUL_DONE;
}

/*
 * Copy a chunk between guest RAM and @buf, after translating every page
 * of it, so that a fault leaves memory untouched; only translate with
 * @probe.  A chunk that is not all RAM is not emulated, and that is
 * known before anything moves (for INS, before the input).
 */
static int emul_pio_copy(struct emul *e, const struct emul_pio *p, u8 *buf,
			 bool probe)
{
	unsigned int len = p->count * p->size, n[2], i, pages = 1;
	u64 la = p->la, gpa[2];
	int r;

	n[0] = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(la));
	n[1] = len - n[0];
	if (n[1])
		pages = 2;
	for (i = 0; i < pages; i++) {
		r = emul_translate(e, la, p->in ? OKVM_PF_WRITE : 0, &gpa[i]);
		if (r)
			return r;
		if (!okvm_gpa_is_ram(e->vcpu->vm, gpa[i], p->in))
			return EMUL_FAIL;
		la += n[i];
		if (e->mode != 64)
			la = (u32)la;
	}
	for (i = 0; i < pages && !probe; i++) {
		if (p->in)
			r = okvm_write_guest(e->vcpu->vm, gpa[i], buf, n[i]);
		else
			r = okvm_read_guest(e->vcpu->vm, gpa[i], buf, n[i]);
		/* A memslot that went away since the check. */
		if (r == -ENOENT)
			return EMUL_FAIL;
		if (r)
			return r;
		buf += n[i];
	}
	return EMUL_DONE;
}

/* The PIO page holds elements in the order of the I/O; memory by address. */
static void emul_pio_reverse(u8 *buf, unsigned int size, u32 count)
{
	u8 tmp[4];
	u32 i, j;

	for (i = 0, j = count - 1; i < j; i++, j--) {
		memcpy(tmp, buf + i * size, size);
		memcpy(buf + i * size, buf + j * size, size);
		memcpy(buf + j * size, tmp, size);
	}
}

/* RSI or RDI, and RCX with REP, past @count elements; RIP when done. */
static void emul_pio_advance(struct emul *e, const struct emul_pio *p)
{
	s64 step = (s64)p->count * p->size;
	u64 admask = bytes_mask(e->ad_bytes);

	emul_string_step(e, p->in ? OKVM_RDI : OKVM_RSI,
			 (e->rflags & X86_EFLAGS_DF) ? -step : step);
	if (e->rep) {
		u64 left = (e->regs[OKVM_RCX] & admask) - p->count;

		emul_reg_write(e, OKVM_RCX, false, e->ad_bytes, left);
		if (left)
			e->next_rip = e->vcpu->arch.rip;
	}
}

/* Decode the INS or OUTS at RIP and size its next chunk. */
static int emul_pio_decode(struct emul *e, struct emul_pio *p)
{
	int r = emul_decode(e);

	if (!r && !emul_is_string_io(e))
		r = EMUL_FAIL;
	return r ? r : emul_pio_chunk(e, p);
}

/**
 * okvm_emulate_insn() - carry out the instruction at RIP
 * @vcpu:	the vCPU
 * @exit:	the exit that asked for it (a control register access or
 *		INVLPG under shadow paging)
 *
 * Return: as okvm_emulate_mmio().
 */
int okvm_emulate_insn(struct okvm_vcpu *vcpu, const struct okvm_exit *exit)
{
	vcpu->arch.emul.nr_reads = 0;
	return emul_insn(vcpu, exit, NULL, 0);
}

/**
 * okvm_decode_vm86_gp() - what a #GP of real mode run in virtual-8086
 * mode stands for
 * @vcpu:	the vCPU, in real mode
 * @exit:	the #GP exit; rewritten into the exit the instruction at RIP
 *		gives where it runs at CPL 0, as real mode does
 *
 * In virtual-8086 mode (CPL 3) the privileged instructions fault before
 * they could cause a VM exit (SDM vol. 3, 25.1.1), and so do IN, OUT,
 * INS and OUTS, for the backend gives no I/O permission bitmap, and INT
 * n, whose gate the backend puts past an IDT limit of 0 (SDM vol. 3,
 * 20.2.8 and 20.3.3): they come here.  INT n becomes the real-mode
 * delivery of its vector past the instruction; HLT, port I/O, RDMSR,
 * WRMSR, INVD, WBINVD and XSETBV the exits they give in real mode;
 * anything else goes to the emulator, which carries out the system
 * instructions it knows (MOV CR, LGDT, LIDT...) and finds the fault of
 * any other instruction of its own (an offset past a segment limit of
 * 64 KiB that real mode may have larger).  A fault fetching the
 * instruction is queued instead.
 */
void okvm_decode_vm86_gp(struct okvm_vcpu *vcpu, struct okvm_exit *exit)
{
	bool xsetbv = false;
	struct emul e;
	u8 b = 0, modrm;
	int r;

	emul_init(&e, vcpu, exit, NULL, 0);
	r = emul_prefixes(&e);
	if (!r && (e.opcode == 0x0f || e.opcode == 0xcd ||
		   (e.opcode & 0xfc) == 0xe4))
		r = emul_byte(&e, &b);
	/* 0F 01 D1 is XSETBV; other 0F 01 forms are the emulator's. */
	if (!r && e.opcode == 0x0f && b == 0x01) {
		r = emul_byte(&e, &modrm);
		xsetbv = modrm == 0xd1;
	}
	if (r) {
		exit->reason = r == EMUL_FAULT || r == EMUL_RETRY ?
			       OKVM_EXIT_NONE : OKVM_EXIT_EMULATE;
		return;
	}
	exit->next_rip = vcpu->arch.rip + e.pos;
	exit->reason = OKVM_EXIT_EMULATE;
	switch (e.opcode) {
	case 0xe4 ... 0xe7:
	case 0xec ... 0xef:	/* IN, OUT */
	case 0x6c ... 0x6f:	/* INS, OUTS */
		exit->reason = OKVM_EXIT_IO;
		exit->io.port = (e.opcode & 0xfc) == 0xe4 ?
				b : (u16)e.regs[OKVM_RDX];
		exit->io.size = (e.opcode & 1) ? min(e.op_bytes, 4U) : 1;
		exit->io.in = !(e.opcode & 2);
		exit->io.string = e.opcode < 0x70;
		exit->io.rep = e.rep;
		break;
	case 0xf4:
		exit->reason = OKVM_EXIT_HLT;
		break;
	case 0xcd:
		exit->reason = OKVM_EXIT_NONE;
		vcpu->arch.rip = exit->next_rip;
		okvm_queue_exception(vcpu, b, false, 0);
		break;
	case 0x0f:
		switch (b) {
		case 0x30:
		case 0x32:
			exit->reason = OKVM_EXIT_MSR;
			exit->msr.index = e.regs[OKVM_RCX];
			exit->msr.write = b == 0x30;
			break;
		case 0x08:
		case 0x09:
			exit->reason = OKVM_EXIT_NOP;
			break;
		case 0x01:
			if (xsetbv)
				exit->reason = OKVM_EXIT_XSETBV;
			break;
		}
		break;
	}
}

/**
 * okvm_emulate_string_io() - INS or OUTS, with or without REP
 * @vcpu:	the vCPU
 * @exit:	the I/O exit (port, size, direction)
 *
 * OUTS copies its chunk to the PIO page and completes it (RSI, RCX and,
 * after the last element, RIP) before userspace sees the exit, as KVM
 * does; INS leaves the instruction for the next KVM_RUN, which stores
 * the data userspace left in the PIO page.  A REP with more elements
 * left enters the guest again, which repeats the instruction.
 *
 * Return: 0 with a KVM_EXIT_IO (or KVM_EXIT_INTERNAL_ERROR) in
 * vcpu->run, 1 to enter the guest again (a fault was queued, or RCX was
 * 0), or an errno.
 */
int okvm_emulate_string_io(struct okvm_vcpu *vcpu,
			   const struct okvm_exit *exit)
{
	struct okvm_emul *st = &vcpu->arch.emul;
	struct kvm_run *run = vcpu->run;
	struct emul_pio p = { .in = exit->io.in };
	struct emul e;
	int r;

	emul_init(&e, vcpu, exit, NULL, 0);
	r = emul_pio_decode(&e, &p);
	if (r || !p.count)
		return emul_end(&e, r);
	if (!p.in) {
		r = emul_pio_copy(&e, &p, vcpu->pio_data, false);
		if (r)
			return emul_end(&e, r);
		if (e.rflags & X86_EFLAGS_DF)
			emul_pio_reverse(vcpu->pio_data, p.size, p.count);
		emul_pio_advance(&e, &p);
		r = emul_commit(&e);
		if (r < 0)
			return r;
	} else {
		/* Fault now, before the input, if the memory cannot take it. */
		r = emul_pio_copy(&e, &p, NULL, true);
		if (r)
			return emul_end(&e, r);
		emul_wait(&e, OKVM_EMUL_PIO_IN);
		st->pio_count = p.count;
	}
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = p.in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
	run->io.size = p.size;
	run->io.port = exit->io.port;
	run->io.count = p.count;
	run->io.data_offset = OKVM_PIO_PAGE_OFFSET * PAGE_SIZE;
	return 0;
}

/* KVM_RUN after INS: store what userspace read, then go on. */
static int emul_complete_pio_in(struct okvm_vcpu *vcpu)
{
	struct okvm_emul *st = &vcpu->arch.emul;
	struct emul_pio p = { .in = true };
	struct okvm_exit exit;
	struct emul e;
	int r;

	emul_saved_exit(vcpu, &exit);
	emul_init(&e, vcpu, &exit, st->insn, st->insn_len);
	r = emul_pio_decode(&e, &p);
	if (r || !p.count)
		return emul_end(&e, r);
	/* Registers changed since the exit: store no more than was read. */
	p.count = min(p.count, st->pio_count);
	if (e.rflags & X86_EFLAGS_DF)
		emul_pio_reverse(vcpu->pio_data, p.size, p.count);
	r = emul_pio_copy(&e, &p, vcpu->pio_data, false);
	if (!r)
		emul_pio_advance(&e, &p);
	return emul_end(&e, r);
}

/**
 * okvm_emulate_complete() - go on with an emulated instruction at KVM_RUN
 * @vcpu:	the vCPU
 *
 * Takes the answer to an MMIO read from run->mmio.data and runs the
 * instruction again, hands out the next MMIO write of one that
 * completed, or stores the data of a string input.  As with port I/O,
 * an instruction whose RIP userspace moved meanwhile is dropped.
 *
 * Return: 1 to enter the guest, 0 to return to userspace with the next
 * exit in vcpu->run, or an errno.
 */
int okvm_emulate_complete(struct okvm_vcpu *vcpu)
{
	struct okvm_emul *st = &vcpu->arch.emul;
	enum okvm_emul_wait wait = st->wait;
	struct okvm_exit exit;

	st->wait = OKVM_EMUL_IDLE;
	switch (wait) {
	case OKVM_EMUL_MMIO_WRITE:
		if (st->next_write == st->nr_writes)
			return 1;
		emul_next_write(vcpu);
		return 0;
	case OKVM_EMUL_MMIO_READ:
		if (vcpu->arch.rip != st->rip || st->nr_reads == OKVM_EMUL_FRAGS)
			return 1;
		memcpy(&st->reads[st->nr_reads++], vcpu->run->mmio.data,
		       sizeof(st->reads[0]));
		emul_saved_exit(vcpu, &exit);
		return emul_insn(vcpu, &exit, st->insn, st->insn_len);
	case OKVM_EMUL_PIO_IN:
		if (vcpu->arch.rip != st->rip)
			return 1;
		return emul_complete_pio_in(vcpu);
	default:
		return 1;
	}
}
