/* result.c: the catalog directory, version claims, the attributes of a result file and
 * export.  A version is claimed by creating results/<name>/v<N>.claim with O_EXCL, so
 * two writers can never get the same number; claims are never removed (a writer that
 * died leaves a gap, never a reuse).  Nothing here touches distributed matrices, so
 * noodle-mql links without the runtime.  Specified by docs/catalog.md.
 */
#include "catalog/cat_internal.h"

#include "common/alloc.h"
#include "common/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool nd_cat_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || name[0] == '.' || name[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

void nd_cat_prov_init(nd_cat_prov *p)
{
    memset(p, 0, sizeof *p);
    if (gethostname(p->host, sizeof p->host - 1) != 0) snprintf(p->host, sizeof p->host, "unknown");
    const char *u = getenv("USER");
    if (!u || !*u) {
        struct passwd *pw = getpwuid(getuid());
        u = pw ? pw->pw_name : "unknown";
    }
    snprintf(p->user, sizeof p->user, "%s", u);
    const char *j = getenv("SLURM_JOB_ID");
    if (j && *j)
        snprintf(p->job, sizeof p->job, "%s", j);
    else
        snprintf(p->job, sizeof p->job, "local-%.24s-%ld-%lld", p->host, (long)getpid(),
                 (long long)time(NULL));
}

const char *nd_cat_path(const nd_cat *cat) { return cat->path; }

nd_status nd_cat_share_status(nd_cat *cat, nd_status st)
{
    if (cat->comm == MPI_COMM_NULL) return st;
    struct {
        int st;
        char msg[sizeof nd_last_error.msg];
    } m;
    memset(&m, 0, sizeof m);
    if (cat->rank == 0) {
        m.st = (int)st;
        if (st != ND_OK) snprintf(m.msg, sizeof m.msg, "%s", nd_err_msg());
    }
    ND_TRY(nd_cat_bcast(cat, &m, (int)sizeof m, MPI_BYTE));
    if (m.st != ND_OK && cat->rank != 0) nd_err_set((nd_status)m.st, "%s", m.msg);
    return (nd_status)m.st;
}

nd_status nd_cat_bcast(nd_cat *cat, void *buf, int count, MPI_Datatype type)
{
    int rc = MPI_Bcast(buf, count, type, 0, cat->comm);
    return rc == MPI_SUCCESS ? ND_OK : nd_spmd_mpi_fail("MPI_Bcast", rc);
}

/* ---- group-shared catalogs ------------------------------------------------------ */

bool nd_cat_shared_dir_of(const char *path)
{
    char dir[4200];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & S_ISGID) &&
           (sb.st_mode & S_IWGRP);
}

/* The mode bits a shared file needs beyond the umask's (git's sharedRepository=group). */
static mode_t shared_bits(bool group_write)
{
    return group_write ? 0660 : 0640;
}

void nd_cat_share_fd(int fd, const char *path, bool group_write)
{
    struct stat sb;
    mode_t want = shared_bits(group_write);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & want) == want) return;
    if (sb.st_uid == geteuid() && nd_cat_shared_dir_of(path))
        (void)fchmod(fd, (sb.st_mode & 07777) | want);
}

void nd_cat_share_path(const char *path, bool group_write)
{
    int fd = nd_open_regular(path, O_RDONLY, 0);
    if (fd < 0) return;
    nd_cat_share_fd(fd, path, group_write);
    close(fd);
}

/* A directory of a shared catalog: group rwx and setgid (Linux sets the latter itself
 * in a setgid parent), so that every member can create files in it. */
static nd_status mkdir_p(const char *path)
{
    if (mkdir(path, 0777) == 0) {
        struct stat sb;
        if (nd_cat_shared_dir_of(path) && stat(path, &sb) == 0)
            (void)chmod(path, (sb.st_mode & 07777) | S_ISGID | 0770);
        return ND_OK;
    }
    int err = errno;
    if (err == EEXIST) return ND_OK;
    nd_status st = nd_err_set(ND_EIO, "catalog: cannot create directory %s: %s", path, strerror(err));
    errno = err; /* for the caller's message */
    return st;
}

