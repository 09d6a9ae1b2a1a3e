/* ember-fuse's command line, session set-up and loop. */
#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/auth.h"
#include "ember/errors.h"
#include "fs/fuse/fuse.h"
#include "fs/fuse/internal.h"
#include "fs/mgmt/client.h"
#include "net/core/log.h"

#define MAX_URLS 16
#define MAX_SECRET 4096
#define MAX_WRITE (1u << 20)

struct options {
	char *mgmtd, *meta, *secret_file;
	double entry_timeout, attr_timeout;
	int direct_io;
	int no_default_permissions;
	unsigned io_threads, io_timeout_ms;
	int help;
	char *pos[2];   /* [SOURCE] MOUNTPOINT */
	int npos;
	bool helper;    /* invoked as mount.fuse.ember */
};

#define OPT(t, f, v) { t, offsetof(struct options, f), v }
static const struct fuse_opt opt_spec[] = {
	OPT("mgmtd=%s", mgmtd, 0),
	OPT("meta=%s", meta, 0),
	OPT("secret_file=%s", secret_file, 0),
	OPT("entry_timeout=%lf", entry_timeout, 0),
	OPT("attr_timeout=%lf", attr_timeout, 0),
	OPT("direct_io", direct_io, 1),
	OPT("no_default_permissions", no_default_permissions, 1),
	OPT("io_threads=%u", io_threads, 0),
	OPT("io_timeout=%u", io_timeout_ms, 0),
	OPT("-h", help, 1),
	OPT("--help", help, 1),
	FUSE_OPT_END
};

/* Positional arguments are ours (libfuse would take only a mountpoint);
 * mount(8)'s helper flags are dropped. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct options *o = data;
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (o->npos == 2)
			return 1;
		o->pos[o->npos++] = strdup(arg);
		return 0;
	}
	if (o->helper && (strcmp(arg, "-n") == 0 || strcmp(arg, "-s") == 0 ||
			  strcmp(arg, "-v") == 0))
		return 0;
	return 1;
}

static void usage(const char *prog)
{
	printf("usage: %s [MGMTD-URL] MOUNTPOINT [-o option,...] [-f] [-d]\n"
	       "\n"
	       "Ember options (docs/fuse.md):\n"
	       "  -o mgmtd=URL[,URL]     cluster manager (default $EMBER_MGMTD or tcp://127.0.0.1:9100;\n"
	       "                         a first positional argument sets it too)\n"
	       "  -o meta=URL[,URL]      metadata servers (default $EMBER_META or tcp://127.0.0.1:9101)\n"
	       "  -o secret_file=PATH    cluster secret (default $EMBER_SECRET_FILE or /etc/ember/secret)\n"
	       "  -o entry_timeout=S     kernel cache of names, seconds (default 1)\n"
	       "  -o attr_timeout=S      kernel cache of attributes, seconds (default 1)\n"
	       "  -o direct_io           bypass the page cache\n"
	       "  -o no_default_permissions  the kernel leaves mode bits to the metadata service\n"
	       "                         (testing its checks; access(2) then always succeeds)\n"
	       "  -o io_threads=N        chunk pieces in flight (default 8)\n"
	       "  -o io_timeout=MS       give up on a chunk after MS of retries (default 60000)\n"
	       "\nlibfuse options:\n", prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static int split(char *s, const char **v)
{
	int n = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t && n < MAX_URLS;
	     t = strtok_r(NULL, ",", &save))
		v[n++] = t;
	return n;
}

static void em_fuse_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = MAX_WRITE;
	conn->max_readahead = MAX_WRITE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Always plus: a listing then needs no lookup per entry. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* No writeback cache: a write reaches the replicas before it returns. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static const struct fuse_lowlevel_ops ops = {
	.init = em_fuse_init,
	.lookup = em_fuse_lookup,
	.getattr = em_fuse_getattr,
	.setattr = em_fuse_setattr,
	.readlink = em_fuse_readlink,
	.mknod = em_fuse_mknod,
	.mkdir = em_fuse_mkdir,
	.unlink = em_fuse_unlink,
	.rmdir = em_fuse_rmdir,
	.symlink = em_fuse_symlink,
	.rename = em_fuse_rename,
	.link = em_fuse_link,
	.open = em_fuse_open,
	.read = em_fuse_read,
	.write = em_fuse_write,
	.flush = em_fuse_flush,
	.release = em_fuse_release,
	.fsync = em_fuse_fsync,
	.opendir = em_fuse_opendir,
	.readdir = em_fuse_readdir,
	.releasedir = em_fuse_releasedir,
	.statfs = em_fuse_statfs,
	.setxattr = em_fuse_setxattr,
	.getxattr = em_fuse_getxattr,
	.listxattr = em_fuse_listxattr,
	.removexattr = em_fuse_removexattr,
	.create = em_fuse_create,
	.fallocate = em_fuse_fallocate,
	.readdirplus = em_fuse_readdirplus,
	.getlk = em_fuse_getlk,
	.setlk = em_fuse_setlk,
	.flock = em_fuse_flock,
};

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

/* Connects the client library; 0 or a negative errno (logged). */
static int connect_fs(struct options *o, struct em_fuse *m)
{
	static uint8_t secret[MAX_SECRET];
	int slen = em_auth_read_secret(o->secret_file, secret, sizeof(secret));
	if (slen < 0) {
		EM_ERR("fuse", "cannot read secret file %s: %s", o->secret_file, em_strerror(slen));
		return slen;
	}
	const char *mv[MAX_URLS], *ev[MAX_URLS];
	struct em_fs_opts fo = { .mgmtd = mv, .n_mgmtd = (size_t)split(o->mgmtd, mv),
				 .meta = ev, .n_meta = (size_t)split(o->meta, ev),
				 .secret = secret, .secret_len = (size_t)slen,
				 .io_timeout_ms = o->io_timeout_ms, .io_threads = o->io_threads };
	int rc = em_fs_open(&fo, &m->fs);
	if (rc)
		EM_ERR("fuse", "cannot connect to the cluster: %s", em_strerror(rc));
	return rc;
}

