/* mark.c: the completion mark of a checkpoint directory (mark.h). */
#include "ckpt/mark.h"

#include <dirent.h>
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
