/* ember-fuse: mounts an Ember file system (fs/fuse; docs/fuse.md). Also
 * installed as mount.fuse.ember so `mount -t fuse.ember` works. */
#include <signal.h>

#include "fs/fuse/fuse.h"

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return em_fuse_main(argc, argv);
}
