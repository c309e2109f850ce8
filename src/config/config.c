/* config.c: the key table, defaults, text parsing of values (environment, flags, YAML
 * scalars), environment variables, printing and pack/unpack of nd_cfg.
 *
 * Invariant: every value enters through parse_text, so a file, a variable, a flag and
 * an unpacked blob obey the same rules, and canonical text (nd_cfg_value_str) parses
 * back to the identical value (pack relies on it).  Specified by docs/config.md.
 */
#include "config/cfg_internal.h"

#include "common/alloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum ktype { T_GRID, T_INT, T_SECONDS, T_BYTES, T_STRING, T_ENUM, T_BOOL, T_MAP } ktype;

typedef struct keydef {
    const char *path;
    ktype type;
    const char *dflt;         /* the default as text, parsed by nd_cfg_init */
    int64_t min, max;         /* T_INT */
    const char *const *names; /* T_ENUM, NULL-terminated; the value is the index */
    const char *flag, *meta;  /* noodle-run's flag (NULL = none) and its placeholder */
    const char *help;
} keydef;

#define ND_CFG_NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
/* An INT key's default is a C constant (keys.h); the table holds every default as text. */
#define DFLT_TEXT_INT(D) #D
#define DFLT_TEXT_GRID(D) D
#define DFLT_TEXT_SECONDS(D) D
#define DFLT_TEXT_BYTES(D) D
#define DFLT_TEXT_STRING(D) D
#define DFLT_TEXT_ENUM(D) D
#define DFLT_TEXT_BOOL(D) D
#define DFLT_TEXT_MAP(D) D

/* Indexed by nd_cfg_key. */
static const keydef keys[ND_CFG_NKEYS] = {
#define ND_CFG_KEY(ID, PATH, TYPE, CTYPE, FIELD, DFLT, MIN, MAX, NAMES, FLAG, META, HELP) \
    [ND_CFG_##ID] = {PATH, T_##TYPE, DFLT_TEXT_##TYPE(DFLT), MIN, MAX, NAMES, FLAG, META, HELP},
#include "config/keys.def"
#undef ND_CFG_KEY
};

/* ---- key table ---- */

int nd_cfg_key_find(const char *path)
{
    for (int k = 0; k < ND_CFG_NKEYS; k++)
        if (strcmp(keys[k].path, path) == 0) return k;
    return -1;
}

const char *nd_cfg_key_path(nd_cfg_key key) { return keys[key].path; }

bool nd_cfg_is_section(const char *path)
{
    size_t n = strlen(path);
    for (int k = 0; k < ND_CFG_NKEYS; k++)
        if (strncmp(keys[k].path, path, n) == 0 && keys[k].path[n] == '.') return true;
    return false;
}

bool nd_cfg_key_wants_plain(nd_cfg_key key)
{
    ktype t = keys[key].type;
    return t == T_INT || t == T_SECONDS || t == T_BOOL;
}

bool nd_cfg_key_is_string(nd_cfg_key key) { return keys[key].type == T_STRING; }

void nd_cfg_env_name(nd_cfg_key key, char *buf, size_t size)
{
    size_t j = 0;
    const char *pre = "NOODLE_";
    for (const char *p = pre; *p && j + 1 < size; p++) buf[j++] = *p;
    for (const char *p = keys[key].path; *p && j + 1 < size; p++)
        buf[j++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    if (size) buf[j] = '\0';
}

bool nd_cfg_hint_ok(const char *s, bool is_key)
{
    if (is_key && !*s) return false;
    return !strchr(s, ',') && !(is_key && strchr(s, '='));
}

/* ---- parsing values from text ---- */

typedef struct parsed {
    int64_t i;
    double d;
    uint64_t u;
    int rows, cols;
    nd_kv map;
} parsed;

/* A decimal integer, nothing else (no spaces, no hex). */
static bool parse_int(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return false;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p)) return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE) return false;
    *out = v;
    return true;
}

