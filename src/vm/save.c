/* save.c: the VM saves and restores its own state (nd_vm_save, nd_vm_restore): frames,
 * registers, globals, the heap values they reach and the counters, as the byte blob of
 * docs/checkpoint.md "State blob".  The VM knows nothing of files: the bytes go to a sink
 * and each matrix to the sink's callback, which returns the number the blob stores for
 * it (src/ckpt writes it as a dataset); on restore a source hands the matrices back.
 *
 * Objects are serialized by identity: every heap object reachable from the globals and
 * the registers gets one id (breadth-first, no recursion), so shared references and
 * cycles survive a restart.  String constants of the program are written as references
 * to their constant slot and rebound to the new VM's constants.  Matrices are numbered
 * references that the sink gives out.  The decoder trusts nothing: every
 * count is checked against the bytes left and every index against its table.
 */
#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "nbc/builtin_ids.h"

#include <string.h>

/* The blob's header (docs/checkpoint.md "State blob"): a change of layout bumps the
 * version, and a reader refuses versions it does not know. */
#define STATE_MAGIC "NDSTATE\0"
#define STATE_VERSION 1u
/* Bytes gathered before they go to the sink: a few calls per megabyte, not per value. */
#define SPILL_BYTES 65536u

/* Value tags in the blob. */
enum {
    V_NIL = 0,
    V_BOOL,
    V_INT,
    V_FLOAT,
    V_FUNC,
    V_BUILTIN,
    V_UNDEF,
    V_OBJ,   /* u32 object id */
    V_CONST  /* u32 constant index (a string constant of the program) */
};

/* ---- pointer -> id table (open addressing, power-of-two size) ---- */

typedef struct idmap {
    const nd_obj **keys;
    uint32_t *ids;     /* bit 31: a constant index instead of an object id */
    size_t cap, len;
} idmap;

#define CONST_BIT 0x80000000u

static size_t slot_of(const idmap *m, const nd_obj *o)
{
    uint64_t h = (uint64_t)(uintptr_t)o * UINT64_C(0x9E3779B97F4A7C15);
    size_t k = (size_t)(h >> 17) & (m->cap - 1);
    while (m->keys[k] && m->keys[k] != o) k = (k + 1) & (m->cap - 1);
    return k;
}

static nd_status idmap_grow(idmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    idmap n = {ND_ALLOC_N(const nd_obj *, ncap), ND_ALLOC_N(uint32_t, ncap), ncap, m->len};
    if (!n.keys || !n.ids) {
        if (n.keys) ND_FREE_N(n.keys, ncap);
        if (n.ids) ND_FREE_N(n.ids, ncap);
        return ND_ENOMEM;
    }
    for (size_t k = 0; k < m->cap; k++)
        if (m->keys[k]) {
            size_t s = slot_of(&n, m->keys[k]);
            n.keys[s] = m->keys[k];
            n.ids[s] = m->ids[k];
        }
    if (m->cap) {
        ND_FREE_N(m->keys, m->cap);
        ND_FREE_N(m->ids, m->cap);
    }
    *m = n;
    return ND_OK;
}

static void idmap_free(idmap *m)
{
    if (m->cap) {
        ND_FREE_N(m->keys, m->cap);
        ND_FREE_N(m->ids, m->cap);
    }
}

/* *found: whether o was already known; *id its id (or the new one, id_if_new). */
static nd_status idmap_put(idmap *m, const nd_obj *o, uint32_t id_if_new, bool *found,
                           uint32_t *id)
{
    if ((m->len + 1) * 2 > m->cap) ND_TRY(idmap_grow(m));
    size_t s = slot_of(m, o);
    if (m->keys[s]) {
        *found = true;
        *id = m->ids[s];
        return ND_OK;
    }
    m->keys[s] = o;
    m->ids[s] = id_if_new;
    m->len++;
    *found = false;
    *id = id_if_new;
    return ND_OK;
}

/* ---- encoding ---- */

