/* synth_draw.c — the synthetic world: the class table (silhouette, texture, colour per class),
 * scene sampling (object count, size, position, rotation, colour jitter, occlusion), rendering
 * of backgrounds and objects into RGB plus an object map, and class masks with ignore rings.
 *
 * Every class is a union of up to 6 primitive parts in object-local coordinates ([-1, 1] on both
 * axes, y down), a texture evaluated in the same local coordinates (so it scales with the object
 * and survives downscaling), and two colour distributions in HSV. Distinct colour + texture +
 * shape per class keeps the task learnable for a small model; colour overlaps between some
 * classes (cow/zebra/clock are white and black) keep it from being trivial. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/synth.h"

#define PI_F 3.14159265f

/* ── class table ─────────────────────────────────────────────────────────────────────────── */

enum { P_ELLIPSE, P_RECT, P_TRI, P_BLOB, P_RING, P_HALFDISC, P_ARC, P_DIAMOND, P_TRAP };
enum { R_MAIN, R_ACC, R_DARK, R_WHITE };
enum {
    T_SOLID, T_STRIPES, T_VSTRIPES, T_NOISE, T_SPOTS, T_CELLS, T_WOOD, T_WEDGES, T_WINDOWS, T_BRICK, T_RADGRAD,
    T_QUAD, T_CHECKER, T_DOTS, T_LAYERS, T_CLOCK, T_BELLY, T_HILITE, T_BOOK, T_RIM, T_WRINKLE, T_DIMPLE
};

typedef struct part {
    unsigned char prim, role;
    float cx, cy, hx, hy, rot_deg, p0, p1; /* centre and half sizes in local units; p0/p1 by prim */
} part;

typedef struct hsv_dist { float h, hj, s0, s1, v0, v1; } hsv_dist;

typedef struct cls_def {
    const char *name, *plural;
    hsv_dist c1, c2;       /* primary, secondary */
    unsigned char tex;
    float tfreq;
    float rot_max;         /* degrees either way */
    unsigned char flip;    /* may be mirrored */
    float aspect;          /* width / height of the local box */
    int nparts;
    part parts[6];
} cls_def;

#define ELL(x, y, a, b) {P_ELLIPSE, R_MAIN, x, y, a, b, 0, 0, 0}
#define RECT(x, y, a, b, rnd) {P_RECT, R_MAIN, x, y, a, b, 0, rnd, 0}

