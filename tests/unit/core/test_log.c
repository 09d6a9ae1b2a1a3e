#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/core/log.h"
#include "tap.h"

/* Runs fn with stderr redirected into a buffer. */
static void capture(void (*fn)(void), char *out, size_t outlen)
{
	char path[] = "/tmp/ember-logtest-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

static void log_some(void)
{
	EM_INFO("unit", "hello %d", 42);
	EM_DEBUG("unit", "hidden at info");
	EM_ERR("unit", "broken: %s", "yes");
}

static void log_long(void)
{
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	EM_WARN("unit", "%s", big);
}

int main(void)
{
	enum em_log_level l;
	char buf[4096];

	is_int(em_log_level_parse("DEBUG", &l), 0, "level names parse case-insensitively");
	is_int(l, EM_LOG_DEBUG, "debug parses to EM_LOG_DEBUG");
	is_int(em_log_level_parse("loud", &l), -EINVAL, "unknown level is -EINVAL");

	em_log_set_level(EM_LOG_INFO);
	capture(log_some, buf, sizeof(buf));
	ok(strstr(buf, "info  unit: hello 42\n") != NULL, "info line written with level and subsystem");
	ok(strstr(buf, "hidden") == NULL, "debug line suppressed at info");
	ok(strstr(buf, "error unit: broken: yes\n") != NULL, "error line written");

	capture(log_long, buf, sizeof(buf));
	size_t len = strlen(buf);
	ok(len > 0 && len < 1100 && buf[len - 1] == '\n', "overlong message is cut to one line");
	ok(strstr(buf, "...\n") != NULL, "cut message is marked");
	return tap_done();
}
