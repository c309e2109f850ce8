/* dm_h5.c: parallel HDF5 I/O of distributed matrices (dm.h: h5write, h5read and the
 * _loc variants used by checkpoints and the catalog).
 *
 * The dataset is 2-D, row-major in the file (h5py shows the plain matrix), written and
 * read collectively: each rank selects the cross product of its rows and columns as a
 * union of at most four regular hyperslabs and transfers a row-major copy of its local
 * part.  HDF5's automatic error printing is off; every failure is ND_EIO on every rank
 * (agreed before the next collective step).  docs/matrices.md.
 */
#include "runtime/dm_impl.h"

#include "common/alloc.h"
#include "runtime/spmd.h"

#include <hdf5.h>
#include <string.h>
#include <unistd.h>

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* Rank-local: the file name behind loc (for messages). */
static void loc_name(hid_t loc, char *buf, size_t size)
{
    if (H5Fget_name(loc, buf, size) < 0) snprintf(buf, size, "(unknown file)");
}

/* Rank-local: selects this rank's rows x columns of an m-by-n (or m, when one_d) space.
 * Only the global last block row/column can be partial, so a regular hyperslab covers
 * the full blocks and up to three more cover the ragged edge. */
static herr_t select_local(hid_t space, const nd_dm *A, bool one_d)
{
    if (A->mloc == 0 || A->nloc == 0) return H5Sselect_none(space);
    int nprow, npcol, myrow, mycol;
    nd_spmd_grid(&nprow, &npcol, &myrow, &mycol);
    hsize_t nb = (hsize_t)A->nb;
    hsize_t fr = (hsize_t)A->mloc / nb, pr = (hsize_t)A->mloc % nb;
    hsize_t fc = (hsize_t)A->nloc / nb, pc = (hsize_t)A->nloc % nb;
    hsize_t r0 = (hsize_t)myrow * nb, c0 = (hsize_t)mycol * nb;
    hsize_t rl = r0 + fr * nprow * nb, cl = c0 + fc * npcol * nb; /* ragged edge starts */
    hsize_t stride[2] = {(hsize_t)nprow * nb, (hsize_t)npcol * nb};
    struct { hsize_t start[2], count[2], block[2]; bool on; } part[4] = {
        {{r0, c0}, {fr, fc}, {nb, nb}, fr && fc},
        {{rl, c0}, {1, fc}, {pr, nb}, pr && fc},
        {{r0, cl}, {fr, 1}, {nb, pc}, fr && pc},
        {{rl, cl}, {1, 1}, {pr, pc}, pr && pc},
    };
    if (one_d) { /* m-by-1: the column is whole (nloc == 1 here) */
        part[0].on = fr > 0;
        part[1].on = pr > 0;
        part[2].on = part[3].on = false;
    }
    H5S_seloper_t op = H5S_SELECT_SET;
    for (int k = 0; k < 4; k++) {
        if (!part[k].on) continue;
        /* A 1-D space takes the row entries only. */
        if (H5Sselect_hyperslab(space, op, part[k].start, stride, part[k].count,
                                part[k].block) < 0)
            return -1;
        op = H5S_SELECT_OR;
    }
    return 0;
}

/* Rank-local: the memory space of the row-major local copy. */
static hid_t mem_space(const nd_dm *A, bool one_d)
{
    if (A->mloc == 0 || A->nloc == 0) {
        hsize_t d[1] = {1};
        hid_t s = H5Screate_simple(1, d, NULL);
        if (s >= 0 && H5Sselect_none(s) < 0) {
            H5Sclose(s);
            return -1;
        }
        return s;
    }
    hsize_t d[2] = {(hsize_t)A->mloc, (hsize_t)A->nloc};
    return H5Screate_simple(one_d ? 1 : 2, d, NULL);
}

static hid_t collective_xfer(void)
{
    hid_t x = H5Pcreate(H5P_DATASET_XFER);
    if (x >= 0 && H5Pset_dxpl_mpio(x, H5FD_MPIO_COLLECTIVE) < 0) {
        H5Pclose(x);
        return -1;
    }
    return x;
}

