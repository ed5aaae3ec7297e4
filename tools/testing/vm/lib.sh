# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers shared by setup, run, check and demo.  Sourced, never run.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$VM_DIR/../../.." && pwd)
OKVM_CACHE=${OKVM_CACHE:-/var/cache/okvm}
OKVM_OUT=${OKVM_OUT:-$REPO_DIR/out}
# Tests get this many times their time on a debug kernel (run).
DEBUG_TIMEOUT_SCALE=4

# Progress goes to stderr: setup's stdout is reserved for the environment.
say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "error: $*"; exit 2; }

# "6.12" -> "6_12", for variable names.
kernel_key() { printf '%s' "${1//./_}"; }

# kernel_var 6.1 VMLINUZ -> value of OKVM_KERNEL_6_1_VMLINUZ
kernel_var() {
	local name

	name="OKVM_KERNEL_$(kernel_key "$1")_$2"
	[[ -n ${!name:-} ]] || die "kernel '$1' is not known (have: ${OKVM_KERNELS:-none})"
	printf '%s' "${!name}"
}

# kernel_is_debug K: K is a debug kernel (see load_debug_kernel).
kernel_is_debug() {
	local name

	name="OKVM_KERNEL_$(kernel_key "$1")_DEBUG"
	[[ -n ${!name:-} ]]
}

# Run setup (fast when everything is in place) and take its environment.
load_setup() {
	local env
	env=$("$VM_DIR/setup") || die "setup failed"
	eval "$env"
}

# The debug kernel (debug-kernel/README) as test kernel "debug": builds
# it the first time (about ten minutes), then takes it from the cache.
# Its modules tree is KDIR, the full built tree; OKVM_KERNEL_debug_DEBUG
# tells run to boot it as a debug host.
load_debug_kernel() {
	local env RELEASE KDIR VMLINUZ MODDIR

	[[ " $OKVM_KERNELS " == *" debug "* ]] && return 0
	env=$("$VM_DIR/debug-kernel/build") || return 1
	eval "$env"
	[[ -n $RELEASE && -d $KDIR && -f $VMLINUZ && -d $MODDIR ]] || return 1
	OKVM_KERNEL_debug_ABI=$RELEASE
	OKVM_KERNEL_debug_VMLINUZ=$VMLINUZ
	OKVM_KERNEL_debug_MODULES=$MODDIR
	OKVM_KERNEL_debug_HEADERS=$KDIR
	OKVM_KERNEL_debug_DEBUG=1
	OKVM_KERNELS="$OKVM_KERNELS debug"
}

# Copy the module sources into a per-kernel directory and build okvm.ko
# there: out-of-tree Kbuild writes objects next to the sources, so two
# kernels cannot share one tree.  rsync keeps the copy's objects, so a
# rebuild is incremental.
build_module() {
	local kernel=$1 log=$2 kdir bdir

	kdir=$(kernel_var "$kernel" HEADERS)
	bdir="$OKVM_OUT/build/$(kernel_var "$kernel" ABI)"
	mkdir -p "$bdir"
	rsync -a --delete --filter=':- .gitignore' \
		--exclude=/.git --exclude=/.ci --exclude=/tools \
		--exclude=/Documentation --exclude=/out --exclude=/build \
		"$REPO_DIR/" "$bdir/"
	if ! make -j"$(nproc)" -C "$kdir" M="$bdir" modules >"$log" 2>&1; then
		return 1
	fi
	# Kbuild's -Werror covers the compiler; modpost and objtool only warn.
	if grep -qi 'warning:' "$log"; then
		return 1
	fi
	printf '%s\n' "$bdir/okvm.ko"
}

# One check or demo at a time per checkout: they share $OKVM_OUT.  The
# lock lives as long as this shell and its children keep fd 9.
take_lock() {
	mkdir -p "$OKVM_OUT"
	exec 9>"$OKVM_OUT/.lock"
	if ! flock -n 9; then
		say "waiting for another check or demo using $OKVM_OUT"
		flock 9
	fi
}
