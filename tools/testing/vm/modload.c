// SPDX-License-Identifier: GPL-2.0
/*
 * modload FILE [PARAM=VALUE...]: load a kernel module with one
 * finit_module() call, as kmod's insmod does, its parameters joined by
 * spaces as the kernel parses them ("npt=0 nested=0").  The test host's
 * busybox insmod retries a failed finit_module() with init_module(),
 * which runs a refusing module's init twice and so logs its refusal
 * twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	char params[1024] = "";
	size_t len = 0;
	int fd, i;

	if (argc < 2) {
		fprintf(stderr, "usage: modload FILE [PARAM=VALUE...]\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		int n = snprintf(params + len, sizeof(params) - len, "%s%s",
				 len ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(params) - len) {
			fprintf(stderr, "modload: parameters too long\n");
			return 2;
		}
		len += n;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, params, 0)) {
		fprintf(stderr, "modload: %s%s%s: %s\n", argv[1],
			len ? " " : "", params, strerror(errno));
		return 1;
	}
	return 0;
}