static const cls_def CLASSES[] = {
    {"dog", "dogs", {30, 6, .55, .75, .35, .6}, {25, 5, .6, .8, .12, .25}, T_NOISE, 5, 15, 1, 1.3, 4,
     {{P_BLOB, R_MAIN, -.1f, .15f, .85f, .6f, 0, 3, .12f}, ELL(.6f, -.45f, .33f, .3f),
      {P_TRI, R_ACC, .72f, -.78f, .13f, .2f, 15, 0, 0}, {P_TRI, R_MAIN, -.85f, -.1f, .12f, .3f, -60, 0, 0}}},
    {"cat", "cats", {25, 6, .7, .9, .75, .95}, {20, 5, .8, .95, .35, .5}, T_STRIPES, 9, 15, 1, 1.2, 4,
     {ELL(.1f, .25f, .8f, .55f), ELL(-.55f, -.4f, .36f, .33f), {P_TRI, R_MAIN, -.78f, -.8f, .13f, .2f, -10, 0, 0},
      {P_TRI, R_MAIN, -.36f, -.8f, .13f, .2f, 10, 0, 0}}},
    {"car", "cars", {0, 8, .8, .95, .7, .9}, {205, 10, .2, .35, .75, .9}, T_SOLID, 0, 8, 1, 1.8, 4,
     {RECT(0, .1f, 1, .38f, .3f), {P_RECT, R_ACC, -.05f, -.4f, .55f, .25f, 0, .5f, 0},
      {P_ELLIPSE, R_DARK, -.58f, .58f, .24f, .38f, 0, 0, 0}, {P_ELLIPSE, R_DARK, .58f, .58f, .24f, .38f, 0, 0, 0}}},
    {"bus", "buses", {48, 5, .85, 1, .85, 1}, {215, 10, .4, .6, .2, .35}, T_WINDOWS, 5, 6, 1, 1.7, 3,
     {RECT(0, -.05f, 1, .78f, .12f), {P_ELLIPSE, R_DARK, -.6f, .78f, .16f, .22f, 0, 0, 0},
      {P_ELLIPSE, R_DARK, .6f, .78f, .16f, .22f, 0, 0, 0}}},
    {"bird", "birds", {205, 10, .6, .85, .75, .95}, {50, 15, .05, .2, .9, 1}, T_BELLY, 0, 20, 1, 1.3, 4,
     {ELL(-.05f, .1f, .62f, .42f), ELL(.55f, -.3f, .27f, .3f), {P_TRI, R_DARK, .9f, -.3f, .1f, .12f, 90, 0, 0},
      {P_TRI, R_MAIN, -.75f, .05f, .25f, .3f, -90, 0, 0}}},
    {"chair", "chairs", {32, 4, .45, .6, .55, .75}, {25, 5, .6, .75, .25, .35}, T_WOOD, 6, 10, 1, .8, 4,
     {RECT(-.58f, -.35f, .18f, .65f, .2f), RECT(0, .15f, .75f, .15f, .2f), RECT(-.58f, .62f, .15f, .38f, 0),
      RECT(.6f, .62f, .15f, .38f, 0)}},
    {"bottle", "bottles", {128, 10, .6, .85, .35, .6}, {110, 20, .15, .3, .85, .95}, T_HILITE, 0, 25, 0, .45, 2,
     {RECT(0, .3f, .95f, .7f, .3f), RECT(0, -.66f, .38f, .34f, .2f)}},
    {"horse", "horses", {18, 5, .6, .8, .3, .48}, {0, 10, 0, .2, .05, .15}, T_NOISE, 2, 12, 1, 1.2, 6,
     {ELL(-.1f, 0, .62f, .35f), {P_RECT, R_MAIN, .5f, -.42f, .14f, .38f, 30, .3f, 0}, ELL(.72f, -.78f, .24f, .15f),
      RECT(-.5f, .6f, .1f, .38f, .2f), RECT(.3f, .6f, .1f, .38f, .2f), {P_TRI, R_DARK, -.82f, .2f, .1f, .3f, -30, 0, 0}}},
    {"cow", "cows", {0, 180, 0, .06, .88, .98}, {0, 180, 0, .1, .04, .14}, T_SPOTS, 3, 12, 1, 1.35, 5,
     {{P_BLOB, R_MAIN, -.1f, 0, .85f, .55f, 0, 2, .08f}, ELL(.8f, -.3f, .2f, .28f), RECT(-.5f, .65f, .1f, .3f, .2f),
      RECT(.35f, .65f, .1f, .3f, .2f), {P_ELLIPSE, R_ACC, .8f, -.1f, .12f, .1f, 0, 0, 0}}},
    {"sheep", "sheep", {45, 6, .08, .2, .85, .95}, {40, 10, .05, .15, .55, .7}, T_DOTS, 8, 15, 1, 1.3, 5,
     {ELL(0, .1f, .72f, .5f), ELL(-.45f, -.2f, .42f, .42f), ELL(.35f, -.25f, .42f, .42f), ELL(0, -.45f, .45f, .35f),
      {P_ELLIPSE, R_DARK, .82f, 0, .17f, .25f, 0, 0, 0}}},
    {"elephant", "elephants", {200, 20, 0, .1, .45, .6}, {200, 20, 0, .1, .32, .42}, T_WRINKLE, 10, 10, 1, 1.25, 5,
     {ELL(-.15f, 0, .75f, .55f), ELL(.55f, -.3f, .35f, .36f), RECT(.85f, .35f, .1f, .4f, .5f),
      {P_ELLIPSE, R_ACC, .4f, -.25f, .28f, .36f, 0, 0, 0}, RECT(-.5f, .6f, .15f, .38f, .2f)}},
    {"zebra", "zebras", {0, 180, 0, .05, .9, 1}, {0, 180, 0, .1, .03, .12}, T_VSTRIPES, 7, 12, 1, 1.25, 5,
     {ELL(-.1f, 0, .65f, .38f), {P_RECT, R_MAIN, .55f, -.42f, .15f, .38f, 30, .3f, 0}, ELL(.75f, -.8f, .22f, .15f),
      RECT(-.5f, .6f, .1f, .38f, .2f), RECT(.3f, .6f, .1f, .38f, .2f)}},
    {"giraffe", "giraffes", {40, 5, .65, .85, .8, .95}, {22, 6, .75, .9, .3, .45}, T_CELLS, 5, 8, 1, .8, 6,
     {ELL(-.35f, .25f, .48f, .3f), {P_RECT, R_MAIN, .12f, -.35f, .12f, .6f, 25, .3f, 0}, ELL(.42f, -.88f, .22f, .12f),
      RECT(-.62f, .72f, .09f, .28f, .2f), RECT(-.1f, .72f, .09f, .28f, .2f), {P_TRI, R_DARK, .35f, -1.f + .05f, .05f, .05f, 0, 0, 0}}},
    {"boat", "boats", {220, 8, .65, .85, .3, .5}, {45, 10, .05, .15, .9, 1}, T_SOLID, 0, 10, 1, 1.3, 3,
     {{P_TRAP, R_MAIN, 0, .6f, 1, .32f, 0, .45f, 0}, {P_TRI, R_ACC, .1f, -.25f, .55f, .62f, 0, 0, 0},
      {P_RECT, R_DARK, -.47f, -.25f, .03f, .62f, 0, 0, 0}}},
    {"train", "trains", {280, 8, .45, .65, .4, .6}, {55, 5, .8, .95, .85, 1}, T_WINDOWS, 7, 5, 1, 2.3, 5,
     {RECT(0, 0, 1, .7f, .3f), {P_ELLIPSE, R_DARK, -.7f, .75f, .12f, .25f, 0, 0, 0}, {P_ELLIPSE, R_DARK, -.25f, .75f, .12f, .25f, 0, 0, 0},
      {P_ELLIPSE, R_DARK, .25f, .75f, .12f, .25f, 0, 0, 0}, {P_ELLIPSE, R_DARK, .7f, .75f, .12f, .25f, 0, 0, 0}}},
    {"umbrella", "umbrellas", {315, 8, .75, .9, .75, .9}, {300, 30, 0, .1, .92, 1}, T_WEDGES, 8, 20, 0, 1.1, 3,
     {{P_HALFDISC, R_MAIN, 0, .15f, 1, 1.1f, 0, 0, 0}, {P_RECT, R_DARK, 0, .55f, .05f, .45f, 0, 0, 0},
      {P_RING, R_DARK, -.1f, .95f, .13f, .08f, 0, .35f, 0}}},
    {"flower", "flowers", {335, 10, .45, .7, .88, 1}, {52, 6, .8, .95, .9, 1}, T_RADGRAD, 0, 180, 0, 1, 2,
     {{P_ELLIPSE, R_ACC, 0, 0, .3f, .3f, 0, 0, 0}, {P_BLOB, R_MAIN, 0, 0, 1, 1, 0, 5, .45f}}},
    {"apple", "apples", {356, 6, .8, .95, .6, .85}, {355, 6, .7, .9, .3, .45}, T_RADGRAD, 0, 25, 1, 1, 3,
     {{P_RECT, R_DARK, 0, -.78f, .05f, .2f, 0, 0, 0}, {P_ELLIPSE, R_ACC, .28f, -.82f, .24f, .1f, -30, 0, 0},
      {P_BLOB, R_MAIN, 0, .1f, .92f, .88f, 0, 2, .06f}}},
    {"banana", "bananas", {52, 4, .8, .95, .88, 1}, {40, 8, .6, .8, .4, .55}, T_SOLID, 0, 60, 1, 1.6, 1,
     {{P_ARC, R_MAIN, 0, -.9f, 1, 1.9f, 0, .68f, .1f}}},
    {"orange", "oranges", {30, 4, .9, 1, .9, 1}, {25, 4, .9, 1, .6, .75}, T_DIMPLE, 14, 180, 0, 1, 1,
     {ELL(0, 0, .95f, .95f)}},
    {"pizza", "pizzas", {45, 5, .5, .7, .9, 1}, {5, 6, .8, .95, .6, .8}, T_DOTS, 3, 180, 0, .9, 2,
     {{P_RECT, R_ACC, 0, -.85f, .9f, .15f, 0, .6f, 0}, {P_TRI, R_MAIN, 0, .05f, .85f, .95f, 180, 0, 0}}},
    {"clock", "clocks", {0, 180, 0, .05, .9, 1}, {0, 180, 0, .1, .05, .15}, T_CLOCK, 0, 10, 0, 1, 1,
     {ELL(0, 0, 1, 1)}},
    {"kite", "kites", {185, 6, .7, .9, .8, .95}, {0, 6, .8, .95, .8, .95}, T_QUAD, 0, 30, 0, .8, 2,
     {{P_DIAMOND, R_MAIN, 0, -.15f, 1, .85f, 0, 0, 0}, {P_RECT, R_DARK, 0, .85f, .04f, .15f, 0, 0, 0}}},
    {"book", "books", {228, 8, .6, .8, .45, .7}, {50, 10, .05, .15, .9, 1}, T_BOOK, 0, 30, 0, .75, 1,
     {RECT(0, 0, 1, 1, .05f)}},
    {"cup", "cups", {170, 8, .5, .7, .6, .8}, {0, 180, 0, .05, .92, 1}, T_RIM, 0, 10, 1, 1.15, 2,
     {{P_TRAP, R_MAIN, -.18f, .05f, .68f, .9f, 0, .3f, 0}, {P_RING, R_MAIN, .55f, .0f, .38f, .4f, 0, .45f, 0}}},
    {"ball", "balls", {0, 180, .75, .95, .8, 1}, {0, 180, .75, .95, .8, 1}, T_CHECKER, 2, 180, 0, 1, 1,
     {ELL(0, 0, 1, 1)}},
    {"house", "houses", {12, 5, .55, .7, .55, .7}, {30, 10, .05, .15, .75, .85}, T_BRICK, 7, 5, 1, 1, 2,
     {{P_TRI, R_DARK, 0, -.6f, 1, .4f, 0, 0, 0}, RECT(0, .4f, .78f, .6f, 0)}},
    {"cake", "cakes", {40, 6, .15, .3, .9, 1}, {340, 8, .45, .65, .8, .92}, T_LAYERS, 3, 8, 0, 1.2, 2,
     {{P_RECT, R_ACC, 0, -.55f, .95f, .14f, 0, .6f, 0}, RECT(0, .2f, .9f, .72f, .08f)}},
};
#define NCLASSES ((int)(sizeof CLASSES / sizeof CLASSES[0]))

