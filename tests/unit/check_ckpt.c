/* check_ckpt.c: unit tests of src/ckpt on hand-built programs: the state blob keeps
 * sharing and cycles and rebinds string constants; every truncation of a blob and any
 * flipped byte is rejected or decoded safely; the HDF5 file round-trips matrices and
 * refuses a bad CRC, a bad matrix checksum and an unknown format version; the driver
 * resumes after checkpoint(), refuses other programs and parameters, and falls back past
 * a corrupt newest checkpoint.  Runs under MPI without fork.
 */
#include "nd_check.h"
#include "ckpt/ckpt_internal.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "nbc/builtin_ids.h"
#include "nbc/nbc.h"
#include "runtime/arr.h"
#include "runtime/dm_layout.h"
#include "runtime/spmd.h"
/* The fixtures build and inspect VM states directly. */
#include "vm/vm_internal.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* A map of one entry (the test's parameters and hints). */
static nd_kv kv1(const char *key, const char *val)
{
    nd_kv m;
    nd_kv_init(&m);
    ck_assert_int_eq(nd_kv_set(&m, key, val), ND_OK);
    return m;
}

/* ---- a hand-built program ---- */

static nd_instr ins(unsigned op, unsigned a, unsigned b, unsigned c, unsigned x)
{
    return (nd_instr){.op = (uint8_t)op, .x = (uint8_t)x, .a = (uint16_t)a,
                      .b = (uint16_t)b, .c = (uint16_t)c};
}

static nd_instr ins_bx(unsigned op, unsigned a, uint32_t bx)
{
    return ins(op, a, bx & 0xffff, bx >> 16, 0);
}

/* main: g0 = seed; checkpoint(); print(g0) -- with one string constant "hello". */
static nd_program *make_prog(int seed)
{
    nd_program *p = nd_calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    p->source_name = nd_strdup("t.noodle");
    p->nconsts = 1;
    p->consts = ND_ALLOC_N(nd_const, 1);
    p->consts[0].kind = ND_K_STR;
    p->consts[0].s = nd_malloc(6);
    memcpy(p->consts[0].s, "hello", 6);
    p->consts[0].slen = 5;
    p->nglobals = 4;
    p->globals = ND_ALLOC_N(char *, 4);
    for (int g = 0; g < 4; g++) {
        char name[8];
        snprintf(name, sizeof name, "g%d", g);
        p->globals[g] = nd_strdup(name);
    }
    nd_instr code[] = {
        ins_bx(ND_OP_LOADI, 0, (uint32_t)seed),
        ins_bx(ND_OP_SETG, 0, 0),
        ins(ND_OP_CALLB, 1, 0, ND_BI_CHECKPOINT, 0),
        ins_bx(ND_OP_GETG, 2, 0),
        ins(ND_OP_CALLB, 3, 2, ND_BI_PRINT, 1),
        ins(ND_OP_RET, 0, 0, 0, 0),
    };
    p->nfuncs = 1;
    p->funcs = ND_ALLOC_N(nd_func, 1);
    nd_func *f = &p->funcs[0];
    f->name = nd_strdup("<main>");
    f->line = 1;
    f->nregs = 8;
    f->ncode = ND_ARRAY_LEN(code);
    f->code = ND_ALLOC_N(nd_instr, f->ncode);
    f->pos = ND_ALLOC_N(nd_pos, f->ncode);
    memcpy(f->code, code, sizeof code);
    for (uint32_t k = 0; k < f->ncode; k++) f->pos[k] = (nd_pos){k + 1, 1};
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    return p;
}

static nd_value str_val(const char *s)
{
    nd_value v;
    ck_assert_int_eq(nd_str_value(s, strlen(s), &v), ND_OK);
    return v;
}

/* Fills vm with a graph: g0 = L = [1, 2.5, K"hello", L, M], g1 = L (shared),
 * g2 = M = {"b": L, "a": "x", "z": sqrt}, regs[5] = a 3x2 matrix, regs[6] = "hello"
 * constant. */
