/* net/metrics_http.h: a real libmicrohttpd server on loopback scraped by a
 * plain socket client: /metrics with its content type and samples (one from
 * a collector running on a reactor thread), 404 elsewhere, a clear
 * EADDRINUSE when the port is taken. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/metrics_http.h"
#include "tap.h"

/* One HTTP/1.0 request; the whole answer (headers and body) into buf. */
static int http_get(int port, const char *method, const char *path, char *buf, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method,
			 path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	size_t got = 0;
	ssize_t r;
	while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	close(fd);
	return (int)got;
}

static void *run_reactor(void *arg)
{
	em_reactor_run(arg);
	return NULL;
}

/* Runs on the reactor thread: reports which thread it ran on. */
static void collect(void *arg, struct em_metrics_out *out)
{
	static const char *const labels[] = { "on_reactor" };
	const char *v[] = { em_reactor_current() == arg ? "yes" : "no" };
	em_metrics_emit(out, "t_collected", "collector check", labels, v, 1, 1);
}

static void del_collector(void *arg)
{
	struct em_metrics_collector **c = arg;
	em_metrics_del_collector(em_metrics_default(), *c);
	*c = NULL;
}

int main(void)
{
	struct em_metrics *m = em_metrics_default();
	struct em_metric_family *f;
	struct em_metric *c;
	static const char *const labels[] = { "k" };
	const char *v[] = { "v" };
	em_metrics_family(m, EM_METRIC_COUNTER, "t_http_total", "http test", labels, 1, &f);
	em_metric_get(f, v, &c);
	em_counter_add(c, 42);

	struct em_reactor *r;
	pthread_t th;
	struct em_metrics_collector *col;
	is_int(em_reactor_create("metrics-test", &r), 0, "reactor");
	pthread_create(&th, NULL, run_reactor, r);
	is_int(em_metrics_add_collector(m, r, collect, r, &col), 0, "collector on the reactor");

	struct em_metrics_http *h;
	is_int(em_metrics_http_start(m, "127.0.0.1:0", &h), 0, "start on a free port");
	int port = em_metrics_http_port(h);
	ok(port > 0, "bound port known");

	static char buf[65536];
	ok(http_get(port, "GET", "/metrics", buf, sizeof(buf)) > 0, "GET /metrics");
	ok(strncmp(buf, "HTTP/1.0 200", 12) == 0 || strncmp(buf, "HTTP/1.1 200", 12) == 0,
	   "200 OK");
	ok(strstr(buf, "Content-Type: text/plain; version=0.0.4"), "exposition content type");
	ok(strstr(buf, "\r\n\r\n# HELP "), "body starts with a HELP line");
	ok(strstr(buf, "# TYPE t_http_total counter\nt_http_total{k=\"v\"} 42\n"), "counter sample");
	ok(strstr(buf, "t_collected{on_reactor=\"yes\"} 1\n"), "collector ran on its reactor");

	em_counter_add(c, 1);
	http_get(port, "GET", "/metrics", buf, sizeof(buf));
	ok(strstr(buf, "t_http_total{k=\"v\"} 43\n"), "a second scrape sees the increment");

	ok(http_get(port, "GET", "/", buf, sizeof(buf)) > 0, "GET /");
	ok(strstr(buf, " 404 "), "404 elsewhere");
	http_get(port, "POST", "/metrics", buf, sizeof(buf));
	ok(strstr(buf, " 405 "), "405 for POST");

	char taken[64];
	struct em_metrics_http *h2 = NULL;
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", port);
	is_int(em_metrics_http_start(m, taken, &h2), -EADDRINUSE, "taken port: EADDRINUSE");
	is_int(em_metrics_http_start(m, "localhost", &h2), -EINVAL, "malformed address: EINVAL");
	em_metrics_http_stop(h);
	ok(http_get(port, "GET", "/metrics", buf, sizeof(buf)) == -ECONNREFUSED,
	   "stopped: connection refused");

	/* Config: off by default, on with its listen address. */
	struct em_config *cfg;
	char err[256];
	is_int(em_config_load_string("", "t.ini", em_metrics_cfg_schema, &cfg, err, sizeof(err)), 0,
	       "empty config loads");
	h = (struct em_metrics_http *)1;
	is_int(em_metrics_http_from_config(cfg, &h), 0, "disabled by default");
	ok(h == NULL, "no server");
	em_config_free(cfg);
	is_int(em_config_load_string("[metrics]\nenabled = true\nlisten = 127.0.0.1:0\n", "t.ini",
				     em_metrics_cfg_schema, &cfg, err, sizeof(err)),
	       0, "enabled config loads");
	is_int(em_metrics_http_from_config(cfg, &h), 0, "enabled");
	ok(h && http_get(em_metrics_http_port(h), "GET", "/metrics", buf, sizeof(buf)) > 0 &&
		   strstr(buf, "t_http_total"),
	   "serves the default registry");
	em_metrics_http_stop(h);
	em_config_free(cfg);

	em_reactor_send(r, del_collector, &col);
	em_reactor_stop(r);
	pthread_join(th, NULL);
	ok(col == NULL, "collector removed on its reactor");
	em_reactor_destroy(r);
	return tap_done();
}
