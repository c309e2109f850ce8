/* outfile.h: writing an output file safely on a shared filesystem.  A regular file is
 * replaced atomically: the data go to a temporary file beside it whose name nobody can
 * predict (mkstemp: O_CREAT|O_EXCL, so never through a planted link), with the mode a
 * plain creation would get (0666 less the umask), then rename(2) publishes it.  An
 * output that is a character device (/dev/null) is written in place, never replaced; a
 * FIFO, socket or directory is refused.  Rank-local. */
#ifndef ND_COMMON_OUTFILE_H
#define ND_COMMON_OUTFILE_H

#include "common/nd.h"

typedef struct nd_outfile {
    const char *path; /* borrowed */
    char *tmp;        /* the temporary name (nd_malloc'd), NULL when written in place */
    int fd;           /* open for writing */
} nd_outfile;

/* Opens path for writing as above.  Errors: ND_EUSAGE (an output that cannot be opened
 * or created: a directory, a FIFO, a missing or read-only directory); the message names
 * path.  Later writes fail with ND_EIO. */
nd_status nd_out_open(const char *path, nd_outfile *o);
/* Closes o and, when ok, publishes it (fsync is the caller's); when !ok, removes the
 * temporary file.  Returns ND_OK or the first failure (also when ok was false: ND_OK). */
nd_status nd_out_close(nd_outfile *o, bool ok);
/* Whether o->tmp (the name) is still the file o->fd holds: for library code that opens
 * the temporary file by name (HDF5), so a link swapped in between is detected. */
bool nd_out_same_file(const nd_outfile *o);
/* Writes n bytes to o->fd (retrying short writes); ND_EIO naming o->path. */
nd_status nd_out_write(nd_outfile *o, const void *p, size_t n);

/* Rank-local: whether the filesystem that holds path (a file to be created: its
 * directory is asked) has `need` bytes free for an unprivileged writer; *avail := the
 * bytes free.  True when the filesystem cannot say.  A check before a large write
 * turns a full disk into one clear error instead of a failure in the middle of MPI-IO
 * (whose library prints its own messages). */
bool nd_fs_room(const char *path, uint64_t need, uint64_t *avail);

/* open(2) that never blocks on a FIFO and opens only a regular file (through links):
 * -1 with errno EINVAL for anything else.  The descriptor is blocking again. */
int nd_open_regular(const char *path, int flags, unsigned mode);
/* Whether path names a regular file (through links): check before a library opens it. */
bool nd_is_regular(const char *path);

#endif
