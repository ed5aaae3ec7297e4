// SPDX-License-Identifier: GPL-2.0
/*
 * okvm and the real KVM's vendor module (kvm_amd or kvm_intel) loaded in
 * one host.  The CPU's virtualization serves one hypervisor at a time:
 * AMD-V is on while EFER.SVME is set (AMD APM vol. 2, 15.4 "Enabling
 * SVM"), VT-x while the CPU is in VMX operation, from VMXON to VMXOFF
 * with CR4.VMXE set (Intel SDM vol. 3C, "Enabling and Entering VMX
 * Operation").  okvm holds it while it has VMs; KVM holds it while it
 * has VMs too, or from its load on when kvm's enable_virt_at_load is
 * set (6.10 and later).  The one that comes second gets EBUSY from
 * KVM_CREATE_VM, and okvm logs one line saying why: that "AMD-V" or
 * "VT-x" (x86_virt_name()) is " in use".
 *
 * Only a host with both loaded can run these (tools/testing/vm/run
 * --module both); anywhere else the whole binary is skipped.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include <okvm/x86_vendor.h>

#include "kvm_util.h"

#define OKVM_DEV	"/dev/okvm"
#define KVM_DEV		"/dev/kvm"	/* the vendor module's own */

static const char *not_both_loaded(void)
{
	static char why[128];
	struct stat okvm, kvm;
	const char *mod = kvm_vendor_module();

	snprintf(why, sizeof(why), "/sys/module/%s", mod);
	if (stat(OKVM_DEV, &okvm))
		return "no " OKVM_DEV;
	if (access(why, F_OK)) {
		snprintf(why, sizeof(why), "%s is not loaded", mod);
		return why;
	}
	if (stat(KVM_DEV, &kvm) || kvm.st_rdev == okvm.st_rdev) {
		snprintf(why, sizeof(why), KVM_DEV " is not %s's", mod);
		return why;
	}
	return NULL;
}

/*
 * Runs before the harness's main() (glibc hands constructors argc and
 * argv): without both modules no case means anything, so say so once,
 * KTAP's way, rather than skip every case.  Listing still works.
 */
static void __attribute__((constructor))
skip_unless_both_loaded(int argc, char **argv)
{
	const char *why = not_both_loaded();
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "-h"))
			return;
	if (why) {
		printf("KTAP version 1\n1..0 # SKIP needs okvm and %s "
		       "loaded together: %s\n", kvm_vendor_module(), why);
		exit(KSFT_SKIP);
	}
}

static bool kvm_holds_from_load(void)
{
	FILE *f = fopen("/sys/module/kvm/parameters/enable_virt_at_load", "r");
	int c = f ? fgetc(f) : 0;

	if (f)
		fclose(f);
	return c == 'Y';
}

/* For the cases where KVM lets go of the CPU with its last VM. */
static void need_kvm_per_vm(void)
{
	if (kvm_holds_from_load())
		test_skip("%s holds %s from its load on", kvm_vendor_module(),
			  x86_virt_name());
}

/* KVM_CREATE_VM on a new fd of dev: its result, errno kept. */
static int create_vm(const char *dev)
{
	int sys = open(dev, O_RDWR | O_CLOEXEC);
	int fd, err;

	if (sys < 0)
		test_fail("open %s: %s", dev, strerror(errno));
	fd = ioctl(sys, KVM_CREATE_VM, 0);
	err = errno;
	close(sys);
	errno = err;
	return fd;
}

GUEST_CODE16(guest_hello,
	"	mov $0x42, %al\n"
	"	out %al, $0x10\n"
	"	hlt\n");

static struct kvm_vm *guest_create(const char *dev, struct kvm_vcpu **vcpu)
{
	setenv("KVM_DEV", dev, 1);
	return vm_create_guest(GUEST(guest_hello), vcpu);
}

static void guest_run(struct kvm_vcpu *vcpu)
{
	ASSERT_EQ(vcpu_run_expect_out(vcpu, 0x10, 1), 0x42);
	vcpu_run_expect_hlt(vcpu);
}

/* The vCPU fd holds the VM too: free both, and the VM is gone. */
static void guest_free(struct kvm_vm *vm, struct kvm_vcpu *vcpu)
{
	vcpu_free(vcpu);
	vm_free(vm);
}

static void guest_run_on(const char *dev)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = guest_create(dev, &vcpu);

	guest_run(vcpu);
	guest_free(vm, vcpu);
}

/* /dev/kmsg read from its end: what the kernel logs from now on. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || lseek(fd, 0, SEEK_END) < 0)
		test_fail("/dev/kmsg: %s", strerror(errno));
	return fd;
}

/*
 * Log the kernel's new lines and close fd; return how many are okvm's,
 * and the last of those in line (unless NULL).
 */
static int kmsg_okvm_lines(int fd, char *line, size_t size)
{
	char rec[1024], *text;
	ssize_t len;
	int n = 0;

	if (line)
		*line = '\0';
	for (;;) {
		len = read(fd, rec, sizeof(rec) - 1);
		if (len < 0 && errno == EPIPE)	/* records overwritten */
			continue;
		if (len <= 0)
			break;
		rec[len] = '\0';
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		text[strcspn(text, "\n")] = '\0';
		test_log("kernel: %s", text);
		if (strncmp(text, "okvm: ", 6))
			continue;
		if (line)
			snprintf(line, size, "%s", text);
		n++;
	}
	close(fd);
	return n;
}

/* okvm's KVM_CREATE_VM fails with EBUSY and one line saying why. */
static void okvm_vm_refused(void)
{
	int kmsg = kmsg_open();
	char line[1024];

	ASSERT_ERRNO(create_vm(OKVM_DEV), EBUSY);
	ASSERT_EQ(kmsg_okvm_lines(kmsg, line, sizeof(line)), 1);
	if (!strstr(line, x86_virt_name()) || !strstr(line, " in use"))
		test_fail("okvm's line does not say %s is in use",
			  x86_virt_name());
}

TEST(okvm_vm_blocks_kvm_vm)
{
	int kmsg, vm;

	need_kvm_per_vm();
	vm = create_vm(OKVM_DEV);
	ASSERT_OK(vm);
	kmsg = kmsg_open();
	ASSERT_ERRNO(create_vm(KVM_DEV), EBUSY);
	kmsg_okvm_lines(kmsg, NULL, 0);	/* shows KVM's own lines */
	close(vm);
}

TEST(kvm_vm_after_okvm_vm_closed)
{
	need_kvm_per_vm();
	guest_run_on(OKVM_DEV);
	guest_run_on(KVM_DEV);
}

TEST(kvm_vm_blocks_okvm_vm)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = guest_create(KVM_DEV, &vcpu);

	guest_run(vcpu);
	okvm_vm_refused();
	guest_free(vm, vcpu);
}

TEST(okvm_vm_after_kvm_vm_closed)
{
	need_kvm_per_vm();
	guest_run_on(KVM_DEV);
	guest_run_on(OKVM_DEV);
}

TEST(okvm_vm_refused_without_kvm_vms)
{
	if (!kvm_holds_from_load())
		test_skip("%s holds %s only while it has VMs",
			  kvm_vendor_module(), x86_virt_name());
	okvm_vm_refused();
}