static void build_graph(nd_vm *vm, bool with_matrix)
{
    nd_list *l = nd_list_new(0);
    nd_map *m = nd_map_new(0);
    nd_value L = ND_OBJ(ND_T_LIST, l), M = ND_OBJ(ND_T_MAP, m);
    ck_assert_int_eq(nd_list_push(l, ND_INT(1)), ND_OK);
    ck_assert_int_eq(nd_list_push(l, ND_FLOAT(2.5)), ND_OK);
    ck_assert_int_eq(nd_list_push(l, vm->consts[0]), ND_OK);
    ck_assert_int_eq(nd_list_push(l, L), ND_OK);
    ck_assert_int_eq(nd_list_push(l, M), ND_OK);
    nd_value kb = str_val("b"), ka = str_val("a"), kz = str_val("z"), x = str_val("x");
    ck_assert_int_eq(nd_map_set(m, ND_AS_STR(kb), L), ND_OK);
    ck_assert_int_eq(nd_map_set(m, ND_AS_STR(ka), x), ND_OK);
    ck_assert_int_eq(nd_map_set(m, ND_AS_STR(kz),
                                (nd_value){.type = ND_T_BUILTIN, .as.fn = ND_BI_SQRT}),
                     ND_OK);
    nd_val_decref(kb);
    nd_val_decref(ka);
    nd_val_decref(kz);
    nd_val_decref(x);
    nd_val_set(&vm->globals[0], L);
    nd_val_incref(L);
    nd_val_set(&vm->globals[1], L);
    nd_val_set(&vm->globals[2], M);
    if (with_matrix) {
        nd_dm *A;
        ck_assert_int_eq(nd_dm_rand(3, 2, 42, false, &A), ND_OK);
        nd_value mv;
        ck_assert_int_eq(nd_matrix_value(A, &mv), ND_OK);
        nd_val_set(&vm->regs[5], mv);
    }
    nd_val_incref(vm->consts[0]);
    nd_val_set(&vm->regs[6], vm->consts[0]);
    vm->ncollective = 17;
    vm->nsafepoints = 4096;
}

static void check_graph(nd_vm *vm, bool with_matrix)
{
    ck_assert_int_eq(vm->globals[0].type, ND_T_LIST);
    ck_assert_ptr_eq(vm->globals[0].as.o, vm->globals[1].as.o); /* sharing */
    nd_list *l = ND_AS_LIST(vm->globals[0]);
    ck_assert_uint_eq(l->len, 5);
    ck_assert_int_eq(l->items[0].as.i, 1);
    ck_assert(l->items[1].type == ND_T_FLOAT && l->items[1].as.f == 2.5);
    ck_assert_ptr_eq(l->items[2].as.o, vm->consts[0].as.o);   /* constant rebound */
    ck_assert_ptr_eq(l->items[3].as.o, &l->h);                 /* cycle */
    ck_assert_ptr_eq(l->items[4].as.o, vm->globals[2].as.o);
    /* g0, g1, itself, M["b"] */
    ck_assert_uint_eq(l->h.rc, 4);
    nd_map *m = ND_AS_MAP(vm->globals[2]);
    ck_assert_uint_eq(m->len, 3);
    ck_assert_str_eq(m->entries[0].key->data, "b"); /* insertion order */
    ck_assert_str_eq(m->entries[1].key->data, "a");
    ck_assert_str_eq(m->entries[2].key->data, "z");
    ck_assert_ptr_eq(m->entries[0].val.as.o, &l->h);
    ck_assert_str_eq(ND_AS_STR(m->entries[1].val)->data, "x");
    ck_assert_int_eq(m->entries[2].val.type, ND_T_BUILTIN);
    ck_assert_uint_eq(m->entries[2].val.as.fn, ND_BI_SQRT);
    ck_assert_int_eq(vm->globals[3].type, ND_T_UNDEF);
    ck_assert_ptr_eq(vm->regs[6].as.o, vm->consts[0].as.o);
    ck_assert_uint_eq(vm->ncollective, 17);
    ck_assert_uint_eq(vm->nsafepoints, 4096);
    if (with_matrix) {
        ck_assert_int_eq(vm->regs[5].type, ND_T_MATRIX);
        nd_dm *A = ND_AS_MATRIX(vm->regs[5])->dm, *B;
        ck_assert_int_eq(nd_dm_rand(3, 2, 42, false, &B), ND_OK);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                double a, b;
                ck_assert_int_eq(nd_dm_get(A, i, j, &a), ND_OK);
                ck_assert_int_eq(nd_dm_get(B, i, j, &b), ND_OK);
                ck_assert(a == b);
            }
        nd_dm_free(B);
    }
}

