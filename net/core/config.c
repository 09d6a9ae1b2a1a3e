#include "net/core/config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/core/log.h"

union cfg_val {
	int64_t i;
	uint64_t u;
	bool b;
};

struct cfg_entry {
	char *section;
	const struct em_cfg_option *opt;
	char *text;
	union cfg_val val;
};

struct em_config {
	const struct em_cfg_option *schema;
	struct cfg_entry *entries;
	size_t n_entries, cap_entries;
	char **sections; /* every section seen, in file order */
	size_t n_sections, cap_sections;
};

struct load_ctx {
	struct em_config *cfg;
	char msg[256];
	int err;
};

/* ---- value parsers ---------------------------------------------------- */

int em_parse_int(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (end == s || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

int em_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

struct unit {
	const char *suffix;
	uint64_t mult;
};

/* Unsigned number followed by one of the given suffixes (case-insensitive). */
static int parse_scaled(const char *s, const struct unit *units, size_t n_units, uint64_t *out)
{
	char *end;
	if (*s == '-' || *s == '\0')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < n_units; i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*out = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int em_parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1ull << 10 }, { "kib", 1ull << 10 },
		{ "m", 1ull << 20 }, { "mib", 1ull << 20 },
		{ "g", 1ull << 30 }, { "gib", 1ull << 30 },
		{ "t", 1ull << 40 }, { "tib", 1ull << 40 },
	};
	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), out);
}

int em_parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), out);
}

static const char *type_expectation(enum em_cfg_type t)
{
	switch (t) {
	case EM_CFG_STRING: return "a string";
	case EM_CFG_INT: return "an integer";
	case EM_CFG_BOOL: return "true or false";
	case EM_CFG_SIZE: return "a size such as 4096, 64K or 1G";
	case EM_CFG_DURATION: return "a duration such as 500ms, 5s or 2m";
	}
	return "?";
}

/* Parses text as the option's type and checks its bounds. */
static int parse_value(const struct em_cfg_option *opt, const char *text, union cfg_val *v)
{
	int rc = 0;
	int64_t num;

	switch (opt->type) {
	case EM_CFG_STRING:
		return 0;
	case EM_CFG_BOOL:
		return em_parse_bool(text, &v->b);
	case EM_CFG_INT:
		rc = em_parse_int(text, &v->i);
		num = v->i;
		break;
	case EM_CFG_SIZE:
		rc = em_parse_size(text, &v->u);
		num = v->u > INT64_MAX ? INT64_MAX : (int64_t)v->u;
		break;
	case EM_CFG_DURATION:
		rc = em_parse_duration_ms(text, &v->u);
		num = v->u > INT64_MAX ? INT64_MAX : (int64_t)v->u;
		break;
	default:
		return -EINVAL;
	}
	if (rc)
		return rc;
	if ((opt->min != 0 || opt->max != 0) && (num < opt->min || num > opt->max))
		return -ERANGE;
	return 0;
}

/* ---- schema lookup ------------------------------------------------------ */

/* Does schema section "pat" cover concrete section "sec"? */
static bool section_matches(const char *pat, const char *sec)
{
	size_t n = strlen(pat);
	if (n >= 2 && strcmp(pat + n - 2, ".*") == 0)
		return strncmp(pat, sec, n - 1) == 0 && sec[n - 1] != '\0';
	return strcmp(pat, sec) == 0;
}

static bool section_known(const struct em_cfg_option *schema, const char *sec)
{
	for (const struct em_cfg_option *o = schema; o->section; o++)
		if (section_matches(o->section, sec))
			return true;
	return false;
}

