/* libFuzzer target for the metadata service's on-store record decoders
 * (inodes, directory entries, sessions, GC entries): whatever bytes the KV
 * store hands back, decoding must neither crash nor read out of bounds, and
 * whatever decodes must re-encode to a record that decodes to the same thing.
 *
 * The first input byte picks the decoder; the rest is the record. Records end
 * in a CRC32C, so random bytes would almost never get past it: each input is
 * tried as is (the CRC check itself) and with its CRC recomputed (the parser
 * behind it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/meta/record.h"
#include "net/core/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fix_crc(uint8_t *buf, size_t len)
{
	if (len < 4)
		return;
	uint32_t crc = em_crc32c(0, buf, len - 4);
	for (int i = 0; i < 4; i++)
		buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void check_inode(const uint8_t *buf, size_t len)
{
	static struct em_meta_inode in, again;
	static uint8_t enc[EM_META_INODE_MAX];
	if (em_meta_inode_decode(buf, len, &in) < 0)
		return;
	size_t n = em_meta_inode_encode(&in, enc);
	if (em_meta_inode_decode(enc, n, &again) < 0 || again.a.mode != in.a.mode ||
	    again.a.size != in.a.size || again.tlen != in.tlen ||
	    memcmp(again.target, in.target, in.tlen) != 0)
		abort();
}

static void check_dentry(const uint8_t *buf, size_t len)
{
	struct em_meta_dentry d, again;
	uint8_t enc[EM_META_DENTRY_LEN];
	if (em_meta_dentry_decode(buf, len, &d) < 0)
		return;
	if (em_meta_dentry_decode(enc, em_meta_dentry_encode(&d, enc), &again) < 0 ||
	    again.ino != d.ino || again.type != d.type)
		abort();
}

static void check_session(const uint8_t *buf, size_t len)
{
	struct em_meta_session s, again;
	uint8_t enc[EM_META_SESSION_LEN];
	if (em_meta_session_decode(buf, len, &s) < 0)
		return;
	if (em_meta_session_decode(enc, em_meta_session_encode(&s, enc), &again) < 0 ||
	    again.client_id != s.client_id)
		abort();
}

static void check_gc(const uint8_t *buf, size_t len)
{
	struct em_meta_gc_entry g, again;
	uint8_t enc[EM_META_GC_LEN];
	if (em_meta_gc_decode(buf, len, &g) < 0)
		return;
	if (em_meta_gc_decode(enc, em_meta_gc_encode(&g, enc), &again) < 0 || again.ino != g.ino ||
	    again.layout.chunk_size != g.layout.chunk_size)
		abort();
}

static void check_client(const uint8_t *buf, size_t len)
{
	struct em_meta_client_rec c, again;
	uint8_t enc[EM_META_CLIENT_LEN];
	if (em_meta_client_rec_decode(buf, len, &c) < 0)
		return;
	if (em_meta_client_rec_decode(enc, em_meta_client_rec_encode(&c, enc), &again) < 0 ||
	    again.renewed_ns != c.renewed_ns || again.lease_ms != c.lease_ms)
		abort();
}

static void check_lock(const uint8_t *buf, size_t len)
{
	static struct em_meta_lock_rec l, again;
	static uint8_t enc[EM_META_LOCK_REC_MAX];
	if (em_meta_lock_rec_decode(buf, len, &l) < 0)
		return;
	if (em_meta_lock_rec_decode(enc, em_meta_lock_rec_encode(&l, enc), &again) < 0 ||
	    again.n != l.n)
		abort();
	for (uint32_t i = 0; i < l.n; i++)
		if (again.r[i].start != l.r[i].start || again.r[i].end != l.r[i].end ||
		    again.r[i].pid != l.r[i].pid || again.r[i].type != l.r[i].type)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void (*const check[])(const uint8_t *, size_t) = {
		check_inode, check_dentry, check_session, check_gc, check_client, check_lock,
	};
	if (size < 1)
		return 0;
	void (*fn)(const uint8_t *, size_t) = check[data[0] % 6];
	size_t len = size - 1;
	/* An exact-size heap copy lets ASan catch any read past the end. */
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	fn(buf, len);
	fix_crc(buf, len);
	fn(buf, len);
	free(buf);
	return 0;
}