static int serve(struct fuse_args *args, struct options *o, struct em_fuse *m)
{
	struct fuse_cmdline_opts co;
	if (fuse_parse_cmdline(args, &co) != 0)
		return 2;
	int ret = 1;
	struct fuse_session *se = fuse_session_new(args, &ops, sizeof(ops), m);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto destroy;
	if (fuse_session_mount(se, co.mountpoint) != 0)
		goto signals;
	/* Connect after forking into the background: the client's threads
	 * would not survive the fork. */
	if (fuse_daemonize(co.foreground) != 0 || connect_fs(o, m) != 0)
		goto unmount;
	if (co.singlethread) {
		ret = fuse_session_loop(se) ? 1 : 0;
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, co.clone_fd);
		if (co.max_threads <= 100000) /* libfuse leaves it at UINT_MAX when not given */
			fuse_loop_cfg_set_max_threads(lc, co.max_threads);
		fuse_loop_cfg_set_idle_threads(lc, co.max_idle_threads);
		ret = fuse_session_loop_mt(se, lc) ? 1 : 0;
		fuse_loop_cfg_destroy(lc);
	}
	em_fs_close(m->fs);
unmount:
	fuse_session_unmount(se);
signals:
	fuse_remove_signal_handlers(se);
destroy:
	fuse_session_destroy(se);
out:
	free(co.mountpoint);
	return ret;
}

int em_fuse_main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options o = { .entry_timeout = 1.0, .attr_timeout = 1.0 };
	char *prog = strdup(argv[0]);
	o.helper = prog && strncmp(basename(prog), "mount.", 6) == 0;
	free(prog);
	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) != 0)
		return 2;
	if (o.help) {
		usage(argv[0]);
		return 0;
	}
	if (o.npos == 0) {
		fprintf(stderr, "%s: no mountpoint (see --help)\n", argv[0]);
		return 2;
	}
	if (o.npos == 2 && !o.mgmtd)
		o.mgmtd = strdup(o.pos[0]);
	if (!o.mgmtd)
		o.mgmtd = strdup(env_or("EMBER_MGMTD", "tcp://127.0.0.1:9100"));
	if (!o.meta)
		o.meta = strdup(env_or("EMBER_META", "tcp://127.0.0.1:9101"));
	if (!o.secret_file)
		o.secret_file = strdup(env_or("EMBER_SECRET_FILE", "/etc/ember/secret"));
	/* A shared file system: every user reaches it, and the kernel checks
	 * permission bits before the metadata service checks them again
	 * (unless told not to: the FUSE permission test then reaches the
	 * service's checks with nothing in front of them). */
	int rc = fuse_opt_add_arg(&args, o.no_default_permissions
					 ? "-ofsname=ember,subtype=ember"
					 : "-odefault_permissions,fsname=ember,subtype=ember");
	if (rc == 0 && getuid() == 0)
		rc = fuse_opt_add_arg(&args, "-oallow_other");
	if (rc == 0)
		rc = fuse_opt_add_arg(&args, o.pos[o.npos - 1]);
	struct em_fuse m = { .entry_timeout = o.entry_timeout, .attr_timeout = o.attr_timeout,
			     .direct_io = o.direct_io != 0 };
	int ret = rc ? 1 : serve(&args, &o, &m);
	fuse_opt_free_args(&args);
	free(o.mgmtd);
	free(o.meta);
	free(o.secret_file);
	for (int i = 0; i < o.npos; i++)
		free(o.pos[i]);
	return ret;
}
