/* A minimal TAP producer for Ember's unit tests.
 *
 * Every check prints "ok N - what" or "not ok N - what" with the failing
 * expression and location; tap_done() prints the plan and returns the exit
 * status, so a test binary is `int main(void) { ...; return tap_done(); }`.
 */
#ifndef EMBER_TESTS_TAP_H
#define EMBER_TESTS_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_check(int cond, const char *file, int line, const char *expr,
			    const char *what)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, what);
	if (!cond) {
		tap_failed++;
		printf("#   failed: %s at %s:%d\n", expr, file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, what) tap_check(!!(cond), __FILE__, __LINE__, #cond, what)

#define is_int(got, want, what)                                                      \
	do {                                                                          \
		long long g_ = (long long)(got), w_ = (long long)(want);              \
		if (!tap_check(g_ == w_, __FILE__, __LINE__, #got " == " #want, what)) \
			printf("#   got %lld, want %lld\n", g_, w_);                 \
	} while (0)

#define is_str(got, want, what)                                                      \
	do {                                                                          \
		const char *g_ = (got), *w_ = (want);                                 \
		int eq_ = g_ && w_ && strcmp(g_, w_) == 0;                            \
		if (!tap_check(eq_, __FILE__, __LINE__, #got " eq " #want, what))      \
			printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)",       \
			       w_ ? w_ : "(null)");                                   \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# %d of %d checks failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

#endif
