/* ckpt_internal.h: the layers of the checkpoint module, private to src/ckpt and its
 * unit test: the VM's state through the VM's save/restore API (state.c), the HDF5 file
 * (file.c) and the driver that ckpt.h exposes (ckpt.c).  The file layout is in
 * docs/checkpoint.md and versioned (ND_CKPT_FORMAT_VERSION); the state blob inside it is
 * the VM's (src/vm/save.c), with its own version.
 */
#ifndef ND_CKPT_INTERNAL_H
#define ND_CKPT_INTERNAL_H

#include "ckpt/ckpt.h"

#include "common/strbuf.h"
#include "runtime/dm.h"
#include "vm/vm.h"

/* ---- state.c: VM state <-> blob and matrices ---- */

/* Uniform (no communication).  Appends the VM state (nd_vm_save) to out.  *mats
 * receives the matrices the state references, numbered by their index (borrowed
 * pointers, an nd_malloc'd array of *nmats entries that the caller frees with
 * ND_FREE_N); names receives, for each, the names of the global variables that hold it
 * directly ("U", "U, V", or "" for none), each NUL-terminated. */
nd_status nd_ckpt_state_encode(const nd_vm *vm, nd_strbuf *out, nd_dm ***mats,
                               size_t *nmats, nd_strbuf *names);
/* Uniform.  Rebuilds the state of vm (a fresh VM of the same program) from blob
 * (nd_vm_restore).  Takes ownership of mats[0..nmats) (each freed or given to a matrix
 * object), never of the array itself.  A malformed blob is ND_EINVALID with a message. */
nd_status nd_ckpt_state_decode(nd_vm *vm, const void *blob, size_t len, nd_dm **mats,
                               size_t nmats);

/* ---- file.c: the HDF5 file ---- */

/* What a checkpoint file holds besides the matrices (identical on every rank). */
typedef struct nd_ckpt_meta {
    uint64_t seq;
    const void *nbc;          /* serialized bytecode */
    size_t nbc_len;
    const uint8_t *sha256;    /* 32 bytes: nd_nbc_hash of the program */
    const char *program;      /* program name as given */
    const char *signer;       /* the bytecode's signer id, "" when unsigned */
    const nd_kv *params; /* effective job parameters, sorted by key */
    const void *blob;         /* VM state (nd_vm_save, via state.c) */
    size_t blob_len;
    uint64_t ncollective, nsafepoints, gc_runs, gc_live, gc_pending;
    double wtime;             /* wtime() of the language at the checkpoint */
    const char *names;        /* variables per matrix, from nd_ckpt_state_encode
                                 (NULL: none) */
} nd_ckpt_meta;

/* Collective.  Writes path (created or truncated) with the MPI-IO driver and hints;
 * flushed to disk (MPI_File_sync) and closed before it returns.  On failure every rank
 * gets the same status and path may be left half written (the caller removes it). */
nd_status nd_ckpt_file_write(const char *path, const nd_ckpt_meta *meta, nd_dm **mats,
                             size_t nmats, const nd_kv *hints);

/* A checkpoint read back: owned copies. */
typedef struct nd_ckpt_image {
    uint32_t format_version;
    uint64_t seq;
    uint8_t *nbc;
    size_t nbc_len;
    uint8_t sha256[32];
    char *program;
    nd_kv params; /* sorted by key (HDF5's name index) */
    uint8_t *blob;
    size_t blob_len;
    nd_dm **mats;             /* NULL entries once given away */
    size_t nmats;
    double wtime;             /* wtime() at the checkpoint, when has_wtime (files from
                                 2026-12-07 on) */
    bool has_wtime;
} nd_ckpt_image;

/* Collective.  Reads and validates path: format version (an unknown one is
 * ND_EINVALID with *bad_version set), bytecode hash, blob CRC-32C, matrix shapes and
 * checksums.  Any other problem (truncated, unreadable, checksum mismatch) is
 * ND_EINVALID with a message.  Uniform result on every rank. */
nd_status nd_ckpt_file_read(const char *path, const nd_kv *hints,
                            nd_ckpt_image *img, bool *bad_version);
void nd_ckpt_image_free(nd_ckpt_image *img);
/* Rank-local: a quick look at a checkpoint this run has not read (retention): a
 * non-empty regular file that opens as HDF5 with a format_version this build reads and
 * a seq.  Damage inside the data passes; only nd_ckpt_file_read sees it. */
bool nd_ckpt_file_plausible(const char *path);

/* Fault injection for tests: NOODLE_CKPT_FAIL_WRITE=N makes the Nth checkpoint write of
 * this process and every later one fail with an injected ENOSPC after the file was
 * created (N = 1: every write). */
bool nd_ckpt_fail_write(void);

#endif