int ovs_synth_nclasses(void) { return NCLASSES; }
const char *ovs_synth_class_name(int cls) { return cls >= 0 && cls < NCLASSES ? CLASSES[cls].name : "?"; }
const char *ovs_synth_class_plural(int cls) { return cls >= 0 && cls < NCLASSES ? CLASSES[cls].plural : "?"; }

/* ── small maths ─────────────────────────────────────────────────────────────────────────── */

static float frand(ovs_rng *r, float a, float b) { return a + (b - a) * ovs_rng_float(r); }
static float fractf(float x) { return x - floorf(x); }
static float clampf(float x, float a, float b) { return x < a ? a : x > b ? b : x; }

static void hsv_to_rgb(float h, float s, float v, float out[3]) {
    h = fmodf(h, 360.f);
    if (h < 0) h += 360.f;
    float c = v * s, x = c * (1 - fabsf(fmodf(h / 60.f, 2.f) - 1)), m = v - c;
    float r = 0, g = 0, b = 0;
    int k = (int)(h / 60.f);
    switch (k) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
    }
    out[0] = r + m, out[1] = g + m, out[2] = b + m;
}

static void sample_colour(ovs_rng *r, const hsv_dist *d, float out[3]) {
    float h = d->h + frand(r, -d->hj, d->hj);
    hsv_to_rgb(h, frand(r, d->s0, d->s1), frand(r, d->v0, d->v1), out);
}