typedef struct encoder {
    const nd_vm *vm;
    const nd_vm_sink *sink;
    nd_strbuf buf;         /* bytes not yet given to the sink */
    nd_strbuf names;       /* scratch: the names of one matrix */
    idmap ids;
    const nd_obj **objs;   /* by id */
    size_t nobjs, objs_cap;
} encoder;

/* Gives the gathered bytes to the sink once there are SPILL_BYTES of them (or now). */
static nd_status spill(encoder *e, bool now)
{
    if (e->buf.len == 0 || (!now && e->buf.len < SPILL_BYTES)) return ND_OK;
    nd_status st = e->sink->write(e->sink->ctx, e->buf.data, e->buf.len);
    e->buf.len = 0;
    return st;
}

/* The global variables that hold A directly ("U", "U, V", or "" for none), so that a
 * reader of the checkpoint finds U without guessing /matrices/m3 from its shape. */
static nd_status matrix_names(encoder *e, const nd_dm *A, const char **out)
{
    const nd_program *p = e->vm->prog;
    e->names.len = 0;
    for (uint32_t g = 0; g < p->nglobals; g++) {
        nd_value v = e->vm->globals[g];
        if (v.type != ND_T_MATRIX || ND_AS_MATRIX(v)->dm != A) continue;
        ND_TRY(nd_sb_printf(&e->names, "%s%s", e->names.len ? ", " : "", p->globals[g]));
    }
    *out = e->names.len ? e->names.data : "";
    return ND_OK;
}

/* Gives v's object an id (queued for the walk) if it has none. */
static nd_status enc_visit(encoder *e, nd_value v)
{
    if (!ND_IS_OBJ(v)) return ND_OK;
    bool found;
    uint32_t id;
    ND_CHECK(e->nobjs < CONST_BIT, ND_ENOMEM, "checkpoint: too many objects");
    ND_TRY(idmap_put(&e->ids, v.as.o, (uint32_t)e->nobjs, &found, &id));
    if (found) return ND_OK;
    if (e->nobjs == e->objs_cap) {
        size_t ncap = e->objs_cap ? e->objs_cap * 2 : 256;
        const nd_obj **n = ND_REALLOC_N(const nd_obj *, e->objs, e->objs_cap, ncap);
        if (!n) return ND_ENOMEM;
        e->objs = n;
        e->objs_cap = ncap;
    }
    e->objs[e->nobjs++] = v.as.o;
    return ND_OK;
}

static nd_status enc_value(encoder *e, nd_strbuf *sb, nd_value v)
{
    switch ((nd_type)v.type) {
    case ND_T_NIL: return nd_sb_u8(sb, V_NIL);
    case ND_T_UNDEF: return nd_sb_u8(sb, V_UNDEF);
    case ND_T_BOOL:
        ND_TRY(nd_sb_u8(sb, V_BOOL));
        return nd_sb_u8(sb, v.as.b ? 1 : 0);
    case ND_T_INT:
        ND_TRY(nd_sb_u8(sb, V_INT));
        return nd_sb_u64(sb, (uint64_t)v.as.i);
    case ND_T_FLOAT:
        ND_TRY(nd_sb_u8(sb, V_FLOAT));
        return nd_sb_f64(sb, v.as.f);
    case ND_T_FUNC:
        ND_TRY(nd_sb_u8(sb, V_FUNC));
        return nd_sb_u32(sb, v.as.fn);
    case ND_T_BUILTIN:
        ND_TRY(nd_sb_u8(sb, V_BUILTIN));
        return nd_sb_u32(sb, v.as.fn);
    case ND_T_STR:
    case ND_T_LIST:
    case ND_T_MAP:
    case ND_T_MATRIX: {
        bool found;
        uint32_t id;
        ND_TRY(idmap_put(&e->ids, v.as.o, 0, &found, &id));
        ND_CHECK(found, ND_EINTERNAL, "checkpoint: object missed by the walk");
        if (id & CONST_BIT) {
            ND_TRY(nd_sb_u8(sb, V_CONST));
            return nd_sb_u32(sb, id & ~CONST_BIT);
        }
        ND_TRY(nd_sb_u8(sb, V_OBJ));
        return nd_sb_u32(sb, id);
    }
    }
    return nd_err_set(ND_EINTERNAL, "checkpoint: value of unknown type %u", v.type);
}