/* A finite decimal number ("30", "2.5", "1e3"); no hex, inf or nan. */
static bool parse_num(const char *s, double *out)
{
    if (!*s) return false;
    bool digit = false;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p)) digit = true;
        else if (!strchr("+-.eE", *p)) return false;
    }
    if (!digit) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* "4GiB", "512 MiB", "1.5G", "1000000", "2kB": binary units (KiB, K) are powers of 1024,
 * decimal ones (kB, KB, MB) powers of 1000. */
static bool parse_bytes(const char *s, uint64_t *out)
{
    static const struct {
        const char *suf;
        double mult;
    } units[] = {
        {"", 1},        {"b", 1},           {"k", 1024.0},       {"kib", 1024.0},
        {"kb", 1e3},    {"m", 1048576.0},   {"mib", 1048576.0},  {"mb", 1e6},
        {"g", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9},
        {"t", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12},
    };
    size_t n = 0;
    while (isdigit((unsigned char)s[n]) || s[n] == '.') n++;
    if (n == 0 || n >= 64) return false;
    char num[64];
    memcpy(num, s, n);
    num[n] = '\0';
    double v;
    if (!parse_num(num, &v)) return false;
    const char *suf = s + n;
    while (*suf == ' ') suf++;
    for (size_t i = 0; i < ND_ARRAY_LEN(units); i++) {
        if (strcasecmp(suf, units[i].suf) == 0) {
            if (suf != s + n && !*suf) return false; /* trailing spaces */
            double b = floor(v * units[i].mult);
            if (!(b < 9.2e18)) return false;
            if (b == 0 && v > 0) return false; /* 0.5 bytes: not silently 0, "no limit" */
            *out = (uint64_t)b;
            return true;
        }
    }
    return false;
}

static bool parse_grid(const char *s, int *rows, int *cols)
{
    if (strcmp(s, "auto") == 0) {
        *rows = *cols = 0;
        return true;
    }
    const char *x = strpbrk(s, "xX");
    if (!x || x == s || x - s > 10) return false;
    char a[16];
    memcpy(a, s, (size_t)(x - s));
    a[x - s] = '\0';
    int64_t r, c;
    if (!isdigit((unsigned char)a[0]) || !isdigit((unsigned char)x[1])) return false;
    if (!parse_int(a, &r) || !parse_int(x + 1, &c)) return false;
    if (r < 1 || c < 1 || r > 1000000 || c > 1000000) return false;
    *rows = (int)r, *cols = (int)c;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "yes", "on", "1"};
    static const char *const f[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) return *out = true, true;
        if (strcasecmp(s, f[i]) == 0) return *out = false, true;
    }
    return false;
}

/* "k=v,k2=v2" (empty: no hints).  ND_EUSAGE without a message on bad text. */
static nd_status parse_hints(const char *s, nd_kv *m)
{
    nd_kv_init(m);
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p) goto bad;
        char *k = nd_strndup(p, (size_t)(eq - p));
        char *v = nd_strndup(eq + 1, len - (size_t)(eq - p) - 1);
        nd_status st = (k && v) ? nd_kv_set(m, k, v) : ND_ENOMEM;
        nd_strfree(k);
        nd_strfree(v);
        if (st != ND_OK) {
            nd_kv_free(m);
            return st;
        }
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) goto bad;
        }
    }
    return ND_OK;
bad:
    nd_kv_free(m);
    return ND_EUSAGE;
}

static bool parse_enum(const char *const *names, const char *s, int64_t *out)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return *out = i, true;
    return false;
}

