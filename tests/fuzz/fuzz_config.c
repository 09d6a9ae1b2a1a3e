/* Config files are parsed before anything else runs: no input may crash the
 * loader, and a successful load must answer every schema getter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/core/config.h"

static const struct em_cfg_option schema[] = {
	{ "net", "listen", EM_CFG_STRING, "tcp://127.0.0.1:9000", 0, 0, "" },
	{ "net", "reactors", EM_CFG_INT, "2", 1, 64, "" },
	{ "net", "inline", EM_CFG_BOOL, "yes", 0, 0, "" },
	{ "net", "buffer", EM_CFG_SIZE, "64K", 0, 0, "" },
	{ "net", "timeout", EM_CFG_DURATION, "5s", 0, 0, "" },
	{ "target.*", "path", EM_CFG_STRING, NULL, 0, 0, "" },
	{ "target.*", "id", EM_CFG_INT, "1", 0, 0, "" },
	EM_CFG_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	struct em_config *cfg;
	char err[256];
	if (em_config_load_string(text, "fuzz", schema, &cfg, err, sizeof(err)) == 0) {
		(void)em_config_str(cfg, "net", "listen");
		(void)em_config_int(cfg, "net", "reactors");
		(void)em_config_bool(cfg, "net", "inline");
		(void)em_config_size(cfg, "net", "buffer");
		(void)em_config_duration_ms(cfg, "net", "timeout");
		for (size_t i = 0; i < em_config_instance_count(cfg, "target"); i++) {
			const char *sec = em_config_instance(cfg, "target", i);
			(void)em_config_str(cfg, sec, "path");
			(void)em_config_int(cfg, sec, "id");
		}
		em_config_free(cfg);
	}
	free(text);
	return 0;
}
