/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest library for the okvm selftests: open the device, build a VM with
 * anonymous memory, put a vCPU in real mode or flat 32-bit protected mode
 * at a piece of guest code, run it and check the exits.
 *
 * Guest code is assembly written in the test file with GUEST_CODE16() or
 * GUEST_CODE32() and copied to GUEST_LOAD_ADDR.  It should not depend on
 * where it was assembled: use fixed guest addresses for data, or
 * guest_addr() from the host to find a label.
 */
#ifndef OKVM_SELFTEST_KVM_UTIL_H
#define OKVM_SELFTEST_KVM_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <linux/kvm.h>

#include "harness.h"

#define PAGE_SIZE		4096UL
#define MiB			(1024UL * 1024)

/* Layout of the default guest (vm_create_guest()): one slot at GPA 0. */
#define GUEST_MEM_SIZE		0x10000
#define GUEST_LOAD_ADDR		0x1000	/* guest code is copied here */
#define GUEST_STACK_TOP		0x1000	/* stack grows down from here */
#define GUEST_DATA_ADDR		0x8000	/* a free page for test data */

/* CR0/CR4/EFER bits used by the tests. */
#define X86_CR0_PE		(1UL << 0)
#define X86_CR0_ET		(1UL << 4)
#define X86_CR0_NW		(1UL << 29)
#define X86_CR0_CD		(1UL << 30)
#define X86_CR0_PG		(1UL << 31)
#define X86_CR4_PAE		(1UL << 5)
#define X86_CR4_OSFXSR		(1UL << 9)
#define X86_CR4_OSXMMEXCPT	(1UL << 10)
#define X86_EFLAGS_IF		(1UL << 9)
#define EFER_SCE		(1UL << 0)
#define EFER_LME		(1UL << 8)
#define EFER_LMA		(1UL << 10)
#define EFER_NX			(1UL << 11)

/* Page table entry bits (4-level paging), for guests' page tables. */
#define PTE_P			(1UL << 0)
#define PTE_RW			(1UL << 1)
#define PTE_A			(1UL << 5)
#define PTE_D			(1UL << 6)
#define PTE_PS			(1UL << 7)	/* a 2 MiB or 1 GiB page */
#define PTE_ADDR_MASK		0x000ffffffffff000UL

#define __stringify_1(x)	#x
#define __stringify(x)		__stringify_1(x)

/*
 * Define guest code "name" from assembly text: the bytes lie between
 * name_start and name_end, and GUEST(name) passes both to the library.
 */
#define __GUEST_CODE(name, mode, code)					\
	asm(".pushsection .rodata.guest, \"a\"\n"			\
	    "." mode "\n"						\
	    #name "_start:\n"						\
	    code "\n"							\
	    #name "_end:\n"						\
	    ".code64\n"							\
	    ".popsection\n");						\
	extern const uint8_t name##_start[], name##_end[]

#define GUEST_CODE16(name, code)	__GUEST_CODE(name, "code16", code)
#define GUEST_CODE32(name, code)	__GUEST_CODE(name, "code32", code)
#define GUEST(name)			name##_start, name##_end

