package io.bundlevisor.core.ring;

/**
 * Names of Linux errno values ({@code include/uapi/asm-generic/errno-base.h} and {@code errno.h}), so that error
 * messages say {@code EBADF} rather than {@code 9}.
 */
public final class Errno {

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int ESPIPE = 29;
    public static final int EROFS = 30;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;
    public static final int ETIME = 62;
    public static final int ECANCELED = 125;
    public static final int EALREADY = 114;

    private static final String[] NAMES = new String[134];

    static {
        String[] base = {null, "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
            "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV",
            "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE",
            "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS",
            "ENOTEMPTY", "ELOOP"};
        System.arraycopy(base, 0, NAMES, 0, base.length);
        NAMES[61] = "ENODATA";
        NAMES[62] = "ETIME";
        NAMES[75] = "EOVERFLOW";
        NAMES[88] = "ENOTSOCK";
        NAMES[90] = "EMSGSIZE";
        NAMES[95] = "EOPNOTSUPP";
        NAMES[98] = "EADDRINUSE";
        NAMES[103] = "ECONNABORTED";
        NAMES[104] = "ECONNRESET";
        NAMES[111] = "ECONNREFUSED";
        NAMES[110] = "ETIMEDOUT";
        NAMES[114] = "EALREADY";
        NAMES[122] = "EDQUOT";
        NAMES[125] = "ECANCELED";
    }

    private Errno() {
    }

    /** The symbolic name of {@code errno} ({@code "EBADF"}), or {@code "errno 123"} for one without a name here. */
    public static String name(int errno) {
        long e = Math.abs((long) errno);
        String name = e < NAMES.length ? NAMES[(int) e] : null;
        return name != null ? name : "errno " + e;
    }
}
