/* cfg_yaml.c: config files (libyaml document API), the file search order and the YAML
 * emitter of the effective config.
 *
 * Invariant: every user-facing error names path:LINE:COL (1-based, libyaml's marks + 1)
 * and the full key path; keys are checked against the table in config.c, so the same
 * walker serves config files and the `config:` section of job specs (jobspec.c).
 * Specified by docs/config.md.
 */
#include "config/cfg_internal.h"

#include "common/alloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Files larger than this are refused rather than read (a config is a few hundred bytes). */
#define MAX_FILE (16u << 20)

nd_status nd_cfg_yerr(const nd_cfg_ydoc *yd, yaml_mark_t mark, const char *fmt, ...)
{
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nd_err_set(ND_EUSAGE, "%s:%zu:%zu: error: %s", yd->path, mark.line + 1,
                      mark.column + 1, what);
}

const char *nd_cfg_node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

const char *nd_cfg_node_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

bool nd_cfg_node_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = nd_cfg_node_text(n);
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* Reads the whole file with our allocator, so that I/O errors get our wording. */
static nd_status read_file(const char *path, nd_strbuf *out)
{
    FILE *fp = fopen(path, "rb");
    ND_CHECK(fp, ND_EUSAGE, "%s: error: cannot read file: %s", path, strerror(errno));
    nd_strbuf sb;
    nd_sb_init(&sb);
    char buf[4096];
    size_t n;
    nd_status st = ND_OK;
    while (st == ND_OK && (n = fread(buf, 1, sizeof buf, fp)) > 0) {
        st = nd_sb_append(&sb, buf, n);
        if (st == ND_OK && sb.len > MAX_FILE)
            st = nd_err_set(ND_EUSAGE, "%s: error: file too large for a config (over %u bytes)",
                            path, MAX_FILE);
    }
    if (st == ND_OK && ferror(fp))
        st = nd_err_set(ND_EUSAGE, "%s: error: cannot read file: %s", path,
                        strerror(errno ? errno : EIO));
    fclose(fp);
    if (st != ND_OK) {
        nd_sb_free(&sb);
        return st;
    }
    *out = sb;
    return ND_OK;
}

/* 0-based line and column of a byte offset (reader errors only give an offset). */
static yaml_mark_t mark_at(const char *data, size_t len, size_t off)
{
    yaml_mark_t m = {0, 0, 0};
    for (size_t i = 0; i < off && i < len; i++) {
        if (data[i] == '\n') m.line++, m.column = 0;
        else if (((unsigned char)data[i] & 0xC0) != 0x80) m.column++;
    }
    return m;
}

/* Deepest nesting of collections accepted.  Config files and job specs need three
 * levels; libyaml's scanner spends O(depth) per token inside flow collections, so a
 * 200 KB file of nested '[' took 31 s to load before this limit. */
#define MAX_DEPTH 64

/* The events of the document up to its first collection deeper than MAX_DEPTH (an
 * error naming it); syntax errors are left to the load that follows. */
static nd_status check_depth(nd_cfg_ydoc *yd, const char *data, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return nd_err_set(ND_ENOMEM, "cannot start the YAML parser");
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    nd_status st = ND_OK;
    int depth = 0;
    yaml_event_t ev;
    while (st == ND_OK && yaml_parser_parse(&p, &ev)) {
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > MAX_DEPTH)
                st = nd_cfg_yerr(yd, ev.start_mark, "nested too deeply (more than %d levels)",
                                 MAX_DEPTH);
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&p);
    return st;
}

/* A document's size with every alias expanded, as its readers will see it: the values
 * (nodes) and the bytes of their text.  Aliases share nodes, so 1,000 references to a
 * 100 KB list would be read (and written into a batch script) as 100 MB.  An alias
 * inside its own anchor (`a: &x [*x]`) makes a cycle: the expanded nesting is bounded
 * by MAX_DEPTH as the written one is (deep = the node too deep), else the walk would
 * overflow the stack. */
