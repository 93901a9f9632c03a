package io.bundlevisor.uring.sys;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/**
 * Unix-domain socket structures and constants for x86_64 and aarch64 Linux (LP64: both share every value here),
 * each offset checked at class load against the header it cites. Used with {@link Native#sendmsg},
 * {@link Native#recvmsg}, {@link Native#bind} and {@link Native#connect}.
 */
public final class SocketLayout {

    // <bits/socket.h>, <linux/socket.h>, <asm-generic/socket.h>
    public static final int AF_UNIX = 1;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int SOL_SOCKET = 1;
    public static final int SCM_RIGHTS = 1;
    /** {@code SO_RCVTIMEO} on LP64 ({@code SO_RCVTIMEO_OLD}: a {@code struct timeval} of two longs). */
    public static final int SO_RCVTIMEO = 20;
    /** {@code SO_SNDTIMEO} on LP64 ({@code SO_SNDTIMEO_OLD}), a {@code struct timeval} too. */
    public static final int SO_SNDTIMEO = 21;
    public static final int MSG_CTRUNC = 0x8;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;
    public static final int SHUT_RDWR = 2;
    /** {@code SCM_MAX_FD} (include/net/scm.h): the most descriptors the kernel accepts in one message. */
    public static final int SCM_MAX_FD = 253;

    // <asm-generic/errno.h>: the socket errnos (platform.core's Errno names only the ring's)
    public static final int EPIPE = 32;
    public static final int EMSGSIZE = 90;
    public static final int EADDRINUSE = 98;
    public static final int ECONNABORTED = 103;
    public static final int ECONNRESET = 104;

    /** {@code struct sockaddr_un} (<sys/un.h>, <linux/un.h>): a family and a 108-byte path. */
    public static final StructLayout SOCKADDR_UN = MemoryLayout.structLayout(
            JAVA_SHORT.withName("sun_family"),
            MemoryLayout.sequenceLayout(108, JAVA_BYTE).withName("sun_path"));
    private static final String UN = "<sys/un.h> struct sockaddr_un";
    public static final long SUN_FAMILY = HeaderLayouts.offset(UN, SOCKADDR_UN, 0, "sun_family");
    public static final long SUN_PATH = HeaderLayouts.offset(UN, SOCKADDR_UN, 2, "sun_path");
    public static final long SOCKADDR_UN_SIZE = HeaderLayouts.size(UN, SOCKADDR_UN, 110);
    /** The longest path {@code sun_path} holds with its terminating NUL. */
    public static final int SUN_PATH_MAX = 107;

    /** {@code struct iovec} (<bits/types/struct_iovec.h>). */
    public static final StructLayout IOVEC = MemoryLayout.structLayout(
            ADDRESS.withName("iov_base"),
            JAVA_LONG.withName("iov_len"));
    private static final String IOV = "<bits/types/struct_iovec.h> struct iovec";
    public static final long IOV_BASE = HeaderLayouts.offset(IOV, IOVEC, 0, "iov_base");
    public static final long IOV_LEN = HeaderLayouts.offset(IOV, IOVEC, 8, "iov_len");
    public static final long IOVEC_SIZE = HeaderLayouts.size(IOV, IOVEC, 16);

    /** {@code struct msghdr} (<bits/socket.h>; glibc declares msg_iovlen and msg_controllen as size_t). */
    public static final StructLayout MSGHDR = MemoryLayout.structLayout(
            ADDRESS.withName("msg_name"),
            JAVA_INT.withName("msg_namelen"),
            MemoryLayout.paddingLayout(4),
            ADDRESS.withName("msg_iov"),
            JAVA_LONG.withName("msg_iovlen"),
            ADDRESS.withName("msg_control"),
            JAVA_LONG.withName("msg_controllen"),
            JAVA_INT.withName("msg_flags"),
            MemoryLayout.paddingLayout(4));
    private static final String MSG = "<bits/socket.h> struct msghdr";
    public static final long MSG_NAME = HeaderLayouts.offset(MSG, MSGHDR, 0, "msg_name");
    public static final long MSG_NAMELEN = HeaderLayouts.offset(MSG, MSGHDR, 8, "msg_namelen");
    public static final long MSG_IOV = HeaderLayouts.offset(MSG, MSGHDR, 16, "msg_iov");
    public static final long MSG_IOVLEN = HeaderLayouts.offset(MSG, MSGHDR, 24, "msg_iovlen");
    public static final long MSG_CONTROL = HeaderLayouts.offset(MSG, MSGHDR, 32, "msg_control");
    public static final long MSG_CONTROLLEN = HeaderLayouts.offset(MSG, MSGHDR, 40, "msg_controllen");
    public static final long MSG_FLAGS = HeaderLayouts.offset(MSG, MSGHDR, 48, "msg_flags");
    public static final long MSGHDR_SIZE = HeaderLayouts.size(MSG, MSGHDR, 56);

    /** {@code struct cmsghdr} (<bits/socket.h>), followed by its data at {@link #cmsgData}. */
    public static final StructLayout CMSGHDR = MemoryLayout.structLayout(
            JAVA_LONG.withName("cmsg_len"),
            JAVA_INT.withName("cmsg_level"),
            JAVA_INT.withName("cmsg_type"));
    private static final String CMSG = "<bits/socket.h> struct cmsghdr";
    public static final long CMSG_LEN_FIELD = HeaderLayouts.offset(CMSG, CMSGHDR, 0, "cmsg_len");
    public static final long CMSG_LEVEL = HeaderLayouts.offset(CMSG, CMSGHDR, 8, "cmsg_level");
    public static final long CMSG_TYPE = HeaderLayouts.offset(CMSG, CMSGHDR, 12, "cmsg_type");
    public static final long CMSGHDR_SIZE = HeaderLayouts.size(CMSG, CMSGHDR, 16);

    /** {@code struct timeval} (<bits/types/struct_timeval.h>), the value of {@link #SO_RCVTIMEO}. */
    public static final StructLayout TIMEVAL = MemoryLayout.structLayout(
            JAVA_LONG.withName("tv_sec"),
            JAVA_LONG.withName("tv_usec"));
    private static final String TV = "<bits/types/struct_timeval.h> struct timeval";
    public static final long TV_SEC = HeaderLayouts.offset(TV, TIMEVAL, 0, "tv_sec");
    public static final long TV_USEC = HeaderLayouts.offset(TV, TIMEVAL, 8, "tv_usec");
    public static final long TIMEVAL_SIZE = HeaderLayouts.size(TV, TIMEVAL, 16);

    private SocketLayout() {
    }

    /** {@code CMSG_ALIGN(len)}: control messages are aligned to {@code sizeof(size_t)}. */
    public static long cmsgAlign(long length) {
        return (length + 7) & ~7L;
    }

    /** {@code CMSG_LEN(n)}: the {@code cmsg_len} of a control message carrying {@code n} data bytes. */
    public static long cmsgLen(long n) {
        return cmsgAlign(CMSGHDR_SIZE) + n;
    }

    /** {@code CMSG_SPACE(n)}: the bytes a control message with {@code n} data bytes occupies, padding included. */
    public static long cmsgSpace(long n) {
        return cmsgAlign(CMSGHDR_SIZE) + cmsgAlign(n);
    }

    /** {@code CMSG_DATA(cmsg)} as an offset from the control message's start. */
    public static long cmsgData(long cmsgOffset) {
        return cmsgOffset + cmsgAlign(CMSGHDR_SIZE);
    }
}
