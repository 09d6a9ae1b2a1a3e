/* net/core/metrics.h: the exact text format of a small registry (label and
 * help escaping, histogram buckets, callback gauges, sorting), family
 * declaration rules, and shard summing across threads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "net/core/metrics.h"
#include "tap.h"

static const char expected[] =
	"# HELP t_cb_state state per target\n"
	"# TYPE t_cb_state gauge\n"
	"t_cb_state{target=\"10\"} 1.5\n"
	"t_cb_state{target=\"7\"} 2\n"
	"# HELP t_lat_seconds latency\n"
	"# TYPE t_lat_seconds histogram\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.000001\"} 0\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.000002\"} 1\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.000005\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.00001\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.00002\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.00005\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.0001\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.0002\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.0005\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.001\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.002\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.005\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.01\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.02\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.05\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.1\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.2\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"0.5\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"1\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"2\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"5\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"10\"} 2\n"
	"t_lat_seconds_bucket{op=\"r\",le=\"+Inf\"} 3\n"
	"t_lat_seconds_sum{op=\"r\"} 20.0000045\n"
	"t_lat_seconds_count{op=\"r\"} 3\n"
	"# HELP t_level a level\n"
	"# TYPE t_level gauge\n"
	"t_level -5\n"
	"# HELP t_requests_total requests with \\\\ and\\nnewline\n"
	"# TYPE t_requests_total counter\n"
	"t_requests_total{svc=\"a\",path=\"b\"} 1\n"
	"t_requests_total{svc=\"a\",path=\"x\\\"y\\\\z\\nw\"} 3\n";

static void collect(void *arg, struct em_metrics_out *out)
{
	static const char *const labels[] = { "target" };
	const char *seven[] = { "7" }, *ten[] = { "10" };
	em_metrics_emit(out, "t_cb_state", "state per target", labels, seven, 1, 2);
	em_metrics_emit(out, "t_cb_state", "state per target", labels, ten, 1, 1.5);
	/* Clashes with a registered family: dropped. */
	em_metrics_emit(out, "t_level", "x", NULL, NULL, 0, 9);
	(*(int *)arg)++;
}

static void test_format(void)
{
	struct em_metrics *m;
	struct em_metric_family *req, *lvl, *lat, *again;
	struct em_metric *ab, *ax, *level, *r;
	struct em_metrics_collector *col;
	int calls = 0;
	static const char *const rl[] = { "svc", "path" }, *const ol[] = { "op" };
	is_int(em_metrics_create(&m), 0, "create registry");
	is_int(em_metrics_family(m, EM_METRIC_COUNTER, "t_requests_total",
				 "requests with \\ and\nnewline", rl, 2, &req), 0, "counter family");
	is_int(em_metrics_family(m, EM_METRIC_GAUGE, "t_level", "a level", NULL, 0, &lvl), 0,
	       "gauge family");
	is_int(em_metrics_family(m, EM_METRIC_HISTOGRAM, "t_lat_seconds", "latency", ol, 1, &lat),
	       0, "histogram family");
	is_int(em_metrics_family(m, EM_METRIC_COUNTER, "t_requests_total", "", rl, 2, &again), 0,
	       "same family again");
	ok(again == req, "is the same family");
	is_int(em_metrics_family(m, EM_METRIC_GAUGE, "t_requests_total", "", rl, 2, &again),
	       -EEXIST, "another type under a taken name");
	is_int(em_metrics_family(m, EM_METRIC_COUNTER, "t_requests_total", "", rl, 1, &again),
	       -EEXIST, "other labels under a taken name");
	is_int(em_metrics_family(m, EM_METRIC_COUNTER, "9bad", "", NULL, 0, &again), -EINVAL,
	       "bad metric name");
	static const char *const le[] = { "le" };
	is_int(em_metrics_family(m, EM_METRIC_HISTOGRAM, "t_x", "", le, 1, &again), -EINVAL,
	       "label 'le' is reserved");

	const char *v_ab[] = { "a", "b" }, *v_ax[] = { "a", "x\"y\\z\nw" }, *v_r[] = { "r" };
	is_int(em_metric_get(req, v_ax, &ax), 0, "series with escapes");
	is_int(em_metric_get(req, v_ab, &ab), 0, "plain series");
	struct em_metric *ax2;
	is_int(em_metric_get(req, v_ax, &ax2), 0, "series again");
	ok(ax2 == ax, "is the same series");
	is_int(em_metric_get(lvl, NULL, &level), 0, "unlabelled gauge");
	is_int(em_metric_get(lat, v_r, &r), 0, "histogram series");
	em_counter_add(ax, 2);
	em_counter_add(ax, 1);
	em_counter_add(ab, 1);
	em_gauge_set(level, 3);
	em_gauge_add(level, -8);
	em_hist_observe_ns(r, 1500);
	em_hist_observe_ns(r, 3000);
	em_hist_observe_ns(r, 20000000000ull);
	is_int(em_metrics_add_collector(m, NULL, collect, &calls, &col), 0, "add collector");

	char *text;
	size_t len;
	is_int(em_metrics_render(m, &text, &len), 0, "render");
	is_str(text, expected, "exact exposition text");
	is_int(len, sizeof(expected) - 1, "length");
	is_int(calls, 1, "collector ran once");
	free(text);

	em_metrics_del_collector(m, col);
	is_int(em_metrics_render(m, &text, &len), 0, "render without the collector");
	ok(!strstr(text, "t_cb_state"), "its samples are gone");
	is_int(calls, 1, "and it did not run");
	free(text);
	em_metrics_destroy(m);

	is_int(em_metrics_create(&m), 0, "empty registry");
	is_int(em_metrics_render(m, &text, &len), 0, "renders");
	is_str(text, "", "as nothing");
	free(text);
	em_metrics_destroy(m);
}

