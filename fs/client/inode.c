/* Inodes open in this mount: their size as this mount knows it (writes
 * land before the metadata service hears of them) and their attributes for
 * files unlinked while open. */
#include <stdlib.h>

#include "fs/client/internal.h"

static struct em_fs_inode **slot(struct em_fs *fs, uint64_t ino)
{
	struct em_fs_inode **p = &fs->itab[ino % EM_FS_ITAB];
	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

struct em_fs_inode *em_fs_inode_get(struct em_fs *fs, const struct em_meta_attr *a)
{
	pthread_mutex_lock(&fs->itab_mu);
	struct em_fs_inode **p = slot(fs, a->ino), *in = *p;
	if (!in && (in = calloc(1, sizeof(*in)))) {
		in->ino = a->ino;
		in->attr = *a;
		in->published = a->size;
		pthread_rwlock_init(&in->io, NULL);
		pthread_mutex_init(&in->mu, NULL);
		*p = in;
	}
	if (in)
		in->refs++;
	pthread_mutex_unlock(&fs->itab_mu);
	return in;
}

struct em_fs_inode *em_fs_inode_find(struct em_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->itab_mu);
	struct em_fs_inode *in = *slot(fs, ino);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&fs->itab_mu);
	return in;
}

void em_fs_inode_put(struct em_fs *fs, struct em_fs_inode *in)
{
	pthread_mutex_lock(&fs->itab_mu);
	bool last = --in->refs == 0;
	if (last)
		*slot(fs, in->ino) = in->next;
	pthread_mutex_unlock(&fs->itab_mu);
	if (!last)
		return;
	pthread_rwlock_destroy(&in->io);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

uint64_t em_fs_inode_size(struct em_fs_inode *in)
{
	pthread_mutex_lock(&in->mu);
	uint64_t s = in->attr.size;
	pthread_mutex_unlock(&in->mu);
	return s;
}

/* Metadata's attributes meet this mount's: while this mount writes the
 * file, its size is at least what it wrote; otherwise metadata is right
 * (another client may have truncated it). */
void em_fs_fix_attr(struct em_fs *fs, struct em_meta_attr *a)
{
	if ((a->mode & 0170000) != 0100000)
		return;
	struct em_fs_inode *in = em_fs_inode_find(fs, a->ino);
	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	if (in->writers && in->attr.size > a->size)
		a->size = in->attr.size;
	in->attr = *a;
	pthread_mutex_unlock(&in->mu);
	em_fs_inode_put(fs, in);
}
