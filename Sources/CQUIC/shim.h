/*
 * QUIC and HTTP/3 for the engine's HTTP/3 client: ngtcp2 0.12 with its
 * GnuTLS crypto helpers, nghttp3 0.8 and GnuTLS (Debian 12's packages).
 * Swift imports the libraries directly. Their convenience calls are
 * function-like macros Swift cannot see, so Swift calls the *_versioned
 * functions with the version constants (all 1 in these releases).
 */
#ifndef CQUIC_SHIM_H
#define CQUIC_SHIM_H
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <nghttp3/nghttp3.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#endif
