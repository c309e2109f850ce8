/* csv.h: arrays to and from comma-separated text (readcsv, writecsv; docs/language.md
 * "Builtins", SPMD, I/O).  Rank 0 does the file's I/O (text is sequential); the values move
 * between it and the distributed array in pieces of nd_arr_piece_elems() elements.
 * Collective: every rank passes the same arguments and gets the same status.
 */
#ifndef ND_CSV_H
#define ND_CSV_H

#include "runtime/dm.h"

/* Writes A (1-D: one value per line; 2-D: one row per line) to path, each value with 17
 * significant digits (read back exactly), after the line header when it is not NULL.
 * The file appears whole or not at all (a temporary file in the same directory, renamed
 * into place).  ND_EPROG for an array of more than 2 dimensions, ND_EIO when the file
 * cannot be written. */
nd_status nd_csv_write(const char *path, const nd_dm *A, const char *header);

/* Reads path into a rows x columns matrix.  Blank lines are skipped; a first line none of
 * whose fields is a number is a header and skipped too.  ND_EIO (the message names the
 * file, line and column) for a field that is not a number, an empty field, a line with
 * another number of fields than the first, no data, or an unreadable file.  Memory: the
 * whole array on rank 0 while it is read.  nofollow: a symbolic link as the last component
 * is refused (ELOOP), not followed (io.roots: path is the canonical name just checked). */
nd_status nd_csv_read(const char *path, bool nofollow, nd_dm **out);

#endif