/* Lattice value noise in [0, 1) from an integer hash: cheap and stateless. */
static inline float lattice(int x, int y, uint32_t s) {
    uint32_t h = (uint32_t)x * 0x8da6b343u ^ (uint32_t)y * 0xd8163841u ^ s * 0xcb1ab31fu;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (float)(h & 0xffffff) * (1.f / 16777216.f);
}

static inline float vnoise(float x, float y, uint32_t s) {
    float fx = floorf(x), fy = floorf(y);
    int ix = (int)fx, iy = (int)fy;
    float tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx), ty = ty * ty * (3 - 2 * ty);
    float a = lattice(ix, iy, s), b = lattice(ix + 1, iy, s);
    float c = lattice(ix, iy + 1, s), d = lattice(ix + 1, iy + 1, s);
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

/* ── scene sampling ──────────────────────────────────────────────────────────────────────── */

static const int BG_KINDS = 6; /* linear, radial, stripes, noise, plaid, vignette */

void ovs_synth_scene_sample(ovs_rng *r, const ovs_synth_opts *o, int w, int h, ovs_synth_scene *s) {
    memset(s, 0, sizeof *s);
    s->w = w, s->h = h;
    s->bg_kind = (int)ovs_rng_below(r, BG_KINDS);
    float hue = frand(r, 0, 360);
    hsv_to_rgb(hue, frand(r, 0, .5f), frand(r, .3f, .95f), s->bg1);
    hsv_to_rgb(hue + frand(r, -60, 60), frand(r, 0, .5f), frand(r, .25f, .95f), s->bg2);
    float a = frand(r, 0, 2 * PI_F);
    s->bg_cos = cosf(a), s->bg_sin = sinf(a);
    s->bg_freq = frand(r, 2.5f, 9);
    s->bg_seed = (uint32_t)ovs_rng_u64(r);

    int span = o->max_objects - o->min_objects + 1;
    s->nobj = o->min_objects + (int)ovs_rng_below(r, (uint64_t)span);
    float short_side = (float)(w < h ? w : h);
    for (int i = 0; i < s->nobj; i++) {
        ovs_synth_obj *ob = &s->obj[i];
        /* a third of the time repeat an earlier class, so counts and plurals occur */
        ob->cls = i > 0 && ovs_rng_below(r, 3) == 0 ? s->obj[ovs_rng_below(r, (uint64_t)i)].cls
                                                      : (int)ovs_rng_below(r, NCLASSES);
        const cls_def *c = &CLASSES[ob->cls];
        float size = short_side * frand(r, (float)o->min_size, (float)o->max_size);
        float asp = c->aspect * frand(r, .87f, 1.15f);
        if (asp >= 1) ob->sx = size / 2, ob->sy = size / 2 / asp;
        else ob->sy = size / 2, ob->sx = size / 2 * asp;
        float ang = frand(r, -c->rot_max, c->rot_max) * PI_F / 180.f;
        ob->cosa = cosf(ang), ob->sina = sinf(ang);
        ob->flip = c->flip ? (int)ovs_rng_below(r, 2) : 0;
        const cls_def *cc = c; /* colours usually from the class itself */
        if (o->colour_swap_rate > 0 && ovs_rng_double(r) < o->colour_swap_rate) cc = &CLASSES[ovs_rng_below(r, NCLASSES)];
        sample_colour(r, &cc->c1, ob->rgb1);
        sample_colour(r, &cc->c2, ob->rgb2);
        ob->tex_seed = (uint32_t)ovs_rng_u64(r);
        ob->tex_angle = frand(r, 0, 2 * PI_F);
        /* placement: keep objects apart enough that each stays mostly visible */
        float rad = sqrtf(ob->sx * ob->sx + ob->sy * ob->sy) * .75f, best = -1;
        float ex = ob->sx * .6f, ey = ob->sy * .6f;
        for (int t = 0; t < 12; t++) {
            float x = ex < w - ex ? frand(r, ex, w - ex) : w / 2.f;
            float y = ey < h - ey ? frand(r, ey, h - ey) : h / 2.f;
            float score = 1e9f;
            for (int j = 0; j < i; j++) {
                const ovs_synth_obj *p = &s->obj[j];
                float pr = sqrtf(p->sx * p->sx + p->sy * p->sy) * .75f;
                float d = sqrtf((x - p->cx) * (x - p->cx) + (y - p->cy) * (y - p->cy)) / (rad + pr);
                if (d < score) score = d;
            }
            if (score > best) best = score, ob->cx = x, ob->cy = y;
            if (score >= .7f) break;
        }
    }
}

