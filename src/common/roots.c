/* roots.c: confined file access (roots.h).  A name is resolved the way the kernel looks
 * it up, one component at a time (lstat, readlink), so `..` applies to the directory a
 * link led to, not to the text.  Only the missing tail is taken by name: what does not
 * exist yet can only be created as a plain file or directory by the builtins, never as a
 * link.  docs/security.md "Confined file access". */
#include "common/roots.h"

#include "common/alloc.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* As many links in one lookup as Linux follows (MAXSYMLINKS). */
#define MAX_LINKS 40

void nd_roots_init(nd_roots *r)
{
    memset(r, 0, sizeof *r);
    nd_sb_init(&r->shown);
}

void nd_roots_free(nd_roots *r)
{
    for (size_t k = 0; k < r->n; k++) nd_strfree(r->dir[k]);
    if (r->dir) ND_FREE_N(r->dir, r->n);
    nd_sb_free(&r->shown);
    nd_roots_init(r);
}

/* out := its parent directory (out is canonical: no link, no dot component). */
static void up(char *out)
{
    char *s = strrchr(out, '/');
    if (s == out) out[1] = '\0';
    else if (s) *s = '\0';
}

int nd_roots_resolve(const char *path, char out[ND_ROOTS_PATH_MAX])
{
    char rest[ND_ROOTS_PATH_MAX], tmp[ND_ROOTS_PATH_MAX];
    if (!*path) return ENOENT;
    size_t plen = strlen(path);
    if (plen >= sizeof rest) return ENAMETOOLONG;
    memcpy(rest, path, plen + 1);
    if (path[0] == '/') strcpy(out, "/");
    else if (!getcwd(out, ND_ROOTS_PATH_MAX)) return errno; /* canonical already */
    bool missing = false; /* out names something that does not exist */
    int links = 0;
    const char *p = rest;
    for (;;) {
        while (*p == '/') p++;
        size_t len = strcspn(p, "/");
        if (len == 0) break;
        const char *next = p + len; /* "" or "/..." */
        if (len == 1 && p[0] == '.') {
            p = next;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            /* Beneath a missing directory the kernel finds nothing, `..` included. */
            if (missing) return ENOENT;
            up(out);
            p = next;
            continue;
        }
        size_t n = strlen(out);
        if (n + 1 + len >= ND_ROOTS_PATH_MAX) return ENAMETOOLONG;
        if (n > 1) out[n++] = '/';
        memcpy(out + n, p, len);
        out[n + len] = '\0';
        p = next;
        if (missing) continue;
        struct stat sb;
        if (lstat(out, &sb) != 0) {
            if (errno != ENOENT) return errno;
            missing = true; /* to be created (or the open fails): its name is the name */
            continue;
        }
        if (S_ISLNK(sb.st_mode)) { /* also a dangling one: open(O_CREAT) follows it */
            if (++links > MAX_LINKS) return ELOOP;
            ssize_t k = readlink(out, tmp, sizeof tmp);
            if (k < 0) return errno;
            size_t left = strlen(p);
            if ((size_t)k + left >= sizeof tmp) return ENAMETOOLONG;
            memcpy(tmp + k, p, left + 1); /* the target, then what followed the link */
            memcpy(rest, tmp, (size_t)k + left + 1);
            p = rest;
            up(out); /* a relative target starts in the link's directory */
            if (rest[0] == '/') strcpy(out, "/");
            continue;
        }
        if (!S_ISDIR(sb.st_mode) && *p) return ENOTDIR; /* "file/..." */
    }
    return 0;
}

nd_status nd_roots_add(nd_roots *r, const char *dir, bool must_exist)
{
    char canon[ND_ROOTS_PATH_MAX];
    int e = nd_roots_resolve(dir, canon);
    struct stat sb = {0};
    if (e == 0 && must_exist && stat(canon, &sb) != 0) e = errno;
    if (e == ENOENT && must_exist)
        return nd_err_set(ND_EUSAGE, "io.roots: '%s' does not exist", dir);
    if (e != 0) return nd_err_set(ND_EUSAGE, "io.roots: '%s': %s", dir, strerror(e));
    if (must_exist && !S_ISDIR(sb.st_mode))
        return nd_err_set(ND_EUSAGE, "io.roots: '%s' is not a directory", dir);
    char *d = nd_strdup(canon);
    char **grown = d ? ND_REALLOC_N(char *, r->dir, r->n, r->n + 1) : NULL;
    if (!grown) {
        nd_strfree(d);
        return ND_ENOMEM;
    }
    r->dir = grown;
    r->dir[r->n++] = d;
    if (r->shown.len) ND_TRY(nd_sb_putc(&r->shown, ':'));
    return nd_sb_puts(&r->shown, dir);
}

nd_status nd_roots_parse(nd_roots *r, const char *list)
{
    r->on = true;
    size_t before = r->n;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0) {
            char *dir = nd_strndup(p, len);
            if (!dir) return ND_ENOMEM;
            nd_status st = nd_roots_add(r, dir, true);
            nd_strfree(dir);
            ND_TRY(st);
        }
        p += len + (p[len] == ':');
    }
    ND_CHECK(r->n > before, ND_EUSAGE, "io.roots: no directory in '%s'", list);
    return ND_OK;
}

nd_status nd_roots_setup(nd_roots *r, const char *list, bool require_signed,
                         const char *ckpt_dir, const char *catalog_dir)
{
    if (list && *list) return nd_roots_parse(r, list);
    if (!require_signed) return ND_OK;
    r->on = true;
    char cwd[ND_ROOTS_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return nd_err_set(ND_EUSAGE, "io.roots: no working directory: %s", strerror(errno));
    ND_TRY(nd_roots_add(r, cwd, true));
    if (ckpt_dir && *ckpt_dir) ND_TRY(nd_roots_add(r, ckpt_dir, false));
    if (catalog_dir && *catalog_dir) ND_TRY(nd_roots_add(r, catalog_dir, false));
    return ND_OK;
}

/* Whether the canonical name p is root or lies below it. */
static bool under(const char *p, const char *root)
{
    size_t n = strlen(root);
    if (n == 1) return true; /* "/" */
    return strncmp(p, root, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

nd_status nd_roots_check(const nd_roots *r, const char *path, char *canon)
{
    if (!r->on) return ND_OK;
    char buf[ND_ROOTS_PATH_MAX];
    const char *shown = r->shown.data ? r->shown.data : "";
    int e = nd_roots_resolve(path, buf);
    if (e != 0)
        return nd_err_set(ND_EPROG, "'%s' cannot be checked against io.roots (%s): %s", path,
                          shown, strerror(e));
    for (size_t k = 0; k < r->n; k++)
        if (under(buf, r->dir[k])) {
            if (canon) memcpy(canon, buf, strlen(buf) + 1);
            return ND_OK;
        }
    return nd_err_set(ND_EPROG, "'%s' is outside io.roots (%s)", path, shown);
}
