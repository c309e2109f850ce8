/* mql.h: MQL, the catalog's query language: a hand-written lexer, a recursive-descent
 * parser that builds a small expression tree, and an executor over the index rows.
 * Parsing stops at the first error and reports its line and column (from 1).
 * The grammar is in docs/catalog.md "MQL".  Everything here is Rank-local.
 */
#ifndef ND_MQL_H
#define ND_MQL_H

#include "catalog/cat_internal.h"

typedef struct nd_mql_query nd_mql_query;

typedef struct nd_mql_diag {
    int line, col;
    char msg[200];
} nd_mql_diag;

/* Parses src.  On error returns ND_EPROG with *diag filled (and the error record set to
 * the three-line message of nd_mql_format_error); *out is then NULL. */
nd_status nd_mql_parse(const char *src, nd_mql_query **out, nd_mql_diag *diag);
void nd_mql_free(nd_mql_query *q);
/* Runs q over the index; *out owns its cells (nd_cat_rows_free). */
nd_status nd_mql_exec(const nd_mql_query *q, const nd_cat_index *ix, nd_cat_rows *out);
/* Sets the error record to "mql:L:C: error: MSG\n<line of src>\n<caret>". */
nd_status nd_mql_format_error(const char *src, const nd_mql_diag *d);

#endif
