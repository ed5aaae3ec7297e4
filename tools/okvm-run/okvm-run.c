// SPDX-License-Identifier: GPL-2.0
/*
 * okvm-run: run a flat real-mode binary in a one-vCPU VM through the KVM
 * ioctl ABI, on okvm or on the real KVM.
 *
 * The binary is copied into guest memory at the load address and entered
 * at its first byte with CS = DS = ES = SS = load address / 16 and IP = 0,
 * so it can be linked at 0.  Bytes the guest writes with OUT to port 0x3f8
 * appear on stdout; HLT ends the run with status 0.  Any other exit is
 * reported with its details and ends the run with status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <okvm/kvm_exit_name.h>

#define SERIAL_PORT	0x3f8
#define DEFAULT_MEM	(1UL << 20)
#define DEFAULT_LOAD	0x1000UL
/* Real mode reaches 1 MiB + 64 KiB; the segment must start below 1 MiB. */
#define REAL_MODE_TOP	0x100000UL

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	void *mem;
	size_t mem_size;
	unsigned long load_addr;
	struct kvm_run *run;
	int verbose;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("okvm-run: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void die_errno(const char *what)
{
	die("%s: %s", what, strerror(errno));
}

static const char *exit_name(unsigned int reason)
{
	const char *name = kvm_exit_name(reason);

	return name ? name : "?";
}

static void usage(void)
{
	fprintf(stderr,
		"usage: okvm-run [-v] [-d dev] [-m size] [-a addr] [-t secs] guest.bin\n"
		"  -d dev   KVM device (default /dev/kvm)\n"
		"  -m size  guest memory at GPA 0, with K or M suffix (default 1M)\n"
		"  -a addr  load and entry address, 16-byte aligned, below 1 MiB\n"
		"           (default 0x1000)\n"
		"  -t secs  give up after this many seconds (default: never)\n"
		"  -v       print every exit to stderr\n");
	exit(2);
}

static unsigned long parse_size(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (end == s || *end)
		usage();
	return v;
}

static void setup_memory(struct vm *vm)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->mem_size,
	};

	vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		die_errno("mmap guest memory");
	region.userspace_addr = (unsigned long)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die_errno("KVM_SET_USER_MEMORY_REGION");
}

static void load_image(struct vm *vm, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", path, strerror(errno));
	if ((unsigned long)st.st_size > vm->mem_size - vm->load_addr)
		die("%s: %ld bytes do not fit at 0x%lx in %zu bytes of memory",
		    path, (long)st.st_size, vm->load_addr, vm->mem_size);
	if (read(fd, (char *)vm->mem + vm->load_addr, st.st_size) != st.st_size)
		die("%s: short read", path);
	close(fd);
}

static void set_real_mode_segment(struct kvm_segment *seg, unsigned long base)
{
	seg->base = base;
	seg->selector = base >> 4;
	seg->limit = 0xffff;
}

static void setup_vcpu(struct vm *vm)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	unsigned long seg_top;
	int size;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		die_errno("KVM_CREATE_VCPU");
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		die_errno("KVM_GET_VCPU_MMAP_SIZE");
	vm->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		die_errno("mmap kvm_run");

	/* Keep the reset state, move every data segment onto the image. */
	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		die_errno("KVM_GET_SREGS");
	set_real_mode_segment(&sregs.cs, vm->load_addr);
	set_real_mode_segment(&sregs.ds, vm->load_addr);
	set_real_mode_segment(&sregs.es, vm->load_addr);
	set_real_mode_segment(&sregs.ss, vm->load_addr);
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		die_errno("KVM_SET_SREGS");

	/* The stack grows down from the top of the segment or of memory. */
	seg_top = vm->load_addr + 0x10000;
	if (seg_top > vm->mem_size)
		seg_top = vm->mem_size;
	regs.rip = 0;
	regs.rsp = (seg_top - vm->load_addr) & ~0xfUL;
	regs.rflags = 0x2;	/* bit 1 is reserved and reads as one */
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		die_errno("KVM_SET_REGS");
}

