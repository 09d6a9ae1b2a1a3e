/* ember-mgmtd's Prometheus endpoint: a real daemon with [metrics] enabled
 * on a free port; scrapes over a plain socket show it primary and its RPC
 * counters, bytes and latency histogram grow by exactly the calls this test
 * makes; a second daemon asked for the same port refuses to start and says
 * why.
 *
 *   test_mgmt_metrics PATH/ember-mgmtd
 */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs/mgmt/client.h"
#include "fs/mgmt/proto.h"
#include "tap.h"

static const char secret[] = "metrics integration secret";
static char dir[64], mgmtd_exe[512];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Starts ember-mgmtd with metrics on metrics_listen; reads its stdout up to
 * the ready line. Returns the pid (or -1) and fills url and port. */
static pid_t start_mgmtd(int idx, const char *metrics_listen, char *url, int *port,
			 const char *err_path)
{
	char ini[128], text[512];
	snprintf(ini, sizeof(ini), "%s/mgmtd%d.ini", dir, idx);
	snprintf(text, sizeof(text),
		 "[mgmtd]\nlisten = tcp://127.0.0.1:0\nkv = lmdb:%s/kv%d\nsecret_file = %s/secret\n"
		 "tick = 100ms\n[metrics]\nenabled = true\nlisten = %s\n",
		 dir, idx, dir, metrics_listen);
	write_file(ini, text);
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		freopen(err_path, "w", stderr);
		close(fds[0]);
		execl(mgmtd_exe, mgmtd_exe, "-c", ini, "-l", "warn", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *out = fdopen(fds[0], "r");
	char line[256];
	*port = 0;
	url[0] = '\0';
	while (out && fgets(line, sizeof(line), out)) {
		if (sscanf(line, "ember-mgmtd: metrics port %d", port) == 1)
			continue;
		if (sscanf(line, "ember-mgmtd: ready %127s", url) == 1)
			break;
	}
	if (out)
		fclose(out);
	return pid;
}

/* GET /metrics; the body into a malloc'd string (NULL on failure). */
static char *scrape(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	size_t cap = 1 << 20, got = 0;
	char *buf = malloc(cap);
	ssize_t r;
	if (buf && write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1)
		while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
			got += (size_t)r;
	close(fd);
	if (!buf)
		return NULL;
	buf[got] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || !strstr(buf, " 200 ") || !body) {
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

/* The value of the sample line starting with series, or -1. */
static double value(const char *text, const char *series)
{
	char key[256];
	snprintf(key, sizeof(key), "\n%s ", series);
	const char *p = text ? strstr(text, key) : NULL;
	return p ? strtod(p + strlen(key), NULL) : -1;
}

#define OK_GET "ember_rpc_requests_total{service=\"2\",method=\"3\",status=\"ok\"}"
#define BYTES_GET "ember_rpc_request_bytes_total{service=\"2\",method=\"3\"}"
#define LAT_GET "ember_rpc_server_latency_seconds_count{service=\"2\",method=\"3\"}"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_mgmt_metrics PATH/ember-mgmtd\n");
		return 2;
	}
	snprintf(mgmtd_exe, sizeof(mgmtd_exe), "%s", argv[1]);
	snprintf(dir, sizeof(dir), "/tmp/ember-metrics-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char path[128], url[128], err1[128], err2[128];
	snprintf(path, sizeof(path), "%s/secret", dir);
	write_file(path, secret);
	chmod(path, 0600); /* daemons refuse a secret others can read */
	snprintf(err1, sizeof(err1), "%s/mgmtd1.err", dir);
	snprintf(err2, sizeof(err2), "%s/mgmtd2.err", dir);

	int port;
	pid_t pid = start_mgmtd(1, "127.0.0.1:0", url, &port, err1);
	ok(pid > 0 && port > 0 && url[0], "mgmtd started with a metrics port");

	/* The first tick takes the lease. */
	char *text = NULL;
	for (int i = 0; i < 50; i++) {
		free(text);
		text = scrape(port);
		if (value(text, "ember_mgmt_primary") == 1)
			break;
		usleep(100000);
	}
	ok(text, "scrape answers 200 with a body");
	is_int(value(text, "ember_mgmt_primary"), 1, "primary gauge");
	ok(value(text, "ember_mgmt_routing_version") >= 0, "routing version gauge");
	ok(text && strstr(text, "# TYPE ember_rpc_server_latency_seconds histogram\n"),
	   "latency histogram declared");
	double before = value(text, OK_GET);
	double bytes_before = value(text, BYTES_GET);
	double lat_before = value(text, LAT_GET);
	free(text);

	struct em_reactor *r;
	struct em_net *net;
	struct em_rpc *rpc;
	struct em_mgmt_client *c;
	struct em_rpc_opts ro = { .secret = secret, .secret_len = strlen(secret) };
	const char *urls[] = { url };
	struct em_mgmt_client_opts co = { .mgmtd = urls, .n_mgmtd = 1 };
	ok(em_reactor_create("test", &r) == 0 && em_net_create(r, NULL, &net) == 0 &&
		   em_rpc_create(net, &ro, &rpc) == 0 && em_mgmt_client_create(r, rpc, &co, &c) == 0,
	   "client");
	int calls_ok = 1;
	for (int i = 0; i < 3; i++) {
		uint8_t req[8] = { 0 };
		void *rsp = NULL;
		size_t len = 0;
		calls_ok &= em_mgmt_call_wait(c, EM_MGMT_GET_ROUTING, req, sizeof(req), &rsp, &len) == 0;
		free(rsp);
	}
	ok(calls_ok, "three GET_ROUTING calls");

	text = scrape(port);
	is_int(value(text, OK_GET) - (before < 0 ? 0 : before), 3, "ok counter grew by 3");
	is_int(value(text, BYTES_GET) - (bytes_before < 0 ? 0 : bytes_before), 24,
	       "request bytes grew by 3 x 8");
	is_int(value(text, LAT_GET) - (lat_before < 0 ? 0 : lat_before), 3,
	       "latency histogram counted 3");
	ok(value(text, "ember_rpc_connections_total{kind=\"tcp\",role=\"server\"}") >= 1,
	   "accepted tcp connection counted");
	free(text);

	/* The same metrics port for another daemon: it must fail and say so. */
	char taken[64];
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", port);
	int port2, st = 0;
	pid_t pid2 = start_mgmtd(2, taken, url, &port2, err2);
	waitpid(pid2, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) != 0, "second daemon on a taken port exits non-zero");
	FILE *f = fopen(err2, "r");
	char line[512] = "";
	int said = 0;
	while (f && fgets(line, sizeof(line), f))
		said |= strstr(line, "Address already in use") != NULL;
	if (f)
		fclose(f);
	ok(said, "and logs 'Address already in use'");

	em_mgmt_client_destroy(c);
	em_rpc_destroy(rpc);
	em_net_destroy(net);
	em_reactor_destroy(r);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mgmtd exits cleanly on SIGTERM");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ok(system(cmd) == 0, "temporary directory removed");
	return tap_done();
}
