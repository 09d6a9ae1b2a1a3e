/* Small helpers the chunk benchmarks share (engine_bench, target_bench).
 *
 * Header-only so each benchmark stays a single source file in
 * tools/meson.build. */
#ifndef EMBER_TOOLS_BENCH_H
#define EMBER_TOOLS_BENCH_H

#include <stdint.h>
#include <time.h>

#include "block/chunk/engine.h"

/* Seconds on the monotonic clock, for timing phases. */
static inline double em_bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The id of the benchmark's Nth chunk: N big-endian in the low 8 bytes, so
 * sequential chunks have sequential ids. */
static inline struct em_chunk_id em_bench_chunk_id(uint64_t n)
{
	struct em_chunk_id id = { { 0 } };
	for (int i = 0; i < 8; i++)
		id.b[8 + i] = (uint8_t)(n >> (56 - 8 * i));
	return id;
}

#endif
