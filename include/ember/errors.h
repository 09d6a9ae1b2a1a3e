/* Ember error codes.
 *
 * Every Ember function that can fail returns a negative number: either a
 * negative Linux errno value (-ENOENT, -EIO, ...) or one of the negative
 * codes below, which name storage conditions errno has no word for. The same
 * values travel on the wire as a signed 32-bit little-endian integer in RPC
 * responses, so a client sees exactly the error the server had.
 *
 * Ember's own codes start at 4096, above every errno value Linux defines.
 */
#ifndef EMBER_ERRORS_H
#define EMBER_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

enum em_error {
	EM_ERR_BASE = 4096,
	EM_ECHECKSUM = 4096,       /* data or record failed its CRC32C check */
	EM_EVERSION = 4097,        /* update version does not follow the stored one */
	EM_ENOTCOMMITTED = 4098,   /* chunk has a pending version; retry the read */
	EM_ECHAINVER = 4099,       /* request carries a stale chain version */
	EM_ENOTARGET = 4100,       /* no such target on this server */
	EM_ETARGETOFFLINE = 4101,  /* target exists but is not serving */
	EM_EPROTO_VERSION = 4102,  /* peer speaks an incompatible protocol version */
	EM_EAUTH = 4103,           /* peer failed authentication */
	EM_ESECRET_MODE = 4104,    /* secret file readable by group or others */
	EM_ESECRET_SHORT = 4105,   /* secret shorter than EM_AUTH_SECRET_MIN bytes */
	EM_ERR_END,
};

/* Symbolic name of an error: "ENOENT", "EM_EVERSION", or "E<number>" when
 * unknown. Accepts the negative or positive value. Never returns NULL. */
const char *em_errname(int err);

/* Human description of an error, like strerror(3) but aware of Ember's own
 * codes. Accepts the negative or positive value. Never returns NULL. */
const char *em_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
