/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guests written in C, run in 64-bit long mode entered straight from
 * KVM_SET_SREGS.
 *
 * The guest runs the test binary's own code: the host copies the
 * binary's text, rodata, data and bss into guest memory and maps them at
 * the virtual addresses they have in the host process, so a guest
 * function is called by its C name, reads and writes globals by their C
 * names (its own copies), and hands the host pointers to strings in
 * rodata that the host can read as they are.
 *
 * Guest code reports through "ucalls", a 4-byte OUT to UCALL_PORT of the
 * guest address of a struct ucall on its stack: GUEST_SYNC(), GUEST_DONE()
 * and the GUEST_ASSERT*() macros, and an exception handler for vectors 0
 * to 31 that reports the vector, error code, RIP and CR2.  The host runs
 * the vCPU to the next ucall with vcpu_run_ucall(), which fails the case
 * with the guest's message on a failed assertion or an exception.
 *
 * Guest code must not call libc (nothing there expects to run with FS
 * base 0, no TLS and no XSAVE state enabled) and must not use the red
 * zone, which exceptions would overwrite: the Makefile builds the lib
 * and the tests in C_GUEST_TESTS with the flags that see to it (no stack
 * protector, no red zone, the compiler's own block copies and fills
 * inline instead of calls to memcpy and memset).  SSE may be used.
 */
#ifndef OKVM_SELFTEST_LONG_MODE_H
#define OKVM_SELFTEST_LONG_MODE_H

#include <stdint.h>

#include "kvm_util.h"

/*
 * Guest physical memory below LM_SYS_SIZE (slot 0) is the lib's: page
 * tables, descriptor tables, stacks and the copy of the binary.  A test
 * puts its own memory at or above LM_TEST_GPA with vm_add_mem64(), in
 * slots from 1 up.  The lib's pages are mapped at their guest physical
 * addresses, page 0 excepted, so that a NULL dereference faults.  The
 * PML4 (CR3) is one of them, so that a guest can add mappings of its own.
 */
#define LM_SYS_SIZE		(2 * MiB)
#define LM_TEST_GPA		(1024 * MiB)
#define LM_STACK_SIZE		(16 * 1024)

#define UCALL_PORT		0x5ca

enum ucall_type {
	UCALL_NONE,
	UCALL_SYNC,		/* args[0]: the value given */
	UCALL_DONE,
	UCALL_ASSERT,		/* args[0], args[1]: the values compared */
	UCALL_EXCEPTION,	/* args[]: vector, error code, RIP, CR2 */
};

struct ucall {
	uint64_t type;
	uint64_t args[4];
	/* Where the guest made the call: pointers into the binary's rodata. */
	const char *file;
	const char *expr;	/* the failed assertion */
	uint64_t line;
	uint64_t has_values;	/* args[0] and args[1] hold the values */
};

/* Exception vectors, for the checks on UCALL_EXCEPTION. */
#define DE_VECTOR		0
#define UD_VECTOR		6
#define GP_VECTOR		13
#define DF_VECTOR		8
#define PF_VECTOR		14

/* #PF error code bits. */
#define PFERR_PRESENT		(1UL << 0)
#define PFERR_WRITE		(1UL << 1)
#define PFERR_USER		(1UL << 2)
#define PFERR_RSVD		(1UL << 3)
#define PFERR_FETCH		(1UL << 4)

/* The lib's IDT has gates for the exception vectors, 0 to 31. */
#define LM_NR_VECTORS		32

/*
 * What a guest exception handler gets (guest_set_handler()): the
 * registers the lib saved, then the vector, the error code (0 for
 * vectors without one) and the frame the CPU pushed.  A handler may
 * change them, RIP say, for the IRETQ that follows.
 */
struct guest_exception {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};

typedef void (*guest_handler_t)(struct guest_exception *e);

/* Guest side: run in the guest only. */

void guest_ucall(uint64_t type, uint64_t arg);
void guest_done(void) __attribute__((noreturn));
void __guest_assert(const char *file, uint64_t line, const char *expr,
		    int has_values, uint64_t a, uint64_t b)
	__attribute__((noreturn));

/* Tell the host n; the host's vcpu_run_ucall() returns UCALL_SYNC. */
#define GUEST_SYNC(n)		guest_ucall(UCALL_SYNC, (uint64_t)(n))

/* Tell the host the guest is done, and halt for good. */
#define GUEST_DONE()		guest_done()

#define GUEST_ASSERT(cond) do {						\
	if (!(cond))							\
		__guest_assert(__FILE__, __LINE__, #cond, 0, 0, 0);	\
} while (0)

#define GUEST_ASSERT_EQ(a, b) do {					\
	uint64_t __ga = (uint64_t)(a), __gb = (uint64_t)(b);		\
	if (__ga != __gb)						\
		__guest_assert(__FILE__, __LINE__, #a " == " #b, 1,	\
			       __ga, __gb);				\
} while (0)

/*
 * Fill and copy guest memory: glibc's memset and memcpy are not for the
 * guest, and may use AVX, which the guest has not enabled.
 */
void *guest_memset(void *s, int c, uint64_t n);
void *guest_memcpy(void *d, const void *s, uint64_t n);

/*
 * Handle exception vector (0 to 31) with handler from now on, in the
 * guest that calls it; NULL goes back to the lib's report to the host.
 * The handler runs on the interrupted code's stack, with RFLAGS.IF as
 * it was (trap gates), and the interrupted code goes on when it
 * returns: it must have removed the cause, or the exception comes again.
 */
void guest_set_handler(int vector, guest_handler_t handler);