/* Registers any frame can see: the largest window end over all frames (a caller's
 * window may reach past its callee's), capped by the array. */
static size_t regs_used(const nd_vm *vm)
{
    size_t used = nd_vm_state_regs_used(vm);
    for (uint32_t f = 0; f < vm->nframes; f++) {
        size_t end = (size_t)vm->frames[f].base + vm->prog->funcs[vm->frames[f].func].nregs;
        if (end > used) used = end;
    }
    return used < vm->nregs ? used : vm->nregs;
}

static nd_status encode(encoder *e)
{
    nd_strbuf *out = &e->buf;
    const nd_vm *vm = e->vm;
    const nd_program *prog = vm->prog;
    bool found;
    uint32_t id;
    /* String constants first, so that references to them stay references. */
    for (uint32_t k = 0; k < prog->nconsts; k++)
        if (vm->consts && ND_IS_OBJ(vm->consts[k]))
            ND_TRY(idmap_put(&e->ids, vm->consts[k].as.o, CONST_BIT | k, &found, &id));
    size_t nregs = regs_used(vm);
    for (uint32_t g = 0; g < prog->nglobals; g++) ND_TRY(enc_visit(e, vm->globals[g]));
    for (size_t r = 0; r < nregs; r++) ND_TRY(enc_visit(e, vm->regs[r]));
    /* Breadth-first over containers: objs grows while we walk it. */
    size_t nmats = 0;
    for (size_t k = 0; k < e->nobjs; k++) {
        const nd_obj *o = e->objs[k];
        if (o->type == ND_T_LIST) {
            const nd_list *l = (const nd_list *)o;
            for (size_t j = 0; j < l->len; j++) ND_TRY(enc_visit(e, l->items[j]));
        } else if (o->type == ND_T_MAP) {
            const nd_map *m = (const nd_map *)o;
            for (size_t j = 0; j < m->len; j++) {
                ND_TRY(enc_visit(e, ND_OBJ(ND_T_STR, m->entries[j].key)));
                ND_TRY(enc_visit(e, m->entries[j].val));
            }
        } else if (o->type == ND_T_MATRIX) {
            nmats++;
        }
    }

    ND_TRY(nd_sb_append(out, STATE_MAGIC, 8));
    ND_TRY(nd_sb_u32(out, STATE_VERSION));
    ND_TRY(nd_sb_u32(out, prog->nconsts));
    ND_TRY(nd_sb_u64(out, e->nobjs));
    ND_TRY(nd_sb_u64(out, nmats));
    /* Object shells. */
    for (size_t k = 0; k < e->nobjs; k++) {
        const nd_obj *o = e->objs[k];
        ND_TRY(spill(e, false));
        ND_TRY(nd_sb_u8(out, o->type));
        switch (o->type) {
        case ND_T_STR: {
            const nd_str *s = (const nd_str *)o;
            ND_TRY(nd_sb_u32(out, s->len));
            ND_TRY(nd_sb_append(out, s->data, s->len));
            break;
        }
        case ND_T_LIST: ND_TRY(nd_sb_u64(out, ((const nd_list *)o)->len)); break;
        case ND_T_MAP: ND_TRY(nd_sb_u64(out, ((const nd_map *)o)->len)); break;
        case ND_T_MATRIX: {
            nd_dm *A = ((const nd_matrix *)o)->dm;
            const char *names;
            uint64_t ref;
            ND_TRY(matrix_names(e, A, &names));
            ND_TRY(e->sink->matrix(e->sink->ctx, A, names, &ref));
            ND_TRY(nd_sb_u64(out, ref));
            break;
        }
        default: return nd_err_set(ND_EINTERNAL, "checkpoint: object of type %u", o->type);
        }
    }
    /* Container contents, in id order. */
    for (size_t k = 0; k < e->nobjs; k++) {
        const nd_obj *o = e->objs[k];
        ND_TRY(spill(e, false));
        if (o->type == ND_T_LIST) {
            const nd_list *l = (const nd_list *)o;
            for (size_t j = 0; j < l->len; j++) {
                ND_TRY(spill(e, false));
                ND_TRY(enc_value(e, out, l->items[j]));
            }
        } else if (o->type == ND_T_MAP) {
            const nd_map *mp = (const nd_map *)o;
            for (size_t j = 0; j < mp->len; j++) {
                ND_TRY(spill(e, false));
                ND_TRY(enc_value(e, out, ND_OBJ(ND_T_STR, mp->entries[j].key)));
                ND_TRY(enc_value(e, out, mp->entries[j].val));
            }
        }
    }
    ND_TRY(nd_sb_u32(out, prog->nglobals));
    for (uint32_t g = 0; g < prog->nglobals; g++) ND_TRY(enc_value(e, out, vm->globals[g]));
    ND_TRY(nd_sb_u64(out, nregs));
    for (size_t r = 0; r < nregs; r++) ND_TRY(enc_value(e, out, vm->regs[r]));
    ND_TRY(nd_sb_u32(out, vm->nframes));
    for (uint32_t f = 0; f < vm->nframes; f++) {
        const nd_frame *fr = &vm->frames[f];
        ND_TRY(nd_sb_u32(out, fr->func));
        ND_TRY(nd_sb_u32(out, fr->pc));
        ND_TRY(nd_sb_u32(out, fr->base));
        ND_TRY(nd_sb_u32(out, fr->ret));
    }
    ND_TRY(nd_sb_u64(out, vm->ncollective));
    ND_TRY(nd_sb_u64(out, vm->nsafepoints));
    return spill(e, true);
}

