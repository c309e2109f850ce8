/* mark.h: a checkpoint directory's completion mark and its reset (docs/checkpoint.md
 * "Completed runs").  Rank-local file operations only, so that noodle-submit can use
 * them without MPI. */
#ifndef ND_CKPT_MARK_H
#define ND_CKPT_MARK_H

#include <stdbool.h>
#include <stddef.h>

/* The file that marks a checkpoint directory's run complete. */
#define ND_CKPT_COMPLETE_FILE "COMPLETE"

/* Whether dir holds a completed run; *when (n bytes) receives its UTC finish time, or
 * "" when the mark does not say. */
bool nd_ckpt_dir_complete(const char *dir, char *when, size_t n);
/* Removes dir's completion mark and its checkpoints (ckpt-N.h5 and their temporaries);
 * returns how many checkpoints it removed, and *had_mark. */
int nd_ckpt_dir_clear(const char *dir, bool *had_mark);
/* Removes dir's completion mark; no directory or no mark is success.  False (errno set)
 * when a mark stays. */
bool nd_ckpt_dir_unmark(const char *dir);
/* Writes the mark (text) atomically: a temporary file, fsync, rename, fsync of dir (which
 * must exist).  False (errno set) on failure, leaving no temporary behind. */
bool nd_ckpt_dir_mark(const char *dir, const char *text);

#endif
