/* Chunk ids, chains and range splitting (layout.h). */
#include <errno.h>

#include "fs/client/layout.h"

void em_fs_chunk_id(uint64_t ino, uint32_t index, struct em_chunk_id *out)
{
	for (int i = 0; i < 16; i++)
		out->b[i] = 0;
	for (int i = 0; i < 8; i++)
		out->b[2 + i] = (uint8_t)(ino >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out->b[12 + i] = (uint8_t)(index >> (24 - 8 * i));
}

uint32_t em_fs_chain_of(const struct em_meta_layout *l, uint32_t index, const uint32_t *ids,
			size_t n)
{
	if (!n)
		return 0;
	uint32_t stripe = l->stripe ? l->stripe : 1;
	return ids[((uint64_t)l->first_chain + index % stripe) % n];
}

static int valid_chunk_size(uint32_t cs)
{
	return cs >= (64u << 10) && cs <= EM_CHUNK_MAX_SIZE && (cs & (cs - 1)) == 0;
}

int64_t em_fs_piece_count(const struct em_meta_layout *l, uint64_t off, uint64_t len)
{
	if (!valid_chunk_size(l->chunk_size))
		return -EFBIG;
	if (!len)
		return 0;
	uint64_t first = off / l->chunk_size, last = (off + len - 1) / l->chunk_size;
	if (off + len < off || last > UINT32_MAX)
		return -EFBIG;
	return (int64_t)(last - first + 1);
}

void em_fs_piece_at(const struct em_meta_layout *l, uint64_t off, uint64_t len, size_t k,
		    struct em_fs_piece *out)
{
	uint64_t cs = l->chunk_size;
	uint64_t first = off / cs;
	uint64_t start = k ? (first + k) * cs : off;
	uint64_t end = (first + k + 1) * cs;
	if (end > off + len)
		end = off + len;
	out->index = (uint32_t)(first + k);
	out->offset = (uint32_t)(start % cs);
	out->len = (uint32_t)(end - start);
	out->pos = start - off;
}
