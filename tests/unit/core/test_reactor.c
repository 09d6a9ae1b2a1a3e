#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/core/reactor.h"
#include "tap.h"

static int order[16], n_order;
static void record(void *arg)
{
	order[n_order++] = (int)(intptr_t)arg;
}

static int pipe_reads;
static void on_pipe(void *arg, uint32_t ev)
{
	char c;
	if (read(*(int *)arg, &c, 1) == 1)
		pipe_reads++;
}

#define SENDS 20000
struct sender {
	struct em_reactor *r;
	int id;
};
static int last_seen[2] = { -1, -1 };
static int in_order = 1, received;
static void on_msg(void *arg)
{
	intptr_t v = (intptr_t)arg;
	int id = (int)(v & 1), seq = (int)(v >> 1);
	in_order &= seq == last_seen[id] + 1;
	last_seen[id] = seq;
	received++;
}
static void *send_many(void *arg)
{
	struct sender *s = arg;
	for (int i = 0; i < SENDS; i++)
		while (em_reactor_send(s->r, on_msg, (void *)(((intptr_t)i << 1) | s->id)) != 0)
			;
	return NULL;
}

static int poll_budget = 5, polls;
static int poller(void *arg)
{
	polls++;
	return poll_budget-- > 0 ? 1 : 0;
}

static void *stopper(void *arg)
{
	usleep(50 * 1000);
	em_reactor_stop(arg);
	return NULL;
}

int main(void)
{
	struct em_reactor *r;
	is_int(em_reactor_create("test", &r), 0, "create reactor");

	/* Timers fire in due order; a cancelled one never fires. */
	struct em_timer *t2;
	uint64_t start = em_now_ms(); /* before arming: deadlines count from then on */
	em_reactor_timer(r, 30, record, (void *)3, NULL);
	em_reactor_timer(r, 10, record, (void *)1, NULL);
	em_reactor_timer(r, 20, record, (void *)2, &t2);
	em_reactor_timer(r, 20, record, (void *)4, NULL);
	em_reactor_timer_cancel(r, t2);
	while (n_order < 3 && em_now_ms() - start < 20000)
		em_reactor_run_once(r, 100);
	is_int(n_order, 3, "three timers fired");
	ok(order[0] == 1 && order[1] == 4 && order[2] == 3, "timers fire in due order, cancelled one skipped");
	ok(em_now_ms() - start >= 30, "timers wait for their due time");

	/* Descriptors. */
	int p[2];
	ok(pipe(p) == 0, "pipe");
	is_int(em_reactor_add_fd(r, p[0], EPOLLIN, on_pipe, &p[0]), 0, "add fd");
	is_int(em_reactor_add_fd(r, p[0], EPOLLIN, on_pipe, &p[0]), -EEXIST, "double add is -EEXIST");
	ok(write(p[1], "ab", 2) == 2, "write pipe");
	for (int i = 0; i < 3 && pipe_reads < 2; i++)
		em_reactor_run_once(r, 100);
	is_int(pipe_reads, 2, "fd callback ran for each byte");
	is_int(em_reactor_del_fd(r, p[0]), 0, "del fd");
	is_int(em_reactor_del_fd(r, p[0]), -ENOENT, "del unknown fd is -ENOENT");

	/* Cross-thread messages: all delivered, in order per sender. */
	pthread_t th[2];
	struct sender s[2] = { { r, 0 }, { r, 1 } };
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, send_many, &s[i]);
	start = em_now_ms();
	while (received < 2 * SENDS && em_now_ms() - start < 10000)
		em_reactor_run_once(r, 100);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	is_int(received, 2 * SENDS, "every message delivered");
	ok(in_order, "messages from one sender arrive in send order");

	/* Pollers keep the loop hot while they report work. */
	struct em_poller *pl;
	is_int(em_reactor_add_poller(r, poller, NULL, &pl), 0, "add poller");
	start = em_now_ms();
	/* A sleeping iteration would wait the full 10 s; a loaded machine never
	 * makes five busy ones take that long. */
	for (int i = 0; i < 5; i++)
		em_reactor_run_once(r, 10000);
	ok(em_now_ms() - start < 10000, "busy poller means no sleeping");
	is_int(polls, 5, "poller ran every iteration");
	start = em_now_ms();
	em_reactor_run_once(r, 200);
	ok(em_now_ms() - start >= 150, "idle poller lets the loop sleep");
	em_reactor_del_poller(r, pl);

	/* Stop from another thread wakes a sleeping reactor. */
	pthread_t st;
	pthread_create(&st, NULL, stopper, r);
	start = em_now_ms();
	is_int(em_reactor_run(r), 0, "run returns after stop");
	pthread_join(st, NULL);
	ok(em_now_ms() - start < 20000, "stop woke the sleeping loop");

	close(p[0]);
	close(p[1]);
	em_reactor_destroy(r);
	return tap_done();
}