/* Copies of the blob's matrices, as the file reader would produce them. */
static nd_dm **copy_mats(nd_dm **mats, size_t n)
{
    nd_dm **c = n ? ND_ALLOC_N(nd_dm *, n) : NULL;
    for (size_t k = 0; k < n; k++) ck_assert_int_eq(nd_dm_copy(mats[k], &c[k]), ND_OK);
    return c;
}

START_TEST(blob_roundtrip_sharing_cycles)
{
    nd_program *p = make_prog(7);
    nd_vm *a, *b;
    ck_assert_int_eq(nd_vm_new(p, NULL, &a), ND_OK);
    build_graph(a, true);
    nd_strbuf blob;
    nd_sb_init(&blob);
    nd_dm **mats;
    size_t nmats;
    nd_strbuf names;
    nd_sb_init(&names);
    ck_assert_int_eq(nd_ckpt_state_encode(a, &blob, &mats, &nmats, &names), ND_OK);
    ck_assert_uint_eq(nmats, 1);
    ck_assert_uint_eq(names.len, 1); /* the matrix is in a register only: "" */
    size_t n2;
    ck_assert_int_eq(nd_vm_state_nmats(blob.data, blob.len, &n2), ND_OK);
    ck_assert_uint_eq(n2, 1);

    ck_assert_int_eq(nd_vm_new(p, NULL, &b), ND_OK);
    nd_dm **c = copy_mats(mats, nmats);
    ck_assert_int_eq(nd_ckpt_state_decode(b, blob.data, blob.len, c, nmats), ND_OK);
    check_graph(b, true);
    /* Encoding the restored state gives the same bytes (ids are deterministic). */
    nd_strbuf again;
    nd_sb_init(&again);
    nd_dm **m2;
    size_t nm2;
    ck_assert_int_eq(nd_ckpt_state_encode(b, &again, &m2, &nm2, &names), ND_OK);
    ck_assert_uint_eq(again.len, blob.len);
    ck_assert(memcmp(again.data, blob.data, blob.len) == 0);
    ND_FREE_N(m2, nm2);
    ND_FREE_N(c, nmats);
    ND_FREE_N(mats, nmats);
    nd_sb_free(&again);
    nd_sb_free(&names);
    nd_sb_free(&blob);
    nd_vm_free(a);
    nd_vm_free(b);
    nd_program_free(p);
}
END_TEST

START_TEST(blob_rejects_truncation_and_survives_flips)
{
    nd_program *p = make_prog(7);
    nd_vm *a;
    ck_assert_int_eq(nd_vm_new(p, NULL, &a), ND_OK);
    build_graph(a, false);
    nd_strbuf blob;
    nd_sb_init(&blob);
    nd_dm **mats;
    size_t nmats;
    nd_strbuf names;
    nd_sb_init(&names);
    ck_assert_int_eq(nd_ckpt_state_encode(a, &blob, &mats, &nmats, &names), ND_OK);
    ck_assert_uint_eq(nmats, 0);
    ck_assert_uint_eq(names.len, 0);
    nd_sb_free(&names);
    for (size_t cut = 0; cut < blob.len; cut++) {
        nd_vm *b;
        ck_assert_int_eq(nd_vm_new(p, NULL, &b), ND_OK);
        ck_assert_int_eq(nd_ckpt_state_decode(b, blob.data, cut, NULL, 0), ND_EINVALID);
        nd_vm_free(b);
    }
    /* A flipped byte either fails cleanly or decodes into a well-formed state. */
    int rejected = 0;
    for (size_t k = 0; k < blob.len; k++) {
        nd_vm *b;
        ck_assert_int_eq(nd_vm_new(p, NULL, &b), ND_OK);
        blob.data[k] ^= 0x5a;
        nd_status st = nd_ckpt_state_decode(b, blob.data, blob.len, NULL, 0);
        blob.data[k] ^= 0x5a;
        ck_assert(st == ND_OK || st == ND_EINVALID);
        rejected += st != ND_OK;
        nd_vm_free(b);
    }
    ck_assert_int_gt(rejected, (int)blob.len / 2);
    /* A blob for another program shape is refused. */
    nd_program *q = make_prog(7);
    q->nglobals = 3;
    nd_vm *b;
    ck_assert_int_eq(nd_vm_new(q, NULL, &b), ND_OK);
    ck_assert_int_eq(nd_ckpt_state_decode(b, blob.data, blob.len, NULL, 0), ND_EINVALID);
    ck_assert(strstr(nd_err_msg(), "globals") != NULL);
    nd_vm_free(b);
    q->nglobals = 4;
    nd_program_free(q);
    nd_sb_free(&blob);
    nd_vm_free(a);
    nd_program_free(p);
}
END_TEST

