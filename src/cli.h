/*
 * cli: the client subcommands (deploy, start, stop, undeploy, scale, ls,
 * show, pool, events), which talk to a running daemon over the REST API.
 * The daemon is found through --addr, then EDASK_ADDR, then
 * 127.0.0.1:8780.  Output is a readable table, or
 * the API's JSON with --json.  Exit codes: 0 ok, 1 server-side error or
 * daemon unreachable, 2 usage.
 */
#ifndef EDASK_CLI_H
#define EDASK_CLI_H

#include <stdbool.h>

#define CLI_DEFAULT_ADDR "127.0.0.1:8780"

/* True when cmd is one of the client subcommands. */
bool cli_is_command(const char *cmd);
/* New string: the default state folder ($EDASK_STATE_DIR, else
 * $XDG_STATE_HOME/edask, else ~/.local/state/edask). */
char *cli_default_state_dir(void);
/* argv[0] is the subcommand; returns the exit code. */
int cli_main(int argc, char **argv);

#endif
