/* config.c — model configurations: the `paper` and `tiny` presets, `key = value` config files
 * (optionally starting from `preset = NAME`), and single `key=value` overrides. */
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/model.h"

static void preset_paper(ovs_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "paper");
    c->img_size = 224; c->patch = 16; c->width = 768; c->heads = 8;
    c->depth0 = 6; c->depth1 = 6; c->groups_in = 64; c->groups_out = 8; c->mlp_ratio = 4;
    c->drop_path = 0.1f;
    c->vocab = 30522; c->text_len = 77; c->text_width = 768; c->text_heads = 12; c->text_layers = 12;
    c->text_ff = 3072; c->type_vocab = 2; c->max_pos = 512;
    c->proj_hidden = 4096; c->proj_out = 256; c->mem_layers = 1; c->mem_heads = 8;
    c->entity_weight = 1.0f;
    c->init_std = 0.02f;
}

static void preset_tiny(ovs_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "tiny");
    c->img_size = 64; c->patch = 8; c->width = 128; c->heads = 4;
    c->depth0 = 2; c->depth1 = 1; c->groups_in = 16; c->groups_out = 8; c->mlp_ratio = 4;
    c->drop_path = 0.0f;
    c->vocab = 30522; c->text_len = 32; c->text_width = 128; c->text_heads = 4; c->text_layers = 4;
    c->text_ff = 512; c->type_vocab = 2; c->max_pos = 512;
    c->proj_hidden = 1024; c->proj_out = 256; c->mem_layers = 1; c->mem_heads = 8;
    c->entity_weight = 1.0f;
    /* the paper's code; the demo's row of the paper's method sets init_std=0.08 (docs/demo.md: at
     * width 128, .02 leaves the grouping block's patch path ~20x smaller than its residual) */
    c->init_std = 0.02f;
}

typedef struct { const char *key; size_t off; int is_float; } field;
#define F_INT(k) { #k, offsetof(ovs_config, k), 0 }
static const field fields[] = {
    F_INT(img_size), F_INT(patch), F_INT(width), F_INT(heads), F_INT(depth0), F_INT(depth1),
    F_INT(groups_in), F_INT(groups_out), F_INT(mlp_ratio), { "drop_path", offsetof(ovs_config, drop_path), 1 },
    F_INT(vocab), F_INT(text_len), F_INT(text_width), F_INT(text_heads), F_INT(text_layers),
    F_INT(text_ff), F_INT(type_vocab), F_INT(max_pos), F_INT(proj_hidden), F_INT(proj_out),
    F_INT(mem_layers), F_INT(mem_heads), F_INT(local_patches), F_INT(no_group_residual),
    { "entity_weight", offsetof(ovs_config, entity_weight), 1 }, { "init_std", offsetof(ovs_config, init_std), 1 },
};

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int check(const ovs_config *c, ovs_err *e) {
    if (c->img_size <= 0 || c->patch <= 0 || c->img_size % c->patch)
        return ovs_errf(e, OVS_EUSER, "config %s: img_size %d is not a positive multiple of patch %d", c->name, c->img_size, c->patch);
    if (c->width <= 0 || c->heads <= 0 || c->width % c->heads)
        return ovs_errf(e, OVS_EUSER, "config %s: width %d not divisible by heads %d", c->name, c->width, c->heads);
    if (c->text_width <= 0 || c->text_heads <= 0 || c->text_width % c->text_heads)
        return ovs_errf(e, OVS_EUSER, "config %s: text_width %d not divisible by text_heads %d", c->name, c->text_width, c->text_heads);
    int mw = c->width < c->text_width ? c->width : c->text_width;
    if (c->mem_heads <= 0 || mw % c->mem_heads)
        return ovs_errf(e, OVS_EUSER, "config %s: decoder width %d not divisible by mem_heads %d", c->name, mw, c->mem_heads);
    if (c->groups_in <= 0 || c->groups_out <= 0 || c->depth0 < 0 || c->depth1 < 0 || c->mlp_ratio <= 0)
        return ovs_errf(e, OVS_EUSER, "config %s: groups/depths/mlp_ratio must be positive", c->name);
    if (c->vocab <= 1 || c->text_len <= 0 || c->text_len > c->max_pos || c->type_vocab <= 0 || c->text_layers < 0 || c->text_ff <= 0)
        return ovs_errf(e, OVS_EUSER, "config %s: bad text settings (vocab %d, text_len %d, max_pos %d)", c->name, c->vocab, c->text_len, c->max_pos);
    if (c->proj_hidden <= 0 || c->proj_out <= 0 || c->mem_layers != 1)
        return ovs_errf(e, OVS_EUSER, "config %s: proj_hidden/proj_out must be positive and mem_layers 1", c->name);
    if (!(c->entity_weight >= 0))
        return ovs_errf(e, OVS_EUSER, "config %s: entity_weight %g is negative", c->name, c->entity_weight);
    if (!(c->init_std > 0 && c->init_std < 1))
        return ovs_errf(e, OVS_EUSER, "config %s: init_std %g outside (0, 1)", c->name, c->init_std);
    if (c->drop_path < 0 || c->drop_path >= 1)
        return ovs_errf(e, OVS_EUSER, "config %s: drop_path %g outside [0, 1)", c->name, c->drop_path);
    return 0;
}

