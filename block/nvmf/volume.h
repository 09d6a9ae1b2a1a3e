/* Chunk volumes: an LBA space laid over the chunks of a chunk engine, so an
 * NVMe-oF namespace can live on an Ember target instead of a raw device.
 *
 * Byte x of volume V is byte x % chunk_size of chunk x / chunk_size, whose
 * 16-byte id is V then the chunk index, both big-endian: a volume's chunks
 * list together, in LBA order. A chunk holds the bytes [0, length) of its
 * piece of the volume; a missing chunk, and bytes past a chunk's length,
 * read as zeroes. Writes are engine updates at an offset, committed in the
 * same record (the engine copies on write or appends in place) and
 * acknowledged only once durable, so a flush has nothing left to do. Zeroing
 * removes chunks it covers entirely, truncates the chunk tails it covers and
 * writes zeroes only inside a chunk's data.
 *
 * I/O uses the block device descriptor (struct em_bdev_io) with the block
 * device contract: offsets and lengths are multiples of the block size,
 * callbacks run later on the engine's reactor, never inside submit. Buffers
 * need no alignment. A volume belongs to its engine's reactor thread.
 */
#ifndef EMBER_BLOCK_NVMF_VOLUME_H
#define EMBER_BLOCK_NVMF_VOLUME_H

#include <stdint.h>

#include "block/chunk/engine.h"
#include "block/dev/bdev.h"

struct em_reactor;
struct em_volume;

#define EM_VOLUME_DEFAULT_CHUNK (1u << 20)
#define EM_VOLUME_DEFAULT_BLOCK 4096u

struct em_volume_opts {
	uint64_t id;
	uint64_t size;         /* bytes, a multiple of block_size */
	uint32_t chunk_size;   /* power of two, 64 KiB .. 64 MiB; 0: 1 MiB */
	uint32_t block_size;   /* 512 .. 4096, power of two; 0: 4096 */
};

/* Learns the state of the volume's existing chunks from the engine (e must
 * be open on r). -EINVAL for bad options, -EUCLEAN when a stored chunk is
 * longer than chunk_size (the volume was made with another chunk size). */
int em_volume_open(struct em_engine *e, struct em_reactor *r, const struct em_volume_opts *o,
		   struct em_volume **out);
/* Waits for the volume's outstanding I/O (running callbacks), frees it. The
 * engine stays open. */
void em_volume_close(struct em_volume *v);
/* block_size, size, write_zeroes and discard (both true), max_zeroes;
 * max_transfer 0: no limit, I/O is split at chunk boundaries here. */
const struct em_bdev_info *em_volume_get_info(const struct em_volume *v);

/* READ, WRITE, FLUSH, WRITE_ZEROES, DISCARD (same as WRITE_ZEROES: discarded
 * blocks read as zeroes). Returns 0, or -EINVAL (misaligned, empty) or
 * -ERANGE (past the end) with the callback not called. */
int em_volume_submit(struct em_volume *v, struct em_bdev_io *io);

void em_volume_chunk_id(uint64_t volume, uint64_t index, struct em_chunk_id *out);

#endif