/* ── rendering ───────────────────────────────────────────────────────────────────────────── */

/* Background intensity t in [0, 1] for one row, mixed through a 256-entry colour table. */
static void bg_row(const ovs_synth_scene *s, int y, const float *sin_lut, float *t) {
    float W = (float)s->w, H = (float)s->h, d = sqrtf(W * W + H * H), fy = y + .5f;
    float p0 = (.5f * s->bg_cos + fy * s->bg_sin) / d, dp = s->bg_cos / d;
    switch (s->bg_kind) {
    case 0:
        for (int x = 0; x < s->w; x++) t[x] = clampf(p0 + dp * x + .5f, 0, 1);
        break;
    case 1: {
        float dy = (fy - H * .5f) / d;
        for (int x = 0; x < s->w; x++) {
            float dx = (x + .5f - W * .5f) / d;
            t[x] = clampf(2.2f * sqrtf(dx * dx + dy * dy) + .1f * (p0 + dp * x), 0, 1);
        }
        break;
    }
    case 2: { /* sin(2 pi f p 1.4) through a 1024-entry table */
        float k = s->bg_freq * 1.4f * 1024.f;
        for (int x = 0; x < s->w; x++) t[x] = .5f + .5f * sin_lut[(int)floorf((p0 + dp * x) * k) & 1023];
        break;
    }
    case 3: {
        float f1 = s->bg_freq / d * 2, f2 = s->bg_freq / d * 6;
        /* smooth: evaluate every other pixel, interpolate between */
        for (int x = 0; x < s->w; x += 2)
            t[x] = .65f * vnoise((x + .5f) * f1, fy * f1, s->bg_seed) + .35f * vnoise((x + .5f) * f2, fy * f2, s->bg_seed + 1);
        for (int x = 1; x < s->w; x += 2) t[x] = x + 1 < s->w ? .5f * (t[x - 1] + t[x + 1]) : t[x - 1];
        break;
    }
    case 4: {
        float k = s->bg_freq / d * 1024.f, sy = sin_lut[(int)floorf(fy * k) & 1023];
        for (int x = 0; x < s->w; x++) t[x] = .25f * (2 + sin_lut[(int)floorf((x + .5f) * k) & 1023] + sy);
        break;
    }
    default: {
        float dy = (fy - H * .5f) / H;
        for (int x = 0; x < s->w; x++) {
            float dx = (x + .5f - W * .5f) / W;
            t[x] = clampf(1.6f * (dx * dx + dy * dy), 0, 1);
        }
    }
    }
}