/* A store into a catalog this user cannot write: one clear message, and whom to ask. */
static nd_status no_write(const nd_cat *cat, int err)
{
    struct stat sb;
    char hint[200] = "";
    if (stat(cat->path, &sb) == 0 && (sb.st_mode & S_ISGID) && (sb.st_mode & S_IWGRP)) {
        struct group *g = getgrgid(sb.st_gid);
        char gname[64];
        if (g) snprintf(gname, sizeof gname, "%s", g->gr_name);
        else snprintf(gname, sizeof gname, "%ld", (long)sb.st_gid);
        gid_t groups[256];
        int n = getgroups(256, groups);
        bool member = getegid() == sb.st_gid;
        for (int i = 0; i < n && !member; i++) member = groups[i] == sb.st_gid;
        if (member)
            snprintf(hint, sizeof hint, " (it is shared by group %s, but not all of it is group-writable: "
                     "docs/catalog.md, \"Group-shared catalogs\")", gname);
        else
            snprintf(hint, sizeof hint, " (it is shared by group %s, which you are not in)", gname);
    }
    return nd_err_set(ND_EIO, "store: no permission to write to the catalog %s: %s%s", cat->path,
                      strerror(err), hint);
}

nd_status nd_cat_open(const char *path, MPI_Comm comm, bool create, nd_cat **out)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* HDF5's own diagnostics never reach the user */
    nd_cat *cat = ND_ALLOC_N(nd_cat, 1);
    if (!cat) return ND_ENOMEM;
    cat->comm = comm;
    cat->rank = 0;
    int rc = comm == MPI_COMM_NULL ? MPI_SUCCESS : MPI_Comm_rank(comm, &cat->rank);
    if (rc != MPI_SUCCESS) {
        nd_free(cat, sizeof *cat);
        return nd_spmd_mpi_fail("MPI_Comm_rank", rc);
    }
    cat->path = nd_strdup(path);
    nd_status st = cat->path ? ND_OK : ND_ENOMEM;
    if (st == ND_OK && cat->rank == 0) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            if (!create)
                st = nd_err_set(ND_EUSAGE, "catalog %s does not exist", path);
            else
                st = mkdir_p(path);
        } else if (!S_ISDIR(sb.st_mode)) {
            st = nd_err_set(ND_EUSAGE, "catalog %s is not a directory", path);
        }
        /* Reading never turns a directory into a catalog: a query of a mistyped path
         * (a home directory) wrote index.h5 and index.lock into it. */
        nd_strbuf sbuf;
        nd_sb_init(&sbuf);
        if (st == ND_OK) st = nd_sb_printf(&sbuf, "%s/results", path);
        if (st == ND_OK && !create && (stat(sbuf.data, &sb) != 0 || !S_ISDIR(sb.st_mode)))
            st = nd_err_set(ND_EUSAGE, "%s is not a catalog (it has no results/ directory)", path);
        if (st == ND_OK && create) {
            st = mkdir_p(sbuf.data);
            sbuf.len = 0;
            if (st == ND_OK) st = nd_sb_printf(&sbuf, "%s/pending", path);
            if (st == ND_OK) st = mkdir_p(sbuf.data);
        }
        nd_sb_free(&sbuf);
    }
    st = nd_cat_share_status(cat, st);
    if (st != ND_OK) {
        nd_cat_close(cat);
        return st;
    }
    *out = cat;
    return ND_OK;
}

void nd_cat_close(nd_cat *cat)
{
    if (!cat) return;
    nd_strfree(cat->path);
    nd_free(cat, sizeof *cat);
}

static char *fmt_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_path(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = nd_malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *nd_cat_name_dir(const nd_cat *cat, const char *name)
{
    return fmt_path("%s/results/%s", cat->path, name);
}

char *nd_cat_version_path(const nd_cat *cat, const char *name, int64_t version)
{
    return fmt_path("%s/results/%s/v%" PRId64 ".h5", cat->path, name, version);
}

/* Parses "v<digits><suffix>" exactly; returns the number or 0. */
static int64_t parse_vname(const char *s, const char *suffix)
{
    if (s[0] != 'v' || s[1] < '1' || s[1] > '9') return 0;
    int64_t v = 0;
    const char *p = s + 1;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10) return 0;
        v = v * 10 + (*p++ - '0');
    }
    return strcmp(p, suffix) == 0 ? v : 0;
}

/* Highest version named in dir with the given suffix (0 when none, or no dir). */
static nd_status scan_max(const char *dir, const char *suffix, int64_t *max)
{
    *max = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return ND_OK;
        return nd_err_set(ND_EIO, "catalog: cannot read %s: %s", dir, strerror(errno));
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t v = parse_vname(e->d_name, suffix);
        if (v > *max) *max = v;
    }
    closedir(d);
    return ND_OK;
}

