/* Leveled logging to stderr.
 *
 * One line per call, written with a single write(2) so lines from several
 * threads never interleave. The level comes from em_log_set_level() or, at the
 * first call, from the EMBER_LOG environment variable (error, warn, info,
 * debug, trace). Default: info.
 */
#ifndef EMBER_NET_CORE_LOG_H
#define EMBER_NET_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum em_log_level {
	EM_LOG_ERROR = 0,
	EM_LOG_WARN,
	EM_LOG_INFO,
	EM_LOG_DEBUG,
	EM_LOG_TRACE,
};

void em_log_set_level(enum em_log_level level);
enum em_log_level em_log_get_level(void);

/* Parses "error", "warn", "info", "debug" or "trace". Returns 0 or -EINVAL. */
int em_log_level_parse(const char *name, enum em_log_level *out);

bool em_log_enabled(enum em_log_level level);

/* Prefer the macros: they skip formatting when the level is off. */
void em_log_write(enum em_log_level level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define em_log(level, subsys, ...)                                             \
	do {                                                                   \
		if (em_log_enabled(level))                                     \
			em_log_write(level, subsys, __VA_ARGS__);              \
	} while (0)

/* Lines a remote peer can trigger, one call site at a time: at most
 * EM_LOG_LIMIT_BURST a second (per thread), then, when the next second's
 * first line passes, one more saying how many were suppressed. A flood of
 * bad frames costs a few lines, not one each. */
#define EM_LOG_LIMIT_BURST 10
struct em_log_limit {
	uint64_t window_ms;
	uint32_t n;
	uint64_t suppressed;
};
bool em_log_limit_pass(struct em_log_limit *l, enum em_log_level level, const char *subsys);

#define em_log_limited(level, subsys, ...)                                     \
	do {                                                                   \
		static _Thread_local struct em_log_limit em_lim_;              \
		if (em_log_enabled(level) &&                                   \
		    em_log_limit_pass(&em_lim_, level, subsys))                \
			em_log_write(level, subsys, __VA_ARGS__);              \
	} while (0)
#define EM_WARN_LIMITED(subsys, ...) em_log_limited(EM_LOG_WARN, subsys, __VA_ARGS__)

#define EM_ERR(subsys, ...)   em_log(EM_LOG_ERROR, subsys, __VA_ARGS__)
#define EM_WARN(subsys, ...)  em_log(EM_LOG_WARN, subsys, __VA_ARGS__)
#define EM_INFO(subsys, ...)  em_log(EM_LOG_INFO, subsys, __VA_ARGS__)
#define EM_DEBUG(subsys, ...) em_log(EM_LOG_DEBUG, subsys, __VA_ARGS__)
#define EM_TRACE(subsys, ...) em_log(EM_LOG_TRACE, subsys, __VA_ARGS__)

#endif