static const struct em_cfg_option *find_option(const struct em_cfg_option *schema,
					       const char *sec, const char *key)
{
	for (const struct em_cfg_option *o = schema; o->section; o++)
		if (section_matches(o->section, sec) && strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

static struct cfg_entry *find_entry(const struct em_config *cfg, const char *sec, const char *key)
{
	for (size_t i = 0; i < cfg->n_entries; i++) {
		struct cfg_entry *e = &cfg->entries[i];
		if (strcmp(e->section, sec) == 0 && strcmp(e->opt->key, key) == 0)
			return e;
	}
	return NULL;
}

/* ---- loading ------------------------------------------------------------ */

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int note_section(struct em_config *cfg, const char *sec)
{
	for (size_t i = 0; i < cfg->n_sections; i++)
		if (strcmp(cfg->sections[i], sec) == 0)
			return 0;
	if (grow((void **)&cfg->sections, &cfg->cap_sections, cfg->n_sections + 1, sizeof(char *)))
		return -ENOMEM;
	char *copy = strdup(sec);
	if (!copy)
		return -ENOMEM;
	cfg->sections[cfg->n_sections++] = copy;
	return 0;
}

static int fail(struct load_ctx *ctx, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct load_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
	va_end(ap);
	ctx->err = err;
	return 0; /* tells inih to report this line */
}

static int on_key(void *user, const char *sec, const char *key, const char *value)
{
	struct load_ctx *ctx = user;
	struct em_config *cfg = ctx->cfg;

	if (ctx->err)
		return 1; /* keep the first error; inih reports its line */
	if (!section_known(cfg->schema, sec))
		return fail(ctx, -EINVAL, "unknown section [%s]", sec);
	const struct em_cfg_option *opt = find_option(cfg->schema, sec, key);
	if (!opt)
		return fail(ctx, -EINVAL, "unknown key '%s' in [%s]", key, sec);
	if (find_entry(cfg, sec, key))
		return fail(ctx, -EINVAL, "key '%s' set twice in [%s]", key, sec);

	union cfg_val v = { 0 };
	int rc = parse_value(opt, value, &v);
	if (rc == -ERANGE && (opt->min != 0 || opt->max != 0))
		return fail(ctx, rc, "value '%s' for %s.%s is out of range [%lld, %lld]", value,
			    sec, key, (long long)opt->min, (long long)opt->max);
	if (rc)
		return fail(ctx, rc, "bad value '%s' for %s.%s: expected %s", value, sec, key,
			    type_expectation(opt->type));

	if (note_section(cfg, sec) ||
	    grow((void **)&cfg->entries, &cfg->cap_entries, cfg->n_entries + 1, sizeof(*cfg->entries)))
		return fail(ctx, -ENOMEM, "out of memory");
	struct cfg_entry *e = &cfg->entries[cfg->n_entries];
	e->section = strdup(sec);
	e->text = strdup(value);
	if (!e->section || !e->text) {
		free(e->section);
		free(e->text);
		return fail(ctx, -ENOMEM, "out of memory");
	}
	e->opt = opt;
	e->val = v;
	cfg->n_entries++;
	return 1;
}

/* Every required key must be present: in plain sections always, in instance
 * sections for each instance the file names. */
static int check_required(struct em_config *cfg, struct load_ctx *ctx)
{
	for (const struct em_cfg_option *o = cfg->schema; o->section; o++) {
		if (o->def)
			continue;
		size_t n = strlen(o->section);
		bool pattern = n >= 2 && strcmp(o->section + n - 2, ".*") == 0;
		for (size_t i = 0; i < (pattern ? cfg->n_sections : 1); i++) {
			const char *sec = pattern ? cfg->sections[i] : o->section;
			if (pattern && !section_matches(o->section, sec))
				continue;
			if (!find_entry(cfg, sec, o->key)) {
				fail(ctx, -EINVAL, "missing required key '%s' in [%s]", o->key, sec);
				return ctx->err;
			}
		}
	}
	return 0;
}

static void check_defaults(const struct em_cfg_option *schema)
{
	for (const struct em_cfg_option *o = schema; o->section; o++) {
		union cfg_val v;
		if (o->def && parse_value(o, o->def, &v) != 0) {
			EM_ERR("config", "schema default '%s' for %s.%s does not parse", o->def,
			       o->section, o->key);
			abort();
		}
	}
}

typedef int (*parse_fn)(const void *src, struct load_ctx *ctx);

static int parse_file(const void *src, struct load_ctx *ctx)
{
	return ini_parse((const char *)src, on_key, ctx);
}

static int parse_string(const void *src, struct load_ctx *ctx)
{
	return ini_parse_string((const char *)src, on_key, ctx);
}

static int load(parse_fn parse, const void *src, const char *name,
		const struct em_cfg_option *schema, struct em_config **out, char *err, size_t errlen)
{
	struct load_ctx ctx = { 0 };

	*out = NULL;
	check_defaults(schema);
	ctx.cfg = calloc(1, sizeof(*ctx.cfg));
	if (!ctx.cfg) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	ctx.cfg->schema = schema;

	int line = parse(src, &ctx);
	if (line == -1) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", name, strerror(e));
		em_config_free(ctx.cfg);
		return e ? -e : -ENOENT;
	}
	if (line == -2) {
		snprintf(err, errlen, "%s: out of memory", name);
		em_config_free(ctx.cfg);
		return -ENOMEM;
	}
	if (line > 0) {
		snprintf(err, errlen, "%s:%d: %s", name, line,
			 ctx.err ? ctx.msg : "syntax error (expected [section] or key = value)");
		em_config_free(ctx.cfg);
		return ctx.err ? ctx.err : -EINVAL;
	}
	if (check_required(ctx.cfg, &ctx)) {
		snprintf(err, errlen, "%s: %s", name, ctx.msg);
		em_config_free(ctx.cfg);
		return ctx.err;
	}
	*out = ctx.cfg;
	return 0;
}

int em_config_load_file(const char *path, const struct em_cfg_option *schema,
			struct em_config **out, char *err, size_t errlen)
{
	return load(parse_file, path, path, schema, out, err, errlen);
}

int em_config_load_string(const char *text, const char *name,
			  const struct em_cfg_option *schema,
			  struct em_config **out, char *err, size_t errlen)
{
	return load(parse_string, text, name, schema, out, err, errlen);
}

void em_config_free(struct em_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_entries; i++) {
		free(cfg->entries[i].section);
		free(cfg->entries[i].text);
	}
	for (size_t i = 0; i < cfg->n_sections; i++)
		free(cfg->sections[i]);
	free(cfg->entries);
	free(cfg->sections);
	free(cfg);
}

