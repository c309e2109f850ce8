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

#endif