static inline uint8_t to8(float v) { return (uint8_t)(clampf(v, 0, 1) * 255.f + .5f); }

static int draw_background(const ovs_synth_scene *s, uint8_t *px) {
    float sin_lut[1024], *t = malloc(sizeof(float) * (size_t)s->w);
    if (!t) return OVS_EINTERNAL;
    for (int i = 0; i < 1024; i++) sin_lut[i] = sinf(2 * PI_F * i / 1024.f);
    uint8_t lut[256][3];
    for (int i = 0; i < 256; i++)
        for (int c = 0; c < 3; c++) lut[i][c] = to8(s->bg1[c] + (s->bg2[c] - s->bg1[c]) * (i / 255.f));
    for (int y = 0; y < s->h; y++) {
        bg_row(s, y, sin_lut, t);
        uint8_t *row = px + (size_t)y * s->w * 3;
        for (int x = 0; x < s->w; x++) {
            const uint8_t *c = lut[(int)(t[x] * 255.f + .5f)];
            row[3 * x] = c[0], row[3 * x + 1] = c[1], row[3 * x + 2] = c[2];
        }
    }
    free(t);
    return 0;
}

typedef struct prep_part { int prim, role; float cx, cy, ihx, ihy, cr, sr, p0, p1; } prep_part;

static int in_part(const prep_part *p, float u, float v, uint32_t seed) {
    float du = u - p->cx, dv = v - p->cy;
    float a = (du * p->cr + dv * p->sr) * p->ihx, b = (-du * p->sr + dv * p->cr) * p->ihy;
    if (a < -1 || a > 1 || b < -1 || b > 1) return 0;
    switch (p->prim) {
    case P_ELLIPSE: return a * a + b * b <= 1;
    case P_RECT: {
        float r = p->p0;
        float qa = fabsf(a) - (1 - r), qb = fabsf(b) - (1 - r);
        if (qa <= 0 || qb <= 0) return 1;
        return qa * qa + qb * qb <= r * r;
    }
    case P_TRI: return fabsf(a) <= (b + 1) * .5f;
    case P_BLOB: {
        float r2 = a * a + b * b;
        if (r2 > 1) return 0;
        float th = atan2f(b, a), amp = p->p1, ph = (float)(seed & 1023) * (2 * PI_F / 1024.f);
        float rr = (1 + amp * sinf(p->p0 * th + ph)) / (1 + amp);
        return r2 <= rr * rr;
    }
    case P_RING: {
        float r2 = a * a + b * b;
        return r2 <= 1 && r2 >= p->p0 * p->p0;
    }
    case P_HALFDISC: return b <= 0 && a * a + b * b <= 1;
    case P_ARC: {
        float r2 = a * a + b * b;
        return r2 <= 1 && r2 >= p->p0 * p->p0 && b >= p->p1;
    }
    case P_DIAMOND: return fabsf(a) + fabsf(b) <= 1;
    case P_TRAP: return fabsf(a) <= 1 - p->p0 * (b + 1) * .5f;
    default: return 0;
    }
}

