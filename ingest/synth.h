/* synth.h — the embedded stand-in for CC12M and for a segmentation benchmark (`ovseg synth`).
 *
 * A scene is 1..N procedurally drawn objects of named classes (each class its own silhouette
 * family, texture and colour distribution) on an unnamed procedural background. The same scene
 * gives an RGB image, a per-pixel object map (for eval masks) and a caption. Everything is a pure
 * function of (seed, row index), so trees are byte-identical for a seed whatever the thread count.
 *
 * Files: synth.c (the run: rows, failure kinds, files, TSV, eval set), synth_draw.c (classes,
 * scene sampling, rendering, ignore rings), synth_caption.c (captions). See docs/synth.md. */
#ifndef OVS_SYNTH_H
#define OVS_SYNTH_H

#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/image.h"
#include "util/rng.h"

#define OVS_SYNTH_MAX_OBJ 8

typedef struct ovs_synth_opts {
    const char *out;        /* output folder */
    int64_t n;              /* TSV rows (crawl) */
    int64_t eval_n, tune_n; /* eval images (val.txt) and tuning images (tune.txt) */
    uint64_t seed;
    const char *base_url;   /* "http://127.0.0.1:8089/" (a trailing slash is added if missing) */
    int min_objects, max_objects;
    double min_size, max_size;  /* object extent as a fraction of the image's short side */
    double absent_rate;     /* caption names one class that is not in the image */
    double partial_rate;    /* caption names only part of the classes present */
    double no_entity_rate;  /* caption names no class at all */
    double fail_rate;       /* share of TSV rows that fail (the kinds keep their proportions) */
    double colour_swap_rate;/* objects coloured like a random other class (harder: shape/texture only) */
    int min_side, max_side; /* crawl images: range of the long side (log-uniform) */
    int eval_size;          /* eval/tune images: square side */
    int ignore_width;       /* eval masks: 255 within this many pixels of an object border */
} ovs_synth_opts;

void ovs_synth_defaults(ovs_synth_opts *o);
/* Checks ranges; OVS_EUSER naming the flag. */
int ovs_synth_check(const ovs_synth_opts *o, ovs_err *e);

/* ── row kinds: how a TSV row behaves when crawled ─────────────────────────────────────── */
typedef enum {
    OVS_SK_OK = 0,      /* 200, a decodable image */
    OVS_SK_OK_REDIRECT, /* 301 to a good image */
    OVS_SK_404,         /* missing file */
    OVS_SK_410,         /* a location that returns 410 Gone */
    OVS_SK_403,         /* a denied folder */
    OVS_SK_TRUNCATED,   /* 200, image cut short */
    OVS_SK_CORRUPT,     /* 200, bytes that are no image */
    OVS_SK_HTML,        /* 200, an HTML page instead of an image */
    OVS_SK_REDIRECT_404,/* 302 to a missing file */
    OVS_SK_COUNT
} ovs_synth_kind;

const char *ovs_synth_kind_name(int kind);
/* Target share of a kind (fractions summing to 1) for a given overall fail rate. */
double ovs_synth_kind_share(int kind, double fail_rate);

/* ── classes ─────────────────────────────────────────────────────────────────────────────── */
int ovs_synth_nclasses(void);
const char *ovs_synth_class_name(int cls);   /* cls in [0, nclasses): "dog" */
const char *ovs_synth_class_plural(int cls); /* "dogs" */

/* ── scenes ──────────────────────────────────────────────────────────────────────────────── */
typedef struct ovs_synth_obj {
    int cls;
    float cx, cy;          /* centre, pixels */
    float sx, sy;          /* pixels per local unit (local coords span [-1, 1]) */
    float cosa, sina;      /* rotation */
    int flip;              /* mirrored horizontally */
    float rgb1[3], rgb2[3];/* primary and secondary colour, 0..1 */
    uint32_t tex_seed;
    float tex_angle;       /* texture parameter (stripe angle, hand angle, ...) */
    int drawn_px, visible_px;
} ovs_synth_obj;

typedef struct ovs_synth_scene {
    int w, h;
    int nobj;
    ovs_synth_obj obj[OVS_SYNTH_MAX_OBJ];
    int bg_kind;
    float bg1[3], bg2[3];
    float bg_freq, bg_cos, bg_sin;
    uint32_t bg_seed;
} ovs_synth_scene;

/* Draws a scene of w x h from r with the object count and size flags of o. */
void ovs_synth_scene_sample(ovs_rng *r, const ovs_synth_opts *o, int w, int h, ovs_synth_scene *s);
/* Renders into rgb (allocated, c=3) and, when objmap is not NULL, w*h bytes of object index + 1
 * (0 = background, later objects occlude earlier ones). Fills drawn_px/visible_px. */
int ovs_synth_render(ovs_synth_scene *s, ovs_image *rgb, uint8_t *objmap, ovs_err *e);
/* Turns an object map into a class mask (class index + 1, 0 = background) with 255 on every
 * pixel within `width` pixels (Chebyshev) of a pixel of another object or the background. */
void ovs_synth_class_mask(const ovs_synth_scene *s, const uint8_t *objmap, int width, uint8_t *mask);

/* An object counts for the caption when enough of it is visible. */
int ovs_synth_obj_visible(const ovs_synth_scene *s, int i);

/* ── captions ────────────────────────────────────────────────────────────────────────────── */
/* What a caption named (for tests): classes named, and whether one was absent from the scene. */
typedef struct ovs_synth_named {
    int n;
    int cls[OVS_SYNTH_MAX_OBJ + 1];
    int absent;      /* index into cls of the absent class, or -1 */
    int partial;     /* some visible class was left out */
    int no_entity;   /* names no class */
} ovs_synth_named;

/* Appends a caption (no tabs or newlines) for scene s to out. named may be NULL. */
int ovs_synth_caption(ovs_rng *r, const ovs_synth_scene *s, const ovs_synth_opts *o, ovs_buf *out,
                      ovs_synth_named *named);

/* ── the whole run ───────────────────────────────────────────────────────────────────────── */
typedef struct ovs_synth_stats {
    int64_t rows, kind_count[OVS_SK_COUNT];
    int64_t images;      /* image files rendered (crawl + eval + tune) */
    int64_t bytes;
    double seconds;
} ovs_synth_stats;

int ovs_synth_run(const ovs_synth_opts *o, ovs_synth_stats *st, ovs_err *e);

#endif
