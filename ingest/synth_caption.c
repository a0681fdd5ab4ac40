/* synth_caption.c — captions for synthetic scenes, in the varied English of CC12M alt-texts:
 * articles, counts and plurals ("two dogs"), adjectives (colour words computed from the drawn
 * colour, plus generic ones), lists and prepositions, frames ("a photo of ...", "<PERSON>'s ..."),
 * word-order changes, capitalisation and punctuation noise. Some captions name only part of the
 * classes present (partial_rate), some name one class that is absent (absent_rate), some name no
 * class at all (no_entity_rate). Nothing in a caption depends on where an object is drawn: the
 * order of the named classes is shuffled and no position words are used. */
#include <ctype.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "ingest/synth.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *ADJ[] = {"beautiful", "little", "big", "small", "old", "cute", "lovely", "tiny",
                            "large", "happy", "funny", "young", "vintage", "new", "pretty", "cartoon"};
static const char *BG_ADJ[] = {"white", "colorful", "striped", "abstract", "blurred", "gradient", "dark",
                               "pastel", "grunge", "textured", "plain", "patterned"};
static const char *BG_NOUN[] = {"background", "backdrop", "wall", "surface"};
/* No word of these is in the CC4M entity list, and none has <PERSON> (the entity `people`):
 * checked by tests/test_synth.c. */
static const char *NO_ENTITY[] = {
    "abstract background with colorful stripes", "the premiere of the film",
    "the best way to spend a weekend", "colorful abstract pattern", "seamless texture with a soft gradient",
    "backstage at the awards ceremony", "sunset over the sea", "vector illustration of a geometric pattern",
    "interior design ideas", "my favourite things this week", "happy birthday!", "collection of design elements",
    "new year celebration in the city", "close-up of a textured surface", "the view from my window",
    "live music on stage", "quote about life and love", "business concept", "autumn in the mountains",
    "texture of old paper", "highlights of the match", "a walk through the old town",
    "detail of a painted wall", "watercolor pattern for your project", "day 3 of our road trip",
};

static int pick(ovs_rng *r, int n) { return (int)ovs_rng_below(r, (uint64_t)n); }
static int chance(ovs_rng *r, double p) { return ovs_rng_double(r) < p; }

/* A colour word for an RGB colour (none for orange hues, which would read as the fruit). */
static const char *colour_word(const float rgb[3]) {
    float mx = fmaxf(rgb[0], fmaxf(rgb[1], rgb[2])), mn = fminf(rgb[0], fminf(rgb[1], rgb[2]));
    float s = mx > 0 ? (mx - mn) / mx : 0, v = mx, h = 0;
    if (s < .18f) return v > .8f ? "white" : v < .25f ? "black" : "gray";
    float d = mx - mn;
    if (mx == rgb[0]) h = 60 * fmodf((rgb[1] - rgb[2]) / d, 6);
    else if (mx == rgb[1]) h = 60 * ((rgb[2] - rgb[0]) / d + 2);
    else h = 60 * ((rgb[0] - rgb[1]) / d + 4);
    if (h < 0) h += 360;
    if (h < 12 || h >= 345) return "red";
    if (h < 45) return v < .6f ? "brown" : NULL;
    if (h < 70) return "yellow";
    if (h < 165) return "green";
    if (h < 195) return "teal";
    if (h < 250) return "blue";
    if (h < 290) return "purple";
    return "pink";
}

static const char *count_word(ovs_rng *r, int n) {
    static const char *two[] = {"two", "two", "2", "a pair of"}, *three[] = {"three", "three", "3", "several", "a few"},
                      *four[] = {"four", "4", "several", "a group of"};
    switch (n) {
    case 2: return two[pick(r, NELEM(two))];
    case 3: return three[pick(r, NELEM(three))];
    default: return four[pick(r, NELEM(four))];
    }
}

/* A noun phrase: [article | count] [adjective] [colour] noun. bare = no article when singular. */
static void noun_phrase(ovs_rng *r, int cls, int count, const float *rgb, int bare, ovs_buf *b) {
    char words[128] = "";
    if (chance(r, .2)) snprintf(words, sizeof words, "%s ", ADJ[pick(r, NELEM(ADJ))]);
    const char *cw = rgb ? colour_word(rgb) : NULL;
    if (cw && chance(r, .35)) {
        size_t l = strlen(words);
        snprintf(words + l, sizeof words - l, "%s ", cw);
    }
    const char *noun = count > 1 ? ovs_synth_class_plural(cls) : ovs_synth_class_name(cls);
    if (count > 1) {
        if (chance(r, .15)) ovs_buf_printf(b, "%s%s", words, noun); /* "dogs" without a count */
        else ovs_buf_printf(b, "%s %s%s", count_word(r, count), words, noun);
        return;
    }
    if (bare) { ovs_buf_printf(b, "%s%s", words, noun); return; }
    int k = pick(r, 10);
    const char *first = words[0] ? words : noun;
    const char *art = k < 7 ? (strchr("aeiou", first[0]) ? "an" : "a") : k < 8 ? "one" : k < 9 ? "the" : "";
    ovs_buf_printf(b, "%s%s%s%s", art, *art ? " " : "", words, noun);
}