/* ND_EUSAGE (no message) for bad text, ND_ENOMEM (message set). */
static nd_status parse_text(nd_cfg_key key, const char *s, parsed *p)
{
    const keydef *k = &keys[key];
    bool b;
    switch (k->type) {
    case T_GRID: return parse_grid(s, &p->rows, &p->cols) ? ND_OK : ND_EUSAGE;
    case T_INT:
        return parse_int(s, &p->i) && p->i >= k->min && p->i <= k->max ? ND_OK : ND_EUSAGE;
    case T_SECONDS: return parse_num(s, &p->d) && p->d >= 0 ? ND_OK : ND_EUSAGE;
    case T_BYTES: return parse_bytes(s, &p->u) ? ND_OK : ND_EUSAGE;
    case T_STRING: return *s || !*k->dflt ? ND_OK : ND_EUSAGE; /* empty: off, if the default */
    case T_ENUM: return parse_enum(k->names, s, &p->i) ? ND_OK : ND_EUSAGE;
    case T_BOOL:
        if (!parse_bool(s, &b)) return ND_EUSAGE;
        p->i = b;
        return ND_OK;
    case T_MAP: return parse_hints(s, &p->map);
    }
    return ND_EUSAGE;
}

void nd_cfg_expect(nd_cfg_key key, const char *text, char *buf, size_t size)
{
    const keydef *k = &keys[key];
    int64_t i;
    double d;
    char *end;
    switch (k->type) {
    case T_GRID: snprintf(buf, size, "expected auto or ROWSxCOLS (e.g. 2x3)"); break;
    case T_INT:
        if (parse_int(text, &i) && i > k->max)
            snprintf(buf, size, "expected an integer between %lld and %lld", (long long)k->min,
                     (long long)k->max);
        else
            snprintf(buf, size, "expected an integer >= %lld", (long long)k->min);
        break;
    case T_SECONDS:
        if (parse_num(text, &d))
            snprintf(buf, size, "expected a number of seconds >= 0");
        else if (text[0] && !isfinite(strtod(text, &end)) && !*end) /* 1e400, inf, nan */
            snprintf(buf, size, "expected a finite number of seconds");
        else
            snprintf(buf, size, "expected a number of seconds");
        break;
    case T_BYTES: snprintf(buf, size, "expected a size in bytes such as 512MiB or 4GiB"); break;
    case T_STRING: snprintf(buf, size, "expected a non-empty string"); break;
    case T_ENUM: {
        size_t n = 0, j = 0;
        while (k->names[n]) n++;
        j = (size_t)snprintf(buf, size, "expected ");
        for (size_t e = 0; e < n && j < size; e++)
            j += (size_t)snprintf(buf + j, size - j, "%s%s", k->names[e],
                                  e + 2 < n ? ", " : e + 2 == n ? " or " : "");
        break;
    }
    case T_BOOL: snprintf(buf, size, "expected true or false"); break;
    case T_MAP:
        snprintf(buf, size, "expected KEY=VALUE pairs separated by commas");
        break;
    }
}

static void origin_set(nd_cfg_origin *o, nd_cfg_src src, int line, int col, char *name)
{
    nd_strfree(o->name);
    o->src = src, o->line = line, o->col = col, o->name = name;
}

/* Moves a parsed value into its field (per type; FIELD names the nd_cfg member). */
#define STORE_GRID(CT, F) cfg->F##_rows = p->rows, cfg->F##_cols = p->cols
#define STORE_INT(CT, F) cfg->F = (int)p->i
#define STORE_SECONDS(CT, F) cfg->F = p->d
#define STORE_BYTES(CT, F) cfg->F = p->u
#define STORE_STRING(CT, F) nd_strfree(cfg->F), cfg->F = str
#define STORE_ENUM(CT, F) cfg->F = (CT)p->i
#define STORE_BOOL(CT, F) cfg->F = p->i != 0
#define STORE_MAP(CT, F) nd_kv_free(&cfg->F), cfg->F = p->map

static nd_status store(nd_cfg *cfg, nd_cfg_key key, const char *s, parsed *p)
{
    char *str = NULL;
    if (keys[key].type == T_STRING && !(str = nd_strdup(s))) return ND_ENOMEM;
    switch (key) {
#define ND_CFG_KEY(ID, PATH, TYPE, CTYPE, FIELD, DFLT, MIN, MAX, NAMES, FLAG, META, HELP) \
    case ND_CFG_##ID: STORE_##TYPE(CTYPE, FIELD); break;
#include "config/keys.def"
#undef ND_CFG_KEY
    case ND_CFG_NKEYS: ND_ASSERT(0);
    }
    return ND_OK;
}

