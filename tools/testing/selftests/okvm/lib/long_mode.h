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
 * addresses, page 0 excepted, so that a NULL dereference faults.
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
#define PF_VECTOR		14

/* #PF error code bits. */
#define PFERR_PRESENT		(1UL << 0)
#define PFERR_WRITE		(1UL << 1)
#define PFERR_USER		(1UL << 2)
#define PFERR_FETCH		(1UL << 4)

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

/* Host side. */

/*
 * A VM with the lib's memory, the binary copied and mapped, and vCPU 0 in
 * long mode at guest_code() on a stack of its own.  When guest_code()
 * returns, the guest reports UCALL_DONE.
 */
struct kvm_vm *vm_create_guest64(void (*guest_code)(void),
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
