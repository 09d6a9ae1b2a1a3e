/* INI configuration files with a schema.
 *
 * A program declares every option it understands in a schema (section, key,
 * type, default, bounds, one line of help). Loading checks the whole file
 * against it: unknown sections, unknown keys, duplicate keys, values of the
 * wrong type or out of bounds and missing required keys are all errors that
 * name the file, the line and the option. After a successful load the typed
 * getters cannot fail: every schema option has a value or a default.
 *
 * A schema section ending in ".*" (such as "target.*") matches any number of
 * named instances ("[target.ssd0]", "[target.ssd1]"); enumerate them with
 * em_config_instance_count()/em_config_instance().
 */
#ifndef EMBER_NET_CORE_CONFIG_H
#define EMBER_NET_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum em_cfg_type {
	EM_CFG_STRING,
	EM_CFG_INT,      /* signed 64-bit decimal or 0x hex */
	EM_CFG_BOOL,     /* true/false, yes/no, on/off, 1/0 */
	EM_CFG_SIZE,     /* bytes, with optional K/M/G/T suffix (powers of 1024) */
	EM_CFG_DURATION, /* milliseconds; suffixes ms, s, m, h (bare number: ms) */
};

struct em_cfg_option {
	const char *section;   /* "net" or "target.*" */
	const char *key;
	enum em_cfg_type type;
	const char *def;       /* default as text; NULL makes the key required */
	int64_t min, max;      /* bounds for numeric types; min == max == 0: none */
	const char *help;
};

/* Schemas end with an entry whose section is NULL. */
#define EM_CFG_END { NULL, NULL, EM_CFG_STRING, NULL, 0, 0, NULL }

struct em_config;

/* Load and validate. On failure returns a negative errno, *out is NULL and err
 * holds one line such as "ember.ini:12: unknown key 'prot' in [net]". */
int em_config_load_file(const char *path, const struct em_cfg_option *schema,
			struct em_config **out, char *err, size_t errlen);

/* The same for text in memory; "name" stands in for the file name in errors. */
int em_config_load_string(const char *text, const char *name,
			  const struct em_cfg_option *schema,
			  struct em_config **out, char *err, size_t errlen);

void em_config_free(struct em_config *cfg);

/* A program's schema is its own options followed by those of the layers it
 * configures ([net], [metrics], ...): copies the schemas of parts (a
 * NULL-terminated list, each ending in EM_CFG_END) one after the other into
 * out, which holds cap entries including the end marker. Too small an out is
 * a programming error and aborts, rather than drop options silently. */
void em_config_schema_concat(struct em_cfg_option *out, size_t cap,
			     const struct em_cfg_option *const *parts);

/* Every option of schema with its default and help, for --help-config. */
void em_config_print_schema(FILE *f, const struct em_cfg_option *schema);

/* Typed getters. "section" is a concrete section name ("net",
 * "target.ssd0"); asking for a key the schema does not declare, or with the
 * wrong type, is a programming error and aborts. A required key that is
 * declared in a ".*" schema section but whose instance lacks it fails the load,
 * so getters never see it missing. */
const char *em_config_str(const struct em_config *cfg, const char *section, const char *key);
int64_t em_config_int(const struct em_config *cfg, const char *section, const char *key);
bool em_config_bool(const struct em_config *cfg, const char *section, const char *key);
uint64_t em_config_size(const struct em_config *cfg, const char *section, const char *key);
uint64_t em_config_duration_ms(const struct em_config *cfg, const char *section, const char *key);

/* True when the file set the key (rather than the default supplying it). */
bool em_config_is_set(const struct em_config *cfg, const char *section, const char *key);

/* Named instances of a ".*" schema section, in file order. "prefix" is the
 * part before ".*" ("target"); em_config_instance() returns the full section
 * name ("target.ssd0"). */
size_t em_config_instance_count(const struct em_config *cfg, const char *prefix);
const char *em_config_instance(const struct em_config *cfg, const char *prefix, size_t idx);

/* Value parsers the loader uses, exposed for command-line flags.
 * Each returns 0 or -EINVAL (malformed) / -ERANGE (overflow). */
int em_parse_int(const char *s, int64_t *out);
int em_parse_bool(const char *s, bool *out);
int em_parse_size(const char *s, uint64_t *out);
int em_parse_duration_ms(const char *s, uint64_t *out);

#endif
