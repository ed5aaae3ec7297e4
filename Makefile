# SPDX-License-Identifier: GPL-2.0
#
# make                 build okvm.ko for the running kernel
# make KDIR=<dir>      build it against another kernel's headers
# make demo            boot a test host, load okvm and run a greeting guest
# make check           run every test, on okvm and on the real KVM
# make fuzz            run both fuzzers with long bounds in test hosts;
#                      FUZZ_ARGS="--kernel 6.1 --seed 42 ..." passes
#                      options to tools/testing/vm/fuzz (--help lists them)
# make selftests tools build the userspace test programs and okvm-run

KDIR ?= /lib/modules/$(shell uname -r)/build

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

selftests:
	$(MAKE) -C tools/testing/selftests/okvm

tools:
	$(MAKE) -C tools/okvm-run

demo:
	tools/testing/vm/demo

check:
	tools/testing/vm/check

fuzz:
	tools/testing/vm/fuzz $(FUZZ_ARGS)

clean:
	-[ -d $(KDIR) ] && $(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C tools/testing/selftests/okvm clean
	$(MAKE) -C tools/okvm-run clean

.PHONY: all module selftests tools demo check fuzz clean
