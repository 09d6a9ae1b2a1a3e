#include "net/core/reactor.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ember/errors.h"
#include "net/core/log.h"

#define MAX_EVENTS 64

struct fd_handler {
	int fd;
	bool dead;
	em_fd_cb cb;
	void *arg;
	struct fd_handler *next_dead;
};

struct em_poller {
	em_poller_fn fn;
	void *arg;
	bool dead;
};

struct em_timer {
	uint64_t due_ms;
	uint64_t seq; /* ties broken by creation order */
	size_t heap_idx;
	em_timer_fn fn;
	void *arg;
};

struct msg {
	struct msg *next;
	em_msg_fn fn;
	void *arg;
};

struct em_reactor {
	char name[32];
	int epfd;
	int evfd;
	atomic_bool stop;

	struct fd_handler **fds; /* indexed by fd */
	size_t n_fds;
	struct fd_handler *dead_fds; /* freed at the end of an iteration */

	struct em_poller **pollers;
	size_t n_pollers, cap_pollers;
	bool pollers_dirty;

	struct em_timer **heap;
	size_t n_timers, cap_timers;
	uint64_t timer_seq;

	/* Multi-producer stack of messages; the owner takes it whole. */
	_Atomic(struct msg *) inbox;
};

static _Thread_local struct em_reactor *current;

uint64_t em_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_wakeup(void *arg, uint32_t events)
{
	struct em_reactor *r = arg;
	uint64_t v;
	/* Level-triggered: draining the counter ends the readiness. */
	if (read(r->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		EM_WARN("reactor", "%s: eventfd read: %s", r->name, strerror(errno));
}

int em_reactor_create(const char *name, struct em_reactor **out)
{
	struct em_reactor *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->epfd < 0 || r->evfd < 0) {
		int e = -errno;
		EM_ERR("reactor", "%s: cannot create epoll/eventfd: %s", name, em_strerror(e));
		if (r->epfd >= 0)
			close(r->epfd);
		if (r->evfd >= 0)
			close(r->evfd);
		free(r);
		return e;
	}
	int rc = em_reactor_add_fd(r, r->evfd, EPOLLIN, on_wakeup, r);
	if (rc) {
		close(r->epfd);
		close(r->evfd);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void free_dead_fds(struct em_reactor *r)
{
	while (r->dead_fds) {
		struct fd_handler *h = r->dead_fds;
		r->dead_fds = h->next_dead;
		free(h);
	}
}

void em_reactor_destroy(struct em_reactor *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_fds; i++)
		free(r->fds[i]);
	free_dead_fds(r);
	for (size_t i = 0; i < r->n_pollers; i++)
		free(r->pollers[i]);
	for (size_t i = 0; i < r->n_timers; i++)
		free(r->heap[i]);
	struct msg *m = atomic_exchange(&r->inbox, NULL);
	while (m) {
		struct msg *next = m->next;
		free(m);
		m = next;
	}
	free(r->fds);
	free(r->pollers);
	free(r->heap);
	close(r->epfd);
	close(r->evfd);
	if (current == r)
		current = NULL;
	free(r);
}

const char *em_reactor_name(const struct em_reactor *r)
{
	return r->name;
}

struct em_reactor *em_reactor_current(void)
{
	return current;
}

/* ---- descriptors -------------------------------------------------------- */

int em_reactor_add_fd(struct em_reactor *r, int fd, uint32_t events, em_fd_cb cb, void *arg)
{
	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= r->n_fds) {
		size_t n = r->n_fds ? r->n_fds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct fd_handler **p = realloc(r->fds, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + r->n_fds, 0, (n - r->n_fds) * sizeof(*p));
		r->fds = p;
		r->n_fds = n;
	}
	if (r->fds[fd])
		return -EEXIST;
	struct fd_handler *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->cb = cb;
	h->arg = arg;
	struct epoll_event ev = { .events = events, .data.ptr = h };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = -errno;
		free(h);
		return e;
	}
	r->fds[fd] = h;
	return 0;
}

