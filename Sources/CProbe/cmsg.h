/* Private to CProbe: reading control messages that recvmsg/recvmmsg wrote. */
#ifndef CPROBE_CMSG_H
#define CPROBE_CMSG_H

#include <stddef.h>
#include <sys/socket.h>

/* The data bytes of control message `m` inside what the kernel wrote to
 * `msg`'s control buffer. The kernel cuts the last message to the room left
 * (MSG_CTRUNC), cmsg_len included, so a message may hold less than its
 * type's struct: a reader copies a struct only when this is at least its size.
 * (Found by Fuzz/cprobe/fuzz_errqueue.c and fuzz_recvmsg_cmsg.c.) */
static inline size_t cprobe_cmsg_data_len(const struct msghdr *msg, const struct cmsghdr *m) {
    size_t left = (size_t)((const unsigned char *)msg->msg_control + msg->msg_controllen -
                           (const unsigned char *)m);
    size_t len = m->cmsg_len < left ? m->cmsg_len : left;
    return len > CMSG_LEN(0) ? len - CMSG_LEN(0) : 0;
}

#endif
