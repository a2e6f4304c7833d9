/*
 * Shared by the CProbe fuzz harnesses: a reader over the fuzz input, oracle
 * checks that abort (so libFuzzer records the input), and a model of how the
 * kernel fills a recvmsg control buffer, for the harnesses whose parser walks
 * control messages.
 *
 * Nothing here parses what the harnessed code parses: the harnesses build
 * input the way the kernel or the engine would and call the real functions.
 */
#ifndef CPROBE_FUZZ_COMMON_H
#define CPROBE_FUZZ_COMMON_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sanitizer/asan_interface.h>

/* An oracle failure is a finding: abort so libFuzzer saves the input. */
#define FZ_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Input reader. Past the end it yields zeros, so every input is usable and
 * a short input means "the rest is zero" rather than a rejected run. */

typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader;

static inline uint8_t fz_u8(fz_reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static inline uint16_t fz_u16(fz_reader *r) {
    uint16_t hi = fz_u8(r);
    return (uint16_t)(hi << 8 | fz_u8(r));
}

static inline uint32_t fz_u32(fz_reader *r) {
    uint32_t hi = fz_u16(r);
    return hi << 16 | fz_u16(r);
}

/* Copies `want` bytes into `dst` (zeros past the end of the input). */
static inline void fz_bytes(fz_reader *r, void *dst, size_t want) {
    size_t got = want < r->n ? want : r->n;
    memcpy(dst, r->p, got);
    memset((uint8_t *)dst + got, 0, want - got);
    r->p += got;
    r->n -= got;
}

/* ------------------------------------------------------------------------ */
/* Poisoning what the kernel did not write.
 *
 * recvmsg leaves the part of a control buffer past the returned
 * msg_controllen, and the alignment padding after each control message, as
 * the caller left it: reading there is reading stale memory. ASan cannot know
 * that on its own (the buffer is one live object), so the kernel model
 * poisons those bytes; a parser that reads them is reported at once. Poison
 * is lifted before the next fill and after the call under test returns
 * (fz_unpoison_all), because the memory may be the caller's stack. */

#define FZ_MAX_POISON 1024

static struct {
    void *p;
    size_t n;
} fz_poisoned[FZ_MAX_POISON];
static size_t fz_npoisoned;

static inline void fz_poison(void *p, size_t n) {
    if (!n || fz_npoisoned == FZ_MAX_POISON) return;
    fz_poisoned[fz_npoisoned].p = p;
    fz_poisoned[fz_npoisoned].n = n;
    fz_npoisoned++;
    ASAN_POISON_MEMORY_REGION(p, n);
}

static inline void fz_unpoison_all(void) {
    for (size_t i = 0; i < fz_npoisoned; i++)
        ASAN_UNPOISON_MEMORY_REGION(fz_poisoned[i].p, fz_poisoned[i].n);
    fz_npoisoned = 0;
}

/* ------------------------------------------------------------------------ */
/* The kernel filling a control buffer (net/core/scm.c put_cmsg): each
 * message takes CMSG_SPACE(len) bytes; when the room left is less than
 * CMSG_LEN(len) the message is cut to the room left - cmsg_len included -
 * and MSG_CTRUNC is set; with less room than a cmsghdr nothing is written
 * (MSG_CTRUNC). On return msg_controllen is the bytes consumed. */

typedef struct fz_control {
    uint8_t *base; /* msg_control as the caller set it */
    size_t cap;    /* msg_controllen as the caller set it */
    size_t used;   /* msg_controllen on return */
    int flags;     /* MSG_CTRUNC when something was cut */
} fz_control;

static inline void fz_control_init(fz_control *c, void *base, size_t cap) {
    c->base = base;
    c->cap = base ? cap : 0;
    c->used = 0;
    c->flags = 0;
}

static inline void fz_put_cmsg(fz_control *c, int level, int type,
                               const void *data, size_t len) {
    size_t room = c->cap - c->used;
    if (room < sizeof(struct cmsghdr)) {
        c->flags |= MSG_CTRUNC;
        return;
    }
    size_t cmlen = CMSG_LEN(len);
    if (room < cmlen) {
        c->flags |= MSG_CTRUNC;
        cmlen = room;
    }
    struct cmsghdr h;
    memset(&h, 0, sizeof(h));
    h.cmsg_level = level;
    h.cmsg_type = type;
    h.cmsg_len = cmlen;
    memcpy(c->base + c->used, &h, sizeof(h));
    memcpy(c->base + c->used + sizeof(h), data, cmlen - sizeof(h));
    size_t space = CMSG_SPACE(len);
    if (space > room) space = room;
    fz_poison(c->base + c->used + cmlen, space - cmlen); /* padding */
    c->used += space;
}

/* Raw bytes as the control buffer: layouts the kernel never produces
 * (lengths that overrun, zero lengths, misplaced headers). A parser must
 * still stay inside msg_controllen. */
static inline void fz_put_raw(fz_control *c, const void *data, size_t len) {
    size_t room = c->cap - c->used;
    if (len > room) len = room;
    memcpy(c->base + c->used, data, len);
    c->used += len;
}

/* Poisons the unused tail; call once the buffer is complete. */
static inline void fz_control_finish(fz_control *c) {
    fz_poison(c->base + c->used, c->cap - c->used);
}

/* One control message kind a harness can ask the model for. */
typedef struct fz_cmsg_kind {
    int level;
    int type;
    size_t natural; /* the payload size the kernel sends for it */
} fz_cmsg_kind;

/* Reads a control-buffer description and fills `c` from it:
 *   u8 mode: bit0 raw bytes, bits 1-3 message count (0-7)
 *   raw:        u8 n, then n bytes copied as they are
 *   structured: per message u8 kind, u8 len, then the data, where kind
 *               indexes `kinds` (the last index reads level and type as two
 *               u32 instead) and len >= 0x80 means the kind's natural size,
 *               else len itself (0-127).
 * The data of a message is taken from the input (zeros past its end). */
static inline void fz_fill_control(fz_reader *r, fz_control *c,
                                   const fz_cmsg_kind *kinds, size_t nkinds) {
    uint8_t mode = fz_u8(r);
    if (mode & 1) {
        uint8_t raw[255];
        size_t n = fz_u8(r);
        fz_bytes(r, raw, n);
        fz_put_raw(c, raw, n);
    } else {
        unsigned count = (mode >> 1) & 7;
        for (unsigned i = 0; i < count; i++) {
            uint8_t k = (uint8_t)(fz_u8(r) % (nkinds + 1));
            uint8_t l = fz_u8(r);
            int level, type;
            size_t natural = 0;
            if (k < nkinds) {
                level = kinds[k].level;
                type = kinds[k].type;
                natural = kinds[k].natural;
            } else {
                level = (int)fz_u32(r);
                type = (int)fz_u32(r);
            }
            size_t len = l >= 0x80 ? natural : l;
            uint8_t data[256];
            fz_bytes(r, data, len);
            fz_put_cmsg(c, level, type, data, len);
        }
    }
    fz_control_finish(c);
}

#endif