nd_status nd_dm_h5write_loc(int64_t loc_id, const char *dataset, const nd_dm *A)
{
    quiet();
    hid_t loc = (hid_t)loc_id;
    char fname[512];
    loc_name(loc, fname, sizeof fname);
    nd_status st = ND_OK;
    hid_t fspace = -1, mspace = -1, dset = -1, lcpl = -1, xfer = -1;
    size_t nbuf = (size_t)A->mloc * (size_t)A->nloc;
    double *buf = ND_ALLOC_N(double, nbuf ? nbuf : 1);
    if (!buf) st = ND_ENOMEM;

    hsize_t dims[2] = {(hsize_t)A->m, (hsize_t)A->n};
    if (st == ND_OK) {
        htri_t ex = H5Lexists(loc, dataset, H5P_DEFAULT);
        if (ex > 0 && H5Ldelete(loc, dataset, H5P_DEFAULT) < 0)
            st = nd_err_set(ND_EIO, "cannot replace dataset '%s' in '%s'", dataset, fname);
    }
    if (st == ND_OK) {
        fspace = H5Screate_simple(2, dims, NULL);
        lcpl = H5Pcreate(H5P_LINK_CREATE);
        if (fspace < 0 || lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0)
            st = nd_err_set(ND_EIO, "HDF5: cannot set up dataset '%s' in '%s'", dataset, fname);
    }
    if (st == ND_OK) {
        dset = H5Dcreate2(loc, dataset, H5T_IEEE_F64LE, fspace, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (dset < 0)
            st = nd_err_set(ND_EIO, "cannot create dataset '%s' in '%s'", dataset, fname);
    }
    if (st == ND_OK) {
        mspace = mem_space(A, false);
        xfer = collective_xfer();
        if (mspace < 0 || xfer < 0 || select_local(fspace, A, false) < 0)
            st = nd_err_set(ND_EIO, "HDF5: cannot select the blocks of '%s' in '%s'", dataset,
                            fname);
    }
    if (st == ND_OK)
        for (int li = 0; li < A->mloc; li++)
            for (int lj = 0; lj < A->nloc; lj++)
                buf[(size_t)li * A->nloc + lj] = A->a[li + (size_t)lj * A->lld];
    /* Nobody enters the collective write unless everybody can. */
    st = nd_spmd_agree(st);
    if (st == ND_OK && H5Dwrite(dset, H5T_NATIVE_DOUBLE, mspace, fspace, xfer, buf) < 0)
        st = nd_err_set(ND_EIO, "cannot write dataset '%s' in '%s'", dataset, fname);
    if (xfer >= 0) H5Pclose(xfer);
    if (mspace >= 0) H5Sclose(mspace);
    if (dset >= 0 && H5Dclose(dset) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "cannot close dataset '%s' in '%s'", dataset, fname);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (fspace >= 0) H5Sclose(fspace);
    ND_FREE_N(buf, nbuf ? nbuf : 1);
    return nd_spmd_agree(st);
}

nd_status nd_dm_h5read_loc(int64_t loc_id, const char *dataset, nd_dm **out)
{
    quiet();
    *out = NULL;
    hid_t loc = (hid_t)loc_id;
    char fname[512];
    loc_name(loc, fname, sizeof fname);
    nd_status st = ND_OK;
    hid_t dset = H5Dopen2(loc, dataset, H5P_DEFAULT), fspace = -1, mspace = -1, xfer = -1;
    hsize_t dims[2] = {0, 1};
    int nd = 0;
    if (dset < 0) {
        st = nd_err_set(ND_EIO, "cannot open dataset '%s' in '%s'", dataset, fname);
    } else {
        fspace = H5Dget_space(dset);
        nd = fspace < 0 ? -1 : H5Sget_simple_extent_ndims(fspace);
        hid_t t = H5Dget_type(dset);
        H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
        if (t >= 0) H5Tclose(t);
        if (nd != 1 && nd != 2)
            st = nd_err_set(ND_EIO, "dataset '%s' in '%s' is not a matrix (%d dimensions)",
                            dataset, fname, nd);
        else if (cls != H5T_FLOAT && cls != H5T_INTEGER)
            st = nd_err_set(ND_EIO, "dataset '%s' in '%s' does not hold numbers", dataset, fname);
        else if (H5Sget_simple_extent_dims(fspace, dims, NULL) < 0)
            st = nd_err_set(ND_EIO, "cannot read the shape of '%s' in '%s'", dataset, fname);
    }
    st = nd_spmd_agree(st);
    if (st == ND_OK && (dims[0] < 1 || dims[1] < 1))
        st = nd_err_set(ND_EIO, "dataset '%s' in '%s' is empty", dataset, fname);
    nd_dm *A = NULL;
    if (st == ND_OK) st = nd_dm_alloc((int64_t)dims[0], (int64_t)dims[1], &A);
    size_t nbuf = A ? (size_t)A->mloc * (size_t)A->nloc : 0;
    double *buf = NULL;
    if (st == ND_OK) {
        buf = ND_ALLOC_N(double, nbuf ? nbuf : 1);
        mspace = mem_space(A, nd == 1);
        xfer = collective_xfer();
        if (!buf) st = ND_ENOMEM;
        else if (mspace < 0 || xfer < 0 || select_local(fspace, A, nd == 1) < 0)
            st = nd_err_set(ND_EIO, "HDF5: cannot select the blocks of '%s' in '%s'", dataset,
                            fname);
        st = nd_spmd_agree(st);
    }
    if (st == ND_OK && H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, xfer, buf) < 0)
        st = nd_err_set(ND_EIO, "cannot read dataset '%s' in '%s'", dataset, fname);
    st = nd_spmd_agree(st);
    if (st == ND_OK)
        for (int li = 0; li < A->mloc; li++)
            for (int lj = 0; lj < A->nloc; lj++)
                A->a[li + (size_t)lj * A->lld] = buf[(size_t)li * A->nloc + lj];
    ND_FREE_N(buf, nbuf ? nbuf : 1);
    if (xfer >= 0) H5Pclose(xfer);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    if (st != ND_OK) {
        nd_dm_free(A);
        return st;
    }
    *out = A;
    return ND_OK;
}

