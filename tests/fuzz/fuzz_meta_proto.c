/* libFuzzer target for the metadata RPC decoders (fs/meta/proto.h): the
 * server decodes requests from any authenticated peer and the client decodes
 * answers, so neither may crash or read out of bounds on any bytes. Whatever
 * request decodes must re-encode and decode to the same fields, which checks
 * that the encoder and decoder walk the same layout.
 *
 * The first input byte picks the method (requests) or the answer decoder;
 * the rest is the payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/meta/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_req(const struct em_meta_req *a, const struct em_meta_req *b)
{
	if (memcmp(&a->cred, &b->cred, offsetof(struct em_meta_cred, groups)) ||
	    memcmp(a->cred.groups, b->cred.groups, a->cred.ngroups * sizeof(a->cred.groups[0])) ||
	    a->ino != b->ino || a->ino2 != b->ino2 || a->session != b->session ||
	    a->length != b->length || a->client != b->client || a->mode != b->mode ||
	    a->flags != b->flags || a->max != b->max || memcmp(&a->sa, &b->sa, sizeof(a->sa)) ||
	    strcmp(a->name, b->name) || strcmp(a->name2, b->name2) || a->vlen != b->vlen ||
	    (a->vlen && memcmp(a->value, b->value, a->vlen)))
		abort();
}

static void check_req(uint16_t method, const uint8_t *p, size_t len)
{
	static struct em_meta_req r, again;
	static uint8_t buf[1 << 17];
	if (em_meta_dec_req(method, p, len, &r) < 0)
		return;
	struct em_enc e;
	em_enc_init(&e, buf, em_meta_req_size(r.vlen));
	if (em_meta_enc_req(&e, method, &r) < 0 || em_meta_dec_req(method, buf, e.len, &again) < 0)
		abort();
	same_req(&r, &again);
}

static void check_rsp(unsigned which, const uint8_t *p, size_t len)
{
	static struct em_meta_dirent ents[EM_META_READDIR_MAX];
	static struct em_meta_gc_entry gc[EM_META_GC_LIST_MAX];
	static char bytes[EM_META_XATTR_LIST_MAX];
	struct em_meta_attr a;
	struct em_meta_open_res o;
	struct em_meta_statfs s;
	struct em_meta_lock_range lr;
	size_t n;
	bool eof;
	switch (which % 7) {
	case 0:
		em_meta_dec_attr_rsp(p, len, &a);
		break;
	case 1:
		em_meta_dec_open_rsp(p, len, &o);
		break;
	case 2:
		em_meta_dec_bytes_rsp(p, len, bytes, (size_t)(which / 7) * 97 % sizeof(bytes));
		break;
	case 3:
		em_meta_dec_readdir_rsp(p, len, ents, EM_META_READDIR_MAX, &n, &eof);
		break;
	case 4:
		em_meta_dec_statfs_rsp(p, len, &s);
		break;
	case 5:
		em_meta_dec_lock_rsp(p, len, &lr);
		break;
	default:
		em_meta_dec_gc_list_rsp(p, len, gc, EM_META_GC_LIST_MAX, &n);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 0x80)
		check_rsp(data[0] & 0x7f, data + 1, size - 1);
	else
		check_req((uint16_t)(data[0] % (EM_META_METHOD_END + 1)), data + 1, size - 1);
	return 0;
}
