/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the guest_repro_*.c reproducers share: the device ($KVM_DEV, else
 * /dev/kvm), and a VM with anonymous memory at guest-physical 0 in slot
 * 0 and vCPU 0 with its kvm_run mapped.  Each reproducer is one static
 * binary of its own (Makefile), so this is a header only.  Setup errors
 * end the program with status 2, after perror().
 */
#ifndef FUZZ_GUEST_REPRO_H
#define FUZZ_GUEST_REPRO_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

struct repro {
	int kvm;		/* the system fd */
	int vm, vcpu;
	uint8_t *mem;		/* guest-physical 0 */
	size_t mem_size;
	struct kvm_run *run;
	size_t run_size;
};

static inline void repro_die(const char *what)
{
	perror(what);
	exit(2);
}

/* Open the device; repro_create() can then be called more than once. */
static inline void repro_open(struct repro *r)
{
	const char *dev = getenv("KVM_DEV") ? getenv("KVM_DEV") : "/dev/kvm";
	int n;

	r->kvm = open(dev, O_RDWR | O_CLOEXEC);
	if (r->kvm < 0)
		repro_die(dev);
	n = ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (n <= 0)
		repro_die("KVM_GET_VCPU_MMAP_SIZE");
	r->run_size = n;
}

/* A VM with mem_size bytes of zeroed memory at GPA 0, and vCPU 0. */
static inline void repro_create(struct repro *r, size_t mem_size)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0, .memory_size = mem_size,
	};

	r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
	if (r->vm < 0)
		repro_die("KVM_CREATE_VM");
	r->mem_size = mem_size;
	r->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED)
		repro_die("mmap guest memory");
	region.userspace_addr = (uintptr_t)r->mem;
	if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &region))
		repro_die("KVM_SET_USER_MEMORY_REGION");
	r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0);
	if (r->vcpu < 0)
		repro_die("KVM_CREATE_VCPU");
	r->run = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->vcpu, 0);
	if (r->run == MAP_FAILED)
		repro_die("mmap kvm_run");
}

/* Undo repro_create(); the device stays open. */
static inline void repro_destroy(struct repro *r)
{
	munmap(r->run, r->run_size);
	close(r->vcpu);
	close(r->vm);
	munmap(r->mem, r->mem_size);
}

#endif /* FUZZ_GUEST_REPRO_H */
