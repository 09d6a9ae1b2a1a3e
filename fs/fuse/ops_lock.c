/* Locks: fcntl record locks and flock, kept by the metadata service so they
 * exclude across every mount (fs/meta/lock.c). The owner is the kernel's
 * lock owner on this mount's client id. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/file.h>
#include <time.h>

#include "fs/fuse/internal.h"
#include "fs/meta/client.h"

/* A blocked F_SETLKW or flock polls: first quickly, then every 100 ms. */
#define WAIT_FIRST_MS 2
#define WAIT_MAX_MS 100

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int take(fuse_req_t req, fuse_ino_t ino, struct em_meta_lock *l, bool wait,
		struct em_meta_lock_range *conflict)
{
	struct em_fuse *m = em_fuse_of(req);
	struct em_meta_client *mc = em_fs_meta(m->fs);
	struct em_meta_cred cr;
	em_fuse_cred(req, &cr);
	l->client = em_meta_client_id(mc);
	/* From the first lock on, the keeper renews the client for good: a
	 * lock lives as long as its client's lease. */
	if (l->type != EM_META_LOCK_UN && !l->test && !atomic_exchange(&m->locks_used, true))
		em_fs_keep_alive(m->fs);
	unsigned ms = WAIT_FIRST_MS;
	for (;;) {
		int rc = em_meta_client_lock(mc, &cr, ino, l, conflict);
		if (rc != -EAGAIN || !wait)
			return rc;
		if (fuse_req_interrupted(req))
			return -EINTR;
		sleep_ms(ms);
		ms = ms * 2 > WAIT_MAX_MS ? WAIT_MAX_MS : ms * 2;
	}
}

static uint8_t lock_type(short t)
{
	return t == F_RDLCK ? EM_META_LOCK_RD : t == F_WRLCK ? EM_META_LOCK_WR : EM_META_LOCK_UN;
}

/* The kernel hands absolute ranges (l_whence SEEK_SET); l_len 0 is "to EOF". */
static void posix_lock(struct em_meta_lock *l, struct fuse_file_info *fi, const struct flock *fl)
{
	*l = (struct em_meta_lock){ .owner = fi->lock_owner, .start = (uint64_t)fl->l_start,
				    .end = fl->l_len ? (uint64_t)(fl->l_start + fl->l_len - 1)
						     : UINT64_MAX,
				    .pid = (uint32_t)fl->l_pid, .type = lock_type(fl->l_type),
				    .kind = EM_META_LOCK_POSIX };
}

void em_fuse_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl)
{
	struct em_meta_lock l;
	struct em_meta_lock_range c;
	posix_lock(&l, fi, fl);
	l.test = true;
	int rc = take(req, ino, &l, false, &c);
	if (rc) {
		em_fuse_reply_err(req, rc);
		return;
	}
	struct flock out = *fl;
	if (c.type == EM_META_LOCK_UN) {
		out.l_type = F_UNLCK;
	} else {
		out.l_type = c.type == EM_META_LOCK_RD ? F_RDLCK : F_WRLCK;
		out.l_whence = SEEK_SET;
		out.l_start = (off_t)c.start;
		out.l_len = c.end == UINT64_MAX ? 0 : (off_t)(c.end - c.start + 1);
		out.l_pid = (pid_t)c.pid;
	}
	fuse_reply_lock(req, &out);
}

void em_fuse_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *fl,
		   int sleep)
{
	struct em_meta_lock l;
	posix_lock(&l, fi, fl);
	em_fuse_reply_err(req, take(req, ino, &l, sleep != 0, NULL));
}

void em_fuse_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	int what = op & ~LOCK_NB;
	struct em_meta_lock l = { .owner = fi->lock_owner, .start = 0, .end = UINT64_MAX,
				  .type = what == LOCK_SH   ? EM_META_LOCK_RD
					  : what == LOCK_EX ? EM_META_LOCK_WR
							    : EM_META_LOCK_UN,
				  .kind = EM_META_LOCK_FLOCK };
	int rc = take(req, ino, &l, !(op & LOCK_NB), NULL);
	/* flock(2) says EWOULDBLOCK, which is EAGAIN on Linux. */
	em_fuse_reply_err(req, rc);
}

void em_fuse_unlock_owner(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool flock)
{
	struct em_fuse *m = em_fuse_of(req);
	if (!atomic_load(&m->locks_used))
		return;
	struct em_meta_lock l = { .owner = fi->lock_owner, .start = 0, .end = UINT64_MAX,
				  .type = EM_META_LOCK_UN,
				  .kind = flock ? EM_META_LOCK_FLOCK : EM_META_LOCK_POSIX };
	take(req, ino, &l, false, NULL);
}