/* Collective: opens path with the MPI-IO driver; create: make it if missing (rank 0
 * looks, so every rank takes the same branch). */
static nd_status open_file(const char *path, bool create, hid_t *fid)
{
    quiet();
    *fid = -1;
    int exists = 0;
    if (nd_spmd_rank() == 0) exists = access(path, F_OK) == 0;
    ND_TRY(nd_spmd_bcast(&exists, sizeof exists, 0));
    if (!exists && !create)
        return nd_err_set(ND_EIO, "cannot open HDF5 file '%s': no such file", path);
    nd_status st = ND_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, nd_spmd_comm(), MPI_INFO_NULL) < 0) {
        st = nd_err_set(ND_EIO, "HDF5: cannot set up parallel access to '%s'", path);
    } else if (exists) {
        *fid = H5Fopen(path, create ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
        if (*fid < 0)
            st = nd_err_set(ND_EIO, "cannot open HDF5 file '%s'%s", path,
                            create ? " for writing" : "");
    } else {
        *fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (*fid < 0) st = nd_err_set(ND_EIO, "cannot create HDF5 file '%s'", path);
    }
    if (fapl >= 0) H5Pclose(fapl);
    st = nd_spmd_agree(st);
    if (st != ND_OK && *fid >= 0) {
        H5Fclose(*fid);
        *fid = -1;
    }
    return st;
}

static nd_status close_file(hid_t fid, const char *path, nd_status st)
{
    if (H5Fclose(fid) < 0 && st == ND_OK)
        st = nd_err_set(ND_EIO, "cannot close HDF5 file '%s'", path);
    return nd_spmd_agree(st);
}

nd_status nd_dm_h5write(const char *path, const char *dataset, const nd_dm *A)
{
    hid_t fid;
    ND_TRY(open_file(path, true, &fid));
    nd_status st = nd_dm_h5write_loc((int64_t)fid, dataset, A);
    return close_file(fid, path, st);
}

nd_status nd_dm_h5read(const char *path, const char *dataset, nd_dm **out)
{
    *out = NULL;
    hid_t fid;
    ND_TRY(open_file(path, false, &fid));
    nd_status st = nd_dm_h5read_loc((int64_t)fid, dataset, out);
    st = close_file(fid, path, st);
    if (st != ND_OK && *out) {
        nd_dm_free(*out);
        *out = NULL;
    }
    return st;
}
