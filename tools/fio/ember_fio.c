/* A fio external ioengine over Ember's native ring API (include/ember/client.h).
 *
 *   fio --ioengine=external:/path/libember_fio.so --mgmtd=URL --meta=URL \
 *       --secret_file=PATH --filename=/dir/file ...
 *
 * fio maps onto the ring one to one: ->queue preps a request, ->commit
 * submits the batch, ->getevents waits on the ring, ->event hands back the
 * io_u. The engine allocates fio's I/O buffers itself (->iomem_alloc) so it
 * can register them with em_iov_register exactly once, for the job's life;
 * every io_u buffer lies inside that one region.
 *
 * Each fio job (process or thread) has its own client session, opened in
 * ->init: a session has I/O threads, which would not survive fio's fork if
 * the parent opened it. File names are paths in the Ember file system; a
 * relative name is taken from the root.
 *
 * Built only against the configured source tree of the very fio that loads
 * it (-Dfio_source=DIR, tools/fio/fetch-fio-src.sh): fio has no stable
 * plugin ABI, so struct thread_data, io_u and fio_file must match.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* fio's headers come from -isystem, so their own warnings stay theirs. */
#include <fio.h>
#include <optgroup.h>

#include "ember/client.h"

#ifndef EM_FIO_VERSION
#error "EM_FIO_VERSION (the fio version the headers belong to) must be defined"
#endif

struct em_fio_options {
	void *pad; /* fio treats an option at offset 0 as having no storage */
	char *mgmtd;
	char *meta;
	char *secret_file;
	unsigned int io_threads;
	unsigned int io_timeout;
};

static struct fio_option options[] = {
	{
		.name = "mgmtd",
		.lname = "Ember cluster manager",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct em_fio_options, mgmtd),
		.help = "mgmtd URL(s), comma-separated (default $EMBER_MGMTD or "
			"tcp://127.0.0.1:9100)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "meta",
		.lname = "Ember metadata servers",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct em_fio_options, meta),
		.help = "ember-meta URL(s), comma-separated (default $EMBER_META or "
			"tcp://127.0.0.1:9101)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "secret_file",
		.lname = "Ember cluster secret",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct em_fio_options, secret_file),
		.help = "file holding the cluster secret (default $EMBER_SECRET_FILE or "
			"/etc/ember/secret)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "io_threads",
		.lname = "Ember client I/O threads",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct em_fio_options, io_threads),
		.def = "0",
		.help = "chunk pieces in flight per job (0: the client's default, 8)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "io_timeout",
		.lname = "Ember piece timeout",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct em_fio_options, io_timeout),
		.def = "0",
		.help = "milliseconds one chunk piece retries before the I/O fails (0: 60000)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = NULL,
	},
};

/* One per job. */
struct em_fio {
	struct em_client *client;
	struct em_ring *ring;
	struct em_iov *iov;
	void *mem;             /* fio's I/O buffers, mmap'ed by iomem_alloc */
	size_t mem_len;
	unsigned queued;       /* prepped, not yet submitted */
	struct em_cqe *cqes;   /* the last getevents' completions, for ->event */
};

static const char *em_fio_env_or(const char *opt, const char *env, const char *def)
{
	if (opt && *opt)
		return opt;
	const char *v = getenv(env);
	return v && *v ? v : def;
}

/* em_client_open keeps the secret in a static buffer while reading it, so
 * jobs run as threads (thread=1) open their sessions one at a time. */
static pthread_mutex_t em_fio_open_mu = PTHREAD_MUTEX_INITIALIZER;

static int em_fio_client_open(struct thread_data *td, struct em_client **out)
{
	struct em_fio_options *eo = td->eo;
	struct em_client_opts o = {
		.mgmtd = em_fio_env_or(eo->mgmtd, "EMBER_MGMTD", "tcp://127.0.0.1:9100"),
		.meta = em_fio_env_or(eo->meta, "EMBER_META", "tcp://127.0.0.1:9101"),
		.secret_file = em_fio_env_or(eo->secret_file, "EMBER_SECRET_FILE",
					     "/etc/ember/secret"),
		.io_threads = eo->io_threads,
		.timeout_ms = eo->io_timeout,
	};
	pthread_mutex_lock(&em_fio_open_mu);
	int rc = em_client_open(&o, out);
	pthread_mutex_unlock(&em_fio_open_mu);
	if (rc) {
		log_err("ember: cannot open a session with mgmtd %s, meta %s, secret %s: %s\n",
			o.mgmtd, o.meta, o.secret_file, strerror(-rc));
		td_verror(td, -rc, "em_client_open");
	}
	return rc;
}

/* fio's names are relative unless the job says otherwise (directory=,
 * filename=/...); Ember paths are absolute. */
static void em_fio_path(const struct fio_file *f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", f->file_name[0] == '/' ? "" : "/", f->file_name);
}

/* Sets f->real_file_size, which fio takes as the range it may address.
 * A job that writes, given size=, keeps fio's diskless default (-1:
 * unbounded), since writes create and extend the file; otherwise it is the
 * file's size (0 when it does not exist yet), so reads stay inside it. */
