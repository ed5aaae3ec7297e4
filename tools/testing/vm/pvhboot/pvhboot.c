// SPDX-License-Identifier: GPL-2.0
/*
 * pvhboot: boot an uncompressed x86-64 vmlinux through its PVH entry
 * point from a multiboot (v1) loader such as syslinux's mboot.c32.
 * Module 0 is the vmlinux ELF, module 1 (optional) the initrd, and our
 * own command line, less its first word (our file name), is the
 * kernel's.
 *
 * The Bochs test host boots this way because Bochs needs about 85 s to
 * run the bzImage decompressor; the PVH entry skips it.  The kernel is
 * entered as a PVH loader enters it: 32-bit protected mode, paging off,
 * flat segments, EBX the physical address of struct hvm_start_info.
 * A memory map in it is mandatory off Xen (Linux BUG()s without one).
 *
 * Freestanding: no C library headers, no libgcc (no 64-bit division),
 * so that the host's gcc builds it without 32-bit libraries.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define MB_LOADER_MAGIC		0x2badb002
#define MB_INFO_CMDLINE		(1 << 2)
#define MB_INFO_MODS		(1 << 3)
#define MB_INFO_MMAP		(1 << 6)

struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline;
	u32 mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};

struct mb_module {
	u32 start, end, cmdline, reserved;
};

/* "size" counts the bytes after itself. */
struct mb_mmap {
	u32 size;
	u64 addr, len;
	u32 type;
} __attribute__((packed));

/* include/xen/interface/hvm/start_info.h, version 1 */
#define HVM_START_MAGIC		0x336ec578

struct hvm_start_info {
	u32 magic, version, flags, nr_modules;
	u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	u32 memmap_entries, reserved;
};

