/* tls: see tls.h. */
#include "tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define CERT_DAYS	3650

/* The message of libssl's latest error, after what. */
static int
sslerr(char *err, size_t errlen, const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, sizeof(buf), "unknown error");
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return seterr(err, errlen, "tls: %s: %s", what, buf);
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A new self-signed certificate for pkey; NULL with err. */
static X509 *
make_cert(EVP_PKEY *pkey, const char *name, char *err, size_t errlen)
{
	unsigned char serial[16];
	char cn[64];
	X509 *x = X509_new();
	X509_NAME *n;
	BIGNUM *bn = NULL;

	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;		/* a positive serial */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	snprintf(cn, sizeof(cn), "edask-%s", name);
	n = X509_get_subject_name(x);
	/* an hour back: the clocks of a Slurm pool's nodes may differ */
	if (X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x),
	    (long)CERT_DAYS * 24 * 3600) == NULL ||
	    X509_set_pubkey(x, pkey) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"edask", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    !add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(x, NID_key_usage, "critical,digitalSignature,"
	    "keyCertSign") ||
	    !add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") ||
	    !add_ext(x, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") ||
	    X509_sign(x, pkey, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	return x;
fail:
	sslerr(err, errlen, "cannot make a certificate");
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* Writes the PEM of x (or of pkey, with x NULL) into path, mode 0600,
 * whole (util_write_file). */
static int
write_pem(const char *path, X509 *x, EVP_PKEY *pkey, char *err,
    size_t errlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, why[512];
	long len;
	int ok, rc = -1;

	if (b == NULL)
		return sslerr(err, errlen, path);
	ok = x != NULL ? PEM_write_bio_X509(b, x) :
	    PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL);
	if (ok != 1 || (len = BIO_get_mem_data(b, &data)) <= 0) {
		sslerr(err, errlen, path);
		goto out;
	}
	if (util_write_file(path, data, (size_t)len, 0600, why,
	    sizeof(why)) == -1) {
		seterr(err, errlen, "tls: %s", why);
		goto out;
	}
	rc = 0;
out:
	/* the key's bytes do not outlive the write */
	if ((len = BIO_get_mem_data(b, &data)) > 0)
		OPENSSL_cleanse(data, (size_t)len);
	BIO_free(b);
	return rc;
}

/* The two files of a folder's pair, and the key and certificate in hand. */
struct creds {
	char		*crt;
	char		*key;
	EVP_PKEY	*pkey;
	X509		*x;
};

static void
creds_init(struct creds *cr, const char *dir)
{
	cr->crt = xasprintf("%s/%s", dir, TLS_CERT_FILE);
	cr->key = xasprintf("%s/%s", dir, TLS_KEY_FILE);
	cr->pkey = NULL;
	cr->x = NULL;
}

/* Frees what creds_init and its user made; returns rc. */
static int
creds_done(struct creds *cr, int rc)
{
	X509_free(cr->x);
	EVP_PKEY_free(cr->pkey);
	free(cr->crt);
	free(cr->key);
	return rc;
}

int
tls_make_creds(const char *dir, const char *name, char *err, size_t errlen)
{
	struct creds cr;
	int rc = -1;

	creds_init(&cr, dir);
	if (mkdir_p(dir, 0700) == -1 || chmod(dir, 0700) == -1) {
		seterr(err, errlen, "tls: %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((cr.pkey = EVP_EC_gen("P-256")) == NULL) {
		sslerr(err, errlen, "cannot make a key");
		goto out;
	}
	if ((cr.x = make_cert(cr.pkey, name, err, errlen)) == NULL)
		goto out;
	/* the key first: a crash between the two leaves a pair that
	 * tls_check_creds() refuses, never an old key under a new name */
	if (write_pem(cr.key, NULL, cr.pkey, err, errlen) == -1 ||
	    write_pem(cr.crt, cr.x, NULL, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	return creds_done(&cr, rc);
}

static void *
read_pem(const char *path, bool is_key, char *err, size_t errlen)
{
	BIO *b = BIO_new_file(path, "r");
	void *p;

	if (b == NULL) {
		seterr(err, errlen, "tls: %s: %s", path, strerror(errno));
		ERR_clear_error();
		return NULL;
	}
	p = is_key ? (void *)PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) :
	    (void *)PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (p == NULL)
		sslerr(err, errlen, path);
	return p;
}

int
tls_check_creds(const char *dir, char *err, size_t errlen)
{
	struct creds cr;
	int rc = -1;

	creds_init(&cr, dir);
	if ((cr.x = read_pem(cr.crt, false, err, errlen)) == NULL ||
	    (cr.pkey = read_pem(cr.key, true, err, errlen)) == NULL)
		goto out;
	if (X509_check_private_key(cr.x, cr.pkey) != 1) {
		sslerr(err, errlen, "the key does not match the certificate");
		goto out;
	}
	if (X509_verify(cr.x, X509_get0_pubkey(cr.x)) != 1) {
		sslerr(err, errlen, "the certificate does not verify");
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cr.x)) <= 0) {
		seterr(err, errlen, "tls: %s has expired", cr.crt);
		goto out;
	}
	rc = 0;
out:
	return creds_done(&cr, rc);
}