#define EXPANDED_NODES_MAX 100000
#define EXPANDED_BYTES_MAX (4u << 20)
typedef struct expansion {
    size_t nodes, bytes;
    yaml_node_t *deep;
} expansion;

static bool expand_ok(yaml_document_t *doc, yaml_node_t *n, expansion *e, int depth)
{
    if (!n) return true;
    if (++e->nodes > EXPANDED_NODES_MAX) return false;
    if (n->type == YAML_SCALAR_NODE) {
        e->bytes += n->data.scalar.length;
        return e->bytes <= EXPANDED_BYTES_MAX;
    }
    if (++depth > MAX_DEPTH) {
        e->deep = n;
        return false;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            if (!expand_ok(doc, yaml_document_get_node(doc, *it), e, depth)) return false;
        return true;
    }
    if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
            if (!expand_ok(doc, yaml_document_get_node(doc, p->key), e, depth) ||
                !expand_ok(doc, yaml_document_get_node(doc, p->value), e, depth))
                return false;
    }
    return true;
}

/* The first node written with an explicit YAML tag (`!!str 64`, `!name x`), or NULL.
 * Tags would let a string pass as a number (`block_size: !!str 64`): refused. */
static yaml_node_t *tagged_node(yaml_document_t *doc, const char *data, size_t len)
{
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
        size_t i = n->start_mark.index;
        if (i < len && data[i] == '&') /* an anchor may come first */
            while (i < len && data[i] != ' ' && data[i] != '\t' && data[i] != '\n') i++;
        while (i < len && (data[i] == ' ' || data[i] == '\t')) i++;
        if (i < len && data[i] == '!') return n;
    }
    return NULL;
}

nd_status nd_cfg_ydoc_load(const char *path, nd_cfg_ydoc *yd)
{
    memset(yd, 0, sizeof *yd);
    yd->path = path;
    nd_strbuf file;
    ND_TRY(read_file(path, &file));
    nd_status st = nd_cfg_ydoc_load_mem(path, file.data, file.len, yd);
    nd_sb_free(&file);
    return st;
}

