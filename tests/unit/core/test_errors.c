#include <errno.h>

#include "ember/errors.h"
#include "tap.h"

int main(void)
{
	is_str(em_errname(-ENOENT), "ENOENT", "negative errno names");
	is_str(em_errname(EIO), "EIO", "positive errno names");
	is_str(em_errname(0), "OK", "zero is OK");
	is_str(em_errname(-EM_EVERSION), "EM_EVERSION", "Ember code names");
	is_str(em_strerror(-EM_ENOTCOMMITTED), "Chunk has an uncommitted version", "Ember code text");
	is_str(em_strerror(-ENOSPC), "No space left on device", "errno text");
	is_str(em_errname(-99999), "E99999", "unknown code gets a number");
	ok(em_strerror(-99999) != NULL, "unknown code still has text");

	/* Every Ember code has a distinct name that says so. */
	int named = 1;
	for (int e = EM_ERR_BASE; e < EM_ERR_END; e++)
		named &= strncmp(em_errname(-e), "EM_E", 4) == 0;
	ok(named, "every Ember code is named");
	return tap_done();
}