/* Mix factor between primary (0) and secondary (1) colour for the class texture. */
static float texture(const cls_def *c, const ovs_synth_obj *o, float u, float v) {
    float f = c->tfreq;
    uint32_t sd = o->tex_seed;
    switch (c->tex) {
    case T_STRIPES:
    case T_VSTRIPES: { /* any angle (tabby), or near-vertical bands (zebra) */
        float ang = c->tex == T_VSTRIPES ? .25f * sinf(o->tex_angle) : o->tex_angle;
        float w = u * cosf(ang) + v * sinf(ang) + .15f * sinf(v * 3 + o->tex_angle);
        return fractf(w * f * .5f + (float)(sd & 255) / 256.f) < .5f;
    }
    case T_NOISE: return .85f * vnoise((u + 2) * f, (v + 2) * f, sd);
    case T_SPOTS: return vnoise((u + 2) * f, (v + 2) * f, sd) > .58f;
    case T_CELLS: {
        float cu = (u + 2) * f + .35f * vnoise(u * 3, v * 3, sd), cv = (v + 2) * f + .35f * vnoise(u * 3 + 7, v * 3, sd);
        float du = fabsf(fractf(cu) - .5f), dv = fabsf(fractf(cv) - .5f);
        return (du > .38f || dv > .38f) ? 0.f : 1.f;
    }
    case T_WOOD: return fractf(f * (v * .35f + u * .1f + .25f * vnoise(u * 2, v * 6, sd))) < .3f ? .8f : 0.f;
    case T_WEDGES: {
        float th = atan2f(v, u) + PI_F;
        return (float)((int)(th / (2 * PI_F) * f) & 1);
    }
    case T_WINDOWS:
        return v > -.55f && v < -.1f && fractf((u + 1) * f * .5f) > .18f && fractf((u + 1) * f * .5f) < .82f;
    case T_BRICK: {
        float rv = (v + 1) * f;
        int row = (int)rv;
        float fu = fractf((u + 1) * f * .5f + (row & 1 ? .5f : 0));
        return (fu < .08f || fractf(rv) < .15f) ? 1.f : 0.f;
    }
    case T_RADGRAD: {
        float du = u + .3f, dv = v + .3f;
        return clampf(sqrtf(du * du + dv * dv) / 1.6f, 0, 1);
    }
    case T_QUAD: return u * v > 0;
    case T_CHECKER: return (float)(((int)floorf((u + 2) * f) + (int)floorf((v + 2) * f)) & 1);
    case T_DOTS: {
        float cu = fractf((u + 2) * f + (float)(sd & 15) / 16.f) - .5f, cv = fractf((v + 2) * f) - .5f;
        return cu * cu + cv * cv < .09f;
    }
    case T_LAYERS: return fractf((v + 1) * f * .5f + .04f * sinf(u * 12)) < .3f;
    case T_CLOCK: {
        float r2 = u * u + v * v;
        if (r2 > .72f || r2 < .006f) return 1;
        float a1 = o->tex_angle, a2 = o->tex_angle * 7.3f;
        float p1 = u * cosf(a1) + v * sinf(a1), q1 = fabsf(-u * sinf(a1) + v * cosf(a1));
        float p2 = u * cosf(a2) + v * sinf(a2), q2 = fabsf(-u * sinf(a2) + v * cosf(a2));
        return (p1 > 0 && p1 < .62f && q1 < .05f) || (p2 > 0 && p2 < .42f && q2 < .07f);
    }
    case T_BELLY: return clampf((v - .05f - .2f * u) * 6, 0, 1);
    case T_HILITE: return (u > -.6f && u < -.35f) ? .7f : (v > .05f && v < .45f ? 1.f : 0.f);
    case T_BOOK: return u < -.78f || (v > -.55f && v < -.35f);
    case T_RIM: return v < -.72f || (v > 0 && v < .18f);
    case T_WRINKLE: return fractf(f * (v + .06f * sinf(u * 9))) < .25f ? .8f : 0.f;
    case T_DIMPLE: {
        float du = u + .3f, dv = v + .3f;
        return .35f * vnoise((u + 2) * f, (v + 2) * f, sd) + .65f * clampf(sqrtf(du * du + dv * dv) / 1.6f, 0, 1);
    }
    default: return 0;
    }
}

static void shade(const cls_def *c, const ovs_synth_obj *o, int role, float u, float v, uint8_t *out) {
    float col[3];
    float light = 1.f - .12f * v;
    switch (role) {
    case R_DARK: col[0] = .13f, col[1] = .12f, col[2] = .14f; break;
    case R_WHITE: col[0] = .93f, col[1] = .93f, col[2] = .95f; break;
    case R_ACC: memcpy(col, o->rgb2, sizeof col); break;
    default: {
        float t = texture(c, o, u, v);
        for (int k = 0; k < 3; k++) col[k] = o->rgb1[k] + (o->rgb2[k] - o->rgb1[k]) * t;
    }
    }
    for (int k = 0; k < 3; k++) out[k] = to8(col[k] * light);
}