nd_status nd_cfg_ydoc_load_mem(const char *path, const char *data, size_t len, nd_cfg_ydoc *yd)
{
    memset(yd, 0, sizeof *yd);
    yd->path = path;
    ND_CHECK(len <= MAX_FILE, ND_EUSAGE, "%s: error: file too large for a config (over %u bytes)",
             path, MAX_FILE);
    if (!data) data = "";
    nd_status dst = check_depth(yd, data, len);
    if (dst != ND_OK) return dst;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return nd_err_set(ND_ENOMEM, "cannot start the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    nd_status st = ND_OK;
    bool loaded = false;
    if (!yaml_parser_load(&parser, &yd->doc)) {
        st = ND_EUSAGE;
    } else {
        loaded = true;
        yd->root = yaml_document_get_root_node(&yd->doc);
        if (yd->root) {
            yaml_document_t extra;
            if (!yaml_parser_load(&parser, &extra)) {
                st = ND_EUSAGE;
            } else {
                yaml_node_t *r2 = yaml_document_get_root_node(&extra);
                if (r2)
                    st = nd_cfg_yerr(yd, r2->start_mark,
                                     "only one YAML document is allowed in a config file");
                yaml_document_delete(&extra);
            }
        }
    }
    if (st == ND_EUSAGE && parser.error != YAML_NO_ERROR) {
        if (parser.error == YAML_MEMORY_ERROR) {
            st = nd_err_set(ND_ENOMEM, "%s: out of memory while parsing YAML", path);
        } else {
            yaml_mark_t m = parser.error == YAML_READER_ERROR
                                ? mark_at(data, len, parser.problem_offset)
                                : parser.problem_mark;
            const char *problem = parser.problem ? parser.problem : "malformed YAML";
            if (parser.context)
                nd_cfg_yerr(yd, m, "YAML syntax error: %s (%s)", problem, parser.context);
            else
                nd_cfg_yerr(yd, m, "YAML syntax error: %s", problem);
        }
    }
    yaml_parser_delete(&parser);
    yaml_node_t *tn = st == ND_OK && yd->root ? tagged_node(&yd->doc, data, len) : NULL;
    if (tn) st = nd_cfg_yerr(yd, tn->start_mark, "YAML tags (such as !!str) are not supported");
    expansion ex = {0, 0, NULL};
    if (st == ND_OK && yd->root && !expand_ok(&yd->doc, yd->root, &ex, 0))
        st = ex.deep ? nd_cfg_yerr(yd, ex.deep->start_mark,
                                   "nested too deeply (more than %d levels) once aliases are "
                                   "expanded (an alias inside its own anchor?)", MAX_DEPTH)
                     : nd_err_set(ND_EUSAGE,
                                  "%s: the YAML holds more than %d values (an alias counted at "
                                  "each use) or %u MiB of text: refused",
                                  path, EXPANDED_NODES_MAX, EXPANDED_BYTES_MAX >> 20);
    if (st != ND_OK) {
        if (loaded) yaml_document_delete(&yd->doc);
        yd->root = NULL;
        return st;
    }
    return ND_OK;
}

void nd_cfg_ydoc_free(nd_cfg_ydoc *yd)
{
    yaml_document_delete(&yd->doc);
    yd->root = NULL;
}

nd_status nd_cfg_check_mapping(const nd_cfg_ydoc *yd, yaml_node_t *map, const char *disp)
{
    nd_kv seen; /* key -> the line it was first seen on: linear time for many keys */
    nd_kv_init(&seen);
    nd_status st = ND_OK;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         st == ND_OK && p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node((yaml_document_t *)&yd->doc, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            st = nd_cfg_yerr(yd, k->start_mark, "%s%skeys must be scalars, got %s", disp,
                             *disp ? ": " : "", nd_cfg_node_kind(k));
            break;
        }
        const char *first = nd_kv_get(&seen, nd_cfg_node_text(k));
        if (first) {
            st = nd_cfg_yerr(yd, k->start_mark, "duplicate key '%s%s%s' (first at line %s)", disp,
                             *disp ? "." : "", nd_cfg_node_text(k), first);
            break;
        }
        char line[24];
        snprintf(line, sizeof line, "%zu", k->start_mark.line + 1);
        st = nd_kv_set(&seen, nd_cfg_node_text(k), line);
    }
    nd_kv_free(&seen);
    return st;
}

/* checkpoint.mpiio_hints: a mapping of scalars to scalars. */
static nd_status apply_hints(nd_cfg *cfg, const nd_cfg_ydoc *yd, yaml_node_t *map,
                             const char *disp)
{
    if (map->type != YAML_MAPPING_NODE && !nd_cfg_node_is_null(map))
        return nd_cfg_yerr(yd, map->start_mark, "%s: expected a mapping of MPI-IO hints, got %s",
                           disp, nd_cfg_node_kind(map));
    nd_kv m;
    nd_kv_init(&m);
    if (map->type == YAML_MAPPING_NODE) {
        ND_TRY(nd_cfg_check_mapping(yd, map, disp));
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
             p < map->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node((yaml_document_t *)&yd->doc, p->key);
            yaml_node_t *v = yaml_document_get_node((yaml_document_t *)&yd->doc, p->value);
            nd_status st = ND_OK;
            if (!nd_cfg_hint_ok(nd_cfg_node_text(k), true))
                st = nd_cfg_yerr(yd, k->start_mark, "%s: bad hint name '%s' (no ',' or '=')",
                                 disp, nd_cfg_node_text(k));
            else if (v->type != YAML_SCALAR_NODE || nd_cfg_node_is_null(v))
                st = nd_cfg_yerr(yd, v->start_mark, "%s.%s: expected a scalar hint value, got %s",
                                 disp, nd_cfg_node_text(k),
                                 v->type == YAML_SCALAR_NODE ? "null" : nd_cfg_node_kind(v));
            else if (!nd_cfg_hint_ok(nd_cfg_node_text(v), false))
                st = nd_cfg_yerr(yd, v->start_mark, "%s.%s: hint values must not contain ','",
                                 disp, nd_cfg_node_text(k));
            else
                st = nd_kv_set(&m, nd_cfg_node_text(k), nd_cfg_node_text(v));
            if (st != ND_OK) {
                nd_kv_free(&m);
                return st;
            }
        }
    }
    nd_cfg_set_hints(cfg, &m, (int)map->start_mark.line + 1, (int)map->start_mark.column + 1);
    return ND_OK;
}

