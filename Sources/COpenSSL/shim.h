/*
 * OpenSSL for the engine's TLS client. Swift imports OpenSSL's functions
 * directly; these inline helpers exist only for what it cannot import
 * (function-like macros over SSL_ctrl, STACK_OF accessors) or would need
 * many awkward calls for (a name or a SAN list printed into a string).
 * Every helper returns >= 0 on success and a negative value on failure.
 */
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/bio.h>
#include <string.h>

static inline int cprobe_tls_set_sni(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name) == 1 ? 0 : -1;
}

/// `min`/`max` are TLS1_2_VERSION, TLS1_3_VERSION or 0 (library default).
static inline int cprobe_tls_set_versions(SSL_CTX *ctx, int min, int max) {
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1) return -1;
    if (SSL_CTX_set_max_proto_version(ctx, max) != 1) return -1;
    return 0;
}

/// Frees read/write buffers while idle: an idle connection then costs a
/// few KiB instead of ~34 KiB.
static inline void cprobe_tls_release_buffers(SSL *ssl) {
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
}

static inline long cprobe_tls_pending_output(BIO *bio) { return (long)BIO_ctrl_pending(bio); }

/// Copies `bio`'s contents (a memory BIO) into `out` as a C string.
static inline int cprobe_tls_drain_text(BIO *bio, char *out, size_t cap) {
    int n = BIO_read(bio, out, (int)(cap - 1));
    if (n < 0) n = 0;
    out[n] = 0;
    return n;
}

/// The name printed RFC 2253 style (CN=...,O=...).
static inline int cprobe_tls_name_text(const X509_NAME *name, char *out, size_t cap) {
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) return -1;
    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
    int n = cprobe_tls_drain_text(b, out, cap);
    BIO_free(b);
    return n;
}

/// subjectAltName entries as "DNS:a,DNS:b,IP:127.0.0.1".
static inline int cprobe_tls_san_text(X509 *cert, char *out, size_t cap) {
    out[0] = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (!names) return 0;
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) { GENERAL_NAMES_free(names); return -1; }
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (i) BIO_write(b, ",", 1);
        if (g->type == GEN_DNS) {
            BIO_printf(b, "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
                       (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
            int len = ASN1_STRING_length(g->d.iPAddress);
            if (len == 4) BIO_printf(b, "IP:%d.%d.%d.%d", p[0], p[1], p[2], p[3]);
            else {
                BIO_printf(b, "IP:");
                for (int k = 0; k < len; k += 2) BIO_printf(b, k ? ":%x" : "%x", (p[k] << 8) | p[k + 1]);
            }
        } else {
            BIO_printf(b, "other:%d", g->type);
        }
    }
    GENERAL_NAMES_free(names);
    int n = cprobe_tls_drain_text(b, out, cap);
    BIO_free(b);
    return n;
}

/// notAfter as seconds since the epoch (UTC).
static inline int cprobe_tls_not_after(X509 *cert, long long *seconds) {
    const ASN1_TIME *t = X509_get0_notAfter(cert);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1) return -1;
    *seconds = (long long)timegm(&tm);
    return 0;
}

/// The most recent error on this thread's OpenSSL error queue, as text
/// ("" when none); clears the queue.
static inline int cprobe_tls_last_error(char *out, size_t cap) {
    unsigned long e = ERR_peek_last_error();
    out[0] = 0;
    if (e) ERR_error_string_n(e, out, cap);
    ERR_clear_error();
    return (int)(e & 0x7fffffff);
}

#endif