nd_status nd_cfg_set_text(nd_cfg *cfg, nd_cfg_key key, const char *text, nd_cfg_src src,
                          int line, int col, const char *name)
{
    parsed p;
    memset(&p, 0, sizeof p);
    char *nm = NULL;
    if (name && !(nm = nd_strdup(name))) return ND_ENOMEM;
    nd_status st = parse_text(key, text, &p);
    if (st == ND_OK) st = store(cfg, key, text, &p);
    if (st != ND_OK) {
        if (keys[key].type == T_MAP) nd_kv_free(&p.map);
        nd_strfree(nm);
        return st;
    }
    origin_set(&cfg->origin[key], src, line, col, nm);
    return ND_OK;
}

void nd_cfg_set_hints(nd_cfg *cfg, nd_kv *m, int line, int col)
{
    nd_kv_free(&cfg->mpiio_hints);
    cfg->mpiio_hints = *m;
    nd_kv_init(m);
    origin_set(&cfg->origin[ND_CFG_CHECKPOINT_MPIIO_HINTS], ND_CFG_SRC_FILE, line, col, NULL);
}

/* ---- life cycle ---- */

nd_status nd_cfg_init(nd_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        nd_status st = nd_cfg_set_text(cfg, (nd_cfg_key)k, keys[k].dflt, ND_CFG_SRC_DEFAULT,
                                       0, 0, NULL);
        if (st != ND_OK) {
            nd_cfg_free(cfg);
            ND_CHECK(st == ND_ENOMEM, ND_EINTERNAL, "bad default for %s", keys[k].path);
            return st;
        }
    }
    return ND_OK;
}

void nd_cfg_free(nd_cfg *cfg)
{
#define FREE_STRING(F) nd_strfree(cfg->F);
#define FREE_MAP(F) nd_kv_free(&cfg->F);
#define FREE_GRID(F)
#define FREE_INT(F)
#define FREE_SECONDS(F)
#define FREE_BYTES(F)
#define FREE_ENUM(F)
#define FREE_BOOL(F)
#define ND_CFG_KEY(ID, PATH, TYPE, CTYPE, FIELD, DFLT, MIN, MAX, NAMES, FLAG, META, HELP) \
    FREE_##TYPE(FIELD)
#include "config/keys.def"
#undef ND_CFG_KEY
    nd_strfree(cfg->file);
    for (int k = 0; k < ND_CFG_NKEYS; k++) nd_strfree(cfg->origin[k].name);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- flags and environment ---- */

nd_status nd_cfg_set(nd_cfg *cfg, const char *key, const char *value, const char *flag)
{
    char fl[128];
    if (!flag) {
        snprintf(fl, sizeof fl, "--set %s", key);
        flag = fl;
    }
    int k = nd_cfg_key_find(key);
    ND_CHECK(k >= 0, ND_EUSAGE, "%s: unknown config key '%s'", flag, key);
    nd_status st = nd_cfg_set_text(cfg, (nd_cfg_key)k, value, ND_CFG_SRC_FLAG, 0, 0, flag);
    if (st == ND_EUSAGE) {
        char why[160];
        nd_cfg_expect((nd_cfg_key)k, value, why, sizeof why);
        return nd_err_set(ND_EUSAGE, "%s: %s, got '%s'", flag, why, value);
    }
    return st;
}

int nd_cfg_flag_find(const char *flag, const char **fixed)
{
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        if (!keys[k].flag || strcmp(keys[k].flag, flag) != 0) continue;
        /* A BOOL flag takes no value: it sets the opposite of the default. */
        *fixed = keys[k].type != T_BOOL ? NULL
                 : strcmp(keys[k].dflt, "true") == 0 ? "false" : "true";
        return k;
    }
    return -1;
}

