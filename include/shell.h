/*
 * shell.h - the two ways a person or a script drives the command language:
 * the interactive libedit shell and batch mode.
 */
#ifndef BH_SHELL_H
#define BH_SHELL_H

#include <stdio.h>
#include "bulkhead.h"
#include "cmd.h"

/* Interactive shell on the terminal; returns the exit status. */
int shell_run(struct bh *bh, const struct cmd_opts *o);

/*
 * Batch: run the commands of @f (named @name in messages: "policy.bh:14:
 * ..."), stopping at the first error.  Returns 0, or 1 after a failed
 * command.  Output to stdout, errors to stderr (JSON on stdout with json).
 */
int batch_run_file(struct bh *bh, const struct cmd_opts *o, FILE *f,
                   const char *name);
/* Batch from a -c string: commands separated by ';' or newlines. */
int batch_run_string(struct bh *bh, const struct cmd_opts *o,
                     const char *commands);

#endif
