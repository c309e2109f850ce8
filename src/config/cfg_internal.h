/* cfg_internal.h: what config.c, cfg_yaml.c and jobspec.c share inside src/config.
 * The key table and the text parsers live in config.c; the YAML walker in cfg_yaml.c
 * applies a mapping node to an nd_cfg with the same rules for config files and the
 * `config:` section of job specs.  Not installed, not for other modules. */
#ifndef ND_CFG_INTERNAL_H
#define ND_CFG_INTERNAL_H

#include "config/config.h"

#include <yaml.h>

/* Sets key from text, recording origin (src, line, col, name).  Returns ND_OK;
 * ND_EUSAGE WITHOUT setting the error record when text is not a valid value (the
 * caller words the message with nd_cfg_expect); ND_ENOMEM with the record set. */
nd_status nd_cfg_set_text(nd_cfg *cfg, nd_cfg_key key, const char *text, nd_cfg_src src,
                          int line, int col, const char *name);
/* Replaces the MPI-IO hints (takes ownership of *m on success and failure). */
void nd_cfg_set_hints(nd_cfg *cfg, nd_kv *m, int line, int col);
/* Writes what a key expects given the rejected text ("expected an integer >= 1"). */
void nd_cfg_expect(nd_cfg_key key, const char *text, char *buf, size_t size);
/* True for keys whose YAML value must be a plain (unquoted) scalar: numbers, booleans. */
bool nd_cfg_key_wants_plain(nd_cfg_key key);
/* True for STRING keys (paths), which YAML output quotes. */
bool nd_cfg_key_is_string(nd_cfg_key key);
/* True when path names a section ("checkpoint", "limits", ...). */
bool nd_cfg_is_section(const char *path);
/* A hint key or value usable in the KEY=VALUE,... text form. */
bool nd_cfg_hint_ok(const char *s, bool is_key);

/* ---- cfg_yaml.c ---- */

/* A parsed YAML file: doc is valid when root != NULL or the file was empty. */
typedef struct nd_cfg_ydoc {
    const char *path;
    yaml_document_t doc;
    yaml_node_t *root; /* NULL for an empty file */
} nd_cfg_ydoc;

/* Reads and parses path (exactly one document).  Syntax errors are ND_EUSAGE with
 * path:line:col.  On ND_OK free with nd_cfg_ydoc_free. */
nd_status nd_cfg_ydoc_load(const char *path, nd_cfg_ydoc *yd);
/* The same for len bytes in memory (data may be NULL when len is 0); path names them in
 * messages and is borrowed for yd's lifetime. */
nd_status nd_cfg_ydoc_load_mem(const char *path, const char *data, size_t len, nd_cfg_ydoc *yd);
void nd_cfg_ydoc_free(nd_cfg_ydoc *yd);
/* Records "path:L:C: error: <fmt>" (mark is libyaml's 0-based position). */
nd_status nd_cfg_yerr(const nd_cfg_ydoc *yd, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "a mapping", "a sequence", "a scalar". */
const char *nd_cfg_node_kind(const yaml_node_t *n);
/* True for a plain scalar that YAML reads as null ("", "~", "null"). */
bool nd_cfg_node_is_null(const yaml_node_t *n);
const char *nd_cfg_node_text(const yaml_node_t *n);
/* Checks that map is a mapping without duplicate keys and with scalar keys; disp is
 * its key path for messages ("" for the top level). */
nd_status nd_cfg_check_mapping(const nd_cfg_ydoc *yd, yaml_node_t *map, const char *disp);
/* Applies a mapping of config keys to cfg (origins: the file).  disp_prefix is
 * prepended to key paths in messages ("" for config files, "config." in job specs). */
nd_status nd_cfg_apply_yaml(nd_cfg *cfg, const nd_cfg_ydoc *yd, yaml_node_t *map,
                            const char *disp_prefix);

#endif
