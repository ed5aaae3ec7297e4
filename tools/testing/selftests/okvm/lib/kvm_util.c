// SPDX-License-Identifier: GPL-2.0
/*
 * Guest library for the okvm selftests: see kvm_util.h.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <okvm/emulator.h>
#include <okvm/kvm_exit_name.h>
#include <okvm/x86_vendor.h>

#include "kvm_util.h"

const char *kvm_dev_path(void)
{
	const char *path = getenv("KVM_DEV");

	return path && *path ? path : "/dev/kvm";
}

int kvm_open(void)
{
	const char *path = kvm_dev_path();
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		test_skip("%s does not exist", path);
	if (fd < 0)
		test_fail("open %s: %s", path, strerror(errno));
	return fd;
}

int kvm_check_cap(long cap)
{
	int fd = kvm_open();
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	if (r < 0)
		test_fail("KVM_CHECK_EXTENSION(%ld): %s", cap,
			  errno_name(errno));
	close(fd);
	return r;
}

size_t kvm_vcpu_mmap_size(int kvm_fd)
{
	int r = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (r <= 0)
		test_fail("KVM_GET_VCPU_MMAP_SIZE: %d (%s)", r,
			  errno_name(errno));
	return r;
}

struct kvm_vm *vm_create(void)
{
	struct kvm_vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		test_fail("out of memory");
	vm->kvm_fd = kvm_open();
	vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		test_fail("KVM_CREATE_VM: %s", errno_name(errno));
	return vm;
}

void vm_free(struct kvm_vm *vm)
{
	int i;

	for (i = 0; i < vm->nr_mem; i++)
		munmap(vm->mem[i].hva, vm->mem[i].size);
	close(vm->fd);
	close(vm->kvm_fd);
	free(vm->lm);
	free(vm);
}

int vm_set_region(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa,
		  uint64_t size, uint64_t uaddr)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = uaddr,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

void *vm_add_mem(struct kvm_vm *vm, uint32_t slot, uint64_t gpa,
		 uint64_t size)
{
	struct vm_mem *mem;
	void *hva;

	if (vm->nr_mem == VM_MEM_MAX)
		test_fail("vm_add_mem: more than %d slots", VM_MEM_MAX);
	hva = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hva == MAP_FAILED)
		test_fail("mmap %#llx bytes: %s", (unsigned long long)size,
			  strerror(errno));
	if (vm_set_region(vm->fd, slot, 0, gpa, size, (uintptr_t)hva))
		test_fail("KVM_SET_USER_MEMORY_REGION slot %u gpa %#llx size %#llx: %s",
			  slot, (unsigned long long)gpa,
			  (unsigned long long)size, errno_name(errno));

	mem = &vm->mem[vm->nr_mem++];
	mem->slot = slot;
	mem->gpa = gpa;
	mem->size = size;
	mem->hva = hva;
	return hva;
}

void *vm_hva(struct kvm_vm *vm, uint64_t gpa)
{
	int i;

	for (i = 0; i < vm->nr_mem; i++) {
		struct vm_mem *mem = &vm->mem[i];

		if (gpa >= mem->gpa && gpa - mem->gpa < mem->size)
			return (uint8_t *)mem->hva + (gpa - mem->gpa);
	}
	test_fail("vm_hva: gpa %#llx is in no slot", (unsigned long long)gpa);
}

void vm_load(struct kvm_vm *vm, uint64_t gpa, const uint8_t *start,
	     const uint8_t *end)
{
	memcpy(vm_hva(vm, gpa), start, end - start);
}

void vm_set_ivt(struct kvm_vm *vm, int vec, uint16_t ip)
{
	uint16_t *ivt = vm_hva(vm, 0);

	ivt[vec * 2] = ip;
	ivt[vec * 2 + 1] = 0;
}

struct kvm_vcpu *vcpu_add(struct kvm_vm *vm, int id)
{
	struct kvm_vcpu *vcpu = calloc(1, sizeof(*vcpu));

	if (!vcpu)
		test_fail("out of memory");
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0)
		test_fail("KVM_CREATE_VCPU(%d): %s", id, errno_name(errno));
	vcpu->run_size = kvm_vcpu_mmap_size(vm->kvm_fd);
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED)
		test_fail("mmap kvm_run: %s", strerror(errno));
	return vcpu;
}

void vcpu_free(struct kvm_vcpu *vcpu)
{
	munmap(vcpu->run, vcpu->run_size);
	close(vcpu->fd);
	free(vcpu);
}

static void vcpu_ioctl(struct kvm_vcpu *vcpu, unsigned long req,
		       const char *name, void *arg)
{
	if (ioctl(vcpu->fd, req, arg))
		test_fail("%s on vcpu %d: %s", name, vcpu->id,
			  errno_name(errno));
}

void vcpu_get_regs(struct kvm_vcpu *vcpu, struct kvm_regs *regs)
{
	vcpu_ioctl(vcpu, KVM_GET_REGS, "KVM_GET_REGS", regs);
}

void vcpu_set_regs(struct kvm_vcpu *vcpu, struct kvm_regs *regs)
{
	vcpu_ioctl(vcpu, KVM_SET_REGS, "KVM_SET_REGS", regs);
}

void vcpu_get_sregs(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	vcpu_ioctl(vcpu, KVM_GET_SREGS, "KVM_GET_SREGS", sregs);
}

void vcpu_set_sregs(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	vcpu_ioctl(vcpu, KVM_SET_SREGS, "KVM_SET_SREGS", sregs);
}

uint64_t vcpu_get_rip(struct kvm_vcpu *vcpu)
{
	struct kvm_regs regs;

	vcpu_get_regs(vcpu, &regs);
	return regs.rip;
}

/*
 * RFLAGS.IF clear, as after reset, except in a Bochs test host: Bochs
 * holds back the host's interrupts from a VMX guest with IF clear
 * (tools/include/okvm/emulator.h), so a guest that spins there would
 * hold the host's only CPU for good.  Nothing interrupts a guest of
 * these tests (no irqchip, no KVM_INTERRUPT), so IF set changes nothing
 * else.
 */