static int set_kv(ovs_config *c, const char *key, const char *val, ovs_err *e) {
    if (!strcmp(key, "preset") || !strcmp(key, "name")) {
        if (!strcmp(val, "paper")) preset_paper(c);
        else if (!strcmp(val, "tiny")) preset_tiny(c);
        else if (!strcmp(key, "name")) { snprintf(c->name, sizeof c->name, "%s", val); return 0; }
        else return ovs_errf(e, OVS_EUSER, "config: unknown preset '%s' (tiny, paper)", val);
        return 0;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(key, fields[i].key)) continue;
        char *end;
        errno = 0;
        if (fields[i].is_float) {
            float v = strtof(val, &end);
            if (errno || end == val || *trim(end)) return ovs_errf(e, OVS_EUSER, "config: %s = '%s' is not a number", key, val);
            *(float *)((char *)c + fields[i].off) = v;
        } else {
            long v = strtol(val, &end, 10);
            if (errno || end == val || *trim(end) || v < -1000000000L || v > 1000000000L)
                return ovs_errf(e, OVS_EUSER, "config: %s = '%s' is not an integer", key, val);
            *(int *)((char *)c + fields[i].off) = (int)v;
        }
        return 0;
    }
    return ovs_errf(e, OVS_EUSER, "config: unknown key '%s'", key);
}

int ovs_config_set(ovs_config *cfg, const char *kv, ovs_err *e) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", kv);
    char *eq = strchr(buf, '=');
    if (!eq) return ovs_errf(e, OVS_EUSER, "config override '%s': expected key=value", kv);
    *eq = 0;
    int rc = set_kv(cfg, trim(buf), trim(eq + 1), e);
    return rc ? rc : check(cfg, e);
}

int ovs_config_load(ovs_config *cfg, const char *name_or_path, ovs_err *e) {
    if (!strcmp(name_or_path, "paper")) { preset_paper(cfg); return 0; }
    if (!strcmp(name_or_path, "tiny")) { preset_tiny(cfg); return 0; }
    FILE *f = fopen(name_or_path, "r");
    if (!f) return ovs_errno(e, OVS_EUSER, "config '%s' (not a preset: tiny, paper)", name_or_path);
    preset_tiny(cfg);
    const char *base = strrchr(name_or_path, '/');
    snprintf(cfg->name, sizeof cfg->name, "%s", base ? base + 1 : name_or_path);
    char line[512];
    int ln = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        ln++;
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) { rc = ovs_errf(e, OVS_EUSER, "%s:%d: expected key = value", name_or_path, ln); break; }
        *eq = 0;
        rc = set_kv(cfg, trim(s), trim(eq + 1), e);
        if (rc) ovs_errctx(e, "%s:%d", name_or_path, ln);
    }
    fclose(f);
    return rc ? rc : check(cfg, e);
}