typedef struct named_cls { int cls, count; const float *rgb; } named_cls;

static void join_list(ovs_rng *r, const named_cls *nc, int n, int bare, ovs_buf *b) {
    static const char *pair_join[] = {" and ", " and ", " with ", " next to ", " together with ", " & ", ", "};
    const char *pj = pair_join[pick(r, NELEM(pair_join))];
    int oxford = chance(r, .3);
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            if (n == 2) ovs_buf_puts(b, pj);
            else if (i < n - 1) ovs_buf_puts(b, ", ");
            else ovs_buf_puts(b, oxford ? ", and " : " and ");
        }
        noun_phrase(r, nc[i].cls, nc[i].count, nc[i].rgb, bare && i == 0, b);
    }
}

/* "a striped wall", "an abstract background" */
static void bg_phrase(ovs_rng *r, ovs_buf *b) {
    const char *adj = BG_ADJ[pick(r, NELEM(BG_ADJ))];
    ovs_buf_printf(b, "%s %s %s", strchr("aeiou", adj[0]) ? "an" : "a", adj, BG_NOUN[pick(r, NELEM(BG_NOUN))]);
}

/* Frames: %L = the list with articles, %B = the list, first item bare, %G = "a striped wall". */
static const char *FRAMES[] = {
    "%L", "%L", "%L", "%L on %G", "a photo of %L", "photo of %L", "picture of %L on %G", "close-up of %L",
    "%L against %G", "<PERSON> with %L", "<PERSON> and %L", "%L belonging to <PERSON>", "<PERSON>'s %B", "my %B",
    "%L -- stock photo", "%L . vector illustration", "%L in the garden", "%L at the park", "illustration of %L",
    "cartoon of %L with %G", "on %G : %L", "%L, photographed by <PERSON>", "I love %L", "%B for sale",
    "look at %L", "%L in a studio", "%L isolated on %G", "%G with %L", "here is %L", "%L on display",
};

static void expand_frame(ovs_rng *r, const char *frame, const named_cls *nc, int n, ovs_buf *b) {
    for (const char *p = frame; *p; p++) {
        if (*p != '%') { ovs_buf_append(b, p, 1); continue; }
        p++;
        if (*p == 'L' || *p == 'B') join_list(r, nc, n, *p == 'B', b);
        else if (*p == 'G') bg_phrase(r, b);
    }
}

static void finish_caption(ovs_rng *r, ovs_buf *b, size_t start) {
    char *s = b->data + start;
    int k = pick(r, 20);
    if (k < 11 && s[0] != '<') s[0] = (char)toupper((unsigned char)s[0]);
    size_t len = b->len - start;
    int ends = len && strchr(".!", s[len - 1]) != NULL;
    if (!ends) {
        int p = pick(r, 20);
        if (p < 7) ovs_buf_puts(b, ".");
        else if (p == 7) ovs_buf_puts(b, "!");
        else if (p == 8) ovs_buf_puts(b, " ...");
    }
}

int ovs_synth_caption(ovs_rng *r, const ovs_synth_scene *s, const ovs_synth_opts *o, ovs_buf *out,
                      ovs_synth_named *named) {
    ovs_synth_named nm = {.absent = -1};
    named_cls nc[OVS_SYNTH_MAX_OBJ + 1];
    int n = 0;
    for (int i = 0; i < s->nobj; i++) {
        if (!ovs_synth_obj_visible(s, i)) continue;
        int j = 0;
        while (j < n && nc[j].cls != s->obj[i].cls) j++;
        if (j == n) nc[n++] = (named_cls){s->obj[i].cls, 0, s->obj[i].rgb1};
        nc[j].count++;
    }
    size_t start = out->len;
    if (n == 0 || chance(r, o->no_entity_rate)) {
        nm.no_entity = 1;
        nm.partial = n > 0;
        ovs_buf_puts(out, NO_ENTITY[pick(r, NELEM(NO_ENTITY))]);
        finish_caption(r, out, start);
        if (named) *named = nm;
        return out->data ? 0 : OVS_EINTERNAL;
    }
    ovs_rng_shuffle(r, nc, (uint64_t)n, sizeof nc[0]);
    if (n >= 2 && chance(r, o->partial_rate)) {
        n = 1 + pick(r, n - 1);
        nm.partial = 1;
    }
    if (chance(r, o->absent_rate)) {
        int cls;
        for (;;) { /* a class not in the scene at all */
            cls = pick(r, ovs_synth_nclasses());
            int present = 0;
            for (int i = 0; i < s->nobj; i++) present |= s->obj[i].cls == cls;
            if (!present) break;
        }
        int at = pick(r, n + 1);
        memmove(nc + at + 1, nc + at, sizeof nc[0] * (size_t)(n - at));
        nc[at] = (named_cls){cls, 1, NULL};
        n++;
        nm.absent = at;
    }
    for (int i = 0; i < n; i++) nm.cls[i] = nc[i].cls;
    nm.n = n;
    expand_frame(r, FRAMES[pick(r, NELEM(FRAMES))], nc, n, out);
    finish_caption(r, out, start);
    if (named) *named = nm;
    return out->data ? 0 : OVS_EINTERNAL;
}
