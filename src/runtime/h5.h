/* h5.h: HDF5 plumbing shared by the modules that write HDF5 files (runtime's matrix I/O,
 * checkpoints, the catalog): scalar attributes and string types (the nd_h5_ helpers).
 *
 * Rank-local.  Each returns < 0 on failure (the HDF5 convention) and leaves the wording
 * of the error to the caller, which knows which file and which field it was.  File
 * types are little-endian whatever the host (h5py and other machines read them as
 * written).  Two string layouts exist on disk and both stay: fixed-length NUL-terminated
 * (checkpoints, the index's format tag) and variable-length UTF-8 (catalog results).
 */
#ifndef ND_RUNTIME_H5_H
#define ND_RUNTIME_H5_H

#include <hdf5.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

/* A variable-length UTF-8 string type (h5py shows str); the caller closes it. */
hid_t nd_h5_vstr_type(void);

/* Creates scalar attribute name of file type ftype on loc, written from v of mtype. */
herr_t nd_h5_attr_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v);
herr_t nd_h5_attr_u64(hid_t loc, const char *name, uint64_t v);
herr_t nd_h5_attr_i64(hid_t loc, const char *name, int64_t v);
herr_t nd_h5_attr_f64(hid_t loc, const char *name, double v);
/* Fixed-length, NUL-terminated (h5py shows bytes). */
herr_t nd_h5_attr_str(hid_t loc, const char *name, const char *s);
/* Variable-length UTF-8 (h5py shows str). */
herr_t nd_h5_attr_vstr(hid_t loc, const char *name, const char *s);
/* Overwrites the existing attribute name with v of mtype. */
herr_t nd_h5_attr_update(hid_t loc, const char *name, hid_t mtype, const void *v);

/* Reads scalar attribute name into v, converted to mtype. */
herr_t nd_h5_attr_get(hid_t loc, const char *name, hid_t mtype, void *v);
/* *out: an nd_strdup'd copy of the string attribute opened as a (fixed-length or
 * variable-length; fixed ones of 16 MiB and more are refused); free with nd_strfree. */
herr_t nd_h5_attr_read_str(hid_t a, char **out);
/* The same for the attribute called name on loc. */
herr_t nd_h5_attr_get_str(hid_t loc, const char *name, char **out);

/* Closes f, a temporary file that its writer renames into place (ok) or removes (!ok;
 * path NULL: a file of the user's, never emptied).  It is flushed first, uniformly over
 * comm: a flush that fails (a full disk) leaves f open, as HDF5 1.10 cannot close such a
 * file safely (see nd_h5_files_stuck), and rank 0 empties path to give the space back.
 * Collective over comm, the ranks that opened f (MPI_COMM_NULL: alone); < 0 when the
 * file could not be written and closed whole. */
herr_t nd_h5_close_tmp(hid_t f, const char *path, bool ok, MPI_Comm comm);
/* Rank-local: whether HDF5 still holds an open file at the end of a run (only after a
 * close failed).  HDF5's exit handler, which MPI_Finalize runs, crashes on such a file. */
bool nd_h5_files_stuck(void);

#endif