/* Appends `text` wrapped at USAGE_WIDTH, continuation lines indented USAGE_INDENT. */
#define USAGE_INDENT 28
#define USAGE_WIDTH 88
static nd_status put_wrapped(nd_strbuf *out, const char *text, size_t col)
{
    const char *p = text;
    while (*p) {
        size_t n = 0;
        while (p[n] && p[n] != ' ') n++;
        if (col > USAGE_INDENT && col + 1 + n > USAGE_WIDTH) {
            ND_TRY(nd_sb_printf(out, "\n%*s", USAGE_INDENT, ""));
            col = USAGE_INDENT;
        } else if (col > USAGE_INDENT) {
            ND_TRY(nd_sb_putc(out, ' '));
            col++;
        }
        ND_TRY(nd_sb_append(out, p, n));
        col += n;
        p += n;
        while (*p == ' ') p++;
    }
    return nd_sb_putc(out, '\n');
}

/* "  --gpu auto|on|off         matrices on CUDA devices; ... (gpu, default auto)". */
static nd_status flag_usage(nd_strbuf *out, const keydef *k)
{
    nd_strbuf left, text;
    nd_sb_init(&left);
    nd_sb_init(&text);
    nd_status st = nd_sb_puts(&left, k->flag);
    if (st == ND_OK && k->type != T_BOOL) st = nd_sb_printf(&left, " %s", k->meta ? k->meta : "");
    for (size_t e = 0; st == ND_OK && k->type != T_BOOL && !k->meta && k->names[e]; e++)
        st = nd_sb_printf(&left, "%s%s", e ? "|" : "", k->names[e]);
    if (st == ND_OK && k->type == T_BOOL)
        st = nd_sb_puts(&text, strcmp(k->dflt, "true") == 0 ? "turn off " : "turn on ");
    if (st == ND_OK)
        st = nd_sb_printf(&text, "%s (%s, default %s)", k->help, k->path, *k->dflt ? k->dflt : "empty");
    /* A flag too long for its column puts the text on the next line. */
    bool own_line = left.len > USAGE_INDENT - 4;
    if (st == ND_OK && own_line) st = nd_sb_printf(out, "  %s\n%*s", left.data, USAGE_INDENT, "");
    else if (st == ND_OK) st = nd_sb_printf(out, "  %-*s", USAGE_INDENT - 2, left.data);
    size_t col = USAGE_INDENT;
    if (st == ND_OK) st = put_wrapped(out, text.data, col);
    nd_sb_free(&left);
    nd_sb_free(&text);
    return st;
}

nd_status nd_cfg_flags_usage(nd_strbuf *out)
{
    for (int k = 0; k < ND_CFG_NKEYS; k++)
        if (keys[k].flag) ND_TRY(flag_usage(out, &keys[k]));
    return ND_OK;
}

/* NOODLE_* variables that are not settings: read elsewhere (docs/config.md lists them),
 * by the scripts and tests, or by the Python reader. */
static const char *const other_env[] = {
    "NOODLE_CONFIG", "NOODLE_TIMING", "NOODLE_CKPT_STATS", "NOODLE_CKPT_SAFEPOINT_EVERY",
    "NOODLE_CKPT_FAIL_WRITE", "NOODLE_FAIL_ALLOC", "NOODLE_BINDIR", "NOODLE_CUDA_PLUGIN",
    "NOODLE_GPU_FACTOR", "NOODLE_GPU_SUMMA", "NOODLE_MATMUL", "NOODLE_MQL", "NOODLE_MQL_FULL",
    "NOODLE_SLURM_TEMPLATE", "NOODLE_SIMCUDA_DEVICES", "NOODLE_SIMCUDA_FAULT",
    "NOODLE_SIMCUDA_MEM", "NOODLE_NO_SKIP", "NOODLE_BUILD_DIR", "NOODLE_TEST_RANKS",
    "NOODLE_LONG", "NOODLE_NO_SLURM", "NOODLE_SLURM_DIR", "NOODLE_SLURM_PORT", "NOODLE_RUN",
    "NOODLE_TEST_SKIP",
    "NOODLE_SUBMIT", NULL};

