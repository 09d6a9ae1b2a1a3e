/* Registration, descriptors and the region checks behind TCP grants. */
#include <errno.h>
#include <stdlib.h>

#include "net/mr.h"
#include "tap.h"

int main(void)
{
	size_t len = 1 << 20;
	uint8_t *buf = aligned_alloc(4096, len);
	struct em_mr *mr, *ro;
	is_int(em_mr_reg(buf, len, EM_ACCESS_REMOTE_READ | EM_ACCESS_REMOTE_WRITE, &mr), 0, "register");
	ok(em_mr_addr(mr) == buf && em_mr_len(mr) == len && em_mr_rkey(mr) != 0, "accessors");
	is_int(em_mr_reg(NULL, 10, 0, &ro), -EINVAL, "NULL refused");
	is_int(em_mr_reg(buf, 0, 0, &ro), -EINVAL, "empty refused");

	struct em_buf_desc d;
	is_int(em_mr_desc(mr, buf + 4096, 8192, &d), 0, "describe a slice");
	ok(d.addr == (uintptr_t)(buf + 4096) && d.len == 8192 && d.rkey == em_mr_rkey(mr),
	   "descriptor fields");
	is_int(em_mr_desc(mr, buf + len - 10, 11, &d), -ERANGE, "past the end");
	is_int(em_mr_desc(mr, buf - 1, 2, &d), -ERANGE, "before the start");
	is_int(em_mr_desc(mr, buf, len, &d), 0, "whole region");

	is_int(em_mr_check(&d, EM_ACCESS_REMOTE_WRITE), 0, "check passes inside");
	struct em_buf_desc bad = d;
	bad.rkey ^= 1;
	is_int(em_mr_check(&bad, EM_ACCESS_REMOTE_READ), -EACCES, "wrong key");
	bad = d;
	bad.addr += 1;
	is_int(em_mr_check(&bad, EM_ACCESS_REMOTE_READ), -EACCES, "one byte over");
	bad = d;
	bad.addr = UINT64_MAX - 2;
	bad.len = 16;
	is_int(em_mr_check(&bad, EM_ACCESS_REMOTE_READ), -EACCES, "wrapping address");

	uint8_t *b2 = malloc(4096);
	is_int(em_mr_reg(b2, 4096, EM_ACCESS_REMOTE_READ, &ro), 0, "read-only region");
	struct em_buf_desc rd;
	em_mr_desc(ro, b2, 4096, &rd);
	is_int(em_mr_check(&rd, EM_ACCESS_REMOTE_READ), 0, "read allowed");
	is_int(em_mr_check(&rd, EM_ACCESS_REMOTE_WRITE), -EACCES, "write refused");
	ok(em_mr_rkey(ro) != em_mr_rkey(mr), "keys differ");

	em_mr_dereg(mr);
	is_int(em_mr_check(&d, EM_ACCESS_REMOTE_READ), -EACCES, "deregistered region gone");
	em_mr_dereg(ro);
	free(b2);
	free(buf);
	return tap_done();
}