nd_status nd_cat_claim_version(nd_cat *cat, const char *name, int64_t *version)
{
    char *dir = nd_cat_name_dir(cat, name);
    if (!dir) return ND_ENOMEM;
    nd_status st = mkdir_p(dir);
    if (st != ND_OK && (errno == EACCES || errno == EPERM || errno == EROFS)) st = no_write(cat, errno);
    int64_t v = 0;
    if (st == ND_OK) st = scan_max(dir, ".claim", &v);
    for (int tries = 0; st == ND_OK; tries++) {
        v++;
        char *p = fmt_path("%s/v%" PRId64 ".claim", dir, v);
        if (!p) {
            st = ND_ENOMEM;
            break;
        }
        int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0666);
        int err = errno;
        if (fd >= 0) nd_cat_share_fd(fd, p, false);
        nd_strfree(p);
        if (fd >= 0) {
            close(fd);
            *version = v;
            break;
        }
        if (err == EACCES || err == EPERM || err == EROFS)
            st = no_write(cat, err);
        else if (err != EEXIST || tries > 100000)
            st = nd_err_set(ND_EIO, "catalog: cannot claim a version of %s: %s", name,
                            strerror(err));
    }
    nd_strfree(dir);
    return st;
}

nd_status nd_cat_latest_version(nd_cat *cat, const char *name, int64_t *version)
{
    char *dir = nd_cat_name_dir(cat, name);
    if (!dir) return ND_ENOMEM;
    nd_status st = scan_max(dir, ".h5", version);
    nd_strfree(dir);
    return st;
}

nd_status nd_cat_parse_spec(const char *spec, char *name, size_t name_size, int64_t *version)
{
    const char *at = strchr(spec, '@');
    size_t n = at ? (size_t)(at - spec) : strlen(spec);
    *version = ND_CAT_LATEST;
    if (n >= name_size) return nd_err_set(ND_EPROG, "invalid result name '%s'", spec);
    memcpy(name, spec, n);
    name[n] = '\0';
    if (!nd_cat_name_valid(name)) return nd_err_set(ND_EPROG, "invalid result name '%s'", name);
    if (at) {
        char *end;
        errno = 0;
        long long v = strtoll(at + 1, &end, 10);
        if (at[1] < '1' || at[1] > '9' || *end || errno || v <= 0)
            return nd_err_set(ND_EPROG, "invalid version in '%s'", spec);
        *version = v;
    }
    return ND_OK;
}

hid_t nd_cat_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_file_locking(fapl, 0, 1);
    return fapl;
}

nd_status nd_cat_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nd_err_set(ND_EIO, "catalog: cannot open %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return nd_err_set(ND_EIO, "catalog: fsync %s: %s", path, strerror(errno));
    return ND_OK;
}

/* ---- attributes ---------------------------------------------------------------- */

static const char *const kind_names[] = {"", "int", "float", "string", "json", "matrix", "map"};

const char *nd_cat_kind_name(int kind)
{
    return kind >= ND_CAT_INT && kind <= ND_CAT_MAP ? kind_names[kind] : "unknown";
}

static int kind_from_name(const char *s)
{
    for (int k = ND_CAT_INT; k <= ND_CAT_MAP; k++)
        if (strcmp(s, kind_names[k]) == 0) return k;
    return 0;
}

/* The catalog's attributes: strings variable-length UTF-8, numbers little-endian. */
static nd_status attr_ok(herr_t rc, const char *key)
{
    return rc < 0 ? nd_err_set(ND_EIO, "catalog: cannot write attribute %s", key) : ND_OK;
}

static nd_status attr_str(hid_t loc, const char *key, const char *s)
{
    return attr_ok(nd_h5_attr_vstr(loc, key, s), key);
}

static nd_status attr_i64(hid_t loc, const char *key, int64_t v)
{
    return attr_ok(nd_h5_attr_i64(loc, key, v), key);
}

static nd_status attr_f64(hid_t loc, const char *key, double v)
{
    return attr_ok(nd_h5_attr_f64(loc, key, v), key);
}

/* Calls fn(key, type, value) for each entry of an encoded tag or param list. */
typedef nd_status (*entry_fn)(void *ctx, const char *key, size_t klen, char type,
                              const char *val, size_t vlen);
static nd_status each_entry(const char *s, bool typed, entry_fn fn, void *ctx)
{
    while (*s) {
        const char *sep = strchr(s, ND_CAT_TAG_SEP);
        const char *end = strchr(s, ND_CAT_ENT_SEP);
        if (!sep || !end || sep > end) return nd_err_set(ND_EINTERNAL, "catalog: bad entry list");
        const char *v = sep + 1;
        char type = 's';
        if (typed) type = *v++;
        ND_TRY(fn(ctx, s, (size_t)(sep - s), type, v, (size_t)(end - v)));
        s = end + 1;
    }
    return ND_OK;
}

