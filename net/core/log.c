#include "net/core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {
	[EM_LOG_ERROR] = "error", [EM_LOG_WARN] = "warn", [EM_LOG_INFO] = "info",
	[EM_LOG_DEBUG] = "debug", [EM_LOG_TRACE] = "trace",
};

/* -1: not decided yet; read EMBER_LOG on first use. */
static _Atomic int cur_level = -1;

int em_log_level_parse(const char *name, enum em_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum em_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void em_log_set_level(enum em_log_level level)
{
	atomic_store(&cur_level, (int)level);
}

enum em_log_level em_log_get_level(void)
{
	int l = atomic_load_explicit(&cur_level, memory_order_relaxed);
	if (l >= 0)
		return (enum em_log_level)l;

	enum em_log_level parsed = EM_LOG_INFO;
	const char *env = getenv("EMBER_LOG");
	if (env && em_log_level_parse(env, &parsed) != 0)
		parsed = EM_LOG_INFO;
	int expected = -1;
	atomic_compare_exchange_strong(&cur_level, &expected, (int)parsed);
	return (enum em_log_level)atomic_load(&cur_level);
}

bool em_log_enabled(enum em_log_level level)
{
	return level <= em_log_get_level();
}

void em_log_write(enum em_log_level level, const char *subsys, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%06ld %-5s %s: ",
			 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
			 level_names[level], subsys);
	if (n < 0)
		return;

	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;

	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2) {
		/* Truncated: mark it so nobody mistakes it for the whole message. */
		len = sizeof(line) - 5;
		memcpy(line + len, "...", 3);
		len += 3;
	}
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w; /* nowhere left to report a failed log write */
}

bool em_log_limit_pass(struct em_log_limit *l, enum em_log_level level, const char *subsys)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (!l->window_ms || now - l->window_ms >= 1000) {
		if (l->suppressed)
			em_log_write(level, subsys, "%llu more lines like the next one suppressed",
				     (unsigned long long)l->suppressed);
		l->window_ms = now;
		l->n = 0;
		l->suppressed = 0;
	}
	if (l->n < EM_LOG_LIMIT_BURST) {
		l->n++;
		return true;
	}
	l->suppressed++;
	return false;
}