/* ---- the file ---- */

static nd_status write_file(const char *path, nd_vm *vm, nd_program *p)
{
    nd_strbuf blob, nbc;
    nd_sb_init(&blob);
    nd_sb_init(&nbc);
    ck_assert_int_eq(nd_nbc_write(p, &nbc), ND_OK);
    uint8_t sha[32];
    nd_sha256_buf(nbc.data, nbc.len, sha);
    nd_dm **mats;
    size_t nmats;
    nd_strbuf names;
    nd_sb_init(&names);
    ck_assert_int_eq(nd_ckpt_state_encode(vm, &blob, &mats, &nmats, &names), ND_OK);
    nd_kv params = kv1("n", "5"), hints = kv1("romio_cb_write", "enable");
    nd_ckpt_meta meta = {.seq = 1, .nbc = nbc.data, .nbc_len = nbc.len, .sha256 = sha,
                         .program = "t.noodle", .params = &params,
                         .blob = blob.data, .blob_len = blob.len};
    nd_status st = nd_ckpt_file_write(path, &meta, mats, nmats, &hints);
    nd_kv_free(&params);
    nd_kv_free(&hints);
    ND_FREE_N(mats, nmats);
    nd_sb_free(&names);
    nd_sb_free(&blob);
    nd_sb_free(&nbc);
    return st;
}

/* Serial HDF5 surgery on rank 0 (the others wait at the barrier). */
static void poke_u64_attr(const char *path, const char *obj, const char *attr, uint64_t v)
{
    if (nd_spmd_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        ck_assert_int_ge(f, 0);
        hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
        ck_assert_int_ge(o, 0);
        hid_t a = H5Aopen(o, attr, H5P_DEFAULT);
        ck_assert_int_ge(a, 0);
        herr_t rc = H5Awrite(a, H5T_NATIVE_UINT64, &v);
        if (rc < 0) H5Eprint2(H5E_DEFAULT, stderr);
        ck_assert_int_ge(rc, 0);
        H5Aclose(a);
        H5Oclose(o);
        H5Fclose(f);
    }
    nd_spmd_barrier();
}

static void poke_matrix(const char *path, double v)
{
    if (nd_spmd_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t d = H5Dopen2(f, "/matrices/m0", H5P_DEFAULT);
        ck_assert_int_ge(d, 0);
        hsize_t start[2] = {1, 1}, count[2] = {1, 1};
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(2, count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &v), 0);
        H5Sclose(ms);
        H5Sclose(fs);
        H5Dclose(d);
        H5Fclose(f);
    }
    nd_spmd_barrier();
}

START_TEST(file_roundtrip_and_refusals)
{
    nd_program *p = make_prog(7);
    nd_vm *a;
    ck_assert_int_eq(nd_vm_new(p, NULL, &a), ND_OK);
    build_graph(a, true);
    char path[300];
    snprintf(path, sizeof path, "%s/f.h5", tmpdir);
    ck_assert_int_eq(write_file(path, a, p), ND_OK);

    nd_ckpt_image img;
    bool badv;
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_OK);
    ck_assert_int_eq(img.params.n, 1);
    ck_assert_str_eq(img.params.keys[0], "n");
    ck_assert_str_eq(img.params.vals[0], "5");
    ck_assert_str_eq(img.program, "t.noodle");
    ck_assert_uint_eq(img.nmats, 1);
    nd_vm *b;
    ck_assert_int_eq(nd_vm_new(p, NULL, &b), ND_OK);
    ck_assert_int_eq(nd_ckpt_state_decode(b, img.blob, img.blob_len, img.mats, img.nmats),
                     ND_OK);
    check_graph(b, true);
    nd_vm_free(b);
    nd_ckpt_image_free(&img);

    /* A damaged CRC attribute, a changed matrix element, an unknown version. */
    poke_u64_attr(path, "/state", "crc32c", 12345);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_EINVALID);
    ck_assert(!badv);
    ck_assert(strstr(nd_err_msg(), "CRC") != NULL);

    ck_assert_int_eq(write_file(path, a, p), ND_OK);
    poke_matrix(path, 1e6);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_EINVALID);
    ck_assert(strstr(nd_err_msg(), "checksum") != NULL);

    ck_assert_int_eq(write_file(path, a, p), ND_OK);
    poke_u64_attr(path, "/", "format_version", 99);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_EINVALID);
    ck_assert(badv);
    ck_assert(strstr(nd_err_msg(), "version 99") != NULL);

    /* Truncation: not HDF5 any more. */
    ck_assert_int_eq(write_file(path, a, p), ND_OK);
    if (nd_spmd_rank() == 0) ck_assert_int_eq(truncate(path, 1000), 0);
    nd_spmd_barrier();
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_EINVALID);
    ck_assert(!badv);
    if (nd_spmd_rank() == 0) unlink(path);
    nd_vm_free(a);
    nd_program_free(p);
}
END_TEST