nd_status nd_vm_save(const nd_vm *vm, const nd_vm_sink *sink)
{
    encoder e = {.vm = vm, .sink = sink};
    nd_sb_init(&e.buf);
    nd_sb_init(&e.names);
    nd_status st = encode(&e);
    nd_sb_free(&e.buf);
    nd_sb_free(&e.names);
    idmap_free(&e.ids);
    if (e.objs) ND_FREE_N(e.objs, e.objs_cap);
    return st;
}

/* ---- decoding ---- */

typedef struct decoder {
    nd_vm *vm;
    const nd_vm_source *src;
    nd_reader rd;
    nd_value *objs;  /* shells, one owned reference each */
    uint64_t *lens;  /* declared container lengths, by id */
    size_t nobjs, objs_cap;
} decoder;

#define BAD(...) nd_err_set(ND_EINVALID, "checkpoint state: " __VA_ARGS__)

static nd_status header(nd_reader *rd, uint32_t *nconsts, uint64_t *nobjs, uint64_t *nmats)
{
    const uint8_t *magic = nd_rd_bytes(rd, 8);
    if (!magic || memcmp(magic, STATE_MAGIC, 8) != 0) return BAD("bad magic");
    uint32_t ver = nd_rd_u32(rd);
    if (rd->overrun) return BAD("truncated header");
    if (ver != STATE_VERSION)
        return BAD("unsupported state version %u (this build reads %u)", ver, STATE_VERSION);
    *nconsts = nd_rd_u32(rd);
    *nobjs = nd_rd_u64(rd);
    *nmats = nd_rd_u64(rd);
    if (rd->overrun) return BAD("truncated header");
    /* Each object takes at least 9 bytes, each matrix is an object. */
    if (*nobjs > (rd->len - rd->pos) / 9 || *nmats > *nobjs)
        return BAD("object count %llu exceeds the data", (unsigned long long)*nobjs);
    return ND_OK;
}

