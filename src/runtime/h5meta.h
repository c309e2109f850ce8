/* h5meta.h: what h5write, h5read and h5attrs keep beside an array's values in a plain
 * HDF5 file (docs/language.md "Builtins", SPMD, I/O): attributes of a dataset (numbers
 * and strings, as h5py and xarray read them) and scalar datasets (a number).  The arrays
 * themselves go through dm.h's parallel I/O.  Collective: every rank passes the same
 * arguments and gets the same results; failures are ND_EIO (or ND_EPROG for a value
 * that cannot be stored) on every rank.
 */
#ifndef ND_H5META_H
#define ND_H5META_H

#include "runtime/dm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One attribute.  INT and FLOAT are scalars; STR is a NUL-terminated string of len bytes
 * (written as variable-length UTF-8: h5py gives a str; read from either string layout);
 * FLOATS (read only) is a numeric attribute of n > 1 elements, flattened in row-major
 * order.  What nd_h5_attrs returns owns name and s (nd_strdup'd) and v. */
typedef enum { ND_H5A_INT, ND_H5A_FLOAT, ND_H5A_STR, ND_H5A_FLOATS } nd_h5a_kind;
typedef struct nd_h5attr {
    char *name;
    nd_h5a_kind kind;
    int64_t i;
    double f;
    char *s;
    size_t len;
    double *v;
    size_t n;
} nd_h5attr;

/* Limits on what nd_h5_attrs reads from a file (a hostile file gets an error, not an
 * allocation of its choosing). */
#define ND_H5A_MAX_ELEMS ((size_t)1 << 20)
#define ND_H5A_MAX_COUNT 4096

/* Writes dataset in path (the file is created if missing, intermediate groups too): the
 * array A, or the number *scalar as a scalar dataset when A is NULL; then its attributes
 * (n of them; the names distinct, non-empty, without NUL).  An existing dataset of that
 * name is replaced, attributes included. */
nd_status nd_h5_write(const char *path, const char *dataset, const nd_dm *A,
                      const double *scalar, const nd_h5attr *attrs, size_t n);
/* Reads dataset: a numeric scalar dataset into *scalar (*is_scalar true), anything else
 * as nd_dm_h5read into *out. */
nd_status nd_h5_read(const char *path, const char *dataset, nd_dm **out, double *scalar,
                     bool *is_scalar);
/* The attributes of the object (dataset or group; "/" is the file) at name in path, in
 * name order: *out (nd_h5_attrs_free) and their number.  Integer attributes are INT,
 * floating ones FLOAT, strings (fixed or variable length) STR, numeric arrays of more
 * than one element FLOATS; any other type is an error naming the attribute. */
nd_status nd_h5_attrs(const char *path, const char *name, nd_h5attr **out, size_t *n);
void nd_h5_attrs_free(nd_h5attr *a, size_t n);

#endif