/* Rewrites matrix m0 of a format-2 file as format 1 wrote it (f64 sum and Frobenius
 * norm instead of the integer checksums), recording the given sum and norm. */
static void make_v1(const char *path, double sum, double fro)
{
    if (nd_spmd_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        ck_assert_int_ge(f, 0);
        hid_t d = H5Dopen2(f, "/matrices/m0", H5P_DEFAULT);
        ck_assert_int_ge(d, 0);
        ck_assert_int_ge(H5Adelete(d, "checksum_add"), 0);
        ck_assert_int_ge(H5Adelete(d, "checksum_mix"), 0);
        double v[2] = {sum, fro};
        const char *names[2] = {"checksum_sum", "checksum_fro"};
        for (int k = 0; k < 2; k++) {
            hid_t sp = H5Screate(H5S_SCALAR);
            hid_t a = H5Acreate2(d, names[k], H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
            ck_assert_int_ge(a, 0);
            ck_assert_int_ge(H5Awrite(a, H5T_NATIVE_DOUBLE, &v[k]), 0);
            H5Aclose(a);
            H5Sclose(sp);
        }
        H5Dclose(d);
        uint64_t one = 1;
        hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
        ck_assert_int_ge(H5Awrite(a, H5T_NATIVE_UINT64, &one), 0);
        H5Aclose(a);
        H5Fclose(f);
    }
    nd_spmd_barrier();
}

/* Format 2 carries integer checksums; format 1 files (float checksums) still read; a
 * damaged checksum of either kind is refused. */
START_TEST(file_format1_still_read)
{
    nd_program *p = make_prog(7);
    nd_vm *a;
    ck_assert_int_eq(nd_vm_new(p, NULL, &a), ND_OK);
    build_graph(a, true);
    char path[300];
    snprintf(path, sizeof path, "%s/v1.h5", tmpdir);
    ck_assert_int_eq(write_file(path, a, p), ND_OK);
    nd_ckpt_image img;
    bool badv;
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_OK);
    ck_assert_uint_eq(img.format_version, 2);
    ck_assert_uint_eq(img.nmats, 1);
    double sum, fro;
    ck_assert_int_eq(nd_dm_reduce(ND_RED_SUM, img.mats[0], &sum), ND_OK);
    ck_assert_int_eq(nd_dm_reduce(ND_RED_NORM_FRO, img.mats[0], &fro), ND_OK);
    nd_ckpt_image_free(&img);

    poke_u64_attr(path, "/matrices/m0", "checksum_mix", 7);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_EINVALID);
    ck_assert(strstr(nd_err_msg(), "fails its checksum") != NULL);

    ck_assert_int_eq(write_file(path, a, p), ND_OK);
    make_v1(path, sum, fro);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_OK);
    ck_assert_uint_eq(img.format_version, 1);
    nd_ckpt_image_free(&img);

    ck_assert_int_eq(write_file(path, a, p), ND_OK);
    make_v1(path, sum, fro * 1.001);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_EINVALID);
    ck_assert(!badv);
    ck_assert(strstr(nd_err_msg(), "fails its checksum") != NULL);
    if (nd_spmd_rank() == 0) unlink(path);
    nd_vm_free(a);
    nd_program_free(p);
}
END_TEST