static nd_status write_entry(void *ctx, const char *key, size_t klen, char type, const char *val,
                             size_t vlen)
{
    const char *prefix = ((const char **)ctx)[0];
    hid_t loc = *(const hid_t *)((const char **)ctx)[1];
    char aname[600], vbuf[1100];
    if (klen > 500) return nd_err_set(ND_EPROG, "catalog: tag key too long");
    snprintf(aname, sizeof aname, "%s%.*s", prefix, (int)klen, key);
    char *vs = vlen < sizeof vbuf ? vbuf : nd_strndup(val, vlen);
    if (!vs) return ND_ENOMEM;
    if (vs == vbuf) memcpy(vbuf, val, vlen), vbuf[vlen] = '\0';
    nd_status st;
    if (type == 'i')
        st = attr_i64(loc, aname, strtoll(vs, NULL, 10));
    else if (type == 'f')
        st = attr_f64(loc, aname, strtod(vs, NULL));
    else
        st = attr_str(loc, aname, vs);
    if (vs != vbuf) nd_strfree(vs);
    return st;
}

herr_t nd_cat_write_value(hid_t f, const char *name, const nd_cat_item *it)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t ft, mt;
    const void *buf;
    const char *s = it->s ? it->s : "";
    bool vstr = it->kind != ND_CAT_INT && it->kind != ND_CAT_FLOAT;
    if (it->kind == ND_CAT_INT) ft = H5T_STD_I64LE, mt = H5T_NATIVE_INT64, buf = &it->i;
    else if (it->kind == ND_CAT_FLOAT) ft = H5T_IEEE_F64LE, mt = H5T_NATIVE_DOUBLE, buf = &it->f;
    else ft = mt = nd_h5_vstr_type(), buf = &s;
    hid_t d = sp >= 0 && ft >= 0 ? H5Dcreate2(f, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t rc = d >= 0 ? H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : -1;
    if (d >= 0) H5Dclose(d);
    if (vstr && ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

nd_status nd_cat_result_write_meta(hid_t f, const nd_cat_index *one)
{
    const nd_cat_row *r = &one->rows[0];
#define S(off) nd_cat_index_s(one, (off))
    ND_TRY(attr_str(f, "format", "noodle-result 1"));
    ND_TRY(attr_str(f, "name", S(r->name)));
    ND_TRY(attr_i64(f, "version", r->version));
    ND_TRY(attr_str(f, "kind", nd_cat_kind_name(r->kind)));
    ND_TRY(attr_str(f, "job", S(r->job)));
    ND_TRY(attr_i64(f, "restarts", r->restarts));
    ND_TRY(attr_str(f, "program_hash", S(r->hash)));
    ND_TRY(attr_str(f, "program", S(r->program)));
    ND_TRY(attr_str(f, "program_path", S(r->program_path)));
    ND_TRY(attr_str(f, "signer", S(r->signer)));
    ND_TRY(attr_str(f, "user", S(r->user)));
    ND_TRY(attr_str(f, "host", S(r->host)));
    ND_TRY(attr_str(f, "created", S(r->created)));
    ND_TRY(attr_i64(f, "ranks", r->ranks));
    if (r->shape && *S(r->shape)) ND_TRY(attr_str(f, "shape", S(r->shape)));
    if (r->flags & ND_CAT_F_STATS) {
        if (!(r->flags & ND_CAT_F_ND)) {
            ND_TRY(attr_i64(f, "rows", r->rows));
            ND_TRY(attr_i64(f, "cols", r->cols));
        }
        ND_TRY(attr_f64(f, "min", r->min));
        ND_TRY(attr_f64(f, "max", r->max));
        ND_TRY(attr_f64(f, "mean", r->mean));
        ND_TRY(attr_f64(f, "norm", r->norm));
    }
    const void *ctx[2];
    ctx[0] = "tag.";
    ctx[1] = &f;
    ND_TRY(each_entry(S(r->tags), true, write_entry, ctx));
    ctx[0] = "param.";
    ND_TRY(each_entry(S(r->params), false, write_entry, ctx));
#undef S
    return ND_OK;
}

/* Reads a scalar attribute as text (strings), int64 or double; *cls tells which. */
typedef struct attr_val {
    H5T_class_t cls;
    int64_t i;
    double f;
    char *s; /* nd_malloc'd (strlen + 1) */
} attr_val;

static nd_status read_attr(hid_t a, const char *key, attr_val *out)
{
    memset(out, 0, sizeof *out);
    hid_t t = H5Aget_type(a);
    if (t < 0) return nd_err_set(ND_EINVALID, "catalog: attribute %s: bad type", key);
    out->cls = H5Tget_class(t);
    hid_t sp = H5Aget_space(a);
    hssize_t npoints = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    nd_status st = ND_OK;
    herr_t rc = 0;
    if (npoints != 1) {
        out->cls = H5T_NO_CLASS; /* not one value (the member list of a map): ignored */
    } else if (out->cls == H5T_INTEGER) {
        rc = H5Aread(a, H5T_NATIVE_INT64, &out->i);
    } else if (out->cls == H5T_FLOAT) {
        rc = H5Aread(a, H5T_NATIVE_DOUBLE, &out->f);
    } else if (out->cls == H5T_STRING) {
        rc = nd_h5_attr_read_str(a, &out->s);
    } else {
        st = nd_err_set(ND_EINVALID, "catalog: attribute %s has an unsupported type", key);
    }
    H5Tclose(t);
    if (st == ND_OK && rc < 0) st = nd_err_set(ND_EINVALID, "catalog: cannot read attribute %s", key);
    return st;
}

typedef struct meta_ctx {
    nd_cat_index *ix;
    nd_cat_row row;
    nd_strbuf tags, params;
    bool have_name, have_version, have_kind;
    int64_t dims_seen, stats_seen; /* rows, cols; min, max, mean, norm */
    int shape_nd;                  /* dimensions of the shape attribute, 0: none */
    nd_status st;
} meta_ctx;

static nd_status set_str(meta_ctx *m, uint64_t *off, const attr_val *v, const char *key)
{
    if (v->cls != H5T_STRING) return nd_err_set(ND_EINVALID, "catalog: attribute %s is not a string", key);
    return nd_cat_index_str(m->ix, v->s, strlen(v->s), off);
}

static nd_status num_of(const attr_val *v, const char *key, double *d, int64_t *i)
{
    if (v->cls == H5T_INTEGER) *i = v->i, *d = (double)v->i;
    else if (v->cls == H5T_FLOAT) *d = v->f, *i = (int64_t)v->f;
    else return nd_err_set(ND_EINVALID, "catalog: attribute %s is not a number", key);
    return ND_OK;
}

static nd_status meta_attr(meta_ctx *m, const char *key, const attr_val *v)
{
    nd_cat_row *r = &m->row;
    double d = 0;
    int64_t i = 0;
    if (strncmp(key, "tag.", 4) == 0) {
        const char *k = key + 4;
        if (!*k || strchr(k, ND_CAT_TAG_SEP) || strchr(k, ND_CAT_ENT_SEP)) return ND_OK;
        if (v->cls == H5T_INTEGER)
            return nd_sb_printf(&m->tags, "%s%ci%" PRId64 "%c", k, ND_CAT_TAG_SEP, v->i, ND_CAT_ENT_SEP);
        if (v->cls == H5T_FLOAT)
            return nd_sb_printf(&m->tags, "%s%cf%.17g%c", k, ND_CAT_TAG_SEP, v->f, ND_CAT_ENT_SEP);
        if (v->cls != H5T_STRING || strchr(v->s, ND_CAT_ENT_SEP)) return ND_OK;
        return nd_sb_printf(&m->tags, "%s%cs%s%c", k, ND_CAT_TAG_SEP, v->s, ND_CAT_ENT_SEP);
    }
    if (strncmp(key, "param.", 6) == 0) {
        const char *k = key + 6;
        if (!*k || v->cls != H5T_STRING || strchr(k, ND_CAT_TAG_SEP) || strchr(v->s, ND_CAT_ENT_SEP))
            return ND_OK;
        return nd_sb_printf(&m->params, "%s%c%s%c", k, ND_CAT_TAG_SEP, v->s, ND_CAT_ENT_SEP);
    }
    if (strcmp(key, "name") == 0) {
        m->have_name = true;
        return set_str(m, &r->name, v, key);
    }
    if (strcmp(key, "kind") == 0) {
        if (v->cls != H5T_STRING || !(r->kind = kind_from_name(v->s)))
            return nd_err_set(ND_EINVALID, "catalog: bad kind attribute");
        m->have_kind = true;
        return ND_OK;
    }
    if (strcmp(key, "job") == 0) return set_str(m, &r->job, v, key);
    if (strcmp(key, "program_hash") == 0) return set_str(m, &r->hash, v, key);
    if (strcmp(key, "program") == 0) return set_str(m, &r->program, v, key);
    if (strcmp(key, "program_path") == 0) return set_str(m, &r->program_path, v, key);
    if (strcmp(key, "signer") == 0) return set_str(m, &r->signer, v, key);
    if (strcmp(key, "user") == 0) return set_str(m, &r->user, v, key);
    if (strcmp(key, "host") == 0) return set_str(m, &r->host, v, key);
    if (strcmp(key, "created") == 0) return set_str(m, &r->created, v, key);
    if (strcmp(key, "shape") == 0) {
        ND_TRY(set_str(m, &r->shape, v, key));
        m->shape_nd = 1;
        for (const char *c = v->s; *c; c++) m->shape_nd += *c == 'x';
        return ND_OK;
    }
    static const char *const ints[] = {"version", "restarts", "ranks", "rows", "cols"};
    for (size_t k = 0; k < ND_ARRAY_LEN(ints); k++) {
        if (strcmp(key, ints[k]) == 0) {
            ND_TRY(num_of(v, key, &d, &i));
            int64_t *dst[] = {&r->version, &r->restarts, &r->ranks, &r->rows, &r->cols};
            *dst[k] = i;
            if (k == 0) m->have_version = true;
            if (k >= 3) m->dims_seen++;
            return ND_OK;
        }
    }
    static const char *const dbls[] = {"min", "max", "mean", "norm"};
    for (size_t k = 0; k < ND_ARRAY_LEN(dbls); k++) {
        if (strcmp(key, dbls[k]) == 0) {
            ND_TRY(num_of(v, key, &d, &i));
            double *dst[] = {&r->min, &r->max, &r->mean, &r->norm};
            *dst[k] = d;
            m->stats_seen++;
            return ND_OK;
        }
    }
    return ND_OK; /* unknown attributes (format, user additions) are ignored */
}

static herr_t meta_iter(hid_t loc, const char *key, const H5A_info_t *info, void *p)
{
    ND_UNUSED(info);
    meta_ctx *m = p;
    hid_t a = H5Aopen(loc, key, H5P_DEFAULT);
    if (a < 0) {
        m->st = nd_err_set(ND_EINVALID, "catalog: cannot open attribute %s", key);
        return -1;
    }
    attr_val v;
    m->st = read_attr(a, key, &v);
    H5Aclose(a);
    if (m->st == ND_OK) m->st = meta_attr(m, key, &v);
    if (v.s) nd_strfree(v.s);
    return m->st == ND_OK ? 0 : -1;
}

/* Reads the scalar /data of a number or short string result into the row. */
static nd_status read_value(hid_t f, meta_ctx *m)
{
    nd_cat_row *r = &m->row;
    hid_t d = H5Dopen2(f, "data", H5P_DEFAULT);
    if (d < 0) return nd_err_set(ND_EINVALID, "catalog: result has no data");
    nd_status st = ND_OK;
    if (r->kind == ND_CAT_INT) {
        if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &r->ivalue) < 0)
            st = nd_err_set(ND_EINVALID, "catalog: cannot read data");
        r->value = (double)r->ivalue;
        r->flags |= ND_CAT_F_VNUM | ND_CAT_F_VINT;
    } else if (r->kind == ND_CAT_FLOAT) {
        if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &r->value) < 0)
            st = nd_err_set(ND_EINVALID, "catalog: cannot read data");
        r->flags |= ND_CAT_F_VNUM;
    } else if (r->kind == ND_CAT_STRING) {
        hid_t mt = nd_h5_vstr_type();
        char *s = NULL;
        if (mt < 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) < 0) {
            st = nd_err_set(ND_EINVALID, "catalog: cannot read data");
        } else {
            size_t n = s ? strlen(s) : 0;
            if (n <= ND_CAT_SVALUE_MAX) {
                st = nd_cat_index_str(m->ix, s ? s : "", n, &r->svalue);
                r->flags |= ND_CAT_F_VSTR;
            }
            H5free_memory(s);
        }
        if (mt >= 0) H5Tclose(mt);
    }
    H5Dclose(d);
    return st;
}