int em_reactor_mod_fd(struct em_reactor *r, int fd, uint32_t events)
{
	if (fd < 0 || (size_t)fd >= r->n_fds || !r->fds[fd])
		return -ENOENT;
	struct epoll_event ev = { .events = events, .data.ptr = r->fds[fd] };
	return epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int em_reactor_del_fd(struct em_reactor *r, int fd)
{
	if (fd < 0 || (size_t)fd >= r->n_fds || !r->fds[fd])
		return -ENOENT;
	struct fd_handler *h = r->fds[fd];
	r->fds[fd] = NULL;
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* The current epoll batch may still point at h: free it afterwards. */
	h->dead = true;
	h->next_dead = r->dead_fds;
	r->dead_fds = h;
	return 0;
}

/* ---- pollers ------------------------------------------------------------ */

int em_reactor_add_poller(struct em_reactor *r, em_poller_fn fn, void *arg,
			  struct em_poller **out)
{
	if (r->n_pollers == r->cap_pollers) {
		size_t n = r->cap_pollers ? r->cap_pollers * 2 : 8;
		struct em_poller **p = realloc(r->pollers, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->pollers = p;
		r->cap_pollers = n;
	}
	struct em_poller *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	r->pollers[r->n_pollers++] = p;
	if (out)
		*out = p;
	return 0;
}

void em_reactor_del_poller(struct em_reactor *r, struct em_poller *p)
{
	p->dead = true;
	r->pollers_dirty = true;
}

static void compact_pollers(struct em_reactor *r)
{
	size_t j = 0;
	for (size_t i = 0; i < r->n_pollers; i++) {
		if (r->pollers[i]->dead)
			free(r->pollers[i]);
		else
			r->pollers[j++] = r->pollers[i];
	}
	r->n_pollers = j;
	r->pollers_dirty = false;
}

/* ---- timers: a binary min-heap on (due, seq) ------------------------------ */

static bool timer_before(const struct em_timer *a, const struct em_timer *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(struct em_reactor *r, size_t i, struct em_timer *t)
{
	r->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct em_reactor *r, size_t i)
{
	struct em_timer *t = r->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, r->heap[parent]))
			break;
		heap_set(r, i, r->heap[parent]);
		i = parent;
	}
	heap_set(r, i, t);
}

static void heap_down(struct em_reactor *r, size_t i)
{
	struct em_timer *t = r->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= r->n_timers)
			break;
		if (c + 1 < r->n_timers && timer_before(r->heap[c + 1], r->heap[c]))
			c++;
		if (!timer_before(r->heap[c], t))
			break;
		heap_set(r, i, r->heap[c]);
		i = c;
	}
	heap_set(r, i, t);
}

static void heap_remove(struct em_reactor *r, size_t i)
{
	struct em_timer *last = r->heap[--r->n_timers];
	if (i == r->n_timers)
		return;
	heap_set(r, i, last);
	heap_down(r, i);
	heap_up(r, last->heap_idx);
}

int em_reactor_timer(struct em_reactor *r, uint64_t delay_ms, em_timer_fn fn, void *arg,
		     struct em_timer **out)
{
	if (r->n_timers == r->cap_timers) {
		size_t n = r->cap_timers ? r->cap_timers * 2 : 16;
		struct em_timer **h = realloc(r->heap, n * sizeof(*h));
		if (!h)
			return -ENOMEM;
		r->heap = h;
		r->cap_timers = n;
	}
	struct em_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->due_ms = em_now_ms() + delay_ms;
	t->seq = r->timer_seq++;
	t->fn = fn;
	t->arg = arg;
	heap_set(r, r->n_timers++, t);
	heap_up(r, t->heap_idx);
	if (out)
		*out = t;
	return 0;
}

void em_reactor_timer_cancel(struct em_reactor *r, struct em_timer *t)
{
	heap_remove(r, t->heap_idx);
	free(t);
}