/* ---- arrays ---- */

static double nd_val(int64_t f) { return (double)((uint64_t)f * 2654435761u % 1000003u) / 8.0 + f; }

/* A new array of the shape holding nd_val(flat index), as a VM value. */
static nd_value mk_nd(int nd, const int64_t *shape)
{
    nd_dm *A;
    ck_assert_int_eq(nd_arr_alloc(nd, shape, &A), ND_OK);
    nd_dm_host_w(A);
    for (int lj = 0; lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++)
            A->a[li + (size_t)lj * A->lld] = nd_val(nd_dm_grow(A, li) * A->n + nd_dm_gcol(A, lj));
    nd_value v;
    ck_assert_int_eq(nd_matrix_value(A, &v), ND_OK);
    return v;
}

/* Collective: whether A has the shape and holds nd_val(flat index). */
static bool is_nd(const nd_dm *A, int nd, const int64_t *shape)
{
    int ok = nd_arr_ndim(A) == nd;
    for (int k = 0; k < nd; k++) ok &= nd_arr_shape(A)[k] == shape[k];
    nd_dm_host(A);
    for (int lj = 0; ok && lj < A->nloc; lj++)
        for (int li = 0; li < A->mloc; li++)
            if (A->a[li + (size_t)lj * A->lld] != nd_val(nd_dm_grow(A, li) * A->n + nd_dm_gcol(A, lj)))
                ok = 0;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, nd_spmd_comm());
    return ok;
}

static const int64_t shape3[3] = {3, 40, 70}, shape1[1] = {10007}, shape2[2] = {5, 3};

/* Rank 0, serial HDF5: deletes the shape attribute of the matrix dataset of nd
 * dimensions (what a checkpoint from before arrays looks like). */
static void drop_shape_attr(const char *path, int nd)
{
    if (nd_spmd_rank() == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        ck_assert_int_ge(f, 0);
        int done = 0;
        for (int k = 0; k < 3; k++) {
            char name[32];
            snprintf(name, sizeof name, "/matrices/m%d", k);
            hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
            ck_assert_int_ge(d, 0);
            hid_t sp = H5Dget_space(d);
            if (H5Sget_simple_extent_ndims(sp) == nd) {
                ck_assert_int_ge(H5Adelete(d, "shape"), 0);
                done++;
            }
            H5Sclose(sp);
            H5Dclose(d);
        }
        ck_assert_int_eq(done, 1);
        H5Fclose(f);
    }
    nd_spmd_barrier();
}

/* Arrays keep their shape through the file (the dataset has the shape; the attribute
 * "shape" records it); a 2-D matrix without the attribute (older files) still reads; an
 * n-d one without it is refused. */
START_TEST(file_nd_arrays)
{
    nd_program *p = make_prog(7);
    nd_vm *a;
    ck_assert_int_eq(nd_vm_new(p, NULL, &a), ND_OK);
    nd_val_set(&a->regs[3], mk_nd(3, shape3));
    nd_val_set(&a->regs[4], mk_nd(1, shape1));
    nd_val_set(&a->regs[5], mk_nd(2, shape2));
    char path[300];
    snprintf(path, sizeof path, "%s/nd.h5", tmpdir);
    ck_assert_int_eq(write_file(path, a, p), ND_OK);
    nd_ckpt_image img;
    bool badv;
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_OK);
    ck_assert_uint_eq(img.nmats, 3);
    nd_vm *b;
    ck_assert_int_eq(nd_vm_new(p, NULL, &b), ND_OK);
    ck_assert_int_eq(nd_ckpt_state_decode(b, img.blob, img.blob_len, img.mats, img.nmats),
                     ND_OK);
    for (int r = 3; r <= 5; r++) ck_assert_int_eq(b->regs[r].type, ND_T_MATRIX);
    ck_assert(is_nd(ND_AS_MATRIX(b->regs[3])->dm, 3, shape3));
    ck_assert(is_nd(ND_AS_MATRIX(b->regs[4])->dm, 1, shape1));
    ck_assert(is_nd(ND_AS_MATRIX(b->regs[5])->dm, 2, shape2));
    nd_vm_free(b);
    nd_ckpt_image_free(&img);

    drop_shape_attr(path, 2);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_OK);
    nd_ckpt_image_free(&img);
    drop_shape_attr(path, 3);
    ck_assert_int_eq(nd_ckpt_file_read(path, NULL, &img, &badv), ND_EINVALID);
    ck_assert(strstr(nd_err_msg(), "wrong shape") != NULL);
    if (nd_spmd_rank() == 0) unlink(path);
    nd_vm_free(a);
    nd_program_free(p);
}
END_TEST

