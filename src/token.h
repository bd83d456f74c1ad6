/*
 * token: the API token.  Created on the daemon's first start as 64 hex
 * characters from getrandom(2) in STATE/token, mode 0600; read back on
 * later starts and by the CLI.  A token file others may read is refused:
 * the token is the only thing between a local user and the clusters.
 */
#ifndef EDASK_TOKEN_H
#define EDASK_TOKEN_H

#include <stddef.h>

#define TOKEN_LEN	64

/* Daemon: reads or creates dir/token into buf (>= TOKEN_LEN + 1). */
int token_load_or_create(const char *dir, char *buf, size_t len, char *err,
    size_t errlen);
/* CLI: reads dir/token into buf; -1 with err when absent or unreadable. */
int token_read(const char *dir, char *buf, size_t len, char *err,
    size_t errlen);

#endif