/* The shape of a matrix result (files from before arrays have rows and cols only) and
 * the flags of its statistics: rows and cols only for 2-D arrays. */
static nd_status array_shape(meta_ctx *m)
{
    nd_cat_row *r = &m->row;
    if (r->kind == ND_CAT_MATRIX && m->shape_nd == 0 && m->dims_seen == 2) {
        char buf[48];
        snprintf(buf, sizeof buf, "%" PRId64 "x%" PRId64, r->rows, r->cols);
        ND_TRY(nd_cat_index_str(m->ix, buf, strlen(buf), &r->shape));
        m->shape_nd = 2;
    }
    bool nd = r->kind == ND_CAT_MATRIX && m->shape_nd != 2;
    if (nd) r->flags |= ND_CAT_F_ND, r->rows = r->cols = 0;
    if (m->stats_seen == 4 && (m->dims_seen == 2 || nd)) r->flags |= ND_CAT_F_STATS;
    return ND_OK;
}

nd_status nd_cat_result_read_meta(const char *path, nd_cat_index *ix, bool verify)
{
    if (verify) ND_TRY(nd_cat_sum_verify(MPI_COMM_NULL, path));
    meta_ctx m;
    memset(&m, 0, sizeof m);
    m.ix = ix;
    nd_sb_init(&m.tags);
    nd_sb_init(&m.params);
    hid_t fapl = nd_cat_fapl();
    /* not a FIFO: its open(2) would block the rebuild */
    hid_t f = nd_is_regular(path) ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    nd_status st = ND_OK;
    if (f < 0) {
        st = nd_err_set(ND_EINVALID, "not a readable HDF5 file");
    } else {
        hsize_t idx = 0;
        if (H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, meta_iter, &m) < 0)
            st = m.st != ND_OK ? m.st : nd_err_set(ND_EINVALID, "catalog: cannot read attributes");
        if (st == ND_OK && !(m.have_name && m.have_version && m.have_kind))
            st = nd_err_set(ND_EINVALID, "catalog: name, version or kind missing");
        if (st == ND_OK && (m.row.kind == ND_CAT_INT || m.row.kind == ND_CAT_FLOAT ||
                            m.row.kind == ND_CAT_STRING)) {
            st = read_value(f, &m);
        }
        if (st == ND_OK) st = array_shape(&m);
        H5Fclose(f);
    }
    if (st == ND_OK) st = nd_cat_index_str(ix, m.tags.data ? m.tags.data : "", m.tags.len, &m.row.tags);
    if (st == ND_OK)
        st = nd_cat_index_str(ix, m.params.data ? m.params.data : "", m.params.len, &m.row.params);
    if (st == ND_OK) st = nd_cat_index_push(ix, &m.row);
    nd_sb_free(&m.tags);
    nd_sb_free(&m.params);
    /* every message names the file once, first */
    const char *msg = nd_err_msg();
    if (st != ND_OK && st != ND_ENOMEM && strncmp(msg, path, strlen(path)) != 0)
        st = nd_err_set(ND_EINVALID, "%s: %s", path, strncmp(msg, "catalog: ", 9) == 0 ? msg + 9 : msg);
    return st;
}