#define THREADS 8
#define ITERS 200000

static struct em_metric *shared_counter, *shared_hist;
static pthread_barrier_t barrier;

static void *worker(void *arg)
{
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < ITERS; i++) {
		em_counter_add(shared_counter, 1);
		if (i % 100 == 0)
			em_hist_observe_ns(shared_hist, 1000);
	}
	return NULL;
}

/* The value of the first line starting with prefix (never the first line,
 * which is a HELP line). */
static unsigned long long sample(const char *text, const char *prefix)
{
	char line_start[128];
	snprintf(line_start, sizeof(line_start), "\n%s", prefix);
	const char *p = strstr(text, line_start);
	return p ? strtoull(p + strlen(line_start), NULL, 10) : ~0ull;
}

static unsigned long long scrape(struct em_metrics *m, const char *prefix)
{
	char *text;
	size_t len;
	if (em_metrics_render(m, &text, &len))
		return ~0ull;
	unsigned long long v = sample(text, prefix);
	free(text);
	return v;
}

static void run_wave(void)
{
	pthread_t th[THREADS];
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
}

static void test_threads(void)
{
	struct em_metrics *m;
	struct em_metric_family *f, *h;
	em_metrics_create(&m);
	em_metrics_family(m, EM_METRIC_COUNTER, "t_ops_total", "ops", NULL, 0, &f);
	em_metrics_family(m, EM_METRIC_HISTOGRAM, "t_op_seconds", "op time", NULL, 0, &h);
	em_metric_get(f, NULL, &shared_counter);
	em_metric_get(h, NULL, &shared_hist);

	run_wave();
	is_int(scrape(m, "t_ops_total "), (unsigned long long)THREADS * ITERS,
	       "threads' shards sum exactly");
	is_int(scrape(m, "t_op_seconds_count "), THREADS * (ITERS / 100), "histogram count");
	is_int(scrape(m, "t_op_seconds_bucket{le=\"0.000001\"} "), THREADS * (ITERS / 100),
	       "all in the first bucket");
	/* Exited threads' shards are reused by new ones, nothing is lost. */
	run_wave();
	is_int(scrape(m, "t_ops_total "), 2ull * THREADS * ITERS, "second wave adds up");

	/* Scrapes racing the writers see a value that only grows. */
	pthread_t th[THREADS];
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	unsigned long long last = 0;
	int monotonic = 1;
	for (int i = 0; i < 50; i++) {
		unsigned long long v = scrape(m, "t_ops_total ");
		monotonic &= v >= last && v <= 3ull * THREADS * ITERS;
		last = v;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	ok(monotonic, "concurrent scrapes are monotonic and bounded");
	is_int(scrape(m, "t_ops_total "), 3ull * THREADS * ITERS, "third wave adds up");
	em_metrics_destroy(m);
}

int main(void)
{
	test_format();
	test_threads();
	return tap_done();
}
