/*
 * faultfs: a FUSE file system (libfuse 3) for BlkHostFaultTest that injects host IO errors under virtio-blk.
 *
 *   faultfs [--eio=FIRST:COUNT[,FIRST:COUNT...]] BACKING MOUNTPOINT
 *
 * Mounts one file, MOUNTPOINT/disk.img, whose reads, writes, fsync, getattr and truncate go through to the file
 * BACKING (pread/pwrite). A read or write that overlaps one of the --eio sector ranges (512-byte sectors; --eio may
 * be given more than once) fails as a whole with EIO, so the test chooses exactly which guest requests fail and
 * can check that the device answers those with VIRTIO_BLK_S_IOERR and only those, and that the good ones reached
 * BACKING. Every open sets direct_io: nothing is cached in the kernel, which otherwise could merge, split or read
 * ahead around the guest's requests (and answer a read from its cache without asking us), so exactly the guest's
 * requests reach this process, whether the device opened disk.img with O_DIRECT or not.
 *
 * Runs in the foreground, single-threaded (the guest sends one request at a time), until unmounted (fusermount3 -u)
 * or sent SIGTERM; then prints how many requests it failed. Bad arguments are refused in one line, exit status 2.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR 512u
#define MAX_RANGES 64
#define FILE_NAME "disk.img"
#define FILE_PATH "/" FILE_NAME

struct range {
    uint64_t first, count; /* sectors */
};

static struct range ranges[MAX_RANGES];
static unsigned range_count;
static int backing = -1;
static uint64_t failed_reads, failed_writes;

/* Whether bytes [offset, offset + size) touch a bad sector. */
static int overlaps_bad(off_t offset, size_t size) {
    if (size == 0 || offset < 0) {
        return 0;
    }
    uint64_t first = (uint64_t)offset / SECTOR;
    uint64_t end = ((uint64_t)offset + size + SECTOR - 1) / SECTOR; /* exclusive */
    for (unsigned i = 0; i < range_count; i++) {
        if (first < ranges[i].first + ranges[i].count && ranges[i].first < end) {
            return 1;
        }
    }
    return 0;
}

static int is_file(const char *path) {
    return strcmp(path, FILE_PATH) == 0;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    (void)fi;
    memset(st, 0, sizeof *st);
    if (strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    }
    if (!is_file(path)) {
        return -ENOENT;
    }
    if (fstat(backing, st) != 0) {
        return -errno;
    }
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t offset, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
    (void)offset;
    (void)fi;
    (void)flags;
    if (strcmp(path, "/") != 0) {
        return -ENOTDIR;
    }
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill(buf, FILE_NAME, NULL, 0, 0);
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi) {
    if (!is_file(path)) {
        return -ENOENT;
    }
    fi->direct_io = 1; /* no page cache: each guest request reaches fs_read or fs_write as it is */
    return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    (void)path;
    (void)fi;
    if (overlaps_bad(offset, size)) {
        failed_reads++;
        return -EIO;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(backing, buf + done, size - done, offset + (off_t)done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return done ? (int)done : -errno;
        }
        if (n == 0) {
            break; /* end of file */
        }
        done += (size_t)n;
    }
    return (int)done;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
    (void)path;
    (void)fi;
    if (overlaps_bad(offset, size)) {
        failed_writes++;
        return -EIO;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(backing, buf + done, size - done, offset + (off_t)done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return done ? (int)done : -errno;
        }
        done += (size_t)n;
    }
    return (int)done;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path;
    (void)fi;
    return (datasync ? fdatasync(backing) : fsync(backing)) == 0 ? 0 : -errno;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    (void)fi;
    if (!is_file(path)) {
        return -ENOENT;
    }
    return ftruncate(backing, size) == 0 ? 0 : -errno;
}

static const struct fuse_operations operations = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .fsync = fs_fsync,
    .truncate = fs_truncate,
};

static void refuse(const char *why, const char *arg) {
    fprintf(stderr, "faultfs: %s%s%s (usage: faultfs [--eio=FIRST:COUNT[,FIRST:COUNT...]] BACKING MOUNTPOINT)\n",
            why, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

/* A decimal number at *p, which then points past it; 0 if there is none or it overflows. */
static int parse_number(const char **p, uint64_t *out) {
    const char *s = *p;
    uint64_t n = 0;
    if (*s < '0' || *s > '9') {
        return 0;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10) {
            return 0;
        }
        n = n * 10 + d;
    }
    *p = s;
    *out = n;
    return 1;
}

static void parse_ranges(const char *arg) {
    const char *p = arg;
    for (;;) {
        struct range r;
        if (!parse_number(&p, &r.first) || *p++ != ':' || !parse_number(&p, &r.count) || r.count == 0 ||
            r.first + r.count < r.first || r.first + r.count > UINT64_MAX / SECTOR) {
            refuse("--eio needs FIRST:COUNT[,FIRST:COUNT...] with COUNT > 0", arg);
        }
        if (range_count == MAX_RANGES) {
            refuse("too many --eio ranges (at most 64)", arg);
        }
        ranges[range_count++] = r;
        if (*p == '\0') {
            return;
        }
        if (*p++ != ',') {
            refuse("--eio needs FIRST:COUNT[,FIRST:COUNT...] with COUNT > 0", arg);
        }
    }
}

int main(int argc, char *argv[]) {
    const char *files[2];
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--eio=", 6) == 0) {
            parse_ranges(argv[i] + 6);
        } else if (argv[i][0] == '-') {
            refuse("unknown option", argv[i]);
        } else if (nfiles == 2) {
            refuse("one backing file and one mount point only", argv[i]);
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (nfiles != 2) {
        refuse("a backing file and a mount point are needed", NULL);
    }
    backing = open(files[0], O_RDWR | O_CLOEXEC);
    if (backing < 0) {
        fprintf(stderr, "faultfs: cannot open %s: %s\n", files[0], strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(backing, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "faultfs: %s is not a regular file\n", files[0]);
        return 1;
    }
    /* Foreground, single-threaded; the rest are libfuse's own options. */
    char *fuse_argv[] = {argv[0], "-f", "-s", "-o", "fsname=faultfs,subtype=faultfs", (char *)files[1], NULL};
    int rc = fuse_main(6, fuse_argv, &operations, NULL);
    fprintf(stderr, "faultfs: unmounted; failed %" PRIu64 " reads and %" PRIu64 " writes with EIO\n", failed_reads,
            failed_writes);
    close(backing);
    return rc;
}
