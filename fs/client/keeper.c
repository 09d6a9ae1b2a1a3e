/* The mount's session keeper: a thread that keeps this client's write
 * sessions alive while it has any (one RENEW covers them all, keyed by the
 * metadata client's id) and delivers the closes that failed, so a
 * metadata server restarting under a writer never leaves its length
 * behind. A close that keeps failing is retried until it lands or the
 * session is gone (-EBADF: the upkeep recovered it after the lease). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "ember/errors.h"
#include "fs/client/internal.h"
#include "net/core/log.h"

/* Until the first answer says how long the lease is. */
#define KEEP_FIRST_MS 1000
#define KEEP_MIN_MS 100

struct em_fs_close_retry {
	struct em_meta_cred cred;
	uint64_t ino, session, length;
	uint32_t flags;
	struct em_fs_close_retry *next;
};

static bool close_done(int rc)
{
	return rc == 0 || rc == -EBADF || rc == -ENOENT;
}

static void renew(struct em_fs *fs)
{
	uint32_t lease = 0;
	int rc = em_meta_client_renew(fs->meta, &lease);
	if (rc) {
		EM_WARN_LIMITED("fs", "renewing write sessions: %s", em_strerror(rc));
		return;
	}
	pthread_mutex_lock(&fs->keep_mu);
	fs->lease_ms = lease;
	pthread_mutex_unlock(&fs->keep_mu);
}

/* Tries every queued close once; the list is ours while we work on it. */
static void retry_closes(struct em_fs *fs)
{
	pthread_mutex_lock(&fs->keep_mu);
	struct em_fs_close_retry *list = fs->retries;
	fs->retries = NULL;
	pthread_mutex_unlock(&fs->keep_mu);
	struct em_fs_close_retry *keep = NULL;
	while (list) {
		struct em_fs_close_retry *r = list;
		list = r->next;
		int rc = em_meta_client_close(fs->meta, &r->cred, r->ino, r->session, r->length,
						  r->flags);
		if (close_done(rc)) {
			EM_INFO("fs", "inode %llu: close delivered%s", (unsigned long long)r->ino,
				rc ? " (session already recovered)" : "");
			free(r);
			continue;
		}
		r->next = keep;
		keep = r;
	}
	pthread_mutex_lock(&fs->keep_mu);
	while (keep) {
		struct em_fs_close_retry *r = keep;
		keep = r->next;
		r->next = fs->retries;
		fs->retries = r;
	}
	pthread_mutex_unlock(&fs->keep_mu);
}

static void *keeper(void *arg)
{
	struct em_fs *fs = arg;
	pthread_mutex_lock(&fs->keep_mu);
	while (!fs->keep_stop) {
		uint32_t ms = fs->lease_ms ? fs->lease_ms / 4 : KEEP_FIRST_MS;
		if (ms < KEEP_MIN_MS)
			ms = KEEP_MIN_MS;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)ms * 1000000;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		while (!fs->keep_stop && pthread_cond_timedwait(&fs->keep_cv, &fs->keep_mu, &ts) == 0)
			;
		if (fs->keep_stop)
			break;
		bool busy = fs->sessions || fs->retries || fs->keep_alive;
		bool retry = fs->retries != NULL;
		pthread_mutex_unlock(&fs->keep_mu);
		if (busy)
			renew(fs);
		if (retry)
			retry_closes(fs);
		pthread_mutex_lock(&fs->keep_mu);
	}
	pthread_mutex_unlock(&fs->keep_mu);
	return NULL;
}

int em_fs_keeper_start(struct em_fs *fs)
{
	pthread_mutex_init(&fs->keep_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->keep_cv, &ca);
	pthread_condattr_destroy(&ca);
	fs->keep_init = true;
	int rc = -pthread_create(&fs->keep_th, NULL, keeper, fs);
	fs->keep_running = rc == 0;
	return rc;
}

void em_fs_keeper_stop(struct em_fs *fs)
{
	if (!fs->keep_init)
		return;
	if (fs->keep_running) {
		pthread_mutex_lock(&fs->keep_mu);
		fs->keep_stop = true;
		pthread_cond_broadcast(&fs->keep_cv);
		pthread_mutex_unlock(&fs->keep_mu);
		pthread_join(fs->keep_th, NULL);
		/* One last try for what is still queued. */
		retry_closes(fs);
	}
	size_t left = 0;
	while (fs->retries) {
		struct em_fs_close_retry *r = fs->retries;
		fs->retries = r->next;
		free(r);
		left++;
	}
	if (left)
		EM_WARN("fs", "%zu close(s) not delivered: their sessions expire after the lease "
			"and the lengths are recovered from storage", left);
	pthread_cond_destroy(&fs->keep_cv);
	pthread_mutex_destroy(&fs->keep_mu);
}

void em_fs_keep_alive(struct em_fs *fs)
{
	pthread_mutex_lock(&fs->keep_mu);
	fs->keep_alive = true;
	pthread_mutex_unlock(&fs->keep_mu);
}

void em_fs_sessions_add(struct em_fs *fs, int delta)
{
	pthread_mutex_lock(&fs->keep_mu);
	fs->sessions = (unsigned)((int)fs->sessions + delta);
	pthread_mutex_unlock(&fs->keep_mu);
}

int em_fs_close_session(struct em_fs *fs, const struct em_meta_cred *cr, uint64_t ino,
			uint64_t session, uint64_t length, uint32_t flags)
{
	int rc = em_meta_client_close(fs->meta, cr, ino, session, length, flags);
	if (close_done(rc))
		return rc;
	struct em_fs_close_retry *r = malloc(sizeof(*r));
	if (!r)
		return rc;
	*r = (struct em_fs_close_retry){ *cr, ino, session, length, flags, NULL };
	pthread_mutex_lock(&fs->keep_mu);
	r->next = fs->retries;
	fs->retries = r;
	pthread_mutex_unlock(&fs->keep_mu);
	EM_WARN_LIMITED("fs", "inode %llu: closing write session: %s; retrying in the background",
			(unsigned long long)ino, em_strerror(rc));
	return 0;
}
