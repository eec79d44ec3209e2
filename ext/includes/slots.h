/* The shape of the core's name lists (counters.h, enums.h).
 *
 * A list is an X-macro, one line per value: X(ENUM_NAME, "name") or, for values that are
 * not 0, 1, 2, ..., X(ENUM_NAME, value, "name"). Each header expands its lists into a C
 * enum (what the rooms use) and a table of ws_slot rows (what eve.pyx writes and
 * wirescore._core.names hands to Python), so a value and its name are written once.
 *
 * In C every enum name gets the prefix WS_ (pasted, so a macro of the same name, such as
 * Python's T_NONE, cannot touch it); the .pxd files give Cython the short name with the
 * prefixed one as its C name. */
#ifndef WS_SLOTS_H
#define WS_SLOTS_H

typedef struct {
    const char* id;        /* the enum name, as written in the list */
    long value;            /* its C value */
    const char* name;      /* its name outside the core */
} ws_slot;

#define WS_ENUM_ITEM(id, name) WS_##id,
#define WS_SLOT_ITEM(id, name) {#id, WS_##id, name},
#define WS_ENUM_VALUE(id, value, name) WS_##id = value,
#define WS_SLOT_VALUE(id, value, name) {#id, WS_##id, name},
#define WS_COUNT(list) (sizeof(list) / sizeof((list)[0]))

#endif