/* Walks map, whose key path is `path` ("" at the top).  disp_prefix goes before key
 * paths in messages. */
static nd_status apply_map(nd_cfg *cfg, const nd_cfg_ydoc *yd, yaml_node_t *map,
                           const char *path, const char *disp_prefix)
{
    char disp0[160];
    snprintf(disp0, sizeof disp0, "%s%s", disp_prefix, path);
    if (*disp_prefix && !*path && disp0[0]) disp0[strlen(disp0) - 1] = '\0'; /* "config" */
    ND_TRY(nd_cfg_check_mapping(yd, map, disp0));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node((yaml_document_t *)&yd->doc, p->key);
        yaml_node_t *v = yaml_document_get_node((yaml_document_t *)&yd->doc, p->value);
        char full[160], disp[200];
        int n = snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "",
                         nd_cfg_node_text(k));
        snprintf(disp, sizeof disp, "%s%s", disp_prefix, full);
        int key = n < (int)sizeof full ? nd_cfg_key_find(full) : -1;
        if (key == ND_CFG_CHECKPOINT_MPIIO_HINTS) {
            ND_TRY(apply_hints(cfg, yd, v, disp));
        } else if (key >= 0) {
            char why[160];
            if (v->type != YAML_SCALAR_NODE) {
                nd_cfg_expect((nd_cfg_key)key, "", why, sizeof why);
                return nd_cfg_yerr(yd, v->start_mark, "%s: %s, got %s", disp, why,
                                   nd_cfg_node_kind(v));
            }
            const char *text = nd_cfg_node_is_null(v) ? "" : nd_cfg_node_text(v);
            nd_cfg_expect((nd_cfg_key)key, text, why, sizeof why);
            if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                nd_cfg_key_wants_plain((nd_cfg_key)key))
                return nd_cfg_yerr(yd, v->start_mark, "%s: %s, got the string '%s'", disp, why,
                                   text);
            nd_status st = nd_cfg_set_text(cfg, (nd_cfg_key)key, text, ND_CFG_SRC_FILE,
                                           (int)v->start_mark.line + 1,
                                           (int)v->start_mark.column + 1, NULL);
            if (st == ND_EUSAGE) {
                if (!*text) return nd_cfg_yerr(yd, v->start_mark, "%s: %s, got nothing", disp, why);
                return nd_cfg_yerr(yd, v->start_mark, "%s: %s, got '%s'", disp, why, text);
            }
            ND_TRY(st);
        } else if (n < (int)sizeof full && nd_cfg_is_section(full)) {
            if (v->type != YAML_MAPPING_NODE)
                return nd_cfg_yerr(yd, v->start_mark, "%s: expected a mapping of keys, got %s",
                                   disp, nd_cfg_node_is_null(v) ? "nothing" : nd_cfg_node_kind(v));
            ND_TRY(apply_map(cfg, yd, v, full, disp_prefix));
        } else {
            return nd_cfg_yerr(yd, k->start_mark, "unknown key '%s'", disp);
        }
    }
    return ND_OK;
}

