/* POSIX permission checks against mode bits, from the caller's uid, gid and
 * supplementary groups. uid 0 stands for a caller with CAP_DAC_OVERRIDE,
 * CAP_FOWNER and CAP_CHOWN, and bypasses exactly what those capabilities do. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/meta/internal.h"

bool em_meta_in_group(const struct em_meta_cred *cr, uint32_t gid)
{
	if (cr->gid == gid)
		return true;
	for (uint32_t i = 0; i < cr->ngroups && i < EM_META_NGROUPS_MAX; i++)
		if (cr->groups[i] == gid)
			return true;
	return false;
}

bool em_meta_is_owner(const struct em_meta_cred *cr, const struct em_meta_attr *a)
{
	return cr->uid == 0 || cr->uid == a->uid;
}

int em_meta_may(const struct em_meta_cred *cr, const struct em_meta_attr *a, int mask)
{
	uint32_t bits;

	if (cr->uid == 0) {
		/* Root may read and write anything, and search any directory,
		 * but execute a file only if someone may. */
		if ((mask & MAY_EXEC) && !S_ISDIR(a->mode) && !(a->mode & 0111))
			return -EACCES;
		return 0;
	}
	/* The first matching class decides, even if a later one grants more:
	 * an owner denied by the owner bits is denied. */
	if (cr->uid == a->uid)
		bits = (a->mode >> 6) & 7;
	else if (em_meta_in_group(cr, a->gid))
		bits = (a->mode >> 3) & 7;
	else
		bits = a->mode & 7;
	return ((uint32_t)mask & ~bits) ? -EACCES : 0;
}

int em_meta_may_delete(const struct em_meta_cred *cr, const struct em_meta_attr *dir,
		       const struct em_meta_attr *victim)
{
	if (!(dir->mode & S_ISVTX) || cr->uid == 0 || cr->uid == dir->uid ||
	    cr->uid == victim->uid)
		return 0;
	return -EPERM;
}

int em_meta_check_name(const char *name, size_t *nlen)
{
	if (!name)
		return -EINVAL;
	size_t n = strnlen(name, EM_META_NAME_MAX + 1);
	if (n == 0)
		return -ENOENT;
	if (n > EM_META_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(name, '/', n))
		return -EINVAL;
	*nlen = n;
	return 0;
}

bool em_meta_is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}
