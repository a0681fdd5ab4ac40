/* strmap.c — chunked arena and the interning string map (see strmap.h). */
#include "entities/strmap.h"

#include <stdlib.h>
#include <string.h>

struct ovs_arena_block {
    ovs_arena_block *prev;
    char data[];
};

enum { ARENA_BLOCK = 1 << 16 };

char *ovs_arena_strdup(ovs_arena *a, const char *s, size_t n) {
    if (!a->head || a->used + n + 1 > a->cap) {
        size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
        ovs_arena_block *b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->prev = a->head;
        a->head = b;
        a->used = 0;
        a->cap = cap;
    }
    char *p = a->head->data + a->used;
    memcpy(p, s, n);
    p[n] = 0;
    a->used += n + 1;
    return p;
}

void ovs_arena_free(ovs_arena *a) {
    for (ovs_arena_block *b = a->head, *p; b; b = p) {
        p = b->prev;
        free(b);
    }
    memset(a, 0, sizeof *a);
}

uint32_t ovs_strmap_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ^ (h >> 15);
}

int32_t ovs_strmap_find(const ovs_strmap *m, const char *s, size_t n) {
    if (!m->cap) return -1;
    uint32_t h = ovs_strmap_hash(s, n), mask = m->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = m->slots[i];
        if (!v) return -1;
        const ovs_strmap_key *k = &m->keys[v - 1];
        if (k->hash == h && k->len == n && !memcmp(k->s, s, n)) return (int32_t)(v - 1);
    }
}

static int grow(ovs_strmap *m) {
    uint32_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (uint32_t j = 0; j < m->n; j++) {
        uint32_t i = m->keys[j].hash & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = j + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int32_t ovs_strmap_add(ovs_strmap *m, const char *s, size_t n, int *added) {
    if (added) *added = 0;
    int32_t found = ovs_strmap_find(m, s, n);
    if (found >= 0) return found;
    if ((m->n + 1) * 2 > m->cap && grow(m)) return -1;
    if (m->n == m->keys_cap) {
        uint32_t kc = m->keys_cap ? m->keys_cap * 2 : 1024;
        ovs_strmap_key *k = realloc(m->keys, kc * sizeof *k);
        if (!k) return -1;
        m->keys = k;
        m->keys_cap = kc;
    }
    char *copy = ovs_arena_strdup(&m->arena, s, n);
    if (!copy) return -1;
    uint32_t h = ovs_strmap_hash(s, n), mask = m->cap - 1, i = h & mask;
    while (m->slots[i]) i = (i + 1) & mask;
    m->keys[m->n] = (ovs_strmap_key){copy, (uint32_t)n, h};
    m->slots[i] = ++m->n;
    if (added) *added = 1;
    return (int32_t)(m->n - 1);
}

void ovs_strmap_free(ovs_strmap *m) {
    free(m->slots);
    free(m->keys);
    ovs_arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}
