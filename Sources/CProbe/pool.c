/* A per-thread small-object pool for C libraries that allocate and free a
 * handful of small records per request (nghttp2: streams, outbound items,
 * HPACK entries, header buffers). Each thread keeps LIFO free lists in
 * 16-byte size classes up to 1 KiB, so a steady load recycles the same warm
 * blocks without entering malloc; larger sizes go straight to malloc. A
 * block may be freed on another thread than the one that allocated it (it
 * joins that thread's lists). A thread's lists are returned to malloc when
 * it exits. */
#include "cprobe.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL_CLASSES 64 /* 16..1024 bytes */
#define HEADER 16       /* keeps malloc's 16-byte alignment */

typedef struct block { struct block *next; } block;

/* Header before each block: its class (0: a plain malloc of `size` bytes). */
typedef struct { size_t class; size_t size; } header;

static __thread block *lists[POOL_CLASSES + 1];
static __thread int registered;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void release_lists(void *unused) {
    (void)unused;
    for (int c = 1; c <= POOL_CLASSES; c++) {
        block *b = lists[c];
        while (b) {
            block *next = b->next;
            free((char *)b - HEADER);
            b = next;
        }
        lists[c] = NULL;
    }
    /* A block freed later in this thread's exit registers again (and is
     * released by the next destructor round). */
    registered = 0;
}

static void make_key(void) { pthread_key_create(&exit_key, release_lists); }

static void register_thread(void) {
    pthread_once(&exit_once, make_key);
    pthread_setspecific(exit_key, (void *)1);
    registered = 1;
}

static inline header *header_of(void *ptr) { return (header *)((char *)ptr - HEADER); }

void *cprobe_pool_malloc(size_t size, void *user) {
    (void)user;
    if (size > SIZE_MAX - HEADER - 15) return NULL;
    size_t c = size ? (size + 15) >> 4 : 1;
    if (c <= POOL_CLASSES) {
        block *b = lists[c];
        if (b) {
            lists[c] = b->next;
            return b;
        }
        if (!registered) register_thread();
        header *h = malloc(HEADER + (c << 4));
        if (!h) return NULL;
        h->class = c;
        h->size = c << 4;
        return (char *)h + HEADER;
    }
    header *h = malloc(HEADER + size);
    if (!h) return NULL;
    h->class = 0;
    h->size = size;
    return (char *)h + HEADER;
}

void cprobe_pool_free(void *ptr, void *user) {
    (void)user;
    if (!ptr) return;
    header *h = header_of(ptr);
    if (h->class == 0) {
        free(h);
        return;
    }
    if (!registered) register_thread();
    block *b = ptr;
    b->next = lists[h->class];
    lists[h->class] = b;
}

void *cprobe_pool_calloc(size_t count, size_t size, void *user) {
    if (size && count > (size_t)-1 / 2 / size) return NULL;
    void *p = cprobe_pool_malloc(count * size, user);
    if (p) memset(p, 0, count * size);
    return p;
}

void *cprobe_pool_realloc(void *ptr, size_t size, void *user) {
    if (!ptr) return cprobe_pool_malloc(size, user);
    header *h = header_of(ptr);
    if (size <= h->size && h->class != 0) return ptr;
    if (size > SIZE_MAX - HEADER - 15) return NULL;
    if (h->class == 0 && size > POOL_CLASSES << 4) {
        header *g = realloc(h, HEADER + size);
        if (!g) return NULL;
        g->size = size;
        return (char *)g + HEADER;
    }
    void *p = cprobe_pool_malloc(size, user);
    if (!p) return NULL;
    memcpy(p, ptr, h->size < size ? h->size : size);
    cprobe_pool_free(ptr, user);
    return p;
}