uint64_t vcpu_entry_rflags(void)
{
	return 0x2 | (host_under_bochs() ? X86_EFLAGS_IF : 0);
}

static void vcpu_set_entry(struct kvm_vcpu *vcpu, uint64_t rip,
			   uint64_t rsp)
{
	struct kvm_regs regs = {
		.rip = rip,
		.rsp = rsp,
		.rflags = vcpu_entry_rflags(),
	};

	vcpu_set_regs(vcpu, &regs);
}

void vcpu_set_real_mode(struct kvm_vcpu *vcpu, uint64_t rip, uint64_t rsp)
{
	struct kvm_sregs sregs;

	vcpu_get_sregs(vcpu, &sregs);
	sregs.cs.selector = 0;
	sregs.cs.base = 0;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.fs.type = 0x3;
	sregs.gs.type = sregs.ss.type = 0x3;
	vcpu_set_sregs(vcpu, &sregs);
	vcpu_set_entry(vcpu, rip, rsp);
}

void vcpu_set_flat32(struct kvm_vcpu *vcpu, uint64_t rip, uint64_t rsp)
{
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 0x08,
		.type = 0xb,		/* execute/read, accessed */
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs sregs;

	data.selector = 0x10;
	data.type = 0x3;		/* read/write, accessed */

	vcpu_get_sregs(vcpu, &sregs);
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	vcpu_set_sregs(vcpu, &sregs);
	vcpu_set_entry(vcpu, rip, rsp);
}

void vcpu_set_kvm_cpuid(struct kvm_vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid;
	int n = 100;

	if (test_on_okvm())
		return;
	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	ASSERT_NE(cpuid, NULL);
	cpuid->nent = n;
	ASSERT_EQ(ioctl(vcpu->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid), 0);
	ASSERT_EQ(ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid), 0);
	free(cpuid);
}

void vcpu_set_bad_long_mode(struct kvm_vcpu *vcpu)
{
	struct kvm_sregs s;

	vcpu_get_sregs(vcpu, &s);
	s.cr0 = X86_CR0_PG | X86_CR0_PE | X86_CR0_ET;
	s.cr4 = X86_CR4_PAE;
	s.efer = EFER_LME | EFER_LMA;
	s.cs.l = 1;
	s.cs.db = 1;
	vcpu_set_sregs(vcpu, &s);
}

