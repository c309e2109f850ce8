/* h5.c: scalar HDF5 attributes and string types (h5.h). */
#include "runtime/h5.h"

#include "common/alloc.h"

#include <string.h>
#include <unistd.h>

/* Fixed-length strings longer than this are corrupt data, not text we wrote. */
#define MAX_FIXED_STR ((size_t)1 << 24)

hid_t nd_h5_vstr_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        t = -1;
    }
    return t;
}

herr_t nd_h5_attr_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    if (sp < 0) return -1;
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

herr_t nd_h5_attr_u64(hid_t loc, const char *name, uint64_t v)
{
    return nd_h5_attr_put(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

herr_t nd_h5_attr_i64(hid_t loc, const char *name, int64_t v)
{
    return nd_h5_attr_put(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

herr_t nd_h5_attr_f64(hid_t loc, const char *name, double v)
{
    return nd_h5_attr_put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

herr_t nd_h5_attr_str(hid_t loc, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    herr_t rc = H5Tset_size(t, strlen(s) + 1);
    if (rc >= 0) rc = H5Tset_strpad(t, H5T_STR_NULLTERM);
    if (rc >= 0) rc = nd_h5_attr_put(loc, name, t, t, s);
    H5Tclose(t);
    return rc;
}

herr_t nd_h5_attr_vstr(hid_t loc, const char *name, const char *s)
{
    hid_t t = nd_h5_vstr_type();
    if (t < 0) return -1;
    herr_t rc = nd_h5_attr_put(loc, name, t, t, &s);
    H5Tclose(t);
    return rc;
}

herr_t nd_h5_attr_update(hid_t loc, const char *name, hid_t mtype, const void *v)
{
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, v);
    if (a >= 0) H5Aclose(a);
    return rc;
}

herr_t nd_h5_attr_get(hid_t loc, const char *name, hid_t mtype, void *v)
{
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Aread(a, mtype, v);
    if (a >= 0) H5Aclose(a);
    return rc;
}

static herr_t read_vstr(hid_t a, char **out)
{
    hid_t mt = nd_h5_vstr_type();
    char *s = NULL;
    herr_t rc = mt >= 0 ? H5Aread(a, mt, &s) : -1;
    if (rc >= 0) {
        *out = nd_strdup(s ? s : "");
        H5free_memory(s);
        if (!*out) rc = -1;
    }
    if (mt >= 0) H5Tclose(mt);
    return rc;
}

static herr_t read_fixed_str(hid_t a, size_t n, char **out)
{
    if (n >= MAX_FIXED_STR) return -1;
    hid_t mt = H5Tcopy(H5T_C_S1);
    char *buf = nd_malloc(n + 1);
    herr_t rc = -1;
    /* n + 1: room for the terminator when the file's string fills all n bytes (h5py's
     * numpy.bytes_ are NULLPAD without one; a NULLTERM memory type of n would drop the
     * last character) */
    if (mt >= 0 && buf && H5Tset_size(mt, n + 1) >= 0 && H5Aread(a, mt, buf) >= 0) {
        buf[n] = '\0';
        *out = nd_strdup(buf);
        rc = *out ? 0 : -1;
    }
    if (buf) nd_free(buf, n + 1);
    if (mt >= 0) H5Tclose(mt);
    return rc;
}

herr_t nd_h5_attr_read_str(hid_t a, char **out)
{
    *out = NULL;
    hid_t ft = H5Aget_type(a);
    if (ft < 0) return -1;
    herr_t rc = -1;
    /* One string only: reading an array of them into *out would overrun it. */
    hid_t sp = H5Aget_space(a);
    hssize_t npoints = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (npoints == 1 && H5Tget_class(ft) == H5T_STRING) {
        htri_t var = H5Tis_variable_str(ft);
        if (var > 0) rc = read_vstr(a, out);
        else if (var == 0) rc = read_fixed_str(a, H5Tget_size(ft), out);
    }
    H5Tclose(ft);
    return rc;
}

herr_t nd_h5_attr_get_str(hid_t loc, const char *name, char **out)
{
    *out = NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    herr_t rc = nd_h5_attr_read_str(a, out);
    H5Aclose(a);
    return rc;
}

herr_t nd_h5_close_tmp(hid_t f, const char *path, bool ok, MPI_Comm comm)
{
    int rank = 0, bad = 0;
    if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank);
    /* A full disk shows in this flush (also after a failed write).  HDF5 1.10 cannot
     * recover from a failed flush: its close then fails or hangs in a collective, and
     * closing again crashes.  So such a file is left open (nd_h5_files_stuck ends the
     * job without HDF5's exit handler); emptying it gives the space back. */
    bad = H5Fflush(f, H5F_SCOPE_GLOBAL) < 0;
    if (comm != MPI_COMM_NULL) MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, comm);
    if ((bad || !ok) && rank == 0 && path && truncate(path, 0) != 0) {
        /* nothing to give back (a missing file) */
    }
    if (bad) return -1;
    herr_t rc = H5Fclose(f);
    return ok ? rc : 0;
}

bool nd_h5_files_stuck(void)
{
    return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE) > 0;
}
