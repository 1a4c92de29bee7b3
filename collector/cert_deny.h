/* cert_deny.h: a deny list of client certificates by SHA-256 fingerprint
 * (--deny-certificates FILE). A certificate on it is refused at every new call
 * and its open streams are closed within about a second of the file changing;
 * no CA rotation needed to cut one machine off. Thread-safe. */
#ifndef PK_CERT_DENY_H
#define PK_CERT_DENY_H

#include <stddef.h>

#define CERT_SHA256_HEX 64

struct cert_deny;

/* Loads path: one fingerprint per line, 64 hex digits with or without colons
 * (what `openssl x509 -noout -fingerprint -sha256` prints, its
 * "sha256 Fingerprint=" prefix allowed), '#' comments, blank lines. NULL + err
 * naming file:line when it cannot be read or a line is not a fingerprint. */
struct cert_deny *cert_deny_open(const char *path, char *err, size_t errlen);
/* Re-reads the file when its modification time or size changed. A broken file
 * is logged and the previous list kept. Returns 1 when the list changed. */
int cert_deny_refresh(struct cert_deny *d);
/* 1 when fingerprint (64 lowercase hex digits) is denied. */
int cert_deny_has(struct cert_deny *d, const char *fingerprint);
void cert_deny_close(struct cert_deny *d);

/* The SHA-256 fingerprint of the DER form of the first certificate in pem, as 64
 * lowercase hex digits (out: 65 bytes). 0, or -1 when it does not parse. */
int cert_fingerprint_pem(const char *pem, size_t len, char *out);

#endif