static inline uint64_t guest_read_cr2(void)
{
	uint64_t v;

	asm volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline uint64_t guest_read_cr3(void)
{
	uint64_t v;

	asm volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

/* Also flushes the TLB of every non-global translation. */
static inline void guest_write_cr3(uint64_t v)
{
	asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline void guest_invlpg(uint64_t gva)
{
	asm volatile("invlpg (%0)" : : "r"(gva) : "memory");
}

/* Host side. */

/*
 * A VM with the lib's memory, the binary copied and mapped, and vCPU 0 in
 * long mode at guest_code() on a stack of its own.  When guest_code()
 * returns, the guest reports UCALL_DONE.
 */
struct kvm_vm *vm_create_guest64(void (*guest_code)(void),
				 struct kvm_vcpu **vcpu);

/*
 * The same VM with vCPU 0 as KVM_CREATE_VCPU made it, at the power-on
 * state (real mode, CS base 0xffff0000, IP 0xfff0; RFLAGS as for every
 * guest of the lib), on KVM with KVM's supported CPUID
 * (vcpu_set_kvm_cpuid()).  The reset vector, in a page of its own at
 * LM_RESET_GPA (slot LM_RESET_SLOT), jumps to code in the lib's memory
 * that climbs to long mode as a boot loader would (protected mode with
 * a GDT of its own, CR4.PAE, CR3, EFER.LME with WRMSR, CR0.PG), loads
 * the lib's GDT and IDT and calls guest_code() on the vCPU's stack,
 * with the same CR0, CR4 and EFER as vm_create_guest64() gives.
 */
#define LM_RESET_GPA		0xfffff000UL
#define LM_RESET_SLOT		32763	/* the last of KVM_CAP_NR_MEMSLOTS */
struct kvm_vm *vm_create_guest64_from_reset(void (*guest_code)(void),
					    struct kvm_vcpu **vcpu);

/* One more vCPU of such a VM, at guest_code() on a stack of its own. */
struct kvm_vcpu *vcpu_add64(struct kvm_vm *vm, int id,
			    void (*guest_code)(void));

/*
 * A memslot of size bytes at gpa, mapped in the guest at the same
 * virtual address; returns its host address.
 */
void *vm_add_mem64(struct kvm_vm *vm, uint32_t slot, uint64_t gpa,
		   uint64_t size);

/* Map size bytes of guest physical memory at gpa to virtual gva. */
void virt_map(struct kvm_vm *vm, uint64_t gva, uint64_t gpa, uint64_t size);

/* The same with 2 MiB pages: all three must be multiples of 2 MiB. */
void virt_map_2m(struct kvm_vm *vm, uint64_t gva, uint64_t gpa,
		 uint64_t size);

/* Host address of guest virtual address gva; fails if it is not mapped. */
void *gva2hva(struct kvm_vm *vm, uint64_t gva);

/*
 * The guest's copy of global variable var, which the host may read and
 * write between runs (the host's own var is another object).
 */
#define guest_var(vm, var)						\
	((__typeof__(&(var)))gva2hva(vm, (uint64_t)(uintptr_t)&(var)))

/*
 * KVM_RUN, which must end at the guest's next ucall, copied to *uc;
 * returns its type.  Any other exit fails the case, with the exit and the
 * registers.  With any set, failed assertions and exceptions are
 * returned too, for a test that checks them; without, they fail the
 * case with the guest's message.
 */
uint64_t __vcpu_run_ucall(const char *file, int line, struct kvm_vcpu *vcpu,
			  struct ucall *uc, bool any);

/*
 * The same for the exit KVM_RUN just gave, for a test that ran the vCPU
 * itself (through exits of its own, such as MMIO, on the way).
 */
uint64_t __vcpu_ucall(const char *file, int line, struct kvm_vcpu *vcpu,
		      struct ucall *uc, bool any);

/* The next ucall; a failed assertion or an exception fails the case. */
#define vcpu_run_ucall(vcpu, uc)					\
	__vcpu_run_ucall(__FILE__, __LINE__, vcpu, uc, false)

/* The next ucall, whatever it is. */
#define vcpu_run_ucall_any(vcpu, uc)					\
	__vcpu_run_ucall(__FILE__, __LINE__, vcpu, uc, true)

void __vcpu_run_expect_sync(const char *file, int line,
			    struct kvm_vcpu *vcpu, uint64_t n);
void __vcpu_run_expect_done(const char *file, int line,
			    struct kvm_vcpu *vcpu);

/* The next ucall must be GUEST_SYNC(n). */
#define vcpu_run_expect_sync(vcpu, n)					\
	__vcpu_run_expect_sync(__FILE__, __LINE__, vcpu, n)

void __vcpu_run_expect_exception(const char *file, int line,
				 struct kvm_vcpu *vcpu, uint64_t vector,
				 uint64_t error_code, const void *rip,
				 uint64_t cr2);
/*
 * The next ucall must be the report of exception vector with error_code
 * at rip, and for #PF with cr2 in CR2 (logged either way).
 */
#define vcpu_run_expect_exception(vcpu, vector, error_code, rip, cr2)	\
	__vcpu_run_expect_exception(__FILE__, __LINE__, vcpu, vector,	\
				    error_code, rip, cr2)
/* The next ucall must be GUEST_DONE(). */
#define vcpu_run_expect_done(vcpu)					\
	__vcpu_run_expect_done(__FILE__, __LINE__, vcpu)

/* "#PF" for 14 and so on, "#?" for a vector with no mnemonic here. */
const char *exception_name(uint64_t vector);

#endif /* OKVM_SELFTEST_LONG_MODE_H */