static void draw_object(ovs_synth_scene *s, int oi, uint8_t *px, uint8_t *objmap) {
    ovs_synth_obj *o = &s->obj[oi];
    const cls_def *c = &CLASSES[o->cls];
    prep_part pp[6];
    for (int i = 0; i < c->nparts; i++) {
        const part *p = &c->parts[i];
        float a = p->rot_deg * PI_F / 180.f;
        pp[i] = (prep_part){p->prim, p->role, p->cx, p->cy, 1.f / p->hx, 1.f / p->hy, cosf(a), sinf(a), p->p0, p->p1};
    }
    /* bounding box of the rotated local box */
    float ca = fabsf(o->cosa), sa = fabsf(o->sina);
    float ex = ca * o->sx + sa * o->sy + 1, ey = sa * o->sx + ca * o->sy + 1;
    int x0 = (int)floorf(o->cx - ex), x1 = (int)ceilf(o->cx + ex);
    int y0 = (int)floorf(o->cy - ey), y1 = (int)ceilf(o->cy + ey);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > s->w) x1 = s->w;
    if (y1 > s->h) y1 = s->h;
    float isx = 1.f / o->sx, isy = 1.f / o->sy, fl = o->flip ? -1.f : 1.f;
    int drawn = 0;
    for (int y = y0; y < y1; y++) {
        float dy = y + .5f - o->cy;
        for (int x = x0; x < x1; x++) {
            float dx = x + .5f - o->cx;
            float u = (o->cosa * dx + o->sina * dy) * isx * fl, v = (-o->sina * dx + o->cosa * dy) * isy;
            if (u < -1 || u > 1 || v < -1 || v > 1) continue;
            int role = -1;
            for (int i = 0; i < c->nparts; i++)
                if (in_part(&pp[i], u, v, o->tex_seed)) { role = pp[i].role; break; }
            if (role < 0) continue;
            size_t at = (size_t)y * s->w + x;
            shade(c, o, role, u, v, px + 3 * at);
            objmap[at] = (uint8_t)(oi + 1);
            drawn++;
        }
    }
    o->drawn_px = drawn;
}

int ovs_synth_render(ovs_synth_scene *s, ovs_image *rgb, uint8_t *objmap, ovs_err *e) {
    if (ovs_image_alloc(rgb, s->w, s->h, 3)) return ovs_errf(e, OVS_EINTERNAL, "synth: out of memory (%dx%d)", s->w, s->h);
    size_t npx = (size_t)s->w * s->h;
    uint8_t *map = objmap ? objmap : malloc(npx);
    if (!map) { ovs_image_free(rgb); return ovs_errf(e, OVS_EINTERNAL, "synth: out of memory"); }
    memset(map, 0, npx);
    if (draw_background(s, rgb->px)) {
        if (!objmap) free(map);
        ovs_image_free(rgb);
        return ovs_errf(e, OVS_EINTERNAL, "synth: out of memory");
    }
    for (int i = 0; i < s->nobj; i++) draw_object(s, i, rgb->px, map);
    int vis[OVS_SYNTH_MAX_OBJ + 1] = {0};
    for (size_t i = 0; i < npx; i++) vis[map[i]]++;
    for (int i = 0; i < s->nobj; i++) s->obj[i].visible_px = vis[i + 1];
    if (!objmap) free(map);
    return 0;
}

int ovs_synth_obj_visible(const ovs_synth_scene *s, int i) {
    const ovs_synth_obj *o = &s->obj[i];
    return o->visible_px > 0 && o->visible_px * 10 >= o->drawn_px * 4 &&
           (double)o->visible_px >= .004 * s->w * s->h;
}

void ovs_synth_class_mask(const ovs_synth_scene *s, const uint8_t *objmap, int width, uint8_t *mask) {
    int w = s->w, h = s->h;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t id = objmap[(size_t)y * w + x];
            int border = 0;
            for (int yy = y - width; yy <= y + width && !border; yy++) {
                if (yy < 0 || yy >= h) continue;
                for (int xx = x - width; xx <= x + width; xx++) {
                    if (xx < 0 || xx >= w) continue;
                    if (objmap[(size_t)yy * w + xx] != id) { border = 1; break; }
                }
            }
            mask[(size_t)y * w + x] = border ? 255 : id ? (uint8_t)(s->obj[id - 1].cls + 1) : 0;
        }
    }
}