/* ---- the driver ---- */

static nd_status hook_ckpt(void *ctx, nd_vm *vm)
{
    return nd_ckpt_checkpoint(ctx, vm);
}

/* Runs p (fresh or restored per opts) with output into a temporary file; returns the
 * status and the printed text. */
static nd_status drive(nd_program *p, const nd_ckpt_opts *o, const nd_kv *params,
                       bool *restored, char *outbuf, size_t outlen)
{
    nd_strbuf nbc;
    nd_sb_init(&nbc);
    ck_assert_int_eq(nd_nbc_write(p, &nbc), ND_OK);
    nd_ckpt *c;
    ck_assert_int_eq(nd_ckpt_new(o, "dir/t.noodle", nbc.data, nbc.len, params, &c),
                     ND_OK);
    nd_sb_free(&nbc);
    FILE *out = tmpfile();
    nd_vm_opts vo = {.out = out};
    nd_vm *vm = NULL;
    const nd_program *used;
    nd_status st = nd_ckpt_restore(c, p, &vo, &used, &vm, restored);
    if (st == ND_OK && !*restored) st = nd_vm_new(p, &vo, &vm);
    if (st == ND_OK) {
        nd_vm_hooks h = {.ctx = c, .checkpoint = hook_ckpt};
        nd_vm_set_hooks(vm, &h);
        st = nd_vm_run(vm);
    }
    nd_vm_free(vm);
    nd_ckpt_free(c);
    fflush(out);
    rewind(out);
    size_t n = fread(outbuf, 1, outlen - 1, out);
    outbuf[n] = '\0';
    fclose(out);
    return st;
}

/* NOODLE_CKPT_SAFEPOINT_EVERY is read strictly: garbage read as 0 ("never") would turn
 * off the signal checkpoints and the run-time limit without a word. */
START_TEST(driver_safepoint_env)
{
    nd_ckpt_opts o = {.dir = tmpdir, .no_signals = true};
    const char *bad[] = {"abc", " 5", "1x", "-3", "99999999999999999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        setenv("NOODLE_CKPT_SAFEPOINT_EVERY", bad[k], 1);
        nd_ckpt *c = NULL;
        ck_assert_int_eq(nd_ckpt_new(&o, "t.noodle", "x", 1, NULL, &c), ND_EUSAGE);
        ck_assert_ptr_null(c);
        ck_assert(strstr(nd_err_msg(), "NOODLE_CKPT_SAFEPOINT_EVERY: expected an integer >= 0"));
    }
    const char *good[] = {"0", "7"};
    const uint64_t want[] = {UINT64_MAX, 7};
    for (size_t k = 0; k < 2; k++) {
        setenv("NOODLE_CKPT_SAFEPOINT_EVERY", good[k], 1);
        nd_ckpt *c = NULL;
        ck_assert_int_eq(nd_ckpt_new(&o, "t.noodle", "x", 1, NULL, &c), ND_OK);
        ck_assert_uint_eq(nd_ckpt_safepoint_every(c), want[k]);
        nd_ckpt_free(c);
    }
    unsetenv("NOODLE_CKPT_SAFEPOINT_EVERY");
}
END_TEST

