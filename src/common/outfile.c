/* outfile.c: safe output files (outfile.h). */
#include "common/outfile.h"

#include "common/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define TMP_SUFFIX ".tmp.XXXXXX"

nd_status nd_out_open(const char *path, nd_outfile *o)
{
    o->path = path;
    o->tmp = NULL;
    o->fd = -1;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if (S_ISCHR(sb.st_mode)) { /* /dev/null: written in place */
            o->fd = open(path, O_WRONLY | O_CLOEXEC);
            if (o->fd < 0) return nd_err_set(ND_EUSAGE, "cannot write '%s': %s", path, strerror(errno));
            return ND_OK;
        }
        return nd_err_set(ND_EUSAGE, "cannot write '%s': %s", path,
                          S_ISDIR(sb.st_mode) ? strerror(EISDIR)
                          : S_ISFIFO(sb.st_mode) ? "it is a FIFO, not a regular file"
                                                 : "it is not a regular file");
    }
    size_t n = strlen(path) + sizeof TMP_SUFFIX;
    o->tmp = nd_malloc(n);
    if (!o->tmp) return ND_ENOMEM;
    snprintf(o->tmp, n, "%s" TMP_SUFFIX, path);
    o->fd = mkstemp(o->tmp);
    if (o->fd < 0) {
        int e = errno;
        nd_free(o->tmp, n);
        o->tmp = NULL;
        return nd_err_set(ND_EUSAGE, "cannot write '%s': %s", path, strerror(e));
    }
    mode_t um = umask(0); /* mkstemp made it 0600: the mode a plain creation would get */
    umask(um);
    (void)fchmod(o->fd, 0666 & ~um);
    (void)fcntl(o->fd, F_SETFD, FD_CLOEXEC);
    return ND_OK;
}

bool nd_out_same_file(const nd_outfile *o)
{
    struct stat a, b;
    return o->tmp && fstat(o->fd, &a) == 0 && lstat(o->tmp, &b) == 0 && S_ISREG(b.st_mode) &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

nd_status nd_out_write(nd_outfile *o, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(o->fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return nd_err_set(ND_EIO, "cannot write '%s': %s", o->path, strerror(w < 0 ? errno : ENOSPC));
        c += w, n -= (size_t)w;
    }
    return ND_OK;
}

nd_status nd_out_close(nd_outfile *o, bool ok)
{
    nd_status st = ND_OK;
    if (o->fd >= 0 && close(o->fd) != 0 && ok)
        st = nd_err_set(ND_EIO, "cannot write '%s': %s", o->path, strerror(errno));
    o->fd = -1;
    if (o->tmp) {
        if (ok && st == ND_OK && rename(o->tmp, o->path) != 0)
            st = nd_err_set(ND_EIO, "cannot write '%s': %s", o->path, strerror(errno));
        if (!ok || st != ND_OK) unlink(o->tmp);
        nd_free(o->tmp, strlen(o->path) + sizeof TMP_SUFFIX);
        o->tmp = NULL;
    }
    return st;
}

int nd_open_regular(const char *path, int flags, unsigned mode)
{
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

bool nd_is_regular(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool nd_fs_room(const char *path, uint64_t need, uint64_t *avail)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct statvfs sv;
    *avail = UINT64_MAX;
    if (statvfs(dir, &sv) != 0 || sv.f_frsize == 0) return true;
    *avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return *avail >= need;
}