void em_config_schema_concat(struct em_cfg_option *out, size_t cap,
			     const struct em_cfg_option *const *parts)
{
	size_t n = 0;
	for (; *parts; parts++) {
		for (const struct em_cfg_option *o = *parts; o->section; o++) {
			if (n + 1 >= cap) {
				EM_ERR("config", "schema of more than %zu options", cap - 1);
				abort();
			}
			out[n++] = *o;
		}
	}
	out[n] = (struct em_cfg_option)EM_CFG_END;
}

void em_config_print_schema(FILE *f, const struct em_cfg_option *schema)
{
	for (const struct em_cfg_option *o = schema; o->section; o++)
		fprintf(f, "[%s] %s = %s\n    %s\n", o->section, o->key,
			o->def ? o->def : "(required)", o->help);
}

/* ---- getters ------------------------------------------------------------ */

/* The value of (section, key) as set in the file, else its default. */
static union cfg_val lookup(const struct em_config *cfg, const char *sec, const char *key,
			    enum em_cfg_type type, const char **text)
{
	const struct em_cfg_option *opt = find_option(cfg->schema, sec, key);
	if (!opt || opt->type != type) {
		EM_ERR("config", "program asked for undeclared option %s.%s", sec, key);
		abort();
	}
	const struct cfg_entry *e = find_entry(cfg, sec, key);
	if (e) {
		*text = e->text;
		return e->val;
	}
	if (!opt->def) {
		/* Required key of an instance the file never named. */
		EM_ERR("config", "program asked for %s.%s, which has no value", sec, key);
		abort();
	}
	union cfg_val v = { 0 };
	parse_value(opt, opt->def, &v);
	*text = opt->def;
	return v;
}

const char *em_config_str(const struct em_config *cfg, const char *section, const char *key)
{
	const char *text;
	lookup(cfg, section, key, EM_CFG_STRING, &text);
	return text;
}

int64_t em_config_int(const struct em_config *cfg, const char *section, const char *key)
{
	const char *text;
	return lookup(cfg, section, key, EM_CFG_INT, &text).i;
}

bool em_config_bool(const struct em_config *cfg, const char *section, const char *key)
{
	const char *text;
	return lookup(cfg, section, key, EM_CFG_BOOL, &text).b;
}

uint64_t em_config_size(const struct em_config *cfg, const char *section, const char *key)
{
	const char *text;
	return lookup(cfg, section, key, EM_CFG_SIZE, &text).u;
}

uint64_t em_config_duration_ms(const struct em_config *cfg, const char *section, const char *key)
{
	const char *text;
	return lookup(cfg, section, key, EM_CFG_DURATION, &text).u;
}

bool em_config_is_set(const struct em_config *cfg, const char *section, const char *key)
{
	return find_entry(cfg, section, key) != NULL;
}

/* Whether section is an instance "prefix.NAME"; count and index must agree. */
static bool is_instance(const char *section, const char *prefix, size_t plen)
{
	return strncmp(section, prefix, plen) == 0 && section[plen] == '.';
}

size_t em_config_instance_count(const struct em_config *cfg, const char *prefix)
{
	size_t n = 0, plen = strlen(prefix);
	for (size_t i = 0; i < cfg->n_sections; i++)
		n += is_instance(cfg->sections[i], prefix, plen);
	return n;
}

const char *em_config_instance(const struct em_config *cfg, const char *prefix, size_t idx)
{
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < cfg->n_sections; i++) {
		if (!is_instance(cfg->sections[i], prefix, plen))
			continue;
		if (idx-- == 0)
			return cfg->sections[i];
	}
	return NULL;
}