nd_status nd_cfg_apply_yaml(nd_cfg *cfg, const nd_cfg_ydoc *yd, yaml_node_t *map,
                            const char *disp_prefix)
{
    return apply_map(cfg, yd, map, "", disp_prefix);
}

/* nd_cfg_load_file (data == NULL: read path) or nd_cfg_load_text. */
static nd_status load_cfg(nd_cfg *cfg, const char *path, const char *data, size_t len)
{
    char *name = nd_strdup(path);
    if (!name) return ND_ENOMEM;
    nd_strfree(cfg->file);
    cfg->file = name;
    nd_cfg_ydoc yd;
    ND_TRY(data ? nd_cfg_ydoc_load_mem(path, data, len, &yd) : nd_cfg_ydoc_load(path, &yd));
    nd_status st = ND_OK;
    if (yd.root && yd.root->type != YAML_MAPPING_NODE && !nd_cfg_node_is_null(yd.root))
        st = nd_cfg_yerr(&yd, yd.root->start_mark,
                         "the top level of a config file must be a mapping of keys, got %s",
                         nd_cfg_node_kind(yd.root));
    else if (yd.root && yd.root->type == YAML_MAPPING_NODE)
        st = nd_cfg_apply_yaml(cfg, &yd, yd.root, "");
    nd_cfg_ydoc_free(&yd);
    return st;
}

nd_status nd_cfg_load_file(nd_cfg *cfg, const char *path) { return load_cfg(cfg, path, NULL, 0); }

nd_status nd_cfg_load_text(nd_cfg *cfg, const char *name, const char *data, size_t len)
{
    return load_cfg(cfg, name, data ? data : "", len);
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

nd_status nd_cfg_load(nd_cfg *cfg, const char *config_flag)
{
    const char *env = getenv("NOODLE_CONFIG");
    char xdg[4096];
    const char *path = NULL;
    if (config_flag) {
        ND_CHECK(file_exists(config_flag), ND_EUSAGE,
                 "--config: cannot read config file '%s': %s", config_flag, strerror(errno));
        path = config_flag;
    } else if (env && *env) {
        ND_CHECK(file_exists(env), ND_EUSAGE, "NOODLE_CONFIG: cannot read config file '%s': %s",
                 env, strerror(errno));
        path = env;
    } else if (file_exists("noodle.yaml")) {
        path = "noodle.yaml";
    } else {
        const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        int n = -1;
        if (x && *x) n = snprintf(xdg, sizeof xdg, "%s/noodle/config.yaml", x);
        else if (home && *home) n = snprintf(xdg, sizeof xdg, "%s/.config/noodle/config.yaml", home);
        if (n > 0 && n < (int)sizeof xdg && file_exists(xdg)) path = xdg;
    }
    if (path) ND_TRY(nd_cfg_load_file(cfg, path));
    return nd_cfg_load_env(cfg);
}

/* ---- emitter ---- */

static int write_sb(void *data, unsigned char *buf, size_t size)
{
    return nd_sb_append((nd_strbuf *)data, buf, size) == ND_OK;
}

static bool emit_scalar(yaml_emitter_t *em, const char *s, bool quoted)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG,
                                      (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                      quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                             : YAML_PLAIN_SCALAR_STYLE))
        return false;
    return yaml_emitter_emit(em, &ev);
}

static bool emit_simple(yaml_emitter_t *em, yaml_event_type_t t, bool flow)
{
    yaml_event_t ev;
    int ok = 0;
    switch (t) {
    case YAML_STREAM_START_EVENT:
        ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
        break;
    case YAML_STREAM_END_EVENT: ok = yaml_stream_end_event_initialize(&ev); break;
    case YAML_DOCUMENT_START_EVENT:
        ok = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        break;
    case YAML_DOCUMENT_END_EVENT: ok = yaml_document_end_event_initialize(&ev, 1); break;
    case YAML_MAPPING_START_EVENT:
        ok = yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1,
                                                 flow ? YAML_FLOW_MAPPING_STYLE
                                                      : YAML_BLOCK_MAPPING_STYLE);
        break;
    case YAML_MAPPING_END_EVENT: ok = yaml_mapping_end_event_initialize(&ev); break;
    default: break;
    }
    return ok && yaml_emitter_emit(em, &ev);
}

