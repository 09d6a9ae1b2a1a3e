#include <stdio.h>
#include <unistd.h>

#include "net/core/reactor.h"
#include "tools/ember/cli.h"

const char *em_fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static void draw(struct em_progress *p, uint64_t now)
{
	unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;
	int filled = (int)(pct * 30 / 100);
	double secs = (double)(now - p->start_ms) / 1000.0;
	char done[32], rate[32];
	em_fmt_bytes(p->done, done, sizeof(done));
	em_fmt_bytes(secs > 0 ? (uint64_t)((double)p->done / secs) : 0, rate, sizeof(rate));
	fprintf(stderr, "\r%s [%.*s%*s] %3u%% %s %s/s", p->label, filled,
		"##############################", 30 - filled, "", pct, done, rate);
	p->last_draw_ms = now;
}

void em_progress_start(struct em_progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total;
	p->done = 0;
	p->start_ms = em_now_ms();
	p->last_draw_ms = 0;
	p->tty = isatty(STDERR_FILENO);
}

void em_progress_update(struct em_progress *p, uint64_t done)
{
	p->done = done;
	uint64_t now = em_now_ms();
	if (p->tty && now - p->last_draw_ms >= 100)
		draw(p, now);
}

void em_progress_finish(struct em_progress *p)
{
	if (!p->tty)
		return;
	draw(p, em_now_ms());
	fputc('\n', stderr);
}
