/* Reactors: one event loop per thread, owning everything it touches.
 *
 * A reactor watches file descriptors (sockets, verbs completion channels,
 * rdma_cm event channels, io_uring eventfds), runs pollers and timers, and
 * takes work from other threads through em_reactor_send(). Every callback runs
 * on the reactor's own thread, so state reached only from callbacks needs no
 * lock.
 *
 * Adaptive polling: while any poller reports work (returns > 0) the reactor
 * keeps spinning through its pollers without sleeping; once they are all idle
 * it sleeps in epoll_wait until a descriptor is ready, a message arrives or a
 * timer is due. It never burns a core doing nothing.
 *
 * Only em_reactor_send() and em_reactor_stop() may be called from other
 * threads; everything else belongs to the owning thread.
 */
#ifndef EMBER_NET_CORE_REACTOR_H
#define EMBER_NET_CORE_REACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct em_reactor;
struct em_poller;
struct em_timer;

/* events: the EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits that fired. */
typedef void (*em_fd_cb)(void *arg, uint32_t events);
/* Returns how much work it did; > 0 keeps the reactor polling hot. */
typedef int (*em_poller_fn)(void *arg);
typedef void (*em_msg_fn)(void *arg);
typedef void (*em_timer_fn)(void *arg);

int em_reactor_create(const char *name, struct em_reactor **out);
/* Destroys a stopped reactor; unsent messages are dropped, so drain first. */
void em_reactor_destroy(struct em_reactor *r);
const char *em_reactor_name(const struct em_reactor *r);

/* The reactor running on this thread, or NULL. */
struct em_reactor *em_reactor_current(void);

/* Runs until em_reactor_stop(); returns 0 or a negative errno. */
int em_reactor_run(struct em_reactor *r);
/* One iteration: run ready work, waiting at most timeout_ms (-1: no limit)
 * when idle. Returns the amount of work done (>= 0) or a negative errno. */
int em_reactor_run_once(struct em_reactor *r, int timeout_ms);
/* Any thread. The loop finishes its iteration and em_reactor_run returns. */
void em_reactor_stop(struct em_reactor *r);

int em_reactor_add_fd(struct em_reactor *r, int fd, uint32_t events, em_fd_cb cb, void *arg);
int em_reactor_mod_fd(struct em_reactor *r, int fd, uint32_t events);
int em_reactor_del_fd(struct em_reactor *r, int fd);

int em_reactor_add_poller(struct em_reactor *r, em_poller_fn fn, void *arg,
			  struct em_poller **out);
void em_reactor_del_poller(struct em_reactor *r, struct em_poller *p);

/* One-shot timer after delay_ms; the handle is valid until it fires or is
 * cancelled. Cancelling from within its own callback is not allowed. */
int em_reactor_timer(struct em_reactor *r, uint64_t delay_ms, em_timer_fn fn, void *arg,
		     struct em_timer **out);
void em_reactor_timer_cancel(struct em_reactor *r, struct em_timer *t);

/* Any thread: run fn(arg) on r's thread, in send order per sender. Lock-free;
 * wakes a sleeping reactor through its eventfd. Returns 0 or -ENOMEM. */
int em_reactor_send(struct em_reactor *r, em_msg_fn fn, void *arg);

/* Monotonic milliseconds, the clock of timers and deadlines. */
uint64_t em_now_ms(void);

#endif
