/* On-disk records and the allocator, without a device. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/chunk/alloc.h"
#include "block/chunk/layout.h"
#include "tap.h"

static struct em_superblock sample_sb(void)
{
	struct em_superblock sb = {
		.version = EM_SB_VERSION, .block_size = 4096, .nonce = 42,
		.dev_size = 1ull << 30, .log_off = 1 << 20, .log_pages = 1024,
		.ckpt_off = { 5 << 20, 7 << 20 }, .ckpt_size = 2 << 20, .csum_off = 9 << 20, .data_off = 10 << 20,
		.data_segments = 15, .generation = 3, .ckpt_seq = 17, .created_ms = 1,
	};
	memset(sb.uuid, 0xab, 16);
	return sb;
}

static void test_superblock(void)
{
	uint8_t page[EM_PAGE] = { 0 };
	struct em_superblock sb = sample_sb(), got;
	em_sb_encode(&sb, page);
	is_int(em_sb_decode(page, sizeof(page), &got), 0, "superblock round trip");
	ok(got.generation == 3 && got.ckpt_seq == 17 && got.data_segments == 15 &&
	   memcmp(got.uuid, sb.uuid, 16) == 0, "superblock fields survive");
	page[40] ^= 1;
	is_int(em_sb_decode(page, sizeof(page), &got), -EUCLEAN, "flipped bit -> corrupt");
	memset(page, 0, sizeof(page));
	is_int(em_sb_decode(page, sizeof(page), &got), -ENODATA, "zeros -> not a target");
	is_int(em_sb_decode(page, 10, &got), -ENODATA, "short buffer refused");
	sb.data_segments = 100; /* data past the device end */
	em_sb_encode(&sb, page);
	is_int(em_sb_decode(page, sizeof(page), &got), -EUCLEAN, "geometry past the end refused");
	sb = sample_sb();
	sb.ckpt_off[1] = sb.ckpt_off[0] + 4096; /* overlapping checkpoints */
	em_sb_encode(&sb, page);
	is_int(em_sb_decode(page, sizeof(page), &got), -EUCLEAN, "overlapping areas refused");
	sb = sample_sb();
	sb.version = EM_SB_VERSION + 1;
	em_sb_encode(&sb, page);
	is_int(em_sb_decode(page, sizeof(page), &got), -EPROTONOSUPPORT, "newer format refused");
	sb.version = 1;
	em_sb_encode(&sb, page);
	is_int(em_sb_decode(page, sizeof(page), &got), -EPROTONOSUPPORT,
	       "format 1 (no block checksums) refused");
	is_int((int)got.version, 1, "refusal says which version");
	sb = sample_sb();
	sb.csum_off = sb.data_off; /* checksum table over the data */
	em_sb_encode(&sb, page);
	is_int(em_sb_decode(page, sizeof(page), &got), -EUCLEAN, "checksum table overlapping data refused");
	sb = sample_sb();
	sb.csum_off = sb.ckpt_off[1] + 4096;
	em_sb_encode(&sb, page);
	is_int(em_sb_decode(page, sizeof(page), &got), -EUCLEAN,
	       "checksum table overlapping a checkpoint refused");
}

static void test_records(void)
{
	uint8_t buf[EM_REC_SIZE];
	struct em_log_rec r = { .type = EM_REC_PUT }, got;
	memset(r.meta.id.b, 7, 16);
	r.meta.commit_ver = 4;
	r.meta.pending_ver = 5;
	r.meta.length = 70000;
	r.meta.loc = em_loc_make(128 << 10, 1); /* 128 KiB class */
	r.meta.pending_length = 100;
	r.meta.pending_loc = em_loc_make(64 << 10, 0);
	r.meta.crc = 0xdeadbeef;
	r.meta.tail_crc = 0x01020304;
	r.meta.pending_tail_crc = 0x0a0b0c0d;
	em_rec_encode(&r, buf);
	is_int(em_rec_decode(buf, sizeof(buf), &got), 0, "record round trip");
	ok(memcmp(&got.meta, &r.meta, sizeof(r.meta)) == 0, "record fields survive");
	r.meta.length = 200000; /* does not fit a 128 KiB slot */
	em_rec_encode(&r, buf);
	is_int(em_rec_decode(buf, sizeof(buf), &got), -EUCLEAN, "length past the slot refused");
	r.meta.length = 100;
	r.meta.loc = em_loc_make(4096, 0); /* not slot aligned */
	em_rec_encode(&r, buf);
	is_int(em_rec_decode(buf, sizeof(buf), &got), -EUCLEAN, "misaligned slot refused");
	buf[0] = 9;
	is_int(em_rec_decode(buf, sizeof(buf), &got), -EUCLEAN, "unknown type refused");
	is_int(em_rec_decode(buf, 10, &got), -EUCLEAN, "short record refused");
}