/* ---- export ---------------------------------------------------------------------- */

static nd_status copy_file(const char *from, const char *to)
{
    int ifd = nd_open_regular(from, O_RDONLY, 0);
    FILE *in = ifd >= 0 ? fdopen(ifd, "rb") : NULL;
    if (!in) {
        if (ifd >= 0) close(ifd);
        return nd_err_set(ND_EIO, "cannot open %s: %s", from, strerror(errno));
    }
    nd_outfile o;
    nd_status st = nd_out_open(to, &o);
    char buf[65536];
    size_t n;
    while (st == ND_OK && (n = fread(buf, 1, sizeof buf, in)) > 0) st = nd_out_write(&o, buf, n);
    if (st == ND_OK && ferror(in)) st = nd_err_set(ND_EIO, "cannot read %s", from);
    fclose(in);
    if (o.fd >= 0) {
        nd_status cst = nd_out_close(&o, st == ND_OK);
        if (st == ND_OK) st = cst;
    }
    return st;
}

/* A string as one CSV field, always quoted. */
static nd_status csv_string(FILE *out, const char *s)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_sb_csv_field(&sb, s, strlen(s), true);
    if (st == ND_OK) fwrite(sb.data, 1, sb.len, out);
    nd_sb_free(&sb);
    return st;
}