/* Nested sections, keys in table order; strings double-quoted so that any text reads
 * back as itself; numbers and names plain. */
static bool emit_all(yaml_emitter_t *em, const nd_cfg *cfg, nd_strbuf *v, nd_status *vst)
{
    if (!emit_simple(em, YAML_STREAM_START_EVENT, false) ||
        !emit_simple(em, YAML_DOCUMENT_START_EVENT, false) ||
        !emit_simple(em, YAML_MAPPING_START_EVENT, false))
        return false;
    char section[64] = "";
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        const char *path = nd_cfg_key_path((nd_cfg_key)k);
        const char *dot = strchr(path, '.');
        size_t slen = dot ? (size_t)(dot - path) : 0;
        bool same = slen && strlen(section) == slen && strncmp(section, path, slen) == 0;
        if (*section && !same) {
            if (!emit_simple(em, YAML_MAPPING_END_EVENT, false)) return false;
            section[0] = '\0';
        }
        if (slen && !same) {
            snprintf(section, sizeof section, "%.*s", (int)slen, path);
            if (!emit_scalar(em, section, false) ||
                !emit_simple(em, YAML_MAPPING_START_EVENT, false))
                return false;
        }
        if (!emit_scalar(em, dot ? dot + 1 : path, false)) return false;
        if (k == ND_CFG_CHECKPOINT_MPIIO_HINTS) {
            if (!emit_simple(em, YAML_MAPPING_START_EVENT, cfg->mpiio_hints.n == 0))
                return false;
            for (size_t i = 0; i < cfg->mpiio_hints.n; i++)
                if (!emit_scalar(em, cfg->mpiio_hints.keys[i], true) ||
                    !emit_scalar(em, cfg->mpiio_hints.vals[i], true))
                    return false;
            if (!emit_simple(em, YAML_MAPPING_END_EVENT, false)) return false;
            continue;
        }
        v->len = 0;
        if (v->data) v->data[0] = '\0';
        if ((*vst = nd_cfg_value_str(cfg, (nd_cfg_key)k, v)) != ND_OK) return false;
        bool quoted = nd_cfg_key_is_string((nd_cfg_key)k);
        if (!emit_scalar(em, v->data ? v->data : "", quoted)) return false;
    }
    if (*section && !emit_simple(em, YAML_MAPPING_END_EVENT, false)) return false;
    return emit_simple(em, YAML_MAPPING_END_EVENT, false) &&
           emit_simple(em, YAML_DOCUMENT_END_EVENT, false) &&
           emit_simple(em, YAML_STREAM_END_EVENT, false);
}

nd_status nd_cfg_emit_yaml(const nd_cfg *cfg, nd_strbuf *out)
{
    yaml_emitter_t em;
    if (!yaml_emitter_initialize(&em)) return nd_err_set(ND_ENOMEM, "cannot start the YAML emitter");
    yaml_emitter_set_output(&em, write_sb, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    nd_strbuf v;
    nd_sb_init(&v);
    nd_status vst = ND_OK;
    bool ok = emit_all(&em, cfg, &v, &vst);
    nd_sb_free(&v);
    nd_status st = ok || vst != ND_OK ? vst
                      : nd_err_set(em.error == YAML_MEMORY_ERROR || em.error == YAML_WRITER_ERROR
                                       ? ND_ENOMEM
                                       : ND_EINTERNAL,
                                   "cannot emit the configuration as YAML: %s",
                                   em.problem ? em.problem : "out of memory");
    yaml_emitter_delete(&em);
    return st;
}
