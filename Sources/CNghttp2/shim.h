/*
 * nghttp2 (Debian's libnghttp2-dev) for the engine's HTTP/2 client. Swift
 * imports the library directly; the client drives it through
 * nghttp2_session_mem_recv / nghttp2_session_mem_send, so the ring stays the
 * only place that does I/O.
 */
#ifndef CNGHTTP2_SHIM_H
#define CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
