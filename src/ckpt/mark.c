/* mark.c: the completion mark of a checkpoint directory (mark.h). */
#include "ckpt/mark.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool nd_ckpt_dir_complete(const char *dir, char *when, size_t n)
{
    char mark[4200], line[256];
    snprintf(mark, sizeof mark, "%s/%s", dir, ND_CKPT_COMPLETE_FILE);
    if (n) when[0] = '\0';
    FILE *f = fopen(mark, "r");
    if (!f) return false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "finished: ", 10) != 0) continue;
        if (n) snprintf(when, n, "%.*s", (int)strcspn(line + 10, "\n"), line + 10);
        break;
    }
    fclose(f);
    return true;
}

int nd_ckpt_dir_clear(const char *dir, bool *had_mark)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, ND_CKPT_COMPLETE_FILE);
    *had_mark = unlink(path) == 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long seq;
        int end = 0;
        if (sscanf(e->d_name, "ckpt-%llu.h5%n", &seq, &end) != 1 || end == 0) continue;
        if (e->d_name[end] && strcmp(e->d_name + end, ".tmp") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0 && !e->d_name[end]) removed++;
    }
    closedir(d);
    return removed;
}

bool nd_ckpt_dir_unmark(const char *dir)
{
    char mark[4200];
    snprintf(mark, sizeof mark, "%s/%s", dir, ND_CKPT_COMPLETE_FILE);
    return unlink(mark) == 0 || errno == ENOENT || errno == ENOTDIR;
}

bool nd_ckpt_dir_mark(const char *dir, const char *text)
{
    char mark[4200], tmp[4300];
    snprintf(mark, sizeof mark, "%s/%s", dir, ND_CKPT_COMPLETE_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", mark);
    FILE *f = fopen(tmp, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    ok = ok && rename(tmp, mark) == 0;
    if (!ok) {
        int e = errno;
        (void)unlink(tmp);
        errno = e;
        return false;
    }
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return true;
}