static struct kvm_vm *__vm_create_guest(const uint8_t *start,
					const uint8_t *end,
					struct kvm_vcpu **vcpu, bool flat32)
{
	struct kvm_vm *vm = vm_create();

	vm_add_mem(vm, 0, 0, GUEST_MEM_SIZE);
	vm_load(vm, GUEST_LOAD_ADDR, start, end);
	*vcpu = vcpu_add(vm, 0);
	if (flat32)
		vcpu_set_flat32(*vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);
	else
		vcpu_set_real_mode(*vcpu, GUEST_LOAD_ADDR, GUEST_STACK_TOP);
	return vm;
}

struct kvm_vm *vm_create_guest(const uint8_t *start, const uint8_t *end,
			       struct kvm_vcpu **vcpu)
{
	return __vm_create_guest(start, end, vcpu, false);
}

struct kvm_vm *vm_create_guest32(const uint8_t *start, const uint8_t *end,
				 struct kvm_vcpu **vcpu)
{
	return __vm_create_guest(start, end, vcpu, true);
}

GUEST_CODE16(lib_guest_hello,
	"	mov $0x42, %al\n"
	"	out %al, $0x10\n"
	"	hlt\n");

void run_hello_guest(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = vm_create_guest(GUEST(lib_guest_hello), &vcpu);

	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 1), 0x42);
	vcpu_run_expect_hlt(vcpu);
	vcpu_free(vcpu);
	vm_free(vm);
}

int vcpu_run(struct kvm_vcpu *vcpu)
{
	return ioctl(vcpu->fd, KVM_RUN, 0);
}

const char *exit_reason_name(uint32_t reason)
{
	const char *name = kvm_exit_name(reason);

	return name ? name : "?";
}

static void dump_exit(struct kvm_run *run, size_t run_size)
{
	uint32_t i;

	test_log("exit_reason %u (%s)", run->exit_reason,
		 exit_reason_name(run->exit_reason));

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint64_t off = run->io.data_offset;
		uint64_t val = 0;

		if (off + run->io.size <= run_size)
			memcpy(&val, (uint8_t *)run + off, run->io.size);
		test_log("  io: %s port 0x%x size %u count %u data_offset 0x%llx data 0x%llx",
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.port, run->io.size, run->io.count,
			 (unsigned long long)off, (unsigned long long)val);
		break;
	}
	case KVM_EXIT_MMIO:
		test_log("  mmio: %s gpa 0x%llx len %u data %02x %02x %02x %02x %02x %02x %02x %02x",
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr,
			 run->mmio.len, run->mmio.data[0], run->mmio.data[1],
			 run->mmio.data[2], run->mmio.data[3],
			 run->mmio.data[4], run->mmio.data[5],
			 run->mmio.data[6], run->mmio.data[7]);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		test_log("  fail_entry: hardware_entry_failure_reason 0x%llx cpu %u",
			 (unsigned long long)
			 run->fail_entry.hardware_entry_failure_reason,
			 run->fail_entry.cpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		test_log("  internal: suberror %u ndata %u",
			 run->internal.suberror, run->internal.ndata);
		for (i = 0; i < run->internal.ndata && i < 16; i++)
			test_log("  internal.data[%u] 0x%llx", i,
				 (unsigned long long)run->internal.data[i]);
		break;
	case KVM_EXIT_EXCEPTION:
		test_log("  exception %u error_code 0x%x", run->ex.exception,
			 run->ex.error_code);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		test_log("  system_event type %u", run->system_event.type);
		break;
	}
}

void vcpu_dump(struct kvm_vcpu *vcpu)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	dump_exit(vcpu->run, vcpu->run_size);
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &s)) {
		test_log("  (registers unavailable: %s)", errno_name(errno));
		return;
	}
	test_log("  rip 0x%llx rflags 0x%llx rsp 0x%llx rbp 0x%llx",
		 r.rip, r.rflags, r.rsp, r.rbp);
	test_log("  rax 0x%llx rbx 0x%llx rcx 0x%llx rdx 0x%llx rsi 0x%llx rdi 0x%llx",
		 r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi);
	test_log("  cs 0x%x base 0x%llx limit 0x%x type 0x%x db %u l %u",
		 s.cs.selector, s.cs.base, s.cs.limit, s.cs.type, s.cs.db,
		 s.cs.l);
	test_log("  cr0 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx",
		 s.cr0, s.cr3, s.cr4, s.efer);
}