static nd_status export_csv(const char *path, const char *out_path)
{
    hid_t fapl = nd_cat_fapl();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) return nd_err_set(ND_EINVALID, "cannot open %s", path);
    nd_status st = ND_OK;
    if (H5Lexists(f, "data", H5P_DEFAULT) <= 0) { /* a map result: one dataset per member */
        H5Fclose(f);
        return nd_err_set(ND_EINVALID, "%s: a map result has no CSV form (export it to .h5)", path);
    }
    hid_t d = H5Dopen2(f, "data", H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hid_t t = d >= 0 ? H5Dget_type(d) : -1;
    FILE *out = NULL;
    nd_outfile o = {0};
    double *buf = NULL;
    size_t nbuf = 0;
    if (sp < 0 || t < 0) {
        st = nd_err_set(ND_EINVALID, "%s: no data", path);
        goto done;
    }
    st = nd_out_open(out_path, &o); /* nothing appears at out_path unless all went well */
    if (st == ND_OK && !(out = fdopen(o.fd, "w"))) {
        st = nd_err_set(ND_EIO, "cannot write %s: %s", out_path, strerror(errno));
        nd_out_close(&o, false);
    }
    if (st != ND_OK) goto done;
    int nd = H5Sget_simple_extent_ndims(sp);
    H5T_class_t cls = H5Tget_class(t);
    if (cls == H5T_STRING) {
        hid_t mt = nd_h5_vstr_type();
        char *s = NULL;
        if (nd != 0 || mt < 0 || H5Tis_variable_str(t) <= 0 ||
            H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) < 0) {
            st = nd_err_set(ND_EINVALID, "%s: cannot read data", path);
        } else {
            st = csv_string(out, s ? s : "");
            fputc('\n', out);
            H5free_memory(s);
        }
        if (mt >= 0) H5Tclose(mt);
    } else if (cls == H5T_INTEGER && nd == 0) {
        int64_t v;
        if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0)
            st = nd_err_set(ND_EINVALID, "%s: cannot read data", path);
        else
            fprintf(out, "%" PRId64 "\n", v);
    } else if (cls == H5T_FLOAT && nd >= 3) {
        st = nd_err_set(ND_EINVALID, "%s: a %d-D array has no CSV form (export it to .h5)",
                        path, nd);
    } else if (cls == H5T_FLOAT && nd <= 2) {
        /* A 1-D array: one value per line, as numpy.savetxt writes it. */
        hsize_t dims[2] = {1, 1};
        if (nd >= 1) H5Sget_simple_extent_dims(sp, dims, NULL);
        if (dims[1] && dims[0] > SIZE_MAX / sizeof(double) / dims[1]) {
            st = nd_err_set(ND_ENOMEM, "matrix too large");
            goto done;
        }
        nbuf = (size_t)(dims[0] * dims[1]);
        buf = ND_ALLOC_N(double, nbuf ? nbuf : 1);
        if (!buf) {
            st = ND_ENOMEM;
            goto done;
        }
        if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            st = nd_err_set(ND_EINVALID, "%s: cannot read data", path);
            goto done;
        }
        char num[40];
        for (hsize_t i = 0; i < dims[0]; i++) {
            for (hsize_t j = 0; j < dims[1]; j++) {
                nd_fmt_double(num, sizeof num, buf[i * dims[1] + j]);
                fprintf(out, "%s%s", j ? "," : "", num);
            }
            fputc('\n', out);
        }
    } else {
        st = nd_err_set(ND_EINVALID, "%s: unsupported data", path);
    }