static int em_fio_stat(struct thread_data *td, struct em_client *c, struct fio_file *f)
{
	if (td_write(td) && td->o.size) {
		f->real_file_size = -1ULL;
		fio_file_set_size_known(f);
		return 0;
	}
	char path[PATH_MAX + 1];
	em_fio_path(f, path, sizeof(path));
	struct em_client_file *cf;
	int rc = em_client_file_open(c, path, O_RDONLY, 0, &cf);
	if (rc == -ENOENT) {
		f->real_file_size = 0;
	} else if (rc) {
		log_err("ember: %s: %s\n", path, strerror(-rc));
		td_verror(td, -rc, "em_client_file_open");
		return rc;
	} else {
		f->real_file_size = em_client_file_size(cf);
		em_client_file_close(cf);
	}
	fio_file_set_size_known(f);
	return 0;
}

/* fio sizes files in the parent before it forks the jobs (create_serialize)
 * where no session exists yet: those lookups use a short-lived one. */
static int em_fio_setup(struct thread_data *td)
{
	struct em_fio *d = td->io_ops_data;
	struct em_client *c = d ? d->client : NULL;
	bool temp = !c;
	if (temp && em_fio_client_open(td, &c))
		return 1;
	struct fio_file *f;
	unsigned i;
	int rc = 0;
	for_each_file(td, f, i) {
		if (!fio_file_size_known(f) && (rc = em_fio_stat(td, c, f)))
			break;
	}
	if (temp)
		em_client_close(c);
	return rc ? 1 : 0;
}

static int em_fio_get_file_size(struct thread_data *td, struct fio_file *f)
{
	if (fio_file_size_known(f))
		return 0;
	struct em_fio *d = td->io_ops_data;
	struct em_client *c = d ? d->client : NULL;
	bool temp = !c;
	if (temp && em_fio_client_open(td, &c))
		return 1;
	int rc = em_fio_stat(td, c, f);
	if (temp)
		em_client_close(c);
	return rc ? 1 : 0;
}

static void em_fio_cleanup(struct thread_data *td);

static int em_fio_init(struct thread_data *td)
{
	/* A module built against other headers would misread every struct. */
	if (strcmp(fio_version_string, EM_FIO_VERSION) != 0) {
		log_err("ember: engine built for %s, loaded by %s; rebuild with "
			"-Dfio_source= pointing at this fio's source\n",
			EM_FIO_VERSION, fio_version_string);
		td_verror(td, EINVAL, "fio version");
		return 1;
	}
	struct em_fio *d = calloc(1, sizeof(*d));
	if (!d || !(d->cqes = calloc(td->o.iodepth, sizeof(*d->cqes)))) {
		free(d);
		td_verror(td, ENOMEM, "calloc");
		return 1;
	}
	td->io_ops_data = d;
	if (em_fio_client_open(td, &d->client))
		goto fail;
	int rc = em_ring_create(d->client, td->o.iodepth, &d->ring);
	if (rc) {
		td_verror(td, -rc, "em_ring_create");
		goto fail;
	}
	return 0;
fail:
	em_fio_cleanup(td);
	return 1;
}

/* After every file is closed and iomem_free ran (fio's order). */
static void em_fio_cleanup(struct thread_data *td)
{
	struct em_fio *d = td->io_ops_data;
	if (!d)
		return;
	em_ring_destroy(d->ring);
	em_iov_deregister(d->iov);
	if (d->mem)
		munmap(d->mem, d->mem_len);
	em_client_close(d->client);
	free(d->cqes);
	free(d);
	td->io_ops_data = NULL;
}

/* fio's I/O buffers: mapped here (page-aligned, as RDMA registration
 * wants) and registered once; total already includes fio's slack for
 * aligning the buffers inside. */
static int em_fio_iomem_alloc(struct thread_data *td, size_t total)
{
	struct em_fio *d = td->io_ops_data;
	void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		td_verror(td, errno, "mmap");
		return 1;
	}
	int rc = em_iov_register(d->client, p, total, &d->iov);
	if (rc) {
		munmap(p, total);
		td_verror(td, -rc, "em_iov_register");
		return 1;
	}
	d->mem = p;
	d->mem_len = total;
	td->orig_buffer = p;
	return 0;
}

static void em_fio_iomem_free(struct thread_data *td)
{
	struct em_fio *d = td->io_ops_data;
	if (!d || !d->mem)
		return;
	em_iov_deregister(d->iov);
	d->iov = NULL;
	munmap(d->mem, d->mem_len);
	d->mem = NULL;
	td->orig_buffer = NULL;
}

static int em_fio_open_file(struct thread_data *td, struct fio_file *f)
{
	struct em_fio *d = td->io_ops_data;
	char path[PATH_MAX + 1];
	em_fio_path(f, path, sizeof(path));
	int flags = O_RDONLY;
	if (td_write(td) || td_trim(td)) {
		flags = td_read(td) || td->o.do_verify ? O_RDWR : O_WRONLY;
		if (td->o.allow_create)
			flags |= O_CREAT;
	}
	struct em_client_file *cf;
	int rc = em_client_file_open(d->client, path, flags, 0644, &cf);
	if (rc) {
		log_err("ember: open %s: %s\n", path, strerror(-rc));
		td_verror(td, -rc, "em_client_file_open");
		return 1;
	}
	FILE_SET_ENG_DATA(f, cf);
	return 0;
}

