/* unicode_tables.h — the Unicode data of the WordPiece tokenizer (generated into unicode_tables.c by
 * shards/gen_unicode.py): character classes as sorted ranges, accent stripping (NFD minus Mn) and
 * full lower-case mappings. Lookups are binary searches. */
#ifndef OVS_UNICODE_TABLES_H
#define OVS_UNICODE_TABLES_H

#include <stdint.h>

enum { OVS_UC_PUNCT = 1, OVS_UC_OTHER = 2, OVS_UC_MN = 3 };

typedef struct ovs_uc_range { uint32_t lo, hi; uint8_t cls; } ovs_uc_range;
typedef struct ovs_uc_map { uint32_t cp; uint8_t n; uint32_t to[3]; } ovs_uc_map;

extern const ovs_uc_range ovs_uc_ranges[];
extern const int ovs_uc_nranges;
extern const ovs_uc_map ovs_uc_strip[];
extern const int ovs_uc_strip_n;
extern const ovs_uc_map ovs_uc_lower[];
extern const int ovs_uc_lower_n;

/* Class of cp (0 = none of the above). */
int ovs_uc_class(uint32_t cp);
/* The mapping of cp in table (n entries), or NULL when cp maps to itself. */
const ovs_uc_map *ovs_uc_find(const ovs_uc_map *table, int n, uint32_t cp);

#endif
