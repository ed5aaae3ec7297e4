// SPDX-License-Identifier: GPL-2.0
/*
 * modload FILE: load a kernel module with one finit_module() call, as
 * kmod's insmod does.  The test host's busybox insmod retries a failed
 * finit_module() with init_module(), which runs a refusing module's init
 * twice and so logs its refusal twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: modload FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0)) {
		fprintf(stderr, "modload: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return 0;
}