/* Edit distance, capped: only small distances matter for a suggestion. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 80 || lb > 80) return 99;
    size_t row[81];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

/* Rank-local: one warning per NOODLE_* variable that nothing reads (a misspelt setting is
 * otherwise silently ignored), naming the closest known one. */
static void warn_unknown_env(void)
{
    extern char **environ;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "NOODLE_", 7) != 0) continue;
        char name[96];
        size_t n = strcspn(*e, "=");
        if (n >= sizeof name) continue;
        memcpy(name, *e, n);
        name[n] = '\0';
        const char *best = NULL;
        size_t bd = 99;
        bool known = false;
        for (int k = 0; k < ND_CFG_NKEYS && !known; k++) {
            char kn[96];
            nd_cfg_env_name((nd_cfg_key)k, kn, sizeof kn);
            size_t d = distance(name, kn);
            known = d == 0;
            if (d < bd) bd = d, best = keys[k].path;
        }
        char bestenv[96] = "";
        for (const char *const *o = other_env; *o && !known; o++) {
            size_t d = distance(name, *o);
            known = d == 0;
            if (d < bd) bd = d, best = NULL, snprintf(bestenv, sizeof bestenv, "%s", *o);
        }
        if (known) continue;
        if (best) {
            char kn[96];
            for (int k = 0; k < ND_CFG_NKEYS; k++)
                if (keys[k].path == best) nd_cfg_env_name((nd_cfg_key)k, kn, sizeof kn);
            snprintf(bestenv, sizeof bestenv, "%s", kn);
        }
        if (bd <= 3)
            fprintf(stderr, "noodle: warning: unknown environment variable %s (did you mean %s?)\n",
                    name, bestenv);
        else
            fprintf(stderr, "noodle: warning: unknown environment variable %s (ignored)\n", name);
    }
}

nd_status nd_cfg_load_env(nd_cfg *cfg)
{
    warn_unknown_env();
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        char name[96];
        nd_cfg_env_name((nd_cfg_key)k, name, sizeof name);
        const char *v = getenv(name);
        if (!v || !*v) continue; /* empty = unset, so scripts can clear a variable */
        nd_status st = nd_cfg_set_text(cfg, (nd_cfg_key)k, v, ND_CFG_SRC_ENV, 0, 0, name);
        if (st == ND_EUSAGE) {
            char why[160];
            nd_cfg_expect((nd_cfg_key)k, v, why, sizeof why);
            return nd_err_set(ND_EUSAGE, "%s: %s, got '%s'", name, why, v);
        }
        ND_TRY(st);
    }
    return ND_OK;
}

nd_cfg_launcher nd_cfg_launcher_resolve(const nd_cfg *cfg)
{
    if (cfg->launcher != ND_LAUNCHER_AUTO) return cfg->launcher;
    const char *j = getenv("SLURM_JOB_ID");
    return j && *j ? ND_LAUNCHER_SRUN : ND_LAUNCHER_MPIRUN;
}

/* ---- text out ---- */

static nd_status put_double(nd_strbuf *out, double d)
{
    char b[40];
    nd_fmt_double(b, sizeof b, d);
    return nd_sb_puts(out, b);
}

static nd_status put_map(nd_strbuf *out, const nd_kv *m)
{
    for (size_t i = 0; i < m->n; i++)
        ND_TRY(nd_sb_printf(out, "%s%s=%s", i ? "," : "", m->keys[i], m->vals[i]));
    return ND_OK;
}

/* Canonical text of a field, per type (parse_text reads it back to the same value). */
#define TEXT_GRID(F)                                                                     \
    (cfg->F##_rows ? nd_sb_printf(out, "%dx%d", cfg->F##_rows, cfg->F##_cols)           \
                   : nd_sb_puts(out, "auto"))