void __vcpu_run_ok(const char *file, int line, struct kvm_vcpu *vcpu)
{
	if (vcpu_run(vcpu)) {
		int err = errno;

		vcpu_dump(vcpu);
		test_fail("%s:%d: KVM_RUN on vcpu %d failed: %s", file, line,
			  vcpu->id, errno_name(err));
	}
}

void __vcpu_expect_exit(const char *file, int line, struct kvm_vcpu *vcpu,
			uint32_t reason)
{
	if (vcpu->run->exit_reason == reason)
		return;
	vcpu_dump(vcpu);
	test_fail("%s:%d: exit_reason %u (%s), expected %u (%s)", file, line,
		  vcpu->run->exit_reason,
		  exit_reason_name(vcpu->run->exit_reason),
		  reason, exit_reason_name(reason));
}

void *__vcpu_expect_io(const char *file, int line, struct kvm_vcpu *vcpu,
		       uint16_t port, int size, int dir)
{
	struct kvm_run *run = vcpu->run;

	__vcpu_expect_exit(file, line, vcpu, KVM_EXIT_IO);
	if (run->io.port != port || run->io.size != size ||
	    run->io.direction != dir || run->io.count != 1 ||
	    run->io.data_offset < sizeof(*run) ||
	    run->io.data_offset + size > vcpu->run_size) {
		vcpu_dump(vcpu);
		test_fail("%s:%d: expected %s port 0x%x size %d count 1 with data in the run page",
			  file, line, dir == KVM_EXIT_IO_OUT ? "out" : "in",
			  port, size);
	}
	return (uint8_t *)run + run->io.data_offset;
}

uint32_t __vcpu_run_expect_out(const char *file, int line,
			       struct kvm_vcpu *vcpu, uint16_t port, int size)
{
	uint32_t val = 0;

	__vcpu_run_ok(file, line, vcpu);
	memcpy(&val, __vcpu_expect_io(file, line, vcpu, port, size,
				      KVM_EXIT_IO_OUT), size);
	return val;
}

void __vcpu_run_expect_in(const char *file, int line, struct kvm_vcpu *vcpu,
			  uint16_t port, int size, uint32_t value)
{
	__vcpu_run_ok(file, line, vcpu);
	memcpy(__vcpu_expect_io(file, line, vcpu, port, size, KVM_EXIT_IO_IN),
	       &value, size);
}

static void *vcpu_thread_fn(void *arg)
{
	struct vcpu_thread *t = arg;

	do {
		t->ret = vcpu_run(t->vcpu);
		t->err = errno;
	} while (!t->ret && t->on_exit && t->on_exit(t));
	return NULL;
}

/* Only there to interrupt KVM_RUN: the default action would kill. */
static void vcpu_thread_kick(int sig)
{
}

void vcpu_thread_start(struct vcpu_thread *t, struct kvm_vcpu *vcpu,
		       bool (*on_exit)(struct vcpu_thread *t), void *data)
{
	struct sigaction sa = { .sa_handler = vcpu_thread_kick };
	int r;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL))
		test_fail("sigaction: %s", strerror(errno));
	memset(t, 0, sizeof(*t));
	t->vcpu = vcpu;
	t->on_exit = on_exit;
	t->data = data;
	r = pthread_create(&t->thread, NULL, vcpu_thread_fn, t);
	if (r)
		test_fail("pthread_create: %s", strerror(r));
}