static int em_fio_close_file(struct thread_data *td, struct fio_file *f)
{
	struct em_client_file *cf = FILE_ENG_DATA(f);
	if (!cf)
		return 0;
	FILE_SET_ENG_DATA(f, NULL);
	/* Publishes the length, so the next job (or a mount) sees the data. */
	int rc = em_client_file_close(cf);
	if (rc) {
		log_err("ember: close %s: %s\n", f->file_name, strerror(-rc));
		td_verror(td, -rc, "em_client_file_close");
		return 1;
	}
	return 0;
}

/* Without this fio would unlink(2) a local file of the same name. */
static int em_fio_unlink_file(struct thread_data *td, struct fio_file *f)
{
	log_err("ember: unlink of %s is not in the native API; remove it through a mount\n",
		f->file_name);
	return EOPNOTSUPP;
}

/* Nothing to drop: the client caches no file data. */
static int em_fio_invalidate(struct thread_data *td, struct fio_file *f)
{
	return 0;
}

static enum fio_q_status em_fio_queue(struct thread_data *td, struct io_u *io_u)
{
	struct em_fio *d = td->io_ops_data;
	fio_ro_check(td, io_u);
	switch (io_u->ddir) {
	case DDIR_READ:
	case DDIR_WRITE:
		break;
	case DDIR_SYNC:
	case DDIR_DATASYNC:
		/* A write completes only once every replica committed it;
		 * the length is published when the file is closed. */
		io_u->error = 0;
		return FIO_Q_COMPLETED;
	default:
		io_u->error = EOPNOTSUPP;
		return FIO_Q_COMPLETED;
	}
	int slot = em_ring_prep(d->ring, d->iov, io_u->ddir == DDIR_WRITE,
				FILE_ENG_DATA(io_u->file), io_u->offset, io_u->xfer_buf,
				io_u->xfer_buflen, io_u);
	if (slot == -EBUSY)
		return FIO_Q_BUSY;
	if (slot < 0) {
		io_u->error = -slot;
		return FIO_Q_COMPLETED;
	}
	d->queued++;
	return FIO_Q_QUEUED;
}

static int em_fio_commit(struct thread_data *td)
{
	struct em_fio *d = td->io_ops_data;
	if (!d->queued)
		return 0;
	int n = em_ring_submit(d->ring);
	if (n < 0) {
		td_verror(td, -n, "em_ring_submit");
		return n;
	}
	d->queued = 0;
	return 0;
}

static int em_fio_getevents(struct thread_data *td, unsigned int min, unsigned int max,
			    const struct timespec *t)
{
	struct em_fio *d = td->io_ops_data;
	int timeout_ms = -1;
	if (t)
		timeout_ms = (int)(t->tv_sec * 1000 + t->tv_nsec / 1000000);
	if (max > td->o.iodepth)
		max = td->o.iodepth;
	int n = em_ring_wait(d->ring, d->cqes, max, min, timeout_ms);
	if (n < 0) {
		td_verror(td, -n, "em_ring_wait");
		return n;
	}
	for (int i = 0; i < n; i++) {
		struct io_u *io_u = d->cqes[i].userdata;
		int64_t res = d->cqes[i].result;
		if (res < 0) {
			io_u->error = (int)-res;
		} else {
			/* Reads past the end of file are short. */
			io_u->error = 0;
			io_u->resid = io_u->xfer_buflen - (unsigned long long)res;
		}
	}
	return n;
}

static struct io_u *em_fio_event(struct thread_data *td, int event)
{
	struct em_fio *d = td->io_ops_data;
	return d->cqes[event].userdata;
}

/* fio finds an external engine by this symbol name. Flags: DISKLESSIO
 * because names are not local paths (no stat, no mkdir, no layout step:
 * writes create and extend files), NODISKUTIL for the same reason,
 * NO_OFFLOAD because io_submit_mode=offload would queue from other threads
 * than the one owning the ring. */
struct ioengine_ops ioengine = {
	.name = "ember",
	.version = FIO_IOOPS_VERSION,
	.flags = FIO_DISKLESSIO | FIO_NODISKUTIL | FIO_NO_OFFLOAD,
	.setup = em_fio_setup,
	.init = em_fio_init,
	.queue = em_fio_queue,
	.commit = em_fio_commit,
	.getevents = em_fio_getevents,
	.event = em_fio_event,
	.cleanup = em_fio_cleanup,
	.open_file = em_fio_open_file,
	.close_file = em_fio_close_file,
	.invalidate = em_fio_invalidate,
	.unlink_file = em_fio_unlink_file,
	.get_file_size = em_fio_get_file_size,
	.iomem_alloc = em_fio_iomem_alloc,
	.iomem_free = em_fio_iomem_free,
	.option_struct_size = sizeof(struct em_fio_options),
	.options = options,
};