START_TEST(driver_resume_refuse_fallback)
{
    char dir[300], out[256], path[400];
    snprintf(dir, sizeof dir, "%s/run", tmpdir);
    nd_program *p = make_prog(7), *q = make_prog(8);
    nd_kv par5 = kv1("n", "5"), par6 = kv1("n", "6");
    nd_ckpt_opts o = {.dir = dir, .keep = 2, .no_signals = true};
    bool restored;

    /* --restart with nothing there: fresh (writes ckpt-1). */
    o.restart = true;
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_OK);
    ck_assert(!restored);
    ck_assert_str_eq(out, nd_spmd_rank() == 0 ? "7\n" : "");
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_OK);
    ck_assert(restored);
    ck_assert_str_eq(out, nd_spmd_rank() == 0 ? "7\n" : "");       /* resumed after checkpoint(): prints g0 once */
    /* Two more fresh runs write ckpt-2 and ckpt-3; keep = 2 deletes ckpt-1. */
    o.restart = false;
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_OK);
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_OK);
    o.restart = true;
    snprintf(path, sizeof path, "%s/ckpt-1.h5", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/ckpt-2.h5", dir);
    ck_assert_int_eq(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/ckpt-3.h5", dir);
    ck_assert_int_eq(access(path, F_OK), 0);

    /* Different parameters or program: refused unless forced. */
    ck_assert_int_eq(drive(p, &o, &par6, &restored, out, sizeof out), ND_EUSAGE);
    ck_assert_msg(strstr(nd_err_msg(), "written with other parameters (n: 5 -> 6); use --force") != NULL,
                  "%s", nd_err_msg());
    ck_assert_int_eq(drive(q, &o, &par5, &restored, out, sizeof out), ND_EUSAGE);
    ck_assert(strstr(nd_err_msg(), "different program") != NULL);
    o.force = true;
    ck_assert_int_eq(drive(q, &o, &par5, &restored, out, sizeof out), ND_OK);
    ck_assert(restored);
    ck_assert_str_eq(out, nd_spmd_rank() == 0 ? "7\n" : "");       /* the checkpoint's own bytecode ran */
    o.force = false;

    /* Corrupt the newest (ckpt-3): restart falls back to ckpt-2. */
    if (nd_spmd_rank() == 0) ck_assert_int_eq(truncate(path, 2000), 0);
    nd_spmd_barrier();
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_OK);
    ck_assert(restored);
    ck_assert_str_eq(out, nd_spmd_rank() == 0 ? "7\n" : "");

    /* --restart-from a corrupt file: exit 3, no fallback. */
    o.restart_from = path;
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_EINVALID);
    o.restart_from = NULL;

    /* An injected write failure: a clear error, and earlier checkpoints stay. */
    setenv("NOODLE_CKPT_FAIL_WRITE", "1", 1);
    ck_assert(nd_ckpt_fail_write());
    o.restart = false;
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_EIO);
    o.restart = true;
    snprintf(path, sizeof path, "%s/ckpt-4.h5.tmp", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert(strstr(nd_err_msg(), "No space left") != NULL);
    ck_assert(strstr(nd_err_msg(), "earlier checkpoints are kept") != NULL);
    unsetenv("NOODLE_CKPT_FAIL_WRITE");
    ck_assert(!nd_ckpt_fail_write());
    ck_assert_int_eq(drive(p, &o, &par5, &restored, out, sizeof out), ND_OK);
    ck_assert(restored);
    ck_assert_str_eq(out, nd_spmd_rank() == 0 ? "7\n" : "");
    nd_kv_free(&par5);
    nd_kv_free(&par6);
    nd_program_free(p);
    nd_program_free(q);
}
END_TEST

int main(int argc, char **argv)
{
    if (nd_spmd_init(&argc, &argv) != ND_OK) return 1;
    nd_spmd_opts so = {.check_collectives = true};
    if (nd_spmd_configure(&so) != ND_OK) return 1;
    if (nd_spmd_rank() == 0) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/check_ckpt.XXXXXX");
        if (!mkdtemp(tmpdir)) return 1;
    }
    nd_spmd_bcast(tmpdir, sizeof tmpdir, 0);
    Suite *s = suite_create("ckpt");
    const TTest *tc_tests[] = {
        blob_roundtrip_sharing_cycles, blob_rejects_truncation_and_survives_flips,
        file_roundtrip_and_refusals, file_format1_still_read, file_nd_arrays, driver_safepoint_env,
        driver_resume_refuse_fallback, NULL};
    nd_check_tcase(s, "core", 120, tc_tests);
    /* Only rank 0 prints the summary; every rank counts its failures. */
    int failed = nd_check_run(s, ND_CHECK_NOFORK | (nd_spmd_rank() == 0 ? 0 : ND_CHECK_QUIET));
    if (nd_spmd_rank() == 0) {
        if (nd_check_rmtree(tmpdir) != 0) failed++;
    }
    nd_spmd_finalize(0);
    return failed ? 1 : 0;
}
