/* Where a file's bytes live: chunk ids and chains from the file layout
 * (fs/meta/meta.h), computed by the client alone so metadata stays off the
 * data path.
 *
 * Chunk id, 16 bytes, big-endian so one file's chunks sort together and in
 * order (3FS's ChunkId): [tenant 0][reserved 0][inode 8][track 0 0][index 4].
 * Chunk i of a file lives on chain ids[(first_chain + i % stripe) % n] where
 * ids are the routing table's chain ids in ascending order. A GC worker
 * deleting a file's chunks must use the same two functions.
 */
#ifndef EMBER_FS_CLIENT_LAYOUT_H
#define EMBER_FS_CLIENT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "block/chunk/engine.h"
#include "fs/meta/meta.h"

void em_fs_chunk_id(uint64_t ino, uint32_t index, struct em_chunk_id *out);

/* Chain id of chunk index of a file, or 0 when the table has no chains. */
uint32_t em_fs_chain_of(const struct em_meta_layout *l, uint32_t index, const uint32_t *ids,
			size_t n);

/* One piece of a byte range that falls inside one chunk. */
struct em_fs_piece {
	uint32_t index;   /* chunk index in the file */
	uint32_t offset;  /* within the chunk */
	uint32_t len;
	uint64_t pos;     /* offset of the piece within the range */
};

/* Number of chunks [off, off + len) touches (0 when len is 0). Fails with
 * -EFBIG when the range reaches past the last chunk index or the layout's
 * chunk size is not a power of two in [64 KiB, 64 MiB]. */
int64_t em_fs_piece_count(const struct em_meta_layout *l, uint64_t off, uint64_t len);
/* The k-th piece of [off, off + len). */
void em_fs_piece_at(const struct em_meta_layout *l, uint64_t off, uint64_t len, size_t k,
		    struct em_fs_piece *out);

#endif