nd_status nd_vm_state_nmats(const void *blob, size_t len, size_t *nmats)
{
    nd_reader rd;
    nd_rd_init(&rd, blob, len);
    uint32_t nconsts;
    uint64_t nobjs, nm;
    ND_TRY(header(&rd, &nconsts, &nobjs, &nm));
    *nmats = (size_t)nm;
    return ND_OK;
}

/* Reads one value; *v is borrowed (from the shells, the constants or immediate). */
static nd_status dec_value(decoder *d, nd_value *v, bool allow_undef)
{
    nd_reader *rd = &d->rd;
    uint8_t tag = nd_rd_u8(rd);
    const nd_program *prog = d->vm->prog;
    switch (tag) {
    case V_NIL: *v = ND_NIL; break;
    case V_UNDEF:
        if (!allow_undef) return BAD("undefined value outside the globals");
        *v = (nd_value){.type = ND_T_UNDEF};
        break;
    case V_BOOL: {
        uint8_t b = nd_rd_u8(rd);
        if (b > 1) return BAD("bad bool");
        *v = ND_BOOL(b != 0);
        break;
    }
    case V_INT: *v = ND_INT((int64_t)nd_rd_u64(rd)); break;
    case V_FLOAT: *v = ND_FLOAT(nd_rd_f64(rd)); break;
    case V_FUNC: {
        uint32_t f = nd_rd_u32(rd);
        if (!rd->overrun && f >= prog->nfuncs) return BAD("function index %u out of range", f);
        *v = (nd_value){.type = ND_T_FUNC, .as.fn = f};
        break;
    }
    case V_BUILTIN: {
        uint32_t b = nd_rd_u32(rd);
        if (!rd->overrun && b >= ND_NBUILTINS) return BAD("builtin id %u out of range", b);
        *v = (nd_value){.type = ND_T_BUILTIN, .as.fn = b};
        break;
    }
    case V_OBJ: {
        uint32_t id = nd_rd_u32(rd);
        if (!rd->overrun && id >= d->nobjs) return BAD("object id %u out of range", id);
        *v = rd->overrun ? ND_NIL : d->objs[id];
        break;
    }
    case V_CONST: {
        uint32_t k = nd_rd_u32(rd);
        if (rd->overrun) break;
        if (k >= prog->nconsts || !d->vm->consts || !ND_IS_OBJ(d->vm->consts[k]))
            return BAD("constant %u is not a string constant", k);
        *v = d->vm->consts[k];
        break;
    }
    default:
        if (!rd->overrun) return BAD("unknown value tag %u", tag);
    }
    if (rd->overrun) return BAD("truncated");
    return ND_OK;
}

