/* value.h: the tagged value of the VM (16 bytes: a type byte and an 8-byte payload).
 *
 * Representation: nil, bool, int (int64), float (double), function (an index into the
 * program's function table) and builtin (a builtin id) are immediate; str, list, map
 * and matrix point to a reference-counted heap object (nd_obj, defined in object.h).
 * Functions are indices, never pointers, so that a checkpoint can rebuild them.
 * ND_T_UNDEF marks a global slot that was never assigned; it never escapes into a
 * program-visible value.
 */
#ifndef ND_VALUE_H
#define ND_VALUE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum nd_type {
    ND_T_NIL = 0,
    ND_T_BOOL,
    ND_T_INT,
    ND_T_FLOAT,
    ND_T_STR,
    ND_T_LIST,
    ND_T_MAP,
    ND_T_MATRIX,
    ND_T_FUNC,
    ND_T_BUILTIN,
    ND_T_UNDEF
} nd_type;

typedef struct nd_obj nd_obj;

typedef struct nd_value {
    uint8_t type;
    union {
        bool b;
        int64_t i;
        double f;
        nd_obj *o;
        uint32_t fn; /* ND_T_FUNC: function index; ND_T_BUILTIN: builtin id */
    } as;
} nd_value;

_Static_assert(sizeof(nd_value) <= 16, "a value is at most 16 bytes");

#define ND_NIL ((nd_value){.type = ND_T_NIL})
#define ND_BOOL(v) ((nd_value){.type = ND_T_BOOL, .as.b = (v)})
#define ND_INT(v) ((nd_value){.type = ND_T_INT, .as.i = (v)})
#define ND_FLOAT(v) ((nd_value){.type = ND_T_FLOAT, .as.f = (v)})
#define ND_IS_OBJ(v) ((v).type >= ND_T_STR && (v).type <= ND_T_MATRIX)
#define ND_IS_NUM(v) ((v).type == ND_T_INT || (v).type == ND_T_FLOAT)
#define ND_FALSY(v) ((v).type == ND_T_NIL || ((v).type == ND_T_BOOL && !(v).as.b))

#endif
