/* proc.c: running Slurm's and Noodle's commands (sbatch, scontrol, noodlec, noodle-mql)
 * without a shell, finding Noodle's own programs, and small file helpers.
 *
 * Invariant: arguments are passed as argv (never through sh -c), so no quoting is
 * needed here; a child's stdout is read completely before it is waited for.
 * Specified by docs/slurm.md ("How noodle-submit finds its tools").
 */
#include "slurm/slurm.h"

#include "common/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

nd_status nd_slurm_read_file(const char *path, nd_strbuf *out)
{
    FILE *fp = fopen(path, "rb");
    ND_CHECK(fp != NULL, ND_EUSAGE, "cannot read '%s': %s", path, strerror(errno));
    char buf[8192];
    size_t n;
    nd_status st = ND_OK;
    while (st == ND_OK && (n = fread(buf, 1, sizeof buf, fp)) > 0) st = nd_sb_append(out, buf, n);
    if (st == ND_OK && ferror(fp)) st = nd_err_set(ND_EUSAGE, "cannot read '%s'", path);
    fclose(fp);
    if (st == ND_OK && !out->data) st = nd_sb_puts(out, "");
    return st;
}

/* Reads two pipes to their ends without deadlock (a child may fill either one). */
static nd_status drain(int fo, nd_strbuf *out, int fe, nd_strbuf *err)
{
    nd_status st = ND_OK;
    char buf[4096];
    while (fo >= 0 || fe >= 0) {
        fd_set set;
        FD_ZERO(&set);
        if (fo >= 0) FD_SET(fo, &set);
        if (fe >= 0) FD_SET(fe, &set);
        if (select((fo > fe ? fo : fe) + 1, &set, NULL, NULL, NULL) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        int *fds[2] = {&fo, &fe};
        nd_strbuf *bufs[2] = {out, err};
        for (int k = 0; k < 2; k++) {
            if (*fds[k] < 0 || !FD_ISSET(*fds[k], &set)) continue;
            ssize_t n = read(*fds[k], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                close(*fds[k]);
                *fds[k] = -1;
            } else if (st == ND_OK) {
                st = nd_sb_append(bufs[k], buf, (size_t)n);
            }
        }
    }
    if (fo >= 0) close(fo);
    if (fe >= 0) close(fe);
    return st;
}

nd_status nd_slurm_run(char *const argv[], nd_strbuf *out, nd_strbuf *err, int *exit_status)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    int errp[2] = {-1, -1}; /* close-on-exec pipe: carries errno when exec fails */
    bool ok = (!out || pipe(po) == 0) && (!err || pipe(pe) == 0) && pipe(errp) == 0;
    pid_t pid = -1;
    if (ok) {
        fcntl(errp[1], F_SETFD, FD_CLOEXEC);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
    }
    if (!ok || pid < 0) {
        int e = errno;
        int all[6] = {po[0], po[1], pe[0], pe[1], errp[0], errp[1]};
        for (int k = 0; k < 6; k++)
            if (all[k] >= 0) close(all[k]);
        return nd_err_set(ND_EIO, "%s: %s", ok ? "fork" : "pipe", strerror(e));
    }
    if (pid == 0) {
        close(errp[0]);
        if (out) close(po[0]), dup2(po[1], STDOUT_FILENO), close(po[1]);
        if (err) close(pe[0]), dup2(pe[1], STDERR_FILENO), close(pe[1]);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(errp[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(errp[1]);
    if (out) close(po[1]);
    if (err) close(pe[1]);
    nd_status st = drain(out ? po[0] : -1, out, err ? pe[0] : -1, err);
    int e = 0;
    ssize_t r;
    do r = read(errp[0], &e, sizeof e);
    while (r < 0 && errno == EINTR);
    close(errp[0]);
    int wst;
    while (waitpid(pid, &wst, 0) < 0)
        if (errno != EINTR) return nd_err_set(ND_EIO, "waitpid: %s", strerror(errno));
    if (r == (ssize_t)sizeof e)
        return nd_err_set(ND_EUSAGE, "cannot run %s: %s", argv[0], strerror(e));
    *exit_status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
    if (st == ND_OK && out && !out->data) st = nd_sb_puts(out, "");
    if (st == ND_OK && err && !err->data) st = nd_sb_puts(err, "");
    return st;
}

static bool executable(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

nd_status nd_slurm_find_tool(const char *name, nd_strbuf *out)
{
    char path[PATH_MAX + 64];
    const char *bindir = getenv("NOODLE_BINDIR");
    if (bindir && *bindir) {
        snprintf(path, sizeof path, "%s/%s", bindir, name);
        if (executable(path)) return nd_slurm_abspath(path, out);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            /* a libtool wrapper runs the real program from .libs/: look one up too */
            const char *dirs[2] = {self, NULL};
            size_t sl = strlen(self);
            if (sl >= 6 && strcmp(self + sl - 6, "/.libs") == 0) {
                self[sl - 6] = '\0';
                dirs[0] = self;
            }
            snprintf(path, sizeof path, "%s/%s", dirs[0], name);
            if (executable(path)) return nd_sb_puts(out, path);
        }
    }
    const char *env_path = getenv("PATH");
    if (env_path) {
        const char *p = env_path;
        while (*p) {
            const char *end = strchr(p, ':');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len && len < PATH_MAX) {
                snprintf(path, sizeof path, "%.*s/%s", (int)len, p, name);
                if (executable(path)) return nd_slurm_abspath(path, out);
            }
            if (!end) break;
            p = end + 1;
        }
    }
    return nd_sb_puts(out, name);
}

nd_status nd_slurm_abspath(const char *path, nd_strbuf *out)
{
    if (path[0] == '/') return nd_sb_puts(out, path);
    char cwd[PATH_MAX];
    ND_CHECK(getcwd(cwd, sizeof cwd) != NULL, ND_EIO, "getcwd: %s", strerror(errno));
    const char *p = path;
    while (p[0] == '.' && p[1] == '/') p += 2; /* ./x -> x */
    if (strcmp(p, ".") == 0) return nd_sb_puts(out, cwd);
    return nd_sb_printf(out, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", p);
}