static int run_timers(struct em_reactor *r)
{
	int n = 0;
	uint64_t now = em_now_ms();
	while (r->n_timers > 0 && r->heap[0]->due_ms <= now) {
		struct em_timer *t = r->heap[0];
		heap_remove(r, 0);
		t->fn(t->arg);
		free(t);
		n++;
	}
	return n;
}

/* ---- messages ----------------------------------------------------------- */

int em_reactor_send(struct em_reactor *r, em_msg_fn fn, void *arg)
{
	struct msg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->arg = arg;
	struct msg *head = atomic_load_explicit(&r->inbox, memory_order_relaxed);
	do {
		m->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&r->inbox, &head, m, memory_order_release,
							memory_order_relaxed));
	/* Only the push onto an empty inbox needs to wake the owner. */
	if (head == NULL) {
		uint64_t one = 1;
		if (write(r->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			EM_WARN("reactor", "%s: eventfd write: %s", r->name, strerror(errno));
	}
	return 0;
}

static int run_messages(struct em_reactor *r)
{
	struct msg *m = atomic_exchange_explicit(&r->inbox, NULL, memory_order_acquire);
	if (!m)
		return 0;
	/* The stack is newest first: reverse it to run in send order. */
	struct msg *fifo = NULL;
	while (m) {
		struct msg *next = m->next;
		m->next = fifo;
		fifo = m;
		m = next;
	}
	int n = 0;
	while (fifo) {
		struct msg *next = fifo->next;
		fifo->fn(fifo->arg);
		free(fifo);
		fifo = next;
		n++;
	}
	return n;
}

/* ---- the loop ----------------------------------------------------------- */

void em_reactor_stop(struct em_reactor *r)
{
	atomic_store(&r->stop, true);
	uint64_t one = 1;
	if (write(r->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		EM_WARN("reactor", "%s: eventfd write: %s", r->name, strerror(errno));
}

static int sleep_budget(struct em_reactor *r, int timeout_ms)
{
	if (atomic_load_explicit(&r->inbox, memory_order_relaxed) != NULL)
		return 0;
	if (r->n_timers == 0)
		return timeout_ms;
	uint64_t now = em_now_ms(), due = r->heap[0]->due_ms;
	int until = due <= now ? 0 : (int)(due - now > INT32_MAX ? INT32_MAX : due - now);
	return timeout_ms < 0 || until < timeout_ms ? until : timeout_ms;
}

int em_reactor_run_once(struct em_reactor *r, int timeout_ms)
{
	int work = 0;
	struct em_reactor *prev = current;
	current = r;

	for (size_t i = 0; i < r->n_pollers; i++) {
		struct em_poller *p = r->pollers[i];
		if (!p->dead) {
			int w = p->fn(p->arg);
			if (w > 0)
				work += w;
		}
	}
	if (r->pollers_dirty)
		compact_pollers(r);

	struct epoll_event evs[MAX_EVENTS];
	int wait = work > 0 ? 0 : sleep_budget(r, timeout_ms);
	int n = epoll_wait(r->epfd, evs, MAX_EVENTS, wait);
	if (n < 0 && errno != EINTR) {
		int e = -errno;
		EM_ERR("reactor", "%s: epoll_wait: %s", r->name, em_strerror(e));
		current = prev;
		return e;
	}
	for (int i = 0; i < n; i++) {
		struct fd_handler *h = evs[i].data.ptr;
		if (!h->dead) {
			h->cb(h->arg, evs[i].events);
			if (h->fd != r->evfd)
				work++;
		}
	}
	free_dead_fds(r);
	work += run_messages(r);
	work += run_timers(r);
	current = prev;
	return work;
}

int em_reactor_run(struct em_reactor *r)
{
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		int rc = em_reactor_run_once(r, -1);
		if (rc < 0)
			return rc;
	}
	atomic_store(&r->stop, false);
	return 0;
}
