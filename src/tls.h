/*
 * tls: an instance's TLS credentials, made with libssl (OpenSSL 3) when
 * it starts, as dask-gateway does for its clusters: one self-signed
 * certificate, its own CA, that the scheduler, the workers and the
 * clients all present and all trust, so that only a holder of the key
 * connects.  The key is an EC P-256 one; the files are mode 0600 in a
 * 0700 folder:
 *
 *   DIR/dask.crt   the certificate (CN edask-NAME, CA:TRUE, server and
 *                  client auth, SAN localhost and 127.0.0.1; 10 years)
 *   DIR/dask.key   its private key
 *
 * Dask checks the chain, not host names (check_hostname is off in its
 * Security), so one certificate serves every node of a Slurm pool too.
 */
#ifndef EDASK_TLS_H
#define EDASK_TLS_H

#include <stddef.h>

#define TLS_CERT_FILE	"dask.crt"
#define TLS_KEY_FILE	"dask.key"

/*
 * Makes dir (0700) and new credentials in it for instance name, replacing
 * any there (each run of an instance has its own).  0, or -1 with err.
 */
int tls_make_creds(const char *dir, const char *name, char *err,
    size_t errlen);

/*
 * 0 when dir holds a certificate and a key that belong together and the
 * certificate verifies against itself; -1 with err otherwise.
 */
int tls_check_creds(const char *dir, char *err, size_t errlen);

#endif
