#include "ember/errors.h"

#include <stdio.h>
#include <string.h>

struct em_error_desc {
	const char *name;
	const char *text;
};

static const struct em_error_desc own_errors[EM_ERR_END - EM_ERR_BASE] = {
	[EM_ECHECKSUM - EM_ERR_BASE] = { "EM_ECHECKSUM", "Checksum mismatch" },
	[EM_EVERSION - EM_ERR_BASE] = { "EM_EVERSION", "Chunk version mismatch" },
	[EM_ENOTCOMMITTED - EM_ERR_BASE] = { "EM_ENOTCOMMITTED", "Chunk has an uncommitted version" },
	[EM_ECHAINVER - EM_ERR_BASE] = { "EM_ECHAINVER", "Stale chain version" },
	[EM_ENOTARGET - EM_ERR_BASE] = { "EM_ENOTARGET", "No such target" },
	[EM_ETARGETOFFLINE - EM_ERR_BASE] = { "EM_ETARGETOFFLINE", "Target is offline" },
	[EM_EPROTO_VERSION - EM_ERR_BASE] = { "EM_EPROTO_VERSION", "Incompatible protocol version" },
	[EM_EAUTH - EM_ERR_BASE] = { "EM_EAUTH", "Authentication failed" },
	[EM_ESECRET_MODE - EM_ERR_BASE] = { "EM_ESECRET_MODE",
					    "Secret file readable by group or others (chmod 600 it)" },
	[EM_ESECRET_SHORT - EM_ERR_BASE] = { "EM_ESECRET_SHORT",
					     "Secret shorter than 16 bytes (use e.g. 32 random bytes, base64)" },
};

static const struct em_error_desc *own_error(int e)
{
	if (e < EM_ERR_BASE || e >= EM_ERR_END)
		return NULL;
	return &own_errors[e - EM_ERR_BASE];
}

/* Unknown codes share one buffer per thread, good until the next call. */
static _Thread_local char unknown_buf[32];

const char *em_errname(int err)
{
	int e = err < 0 ? -err : err;
	const struct em_error_desc *d = own_error(e);
	if (d)
		return d->name;
	const char *n = e ? strerrorname_np(e) : "OK";
	if (n)
		return n;
	snprintf(unknown_buf, sizeof(unknown_buf), "E%d", e);
	return unknown_buf;
}

const char *em_strerror(int err)
{
	int e = err < 0 ? -err : err;
	const struct em_error_desc *d = own_error(e);
	if (d)
		return d->text;
	const char *t = e ? strerrordesc_np(e) : "Success";
	if (t)
		return t;
	snprintf(unknown_buf, sizeof(unknown_buf), "Unknown error %d", e);
	return unknown_buf;
}
