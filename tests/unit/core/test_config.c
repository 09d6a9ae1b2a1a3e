#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/core/config.h"
#include "tap.h"

static const struct em_cfg_option schema[] = {
	{ "net", "listen", EM_CFG_STRING, "tcp://127.0.0.1:9000", 0, 0, "listen address" },
	{ "net", "reactors", EM_CFG_INT, "2", 1, 64, "reactor threads" },
	{ "net", "inline", EM_CFG_BOOL, "yes", 0, 0, "inline sends" },
	{ "net", "buffer", EM_CFG_SIZE, "64K", 0, 0, "slice size" },
	{ "net", "timeout", EM_CFG_DURATION, "5s", 0, 0, "request deadline" },
	{ "cluster", "secret_file", EM_CFG_STRING, NULL, 0, 0, "required" },
	{ "target.*", "path", EM_CFG_STRING, NULL, 0, 0, "device or file" },
	{ "target.*", "id", EM_CFG_INT, NULL, 1, 1000000, "target id" },
	{ "target.*", "backend", EM_CFG_STRING, "auto", 0, 0, "backend" },
	EM_CFG_END,
};

static struct em_config *load(const char *text, char *err, size_t errlen, int *rc)
{
	struct em_config *cfg;
	*rc = em_config_load_string(text, "t.ini", schema, &cfg, err, errlen);
	return cfg;
}

int main(void)
{
	char err[256];
	int rc;
	struct em_config *cfg;

	cfg = load("[cluster]\nsecret_file = /etc/ember/secret\n"
		   "[net]\nreactors = 4\ninline = off\nbuffer = 1M\ntimeout = 250ms\n"
		   "[target.ssd0]\npath = /dev/ng0n1\nid = 7\n"
		   "[target.ssd1]\npath = /data/t1\nid = 8\nbackend = uring\n",
		   err, sizeof(err), &rc);
	is_int(rc, 0, "valid file loads");
	ok(cfg != NULL, "config returned");
	if (!cfg)
		return tap_done();
	is_int(em_config_int(cfg, "net", "reactors"), 4, "int value");
	ok(!em_config_bool(cfg, "net", "inline"), "bool off");
	is_int(em_config_size(cfg, "net", "buffer"), 1 << 20, "size with suffix");
	is_int(em_config_duration_ms(cfg, "net", "timeout"), 250, "duration in ms");
	is_str(em_config_str(cfg, "net", "listen"), "tcp://127.0.0.1:9000", "string default");
	ok(!em_config_is_set(cfg, "net", "listen"), "default is not 'set'");
	ok(em_config_is_set(cfg, "net", "reactors"), "explicit value is 'set'");
	is_int(em_config_instance_count(cfg, "target"), 2, "two target instances");
	is_str(em_config_instance(cfg, "target", 0), "target.ssd0", "first instance in file order");
	is_str(em_config_instance(cfg, "target", 1), "target.ssd1", "second instance");
	ok(em_config_instance(cfg, "target", 2) == NULL, "no third instance");
	is_str(em_config_str(cfg, "target.ssd0", "backend"), "auto", "instance default");
	is_str(em_config_str(cfg, "target.ssd1", "backend"), "uring", "instance value");
	is_int(em_config_int(cfg, "target.ssd1", "id"), 8, "instance int");
	em_config_free(cfg);

	struct {
		const char *text, *want;
		int rc;
	} bad[] = {
		{ "[cluster]\nsecret_file=x\n[net]\nprot = 1\n", "t.ini:4: unknown key 'prot' in [net]", -EINVAL },
		{ "[cluster]\nsecret_file=x\n[nett]\nreactors = 1\n", "t.ini:4: unknown section [nett]", -EINVAL },
		{ "[cluster]\nsecret_file=x\n[net]\nreactors = four\n",
		  "t.ini:4: bad value 'four' for net.reactors: expected an integer", -EINVAL },
		{ "[cluster]\nsecret_file=x\n[net]\nreactors = 65\n",
		  "t.ini:4: value '65' for net.reactors is out of range [1, 64]", -ERANGE },
		{ "[cluster]\nsecret_file=x\n[net]\ninline = maybe\n",
		  "t.ini:4: bad value 'maybe' for net.inline: expected true or false", -EINVAL },
		{ "[cluster]\nsecret_file=x\n[net]\nbuffer = 12Q\n",
		  "t.ini:4: bad value '12Q' for net.buffer: expected a size such as 4096, 64K or 1G", -EINVAL },
		{ "[cluster]\nsecret_file=x\n[net]\nbuffer = 99999999999999999999\n",
		  "t.ini:4: bad value '99999999999999999999' for net.buffer: expected a size such as 4096, 64K or 1G", -ERANGE },
		{ "[cluster]\nsecret_file=x\n[net]\nreactors = 2\nreactors = 3\n",
		  "t.ini:5: key 'reactors' set twice in [net]", -EINVAL },
		{ "[net]\nreactors = 2\n", "t.ini: missing required key 'secret_file' in [cluster]", -EINVAL },
		{ "[cluster]\nsecret_file=x\n[target.a]\npath = /x\n",
		  "t.ini: missing required key 'id' in [target.a]", -EINVAL },
		{ "[cluster]\nsecret_file=x\n[target.]\npath = /x\n", "t.ini:4: unknown section [target.]", -EINVAL },
		{ "[cluster]\nsecret_file=x\njust words\n",
		  "t.ini:3: syntax error (expected [section] or key = value)", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = load(bad[i].text, err, sizeof(err), &rc);
		is_int(rc, bad[i].rc, bad[i].want);
		ok(cfg == NULL, "no config on error");
		is_str(err, bad[i].want, "error message names file, line and option");
	}

	rc = em_config_load_file("/nonexistent/ember.ini", schema, &cfg, err, sizeof(err));
	is_int(rc, -ENOENT, "missing file is -ENOENT");
	is_str(err, "/nonexistent/ember.ini: cannot open: No such file or directory", "missing file message");

	char path[] = "/tmp/ember-cfgtest-XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "; comment\n[cluster]\nsecret_file = /s\n";
	ok(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1, "write temp config");
	close(fd);
	rc = em_config_load_file(path, schema, &cfg, err, sizeof(err));
	is_int(rc, 0, "file loads");
	if (cfg)
		is_str(em_config_str(cfg, "cluster", "secret_file"), "/s", "value from file");
	em_config_free(cfg);
	unlink(path);

	uint64_t u;
	int64_t i64;
	is_int(em_parse_size("4 KiB", &u), 0, "size with space and KiB");
	is_int(u, 4096, "4 KiB is 4096");
	is_int(em_parse_size("-1", &u), -EINVAL, "negative size rejected");
	is_int(em_parse_size("17179869184T", &u), -ERANGE, "size overflow rejected");
	is_int(em_parse_duration_ms("2m", &u), 0, "minutes parse");
	is_int(u, 120000, "2m is 120000 ms");
	is_int(em_parse_int("0x10", &i64), 0, "hex int");
	is_int(i64, 16, "0x10 is 16");
	is_int(em_parse_int("", &i64), -EINVAL, "empty int rejected");
	return tap_done();
}