static nd_status decode(decoder *d)
{
    nd_vm *vm = d->vm;
    const nd_program *prog = vm->prog;
    nd_reader *rd = &d->rd;
    uint32_t nconsts;
    uint64_t nobjs, nm;
    ND_TRY(header(rd, &nconsts, &nobjs, &nm));
    if (nconsts != prog->nconsts) return BAD("constant count differs from the program");
    if (nobjs) {
        d->objs = ND_ALLOC_N(nd_value, nobjs);
        if (!d->objs) return ND_ENOMEM;
        d->objs_cap = (size_t)nobjs;
        d->lens = ND_ALLOC_N(uint64_t, nobjs);
        if (!d->lens) return ND_ENOMEM;
    }
    /* Shells. */
    for (size_t k = 0; k < nobjs; k++) {
        uint8_t type = nd_rd_u8(rd);
        if (rd->overrun) return BAD("truncated object table");
        size_t left = rd->len - rd->pos;
        switch (type) {
        case ND_T_STR: {
            uint32_t len = nd_rd_u32(rd);
            const uint8_t *p = nd_rd_bytes(rd, len);
            if (!p) return BAD("truncated string");
            nd_str *s = nd_str_new((const char *)p, len);
            if (!s) return ND_ENOMEM;
            d->objs[k] = ND_OBJ(ND_T_STR, s);
            break;
        }
        case ND_T_LIST:
        case ND_T_MAP: {
            uint64_t len = nd_rd_u64(rd);
            if (rd->overrun || len > left)
                return BAD("container length %llu exceeds the data", (unsigned long long)len);
            d->lens[k] = len;
            if (type == ND_T_LIST) {
                nd_list *l = nd_list_new((size_t)len);
                if (!l) return ND_ENOMEM;
                d->objs[k] = ND_OBJ(ND_T_LIST, l);
            } else {
                nd_map *m = nd_map_new((size_t)len);
                if (!m) return ND_ENOMEM;
                d->objs[k] = ND_OBJ(ND_T_MAP, m);
            }
            break;
        }
        case ND_T_MATRIX: {
            uint64_t ref = nd_rd_u64(rd);
            if (rd->overrun) return BAD("truncated matrix reference");
            nd_dm *A;
            ND_TRY(d->src->matrix(d->src->ctx, ref, &A));
            nd_matrix *mx = nd_matrix_new(A);
            if (!mx) return ND_ENOMEM;
            d->objs[k] = ND_OBJ(ND_T_MATRIX, mx);
            break;
        }
        default: return BAD("object of unknown type %u", type);
        }
        d->nobjs = k + 1;
    }
    /* Contents.  The shells were read with their lengths; the items follow in order. */
    for (size_t k = 0; k < d->nobjs; k++) {
        nd_value o = d->objs[k];
        if (o.type == ND_T_LIST) {
            nd_list *l = ND_AS_LIST(o);
            size_t len = (size_t)d->lens[k];
            for (size_t j = 0; j < len; j++) {
                nd_value v;
                ND_TRY(dec_value(d, &v, false));
                ND_TRY(nd_list_push(l, v));
            }
        } else if (o.type == ND_T_MAP) {
            nd_map *m = ND_AS_MAP(o);
            size_t len = (size_t)d->lens[k];
            for (size_t j = 0; j < len; j++) {
                nd_value key, v;
                ND_TRY(dec_value(d, &key, false));
                ND_TRY(dec_value(d, &v, false));
                if (key.type != ND_T_STR) return BAD("map key is not a string");
                if (nd_map_get(m, ND_AS_STR(key))) return BAD("duplicate map key");
                ND_TRY(nd_map_set(m, ND_AS_STR(key), v));
            }
        }
    }
    /* Globals. */
    uint32_t ng = nd_rd_u32(rd);
    if (rd->overrun) return BAD("truncated");
    if (ng != prog->nglobals) return BAD("%u globals, the program has %u", ng, prog->nglobals);
    for (uint32_t g = 0; g < ng; g++) {
        nd_value v;
        ND_TRY(dec_value(d, &v, true));
        nd_val_incref(v);
        nd_val_set(&vm->globals[g], v);
    }
    /* Registers and frames: the frames are read first into a scratch array so that
     * the register count can be checked against them before the VM is touched. */
    uint64_t nregs = nd_rd_u64(rd);
    if (rd->overrun || nregs > (rd->len - rd->pos)) return BAD("bad register count");
    size_t regs_at = rd->pos;
    for (uint64_t r = 0; r < nregs; r++) {
        nd_value v;
        ND_TRY(dec_value(d, &v, false));
    }
    uint32_t nf = nd_rd_u32(rd);
    if (rd->overrun || nf == 0 || nf > (rd->len - rd->pos) / 16) return BAD("bad frame count");
    if (nf > vm->max_depth) return BAD("%u frames exceed the call-depth limit %u", nf,
                                       vm->max_depth);
    size_t frames_at = rd->pos;
    uint32_t prev_base = 0;
    for (uint32_t f = 0; f < nf; f++) {
        uint32_t func = nd_rd_u32(rd), pc = nd_rd_u32(rd), base = nd_rd_u32(rd),
                 ret = nd_rd_u32(rd);
        if (rd->overrun) return BAD("truncated frames");
        if (func >= prog->nfuncs) return BAD("frame %u: function %u out of range", f, func);
        const nd_func *fn = &prog->funcs[func];
        if (pc > fn->ncode) return BAD("frame %u: pc %u out of range", f, pc);
        if ((uint64_t)base + fn->nregs > nregs && f == nf - 1)
            return BAD("frame %u: registers out of range", f);
        if (base > nregs) return BAD("frame %u: base out of range", f);
        if (f == 0 ? (func != 0 || base != 0 || ret != ND_NO_RET)
                   : (base <= prev_base || ret != base - 1))
            return BAD("frame %u: inconsistent with its caller", f);
        prev_base = base;
    }
    uint64_t ncoll = nd_rd_u64(rd), nsp = nd_rd_u64(rd);
    if (rd->overrun) return BAD("truncated counters");
    if (rd->pos != rd->len) return BAD("%zu trailing bytes", rd->len - rd->pos);

    ND_TRY(nd_vm_state_reset(vm, (size_t)nregs + 1, nf));
    nd_reader again;
    nd_rd_init(&again, rd->p + regs_at, rd->len - regs_at);
    nd_reader saved = d->rd;
    d->rd = again;
    for (uint64_t r = 0; r < nregs; r++) {
        nd_value v;
        ND_TRY(dec_value(d, &v, false));
        nd_val_incref(v);
        vm->regs[r] = v;
    }
    d->rd = saved;
    nd_rd_init(&again, rd->p + frames_at, rd->len - frames_at);
    for (uint32_t f = 0; f < nf; f++) {
        nd_frame *fr = &vm->frames[f];
        fr->func = nd_rd_u32(&again);
        fr->pc = nd_rd_u32(&again);
        fr->base = nd_rd_u32(&again);
        fr->ret = nd_rd_u32(&again);
        fr->local = false; /* nd_frame.local */
    }
    vm->nframes = nf;
    vm->ncollective = ncoll;
    vm->nsafepoints = nsp;

    /* A checkpoint() call's result register: the call completes on restart with nil. */
    nd_frame *top = &vm->frames[nf - 1];
    const nd_func *fn = &prog->funcs[top->func];
    if (top->pc > 0) {
        nd_instr in = fn->code[top->pc - 1];
        size_t a = (size_t)top->base + in.a;
        bool is_ckpt = (in.op == ND_OP_CALLB && in.c == ND_BI_CHECKPOINT) ||
                       (in.op == ND_OP_CALL && a < vm->nregs &&
                        vm->regs[a].type == ND_T_BUILTIN &&
                        vm->regs[a].as.fn == ND_BI_CHECKPOINT);
        if (is_ckpt && a < vm->nregs) nd_val_set(&vm->regs[a], ND_NIL);
    }
    return ND_OK;
}

nd_status nd_vm_restore(nd_vm *vm, const void *blob, size_t len, const nd_vm_source *src)
{
    decoder d = {.vm = vm, .src = src};
    nd_rd_init(&d.rd, blob, len);
    nd_status st = decode(&d);
    for (size_t k = 0; k < d.nobjs; k++) nd_val_decref(d.objs[k]);
    if (d.objs) ND_FREE_N(d.objs, d.objs_cap);
    if (d.lens) ND_FREE_N(d.lens, d.objs_cap);
    if (st != ND_OK) {
        /* Leave a consistent (empty) state behind: the caller frees the VM. */
        (void)nd_vm_state_reset(vm, 0, 0);
        for (uint32_t g = 0; g < vm->prog->nglobals; g++)
            nd_val_set(&vm->globals[g], (nd_value){.type = ND_T_UNDEF});
        vm->nframes = 0;
        vm->state = ND_VM_FAILED;
        vm->status = st;
    }
    return st;
}
