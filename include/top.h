/*
 * top.h - `bulkhead top`, the live TUI (front end, tui/): workloads, rule
 * hit counters and the flow log of the daemon, or of the engine
 * in-process, redrawn every interval.
 */
#ifndef BH_TOP_H
#define BH_TOP_H

#include <stddef.h>

struct top_opts {
	const char *db;        /* --db; NULL: the default */
	const char *socket;    /* --socket; NULL: the defaults */
	int interval_ms;       /* between refreshes; 0: 1000 */
	int no_color;          /* --no-color (also $NO_COLOR) */
};

/*
 * Run the TUI on the terminal until the user quits.  Returns 0, or 1 with
 * a message in @err when it cannot start (no terminal, no engine): the
 * terminal is then as it was.
 */
int top_run(const struct top_opts *o, char *err, size_t errlen);

#endif