struct hvm_modlist_entry {
	u64 paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_entry {
	u64 addr, size;
	u32 type, reserved;
};

#define E820_RAM		1

struct elf64_ehdr {
	u8 ident[16];
	u16 type, machine;
	u32 version;
	u64 entry, phoff, shoff;
	u32 flags;
	u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz, align;
};

#define PT_LOAD			1
#define PT_NOTE			4
#define EM_X86_64		62
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define MAX_MEMMAP		128
#define MAX_CMDLINE		4096
#define PAGE			4096u

static struct hvm_start_info start_info;
static struct hvm_modlist_entry initrd;
static struct hvm_memmap_entry memmap[MAX_MEMMAP];
static char cmdline[MAX_CMDLINE];

/* A module after relocation: where it is now and how long. */
struct blob {
	u32 addr, size;
};

static void outb(u16 port, u8 val)
{
	asm volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static u8 inb(u16 port)
{
	u8 val;

	asm volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
	return val;
}

/* COM1 is the test host's console: the runner keeps what we say. */
static void putc(char c)
{
	while (!(inb(0x3fd) & 0x20))
		;
	outb(0x3f8, c);
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void puthex(u32 v)
{
	int i;

	puts("0x");
	for (i = 28; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 15]);
}

static void __attribute__((noreturn)) fail(const char *why)
{
	puts("pvhboot: error: ");
	puts(why);
	puts("\n");
	for (;;)
		asm volatile("cli; hlt");
}

/* gcc may emit calls to these even in freestanding code. */
void *memset(void *dst, int c, u32 n)
{
	void *d = dst;

	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

/* String moves: Bochs runs them far faster than a loop of its own. */
void *memmove(void *dst, const void *src, u32 n)
{
	void *d = dst;
	const void *s = src;

	if (d <= s || (const u8 *)s + n <= (u8 *)d) {
		asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	} else {
		d = (u8 *)d + n - 1;
		s = (const u8 *)s + n - 1;
		asm volatile("std; rep movsb; cld"
			     : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	}
	return dst;
}

void *memcpy(void *dst, const void *src, u32 n)
{
	return memmove(dst, src, n);
}

static int memeq(const void *a, const void *b, u32 n)
{
	const u8 *x = a, *y = b;

	while (n--)
		if (*x++ != *y++)
			return 0;
	return 1;
}

/* The kernel's command line: ours less the first word, our file name. */
static void take_cmdline(const struct mb_info *mbi)
{
	const char *s = "";
	u32 i;

	if (mbi->flags & MB_INFO_CMDLINE)
		s = (const char *)mbi->cmdline;
	while (*s && *s != ' ')
		s++;
	while (*s == ' ')
		s++;
	for (i = 0; s[i] && i < MAX_CMDLINE - 1; i++)
		cmdline[i] = s[i];
}

/* The loader's memory map, in E820 terms, and the end of the RAM above
 * 1 MiB (below 4 GiB: everything here is 32-bit).
 */
static u32 take_memmap(const struct mb_info *mbi)
{
	u32 p = mbi->mmap_addr, end = p + mbi->mmap_length, n = 0, top = 0;

	if (!(mbi->flags & MB_INFO_MMAP))
		fail("the loader gave no memory map");
	while (p < end && n < MAX_MEMMAP) {
		const struct mb_mmap *e = (const void *)p;

		memmap[n].addr = e->addr;
		memmap[n].size = e->len;
		memmap[n].type = e->type;
		if (e->type == E820_RAM && e->addr <= 0x100000 &&
		    e->addr + e->len > 0x100000)
			top = e->addr + e->len > 0xfffff000ull ?
			      0xfffff000u : (u32)(e->addr + e->len);
		n++;
		p += e->size + 4;
	}
	start_info.memmap_paddr = (u32)memmap;
	start_info.memmap_entries = n;
	if (!top)
		fail("no RAM above 1 MiB in the memory map");
	return top;
}

/* Move the modules to the top of RAM, the highest first, so that none
 * lands on another one not yet moved and the kernel's image (PT_LOADs
 * and bss, from 16 MiB up) can go in below them.
 */
static u32 place_modules(const struct mb_info *mbi, struct blob *blob,
			 u32 n, u32 top)
{
	struct mb_module mod[2];
	u32 done = 0, i, pick, dst;

	/* The loader's list may lie where a module goes. */
	memmove(mod, (void *)mbi->mods_addr, n * sizeof(*mod));
	while (done != (1u << n) - 1) {
		pick = n;
		for (i = 0; i < n; i++)
			if (!(done & (1u << i)) &&
			    (pick == n || mod[i].start > mod[pick].start))
				pick = i;
		blob[pick].size = mod[pick].end - mod[pick].start;
		dst = (top - blob[pick].size) & ~(PAGE - 1);
		if (dst < mod[pick].start)
			fail("a module lies above the top of RAM");
		memmove((void *)dst, (void *)mod[pick].start, blob[pick].size);
		blob[pick].addr = dst;
		top = dst;
		done |= 1u << pick;
	}
	return top;
}

/* The 32-bit PVH entry from the kernel's XEN_ELFNOTE_PHYS32_ENTRY. */
static u32 pvh_entry(const u8 *elf, const struct elf64_phdr *ph, u32 phnum)
{
	u32 i, p, end, namesz, descsz, type;

	for (i = 0; i < phnum; i++) {
		if (ph[i].type != PT_NOTE)
			continue;
		p = (u32)elf + (u32)ph[i].offset;
		end = p + (u32)ph[i].filesz;
		while (p + 12 <= end) {
			namesz = ((u32 *)p)[0];
			descsz = ((u32 *)p)[1];
			type = ((u32 *)p)[2];
			if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
			    memeq((void *)(p + 12), "Xen", 4))
				return *(u32 *)(p + 12 + 4);
			p += 12 + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
		}
	}
	fail("vmlinux has no PVH entry note (CONFIG_PVH)");
}

/* Load the PT_LOADs at their physical addresses; the entry point. */
static u32 load_kernel(const struct blob *k, u32 modules_low)
{
	extern u8 _end[];
	const u8 *elf = (const u8 *)k->addr;
	const struct elf64_ehdr *eh = (const void *)elf;
	const struct elf64_phdr *ph;
	u32 i, lo = ~0u, hi = 0;

	if (!memeq(eh->ident, "\177ELF\2\1", 6) || eh->machine != EM_X86_64 ||
	    eh->phentsize != sizeof(*ph))
		fail("module 0 is not an x86-64 ELF vmlinux");
	ph = (const void *)(elf + (u32)eh->phoff);
	for (i = 0; i < eh->phnum; i++) {
		if (ph[i].type != PT_LOAD)
			continue;
		if (ph[i].paddr < lo)
			lo = ph[i].paddr;
		if (ph[i].paddr + ph[i].memsz > hi)
			hi = ph[i].paddr + ph[i].memsz;
	}
	if (lo < (u32)_end || hi > modules_low)
		fail("not enough RAM for the kernel image and the modules");
	for (i = 0; i < eh->phnum; i++) {
		if (ph[i].type != PT_LOAD)
			continue;
		memmove((void *)(u32)ph[i].paddr, elf + (u32)ph[i].offset,
			ph[i].filesz);
		memset((void *)(u32)(ph[i].paddr + ph[i].filesz), 0,
		       ph[i].memsz - ph[i].filesz);
	}
	puts("pvhboot: kernel at ");
	puthex(lo);
	puts("-");
	puthex(hi);
	puts("\n");
	return pvh_entry(elf, ph, eh->phnum);
}

/* ACPI's RSDP, where a BIOS puts it: the EBDA's first KiB or
 * 0xe0000-0xfffff, on 16-byte boundaries, with a valid checksum.
 */
static u32 find_rsdp(void)
{
	/* The BIOS data area's EBDA segment; through a register, as gcc
	 * takes a constant address in the first page for a null pointer.
	 */
	u32 bda = 0x40e, ebda, ranges[2][2], r, p, i;
	u8 sum;

	asm("" : "+r"(bda));
	ebda = (u32)*(const u16 *)bda << 4;
	ranges[0][0] = ebda;
	ranges[0][1] = ebda + 1024;
	ranges[1][0] = 0xe0000;
	ranges[1][1] = 0x100000;

	for (r = 0; r < 2; r++) {
		for (p = ranges[r][0]; p && p < ranges[r][1]; p += 16) {
			if (!memeq((void *)p, "RSD PTR ", 8))
				continue;
			for (sum = 0, i = 0; i < 20; i++)
				sum += ((u8 *)p)[i];
			if (!sum)
				return p;
		}
	}
	return 0;
}

void pvhboot_main(u32 magic, const struct mb_info *mbi)
{
	struct blob blob[2];
	u32 n, top, entry;

	if (magic != MB_LOADER_MAGIC)
		fail("not started by a multiboot loader");
	n = mbi->flags & MB_INFO_MODS ? mbi->mods_count : 0;
	if (n < 1 || n > 2)
		fail("want two modules: vmlinux and, optionally, the initrd");
	take_cmdline(mbi);
	top = take_memmap(mbi);
	top = place_modules(mbi, blob, n, top);
	entry = load_kernel(&blob[0], top);

	start_info.magic = HVM_START_MAGIC;
	start_info.version = 1;
	start_info.cmdline_paddr = (u32)cmdline;
	start_info.rsdp_paddr = find_rsdp();
	if (n == 2) {
		initrd.paddr = blob[1].addr;
		initrd.size = blob[1].size;
		start_info.nr_modules = 1;
		start_info.modlist_paddr = (u32)&initrd;
	}
	puts("pvhboot: entering the kernel at ");
	puthex(entry);
	puts("\n");
	asm volatile("jmp *%0" : : "r"(entry), "b"(&start_info) : "memory");
	__builtin_unreachable();
}
