/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small KTAP test harness for the okvm selftests.
 *
 * One binary holds several test cases, each registered with TEST() and
 * run in a forked child with an alarm, so that a crash, a hang or a
 * failed assertion fails only that case.  The ASSERT_* macros print
 * file:line and both values, then end the case.
 *
 * The same binaries run on okvm and on the real KVM.  A case that only
 * makes sense on one of them is declared with TEST_OKVM_ONLY() or
 * TEST_KVM_ONLY() and a reason, and is skipped with that reason on the
 * other.
 */
#ifndef OKVM_SELFTEST_HARNESS_H
#define OKVM_SELFTEST_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

#define TEST_TIMEOUT_DEFAULT	30	/* seconds, per case */

enum test_restrict {
	TEST_ANY,
	TEST_ON_OKVM_ONLY,	/* skipped on the real KVM */
	TEST_ON_KVM_ONLY,	/* skipped on okvm */
};

struct test_case {
	const char *name;
	void (*fn)(void);
	enum test_restrict restrict_to;
	const char *reason;
	unsigned int timeout;
	struct test_case *next;
};

void test_register(struct test_case *tc);

#define __TEST(_name, _restrict, _reason, _timeout)			\
	static void _name(void);					\
	static struct test_case __test_##_name = {			\
		.name = #_name,						\
		.fn = _name,						\
		.restrict_to = _restrict,				\
		.reason = _reason,					\
		.timeout = _timeout,					\
	};								\
	static void __attribute__((constructor)) __reg_##_name(void)	\
	{								\
		test_register(&__test_##_name);				\
	}								\
	static void _name(void)

/* An ordinary case: must pass on okvm and on the real KVM. */
#define TEST(name)	__TEST(name, TEST_ANY, NULL, TEST_TIMEOUT_DEFAULT)

/* A case with its own timeout in seconds. */
#define TEST_TIMEOUT(name, secs)	__TEST(name, TEST_ANY, NULL, secs)

/* Expectations that hold for okvm only; reason says why KVM differs. */
#define TEST_OKVM_ONLY(name, why)					\
	__TEST(name, TEST_ON_OKVM_ONLY, why, TEST_TIMEOUT_DEFAULT)

/* Expectations that hold for the real KVM only; reason says why. */
#define TEST_KVM_ONLY(name, why)					\
	__TEST(name, TEST_ON_KVM_ONLY, why, TEST_TIMEOUT_DEFAULT)

/* True when the device under test is okvm (/sys/module/okvm exists). */
bool test_on_okvm(void);

/*
 * $OKVM_TIMEOUT_SCALE, 1 when unset: every case's alarm is multiplied by
 * it, and so should be any wait a case bounds itself.
 */
unsigned int test_timeout_scale(void);

/* Print a KTAP diagnostic line ("# ..."). */
void test_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* End the current case as failed or skipped. */
void test_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void test_skip(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Name of an errno value ("EINVAL"), or its number as text. */
const char *errno_name(int err);

void __assert_fail_cmp(const char *file, int line, const char *expr_a,
		       const char *op, const char *expr_b,
		       uint64_t a, uint64_t b) __attribute__((noreturn));
void __assert_fail_errno(const char *file, int line, const char *expr,
			 long ret, int err, int expected)
	__attribute__((noreturn));

#define __ASSERT_CMP(a, op, b) do {					\
	uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);		\
	if (!(__a op __b))						\
		__assert_fail_cmp(__FILE__, __LINE__, #a, #op, #b,	\
				  __a, __b);				\
} while (0)

#define ASSERT_EQ(a, b)	__ASSERT_CMP(a, ==, b)
#define ASSERT_NE(a, b)	__ASSERT_CMP(a, !=, b)
#define ASSERT_LT(a, b)	__ASSERT_CMP(a, <, b)
#define ASSERT_LE(a, b)	__ASSERT_CMP(a, <=, b)
#define ASSERT_GT(a, b)	__ASSERT_CMP(a, >, b)
#define ASSERT_GE(a, b)	__ASSERT_CMP(a, >=, b)

#define ASSERT_TRUE(x) do {						\
	if (!(x))							\
		test_fail("%s:%d: ASSERT_TRUE(%s) failed",		\
			  __FILE__, __LINE__, #x);			\
} while (0)

#define ASSERT_FALSE(x) do {						\
	if (x)								\
		test_fail("%s:%d: ASSERT_FALSE(%s) failed",		\
			  __FILE__, __LINE__, #x);			\
} while (0)

/* expr (a syscall) must succeed, i.e. not return -1. */
#define ASSERT_OK(expr) do {						\
	long __r = (long)(expr);					\
	if (__r == -1)							\
		__assert_fail_errno(__FILE__, __LINE__, #expr, __r,	\
				    errno, 0);				\
} while (0)

/* expr (a syscall, typically an ioctl) must fail with errno err. */
#define ASSERT_ERRNO(expr, err) do {					\
	long __r;							\
	errno = 0;							\
	__r = (long)(expr);						\
	if (__r != -1 || errno != (err))				\
		__assert_fail_errno(__FILE__, __LINE__, #expr, __r,	\
				    errno, err);			\
} while (0)

/* Compare two buffers; on mismatch report the first differing offset. */
#define ASSERT_MEMEQ(a, b, len) do {					\
	const uint8_t *__pa = (const void *)(a);			\
	const uint8_t *__pb = (const void *)(b);			\
	size_t __i, __n = (len);					\
	for (__i = 0; __i < __n; __i++)					\
		if (__pa[__i] != __pb[__i])				\
			test_fail("%s:%d: %s and %s differ at byte 0x%zx:"\
				  " 0x%02x != 0x%02x", __FILE__,	\
				  __LINE__, #a, #b, __i, __pa[__i],	\
				  __pb[__i]);				\
} while (0)

#endif /* OKVM_SELFTEST_HARNESS_H */