static struct timespec deadline_after(unsigned int ms, clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static bool before(const struct timespec *now, const struct timespec *end)
{
	return now->tv_sec < end->tv_sec ||
	       (now->tv_sec == end->tv_sec && now->tv_nsec < end->tv_nsec);
}

void __vcpu_thread_join(const char *file, int line, struct vcpu_thread *t,
			unsigned int ms)
{
	struct timespec end;

	ms *= test_timeout_scale();
	end = deadline_after(ms, CLOCK_REALTIME);
	if (pthread_timedjoin_np(t->thread, NULL, &end)) {
		/*
		 * The signal interrupts the KVM_RUN under way; immediate_exit
		 * one the thread would start after it.
		 */
		t->vcpu->run->immediate_exit = 1;
		pthread_kill(t->thread, SIGUSR2);
		end = deadline_after(1000, CLOCK_REALTIME);
		if (pthread_timedjoin_np(t->thread, NULL, &end))
			test_fail("%s:%d: vcpu %d does not leave KVM_RUN, even for a signal",
				  file, line, t->vcpu->id);
		vcpu_dump(t->vcpu);
		test_fail("%s:%d: vcpu %d still running after %u ms", file,
			  line, t->vcpu->id, ms);
	}
	if (t->ret) {
		vcpu_dump(t->vcpu);
		test_fail("%s:%d: KVM_RUN on vcpu %d failed: %s", file, line,
			  t->vcpu->id, errno_name(t->err));
	}
}

void pin_thread(pthread_t thread, int cpu)
{
	cpu_set_t set;
	int r;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	r = pthread_setaffinity_np(thread, sizeof(set), &set);
	if (r)
		test_fail("cannot pin a thread to CPU %d: %s", cpu,
			  errno_name(r));
}

bool wait_for_change(const uint32_t *p, uint32_t old, unsigned int ms)
{
	struct timespec end, now;

	end = deadline_after(ms * test_timeout_scale(), CLOCK_MONOTONIC);
	do {
		if (__atomic_load_n(p, __ATOMIC_RELAXED) != old)
			return true;
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (before(&now, &end));
	return __atomic_load_n(p, __ATOMIC_RELAXED) != old;
}

bool host_svm(void)
{
	return x86_host_svm();
}

bool host_vmx(void)
{
	return x86_host_vmx();
}

const char *kvm_vendor_module(void)
{
	return x86_kvm_vendor_module();
}

/* Whether a boolean module parameter reads N (false when it is not there). */
static bool module_param_off(const char *path)
{
	char buf[4] = "";
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] == 'N';
}

bool kvm_real_mode_vm86(void)
{
	if (test_on_okvm() || !host_vmx())
		return false;
	return module_param_off("/sys/module/kvm_intel/parameters/unrestricted_guest");
}

bool shadow_paging(void)
{
	if (test_on_okvm())
		return module_param_off("/sys/module/okvm/parameters/tdp");
	return module_param_off(host_vmx() ?
				"/sys/module/kvm_intel/parameters/ept" :
				"/sys/module/kvm_amd/parameters/npt");
}

bool real_mode_vm86(void)
{
	if (test_on_okvm())
		return host_vmx() && shadow_paging();
	return kvm_real_mode_vm86();
}

void skip_if_kvm_real_mode_vm86(const char *what)
{
	if (kvm_real_mode_vm86())
		test_skip("kvm_intel without unrestricted guest (as with ept=0) runs real mode in virtual-8086 mode: %s",
			  what);
}

const char *kvm_module_name(void)
{
	return test_on_okvm() ? "okvm" : kvm_vendor_module();
}

int kvm_module_refcnt(void)
{
	char path[64];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt",
		 kvm_module_name());
	f = fopen(path, "r");
	if (!f)
		test_fail("open %s: %s", path, strerror(errno));
	if (fscanf(f, "%d", &n) != 1)
		test_fail("%s: no number", path);
	fclose(f);
	return n;
}

bool wait_child(pid_t pid, int *status, unsigned int ms)
{
	struct timespec end, now;
	pid_t r;

	end = deadline_after(ms * test_timeout_scale(), CLOCK_MONOTONIC);
	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			test_fail("waitpid %d: %s", pid, strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!before(&now, &end))
			return false;
		usleep(1000);
	}
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

void fill_random(uint64_t *p, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = seed;
	}
}

uint64_t checksum64(const uint64_t *p, size_t n)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum = ((sum << 5) | (sum >> 59)) ^ p[i];
	return sum;
}