static void open_vm(struct vm *vm, const char *dev)
{
	int api;

	vm->kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		die("%s: %s", dev, strerror(errno));
	api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api < 0)
		die("%s: KVM_GET_API_VERSION: %s", dev, strerror(errno));
	if (api != KVM_API_VERSION)
		die("%s: API version %d, expected %d", dev, api, KVM_API_VERSION);
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		die_errno("KVM_CREATE_VM");
}

static unsigned long long guest_rip(struct vm *vm)
{
	struct kvm_regs regs;

	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0)
		return ~0ULL;
	return regs.rip;
}

/* Port 0x3f8 output goes to stdout; other ports read as 0xff. */
static void handle_io(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	char *data = (char *)run + run->io.data_offset;
	size_t len = (size_t)run->io.size * run->io.count;

	if (vm->verbose)
		fprintf(stderr, "okvm-run: IO %s port 0x%x size %u count %u\n",
			run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			run->io.port, run->io.size, run->io.count);
	if (run->io.direction == KVM_EXIT_IO_IN) {
		memset(data, 0xff, len);
		return;
	}
	if (run->io.port == SERIAL_PORT) {
		fwrite(data, 1, len, stdout);
		fflush(stdout);
	} else if (!vm->verbose) {
		fprintf(stderr, "okvm-run: ignoring OUT to port 0x%x\n",
			run->io.port);
	}
}

static void report_exit(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	unsigned int i;

	fprintf(stderr, "okvm-run: unexpected exit %s (%u) at rip 0x%llx\n",
		exit_name(run->exit_reason), run->exit_reason, guest_rip(vm));
	switch (run->exit_reason) {
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, "  hardware_entry_failure_reason 0x%llx cpu %u\n",
			run->fail_entry.hardware_entry_failure_reason,
			run->fail_entry.cpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		fprintf(stderr, "  suberror %u", run->internal.suberror);
		for (i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(stderr, " 0x%llx", run->internal.data[i]);
		fputc('\n', stderr);
		break;
	case KVM_EXIT_MMIO:
		fprintf(stderr, "  %s 0x%llx len %u\n",
			run->mmio.is_write ? "write" : "read",
			run->mmio.phys_addr, run->mmio.len);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		fprintf(stderr, "  type %u\n", run->system_event.type);
		break;
	}
}

static void on_alarm(int sig)
{
	(void)sig;	/* only here to make KVM_RUN return EINTR */
}

static int run_vcpu(struct vm *vm)
{
	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				die("timed out at rip 0x%llx", guest_rip(vm));
			die_errno("KVM_RUN");
		}
		if (vm->verbose && vm->run->exit_reason != KVM_EXIT_IO)
			fprintf(stderr, "okvm-run: exit %s at rip 0x%llx\n",
				exit_name(vm->run->exit_reason), guest_rip(vm));
		switch (vm->run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(vm);
			break;
		case KVM_EXIT_HLT:
			return 0;
		default:
			report_exit(vm);
			return 1;
		}
	}
}

int main(int argc, char **argv)
{
	struct vm vm = { .mem_size = DEFAULT_MEM, .load_addr = DEFAULT_LOAD };
	const char *dev = "/dev/kvm";
	unsigned int timeout = 0;
	int opt;

	while ((opt = getopt(argc, argv, "d:m:a:t:vh")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'm': vm.mem_size = parse_size(optarg); break;
		case 'a': vm.load_addr = parse_size(optarg); break;
		case 't': timeout = parse_size(optarg); break;
		case 'v': vm.verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	if ((vm.load_addr & 0xf) || vm.load_addr >= REAL_MODE_TOP ||
	    vm.load_addr >= vm.mem_size || vm.mem_size & 0xfff)
		die("load address 0x%lx must be 16-byte aligned, below 1 MiB and\n"
		    "inside memory (0x%zx bytes, a multiple of 4 KiB)",
		    vm.load_addr, vm.mem_size);

	open_vm(&vm, dev);
	setup_memory(&vm);
	load_image(&vm, argv[optind]);
	setup_vcpu(&vm);
	if (timeout) {
		/* No SA_RESTART: the alarm must interrupt KVM_RUN. */
		struct sigaction sa = { .sa_handler = on_alarm };

		sigaction(SIGALRM, &sa, NULL);
		alarm(timeout);
	}
	return run_vcpu(&vm);
}