#define TEXT_INT(F) nd_sb_printf(out, "%d", cfg->F)
#define TEXT_SECONDS(F) put_double(out, cfg->F)
#define TEXT_BYTES(F) nd_sb_printf(out, "%llu", (unsigned long long)cfg->F)
#define TEXT_STRING(F) nd_sb_puts(out, cfg->F)
#define TEXT_ENUM(F) nd_sb_puts(out, keys[key].names[cfg->F])
#define TEXT_BOOL(F) nd_sb_puts(out, cfg->F ? "true" : "false")
#define TEXT_MAP(F) put_map(out, &cfg->F)

nd_status nd_cfg_value_str(const nd_cfg *cfg, nd_cfg_key key, nd_strbuf *out)
{
    switch (key) {
#define ND_CFG_KEY(ID, PATH, TYPE, CTYPE, FIELD, DFLT, MIN, MAX, NAMES, FLAG, META, HELP) \
    case ND_CFG_##ID: return TEXT_##TYPE(FIELD);
#include "config/keys.def"
#undef ND_CFG_KEY
    case ND_CFG_NKEYS: break;
    }
    return nd_err_set(ND_EINTERNAL, "bad config key %d", (int)key);
}

nd_status nd_cfg_origin_str(const nd_cfg *cfg, nd_cfg_key key, nd_strbuf *out)
{
    const nd_cfg_origin *o = &cfg->origin[key];
    switch (o->src) {
    case ND_CFG_SRC_DEFAULT: return nd_sb_puts(out, "default");
    case ND_CFG_SRC_FILE:
        return nd_sb_printf(out, "%s:%d:%d", cfg->file ? cfg->file : "?", o->line, o->col);
    case ND_CFG_SRC_ENV:
    case ND_CFG_SRC_FLAG: return nd_sb_puts(out, o->name ? o->name : "?");
    }
    return ND_OK;
}

/* One line a key: "checkpoint.interval = 30.0  (from NOODLE_CHECKPOINT_INTERVAL)". */
nd_status nd_cfg_format(const nd_cfg *cfg, nd_strbuf *out)
{
    ND_TRY(nd_sb_printf(out, "# config file: %s\n", cfg->file ? cfg->file : "none"));
    nd_strbuf v;
    nd_sb_init(&v);
    nd_status st = ND_OK;
    for (int k = 0; k < ND_CFG_NKEYS && st == ND_OK; k++) {
        v.len = 0;
        if (v.data) v.data[0] = '\0';
        if ((st = nd_cfg_value_str(cfg, (nd_cfg_key)k, &v)) != ND_OK) break;
        if (k == ND_CFG_LAUNCHER && cfg->launcher == ND_LAUNCHER_AUTO)
            st = nd_sb_printf(&v, " (%s here)",
                              keys[ND_CFG_LAUNCHER].names[nd_cfg_launcher_resolve(cfg)]);
        if (st != ND_OK) break;
        st = nd_sb_printf(out, "%-24s = %-24s (from ", keys[k].path, v.data ? v.data : "");
        if (st == ND_OK) st = nd_cfg_origin_str(cfg, (nd_cfg_key)k, out);
        if (st == ND_OK) st = nd_sb_puts(out, ")\n");
    }
    nd_sb_free(&v);
    return st;
}

nd_status nd_cfg_print(const nd_cfg *cfg, FILE *fp)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_cfg_format(cfg, &sb);
    if (st == ND_OK && sb.len && fwrite(sb.data, 1, sb.len, fp) != sb.len)
        st = nd_err_set(ND_EIO, "cannot write the configuration");
    nd_sb_free(&sb);
    return st;
}

/* ---- pack / unpack ---- */

#define PACK_MAGIC 0x4643444Eu /* "NDCF" little-endian */
#define PACK_VERSION 1u

static nd_status put_str(nd_strbuf *sb, const char *s)
{
    ND_TRY(nd_sb_u8(sb, s != NULL));
    if (!s) return ND_OK;
    size_t n = strlen(s);
    ND_CHECK(n <= UINT32_MAX, ND_EINTERNAL, "config string too long");
    ND_TRY(nd_sb_u32(sb, (uint32_t)n));
    return nd_sb_append(sb, s, n);
}

