#include "net/metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ember/errors.h"
#include "net/core/log.h"

const struct em_cfg_option em_metrics_cfg_schema[] = {
	{ "metrics", "enabled", EM_CFG_BOOL, "false", 0, 0,
	  "serve Prometheus metrics over HTTP at /metrics" },
	{ "metrics", "listen", EM_CFG_STRING, "127.0.0.1:9180", 0, 0,
	  "IP:PORT of the metrics endpoint ([IPv6]:PORT; port 0: any free port); give each "
	  "daemon on a host its own port" },
	EM_CFG_END,
};

struct em_metrics_http {
	struct em_metrics *m;
	struct MHD_Daemon *d;
	int port;
};

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, char *body,
			      size_t len, const char *type)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct em_metrics_http *h = cls;
	const char *plain = "text/plain; charset=utf-8";
	if (strcmp(url, "/metrics") != 0)
		return answer(conn, MHD_HTTP_NOT_FOUND, strdup("not found\n"), 10, plain);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("GET only\n"), 9, plain);
	char *text;
	size_t len;
	int rc = em_metrics_render(h->m, &text, &len);
	if (rc < 0)
		return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, strdup("out of memory\n"), 14,
			      plain);
	return answer(conn, MHD_HTTP_OK, text, len, CONTENT_TYPE);
}

/* libmicrohttpd hands us its own format string; it is not ours to check. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	EM_WARN("metrics", "http: %s", line);
}

/* Splits "IP:PORT" / "[IPv6]:PORT" and binds a listening socket to it, so a
 * taken port is reported as EADDRINUSE rather than as a libmicrohttpd
 * failure without a reason. */
static int bind_listen(const char *addr, int *out_fd)
{
	char host[128];
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host) || !colon[1])
		return -EINVAL;
	const char *h = addr;
	size_t hl = (size_t)(colon - addr);
	if (h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, rc = 0;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0)
		rc = -errno;
	freeaddrinfo(ai);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*out_fd = fd;
	return 0;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int em_metrics_http_start(struct em_metrics *m, const char *addr, struct em_metrics_http **out)
{
	int fd = -1;
	int rc = bind_listen(addr, &fd);
	if (rc < 0) {
		EM_ERR("metrics", "cannot listen on %s: %s", addr,
		       rc == -EINVAL ? "not IP:PORT" : em_strerror(rc));
		return rc;
	}
	struct em_metrics_http *h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->m = m;
	h->port = bound_port(fd);
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!h->d || h->port < 0) {
		EM_ERR("metrics", "cannot start the HTTP server on %s", addr);
		if (h->d)
			MHD_stop_daemon(h->d);
		else
			close(fd);
		free(h);
		return -EIO;
	}
	EM_INFO("metrics", "serving http://%s/metrics (port %d)", addr, h->port);
	*out = h;
	return 0;
}

int em_metrics_http_port(const struct em_metrics_http *h)
{
	return h->port;
}

void em_metrics_http_stop(struct em_metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d); /* joins its thread and closes the socket */
	free(h);
}

int em_metrics_http_from_config(const struct em_config *cfg, struct em_metrics_http **out)
{
	*out = NULL;
	if (!em_config_bool(cfg, "metrics", "enabled"))
		return 0;
	return em_metrics_http_start(em_metrics_default(), em_config_str(cfg, "metrics", "listen"),
				     out);
}