done:
    if (out) {
        if (fclose(out) != 0 && st == ND_OK)
            st = nd_err_set(ND_EIO, "cannot write %s: %s", out_path, strerror(errno));
        o.fd = -1; /* closed with out */
        nd_status cst = nd_out_close(&o, st == ND_OK);
        if (st == ND_OK) st = cst;
    }
    if (buf) ND_FREE_N(buf, nbuf ? nbuf : 1);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return st;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

nd_status nd_cat_export(nd_cat *cat, const char *spec, const char *out_path)
{
    nd_status st = ND_OK;
    if (cat->rank == 0) {
        char name[160];
        int64_t v;
        st = nd_cat_parse_spec(spec, name, sizeof name, &v);
        if (st == ND_OK && !ends_with(out_path, ".csv") && !ends_with(out_path, ".h5"))
            st = nd_err_set(ND_EUSAGE, "export: the output must end in .csv or .h5: %s", out_path);
        if (st == ND_OK && v == ND_CAT_LATEST) {
            st = nd_cat_latest_version(cat, name, &v);
            if (st == ND_OK && v == 0) st = nd_err_set(ND_EPROG, "no result named '%s'", name);
        }
        char *path = st == ND_OK ? nd_cat_version_path(cat, name, v) : NULL;
        if (st == ND_OK && !path) st = ND_ENOMEM;
        if (st == ND_OK && access(path, F_OK) != 0)
            st = nd_err_set(ND_EPROG, "no result %s@%" PRId64, name, v);
        if (st == ND_OK) st = nd_cat_sum_verify(MPI_COMM_NULL, path);
        if (st == ND_OK) st = ends_with(out_path, ".h5") ? copy_file(path, out_path) : export_csv(path, out_path);
        if (path) nd_strfree(path);
    }
    return nd_cat_share_status(cat, st);
}