static void test_pages(void)
{
	static uint8_t page[EM_PAGE];
	memset(page, 0, sizeof(page));
	struct em_log_rec r = { .type = EM_REC_DEL };
	em_rec_encode(&r, page + EM_LOG_HDR);
	em_log_page_seal(page, 9, 77, 1);
	struct em_log_page_hdr h;
	is_int(em_log_page_check(page, sizeof(page), 9, 77, &h), 0, "log page valid");
	is_int(h.nrec, 1, "record count");
	is_int(em_log_page_check(page, sizeof(page), 10, 77, &h), -EUCLEAN, "older lap refused");
	is_int(em_log_page_check(page, sizeof(page), 9, 78, &h), -EUCLEAN, "other format refused");
	page[EM_PAGE - 1] ^= 0x40;
	is_int(em_log_page_check(page, sizeof(page), 9, 77, &h), -EUCLEAN, "torn page refused");

	static uint8_t ck[2 * EM_PAGE];
	memset(ck, 0, sizeof(ck));
	em_ckpt_seal(ck, 5, 77, 3);
	struct em_ckpt_hdr ch;
	is_int(em_ckpt_check(ck, sizeof(ck), 77, &ch), 0, "checkpoint valid");
	is_int(em_ckpt_peek_count(ck), 3, "checkpoint count");
	ck[24] = 0xe8, ck[25] = 0x03; /* claims 1000 records: more than the bytes */
	is_int(em_ckpt_check(ck, sizeof(ck), 77, &ch), -EUCLEAN, "oversized count refused");
}

static void test_alloc(void)
{
	struct em_alloc a;
	is_int(em_alloc_init(&a, 4), 0, "allocator over 4 segments");
	is_int(em_alloc_class_for(1), 0, "1 byte -> 64 KiB");
	is_int(em_alloc_class_for(65537), 1, "64 KiB + 1 -> 128 KiB");
	is_int(em_alloc_class_for(64u << 20), 10, "64 MiB -> class 10");
	uint64_t loc[1024];
	int fails = 0;
	for (int i = 0; i < 1024; i++)
		fails += em_alloc_get(&a, 0, &loc[i]) != 0;
	is_int(fails, 0, "1024 small slots fit one segment");
	is_int(a.free_segs, 3, "one segment taken");
	uint64_t big;
	is_int(em_alloc_get(&a, 10, &big), 0, "a 64 MiB slot");
	is_int(em_loc_class(big), 10, "class encoded in the location");
	int distinct = 1;
	for (int i = 1; i < 1024 && distinct; i++)
		distinct = loc[i] != loc[i - 1];
	ok(distinct, "slots are distinct");
	is_int(em_alloc_mark(&a, loc[5]), -EUCLEAN, "claiming a used slot is corruption");
	em_alloc_put(&a, loc[5]);
	is_int(em_alloc_mark(&a, loc[5]), 0, "a freed slot can be claimed");
	is_int(em_alloc_mark(&a, em_loc_make(0, 1)), -EUCLEAN, "class conflict in a segment");
	for (int i = 0; i < 1024; i++)
		em_alloc_put(&a, loc[i]);
	is_int(a.free_segs, 3, "an emptied segment returns to the pool");
	uint64_t l;
	int got = 0;
	while (em_alloc_get(&a, 10, &l) == 0)
		got++;
	is_int(got, 3, "then serves any class");
	is_int(em_alloc_get(&a, 0, &l), -ENOSPC, "full");
	em_alloc_destroy(&a);

	/* Two segments, one per class: once the small class is full and no
	 * segment is free, small chunks go to the bigger class's free slots. */
	is_int(em_alloc_init(&a, 2), 0, "two segments");
	uint64_t mid, small[1024];
	is_int(em_alloc_get(&a, 4, &mid), 0, "a 1 MiB slot takes the first segment");
	fails = 0;
	for (int i = 0; i < 1024; i++)
		fails += em_alloc_get(&a, 0, &small[i]) != 0;
	is_int(fails, 0, "1024 small slots fill the second");
	is_int(em_alloc_get(&a, 0, &l), 0, "the next small one still fits");
	is_int(em_loc_class(l), 4, "in a slot of the bigger class");
	is_int((long long)a.class_used[4], 2, "counted there");
	em_alloc_put(&a, l);
	is_int((long long)a.class_used[4], 1, "and freed there");
	int spill = 0;
	while (em_alloc_get(&a, 0, &l) == 0)
		spill++;
	is_int(spill, 63, "the rest of the 1 MiB segment takes small chunks");
	is_int(em_alloc_get(&a, 5, &l), -ENOSPC, "a bigger class than any with room: full");
	em_alloc_destroy(&a);
}

int main(void)
{
	test_superblock();
	test_records();
	test_pages();
	test_alloc();
	return tap_done();
}