/* Reads a string written by put_str; *s is NULL for an absent one.  false on overrun. */
static bool get_str(nd_reader *r, char **s, nd_status *st)
{
    *s = NULL;
    uint8_t present = nd_rd_u8(r);
    if (r->overrun || present > 1) return false;
    if (!present) return true;
    uint32_t n = nd_rd_u32(r);
    const uint8_t *p = nd_rd_bytes(r, n);
    if (!p || memchr(p, '\0', n)) return false;
    *s = nd_strndup((const char *)p, n);
    if (!*s) *st = ND_ENOMEM;
    return *s != NULL;
}

/* Values travel as canonical text and go back through parse_text, so an unpacked
 * config obeys the same rules as a loaded one. */
nd_status nd_cfg_pack(const nd_cfg *cfg, nd_strbuf *out)
{
    nd_strbuf v;
    nd_sb_init(&v);
    nd_status st = nd_sb_u32(out, PACK_MAGIC);
    if (st == ND_OK) st = nd_sb_u32(out, PACK_VERSION);
    if (st == ND_OK) st = nd_sb_u32(out, ND_CFG_NKEYS);
    if (st == ND_OK) st = put_str(out, cfg->file);
    for (int k = 0; k < ND_CFG_NKEYS && st == ND_OK; k++) {
        const nd_cfg_origin *o = &cfg->origin[k];
        v.len = 0;
        if (v.data) v.data[0] = '\0';
        st = nd_cfg_value_str(cfg, (nd_cfg_key)k, &v);
        if (st == ND_OK) st = put_str(out, v.data ? v.data : "");
        if (st == ND_OK) st = nd_sb_u8(out, (uint8_t)o->src);
        if (st == ND_OK) st = nd_sb_u32(out, (uint32_t)o->line);
        if (st == ND_OK) st = nd_sb_u32(out, (uint32_t)o->col);
        if (st == ND_OK) st = put_str(out, o->name);
    }
    nd_sb_free(&v);
    return st;
}

nd_status nd_cfg_unpack(nd_cfg *cfg, const void *data, size_t len)
{
    nd_cfg tmp;
    ND_TRY(nd_cfg_init(&tmp));
    nd_reader r;
    nd_rd_init(&r, data, len);
    nd_status st = ND_OK;
    bool ok = nd_rd_u32(&r) == PACK_MAGIC && nd_rd_u32(&r) == PACK_VERSION &&
              nd_rd_u32(&r) == ND_CFG_NKEYS && !r.overrun;
    ok = ok && get_str(&r, &tmp.file, &st);
    for (int k = 0; k < ND_CFG_NKEYS && ok; k++) {
        char *val = NULL, *name = NULL;
        ok = get_str(&r, &val, &st) && val;
        uint8_t src = nd_rd_u8(&r);
        uint32_t line = nd_rd_u32(&r), col = nd_rd_u32(&r);
        ok = ok && !r.overrun && src <= ND_CFG_SRC_FLAG && line <= INT32_MAX &&
             col <= INT32_MAX && get_str(&r, &name, &st);
        if (ok) {
            nd_status s2 = nd_cfg_set_text(&tmp, (nd_cfg_key)k, val, (nd_cfg_src)src,
                                           (int)line, (int)col, name);
            if (s2 == ND_ENOMEM) st = s2;
            ok = s2 == ND_OK;
        }
        nd_strfree(val);
        nd_strfree(name);
    }
    ok = ok && r.pos == r.len;
    if (!ok) {
        nd_cfg_free(&tmp);
        if (st == ND_ENOMEM) return st;
        return nd_err_set(ND_EINVALID, "malformed packed configuration (%zu bytes)", len);
    }
    nd_cfg_free(cfg);
    *cfg = tmp;
    return ND_OK;
}
