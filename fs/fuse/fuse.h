/* ember-fuse: mounts an Ember file system through the libfuse3 low-level
 * API (docs/fuse.md gives the options). */
#ifndef EMBER_FS_FUSE_FUSE_H
#define EMBER_FS_FUSE_FUSE_H

/* Parses the command line (also as the mount.fuse.ember helper, when
 * argv[0]'s name starts with "mount."), connects, mounts and serves until
 * unmounted or signalled. Returns the process exit status. */
int em_fuse_main(int argc, char **argv);

#endif