/* Guest address of a label in guest code loaded at GUEST_LOAD_ADDR. */
#define guest_addr(label, name)						\
	(GUEST_LOAD_ADDR + (uint64_t)((label) - name##_start))

struct vm_mem {
	uint32_t slot;
	uint64_t gpa;
	uint64_t size;
	void *hva;
};

#define VM_MEM_MAX	8

struct kvm_vm {
	int kvm_fd;		/* the system fd */
	int fd;
	int nr_mem;
	struct vm_mem mem[VM_MEM_MAX];
	struct lm_vm *lm;	/* the long mode lib's, long_mode.h */
};

struct kvm_vcpu {
	struct kvm_vm *vm;
	int fd;
	int id;
	struct kvm_run *run;
	size_t run_size;
};

/* The device path: $KVM_DEV or /dev/kvm. */
const char *kvm_dev_path(void);

/* Open the device; skips the case if it does not exist. */
int kvm_open(void);

/* KVM_CHECK_EXTENSION on a fresh system fd. */
int kvm_check_cap(long cap);

/* Size of the kvm_run mapping, from KVM_GET_VCPU_MMAP_SIZE. */
size_t kvm_vcpu_mmap_size(int kvm_fd);

struct kvm_vm *vm_create(void);
void vm_free(struct kvm_vm *vm);

/* Raw KVM_SET_USER_MEMORY_REGION: returns the ioctl's result. */
int vm_set_region(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa,
		  uint64_t size, uint64_t uaddr);

/* Map anonymous memory and make it a memslot; returns the mapping. */
void *vm_add_mem(struct kvm_vm *vm, uint32_t slot, uint64_t gpa,
		 uint64_t size);

/* Host address of guest physical address gpa (must be in a slot). */
void *vm_hva(struct kvm_vm *vm, uint64_t gpa);

/* Copy guest code to gpa. */
void vm_load(struct kvm_vm *vm, uint64_t gpa, const uint8_t *start,
	     const uint8_t *end);

/* Set real-mode interrupt vector vec to 0000:ip. */
void vm_set_ivt(struct kvm_vm *vm, int vec, uint16_t ip);

struct kvm_vcpu *vcpu_add(struct kvm_vm *vm, int id);
void vcpu_free(struct kvm_vcpu *vcpu);

void vcpu_get_regs(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
void vcpu_set_regs(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
void vcpu_get_sregs(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
void vcpu_set_sregs(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
uint64_t vcpu_get_rip(struct kvm_vcpu *vcpu);

/* RFLAGS for a vCPU's first entry: 0x2, and IF in a Bochs host. */
uint64_t vcpu_entry_rflags(void);

/* Real mode, all segments base 0 selector 0, at rip with stack rsp. */
void vcpu_set_real_mode(struct kvm_vcpu *vcpu, uint64_t rip, uint64_t rsp);

/*
 * Flat 32-bit protected mode straight from SET_SREGS: CR0.PE, 4 GiB
 * code and data segments (db=1, g=1), no paging, no GDT behind them.
 */
void vcpu_set_flat32(struct kvm_vcpu *vcpu, uint64_t rip, uint64_t rsp);

/*
 * A state KVM_SET_SREGS accepts but the hardware refuses to enter: EFER.LME,
 * CR0.PG, CR4.PAE, CS.L and CS.D all set.  VMRUN's consistency checks
 * (AMD APM vol. 2, 15.5.1 "Basic Operation") and VM entry's checks on
 * the guest state (Intel SDM vol. 3C, "Checks on Guest Segment
 * Registers": in an IA-32e mode guest, CS.L set requires CS.D/B clear)
 * both fail it.  The next KVM_RUN gives KVM_EXIT_FAIL_ENTRY.
 */
void vcpu_set_bad_long_mode(struct kvm_vcpu *vcpu);

/*
 * On the real KVM, give the vCPU the CPUID KVM supports
 * (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2), before its first KVM_RUN:
 * KVM judges a guest's EFER and CR4 writes by its CPUID, and without one
 * takes neither EFER.LME nor CR4.PGE.  Nothing on okvm, whose guests see
 * a default CPUID and which has no CPUID ioctls yet.
 */
void vcpu_set_kvm_cpuid(struct kvm_vcpu *vcpu);

/*
 * A VM with GUEST_MEM_SIZE of memory at GPA 0 (slot 0), the code copied
 * to GUEST_LOAD_ADDR and vCPU 0 set to run it in real mode (16) or flat
 * protected mode (32).
 */
struct kvm_vm *vm_create_guest(const uint8_t *start, const uint8_t *end,
			       struct kvm_vcpu **vcpu);
struct kvm_vm *vm_create_guest32(const uint8_t *start, const uint8_t *end,
				 struct kvm_vcpu **vcpu);

/*
 * A fresh VM runs a guest that writes 0x42 to port 0x10 and halts, and
 * is freed: a check that the device still works after whatever a test
 * did to it.
 */
void run_hello_guest(void);

/* KVM_RUN: returns the ioctl's result (errno set on -1). */
int vcpu_run(struct kvm_vcpu *vcpu);

const char *exit_reason_name(uint32_t reason);

/* Print the last exit and the registers as diagnostics. */
void vcpu_dump(struct kvm_vcpu *vcpu);

/*
 * The expectations below print the whole exit and the registers, then
 * fail the case with the caller's file:line, on any mismatch.
 */
void __vcpu_run_ok(const char *file, int line, struct kvm_vcpu *vcpu);
void __vcpu_expect_exit(const char *file, int line, struct kvm_vcpu *vcpu,
			uint32_t reason);
void *__vcpu_expect_io(const char *file, int line, struct kvm_vcpu *vcpu,
		       uint16_t port, int size, int dir);
uint32_t __vcpu_run_expect_out(const char *file, int line,
			       struct kvm_vcpu *vcpu, uint16_t port, int size);
void __vcpu_run_expect_in(const char *file, int line, struct kvm_vcpu *vcpu,
			  uint16_t port, int size, uint32_t value);

/* KVM_RUN must return 0. */
#define vcpu_run_ok(vcpu)	__vcpu_run_ok(__FILE__, __LINE__, vcpu)

/* The last exit must be this reason. */
#define vcpu_expect_exit(vcpu, reason)					\
	__vcpu_expect_exit(__FILE__, __LINE__, vcpu, reason)

/* KVM_RUN, then the exit must be this reason. */
#define vcpu_run_expect_exit(vcpu, reason) do {				\
	__vcpu_run_ok(__FILE__, __LINE__, vcpu);			\
	__vcpu_expect_exit(__FILE__, __LINE__, vcpu, reason);		\
} while (0)

#define vcpu_run_expect_hlt(vcpu)					\
	vcpu_run_expect_exit(vcpu, KVM_EXIT_HLT)

/* The last exit must be port I/O as given; returns its data. */
#define vcpu_expect_io(vcpu, port, size, dir)				\
	__vcpu_expect_io(__FILE__, __LINE__, vcpu, port, size, dir)

/* KVM_RUN, then port I/O as given (dir KVM_EXIT_IO_IN/OUT); its data. */
#define vcpu_run_expect_io(vcpu, port, size, dir)			\
	({ __vcpu_run_ok(__FILE__, __LINE__, vcpu);			\
	   __vcpu_expect_io(__FILE__, __LINE__, vcpu, port, size, dir); })

/* KVM_RUN, then an OUT of size bytes to port; returns the value. */
#define vcpu_run_expect_out(vcpu, port, size)				\
	__vcpu_run_expect_out(__FILE__, __LINE__, vcpu, port, size)

/* KVM_RUN, then an IN of size bytes from port, answered with value. */
#define vcpu_run_expect_in(vcpu, port, size, value)			\
	__vcpu_run_expect_in(__FILE__, __LINE__, vcpu, port, size, value)

/*
 * A vCPU running on a thread of its own while the test does something
 * else: KVM_RUN, then again for as long as on_exit() (when given) returns
 * true.  on_exit() runs on that thread and must not assert: it returns
 * false on an exit it does not expect, and the test checks the exit left
 * in kvm_run after vcpu_thread_join().
 */
struct vcpu_thread {
	struct kvm_vcpu *vcpu;
	bool (*on_exit)(struct vcpu_thread *t);
	void *data;		/* for on_exit() */
	pthread_t thread;
	int ret;		/* of the last KVM_RUN */
	int err;		/* and its errno */
};

void vcpu_thread_start(struct vcpu_thread *t, struct kvm_vcpu *vcpu,
		       bool (*on_exit)(struct vcpu_thread *t), void *data);
void __vcpu_thread_join(const char *file, int line, struct vcpu_thread *t,
			unsigned int ms);

/*
 * Wait at most ms milliseconds (times test_timeout_scale()) for the
 * thread.  One still in KVM_RUN then is made to leave it (immediate_exit
 * and a signal) and the case fails, as it does when the last KVM_RUN
 * failed: a guest that never exits is a failure, not a hang.
 */
#define vcpu_thread_join(t, ms)	__vcpu_thread_join(__FILE__, __LINE__, t, ms)

/* Let thread run on CPU cpu only; fails the case if it cannot. */
void pin_thread(pthread_t thread, int cpu);

/*
 * Wait at most ms milliseconds (times test_timeout_scale()) for the
 * dword at p, which a guest writes, to differ from old.
 */
bool wait_for_change(const uint32_t *p, uint32_t old, unsigned int ms);

/*
 * The host CPU's virtualization, from its CPUID vendor string (leaf 0):
 * AMD-V on AMD and Hygon, VT-x on Intel (tools/include/okvm/x86_vendor.h).
 * Where SVM and VMX differ, a test decides by these, whichever of okvm
 * and KVM it runs on.
 */
bool host_svm(void);
bool host_vmx(void);

/* The real KVM's vendor module for this host: "kvm_amd" or "kvm_intel". */
const char *kvm_vendor_module(void);

/*
 * True on kvm_intel without unrestricted guest, which ept=0 turns off
 * too: KVM then runs a real-mode guest in virtual-8086 mode, emulating
 * what that cannot do, and some of it shows (RFLAGS.IOPL reads 3 in
 * the guest, KVM_GET_SREGS gives the segments back as they were set, a
 * triple fault is an emulation failure).  The cases that check those
 * things of real mode skip there with skip_if_kvm_real_mode_vm86(what
 * differs).
 */
bool kvm_real_mode_vm86(void);
void skip_if_kvm_real_mode_vm86(const char *what);
/*
 * True where the module under test runs real mode in virtual-8086 mode:
 * kvm_real_mode_vm86(), or okvm with shadow paging on VT-x, which also
 * needs IOPL 3 there, and shows it to PUSHF as KVM does.
 */
bool real_mode_vm86(void);

/*
 * True when the module under test runs guests with shadow paging: okvm
 * loaded with tdp=0, kvm_amd with npt=0, kvm_intel with ept=0.
 */
bool shadow_paging(void);

/*
 * The module behind the device: "okvm", or the real KVM's vendor module
 * (kvm_vendor_module()), whose refcount the system, VM and vCPU fds take
 * (KVM sets their owner to the vendor module).
 */
const char *kvm_module_name(void);

/*
 * /sys/module/<kvm_module_name()>/refcnt: each open system, VM or vCPU
 * fd and each live VM holds references, so once a process's fds are
 * gone and its VMs destroyed the count is back where it was.
 */
int kvm_module_refcnt(void);

/*
 * Wait at most ms milliseconds (times test_timeout_scale()) for child
 * pid to end.  Returns true with its wait status in *status, false if
 * it is still there (the caller decides whether to kill it).
 */
bool wait_child(pid_t pid, int *status, unsigned int ms);

/* Milliseconds on CLOCK_MONOTONIC, for measuring how long things take. */
uint64_t now_ms(void);

/* n quadwords of xorshift64 from seed (not 0), for data a guest reads. */
void fill_random(uint64_t *p, size_t n, uint64_t seed);

/*
 * Rotate left by 5 and XOR, over n quadwords: the sum guests compute
 * over data the host wrote, an order-dependent one.  A long-mode C
 * guest may call it too.
 */
uint64_t checksum64(const uint64_t *p, size_t n);

#endif /* OKVM_SELFTEST_KVM_UTIL_H */
