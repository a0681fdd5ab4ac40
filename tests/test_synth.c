/* test_synth.c — the synthetic world of `ovseg synth`: the class table against the CC4M entity
 * list, deterministic rendering, captions (only the named classes appear, absent/partial/no-entity
 * rates, counts and plurals, no position words), class masks with ignore rings, failure shares. */
#include <ctype.h>

#include "ingest/synth.h"
#include "tests/check.h"
#include "util/fsutil.h"

/* Words of a file (one per line), lower-cased, into a NUL-separated list; returns count. */
static int read_words(const char *name, char words[][32], int max) {
    char path[512], *data;
    size_t len;
    ovs_err e = {0};
    snprintf(path, sizeof path, "%s/reference/%s", check_shared(), name);
    if (ovs_read_file(path, &data, &len, &e)) return -1;
    int n = 0;
    for (char *tok = strtok(data, " \r\n\t"); tok && n < max; tok = strtok(NULL, " \r\n\t")) {
        snprintf(words[n], 32, "%s", tok);
        for (char *p = words[n]; *p; p++) *p = (char)tolower((unsigned char)*p);
        n++;
    }
    free(data);
    return n;
}

static int in_list(char words[][32], int n, const char *w) {
    for (int i = 0; i < n; i++)
        if (!strcmp(words[i], w)) return 1;
    return 0;
}

/* The class a caption word names (singular or plural), or -1. */
static int class_of_word(const char *w) {
    for (int c = 0; c < ovs_synth_nclasses(); c++)
        if (!strcmp(w, ovs_synth_class_name(c)) || !strcmp(w, ovs_synth_class_plural(c))) return c;
    return -1;
}

static void default_opts(ovs_synth_opts *o) {
    ovs_synth_defaults(o);
    o->out = "unused";
}

TEST(synth_has_20_classes_named_from_the_entity_list) {
    static char list[200][32];
    int n = read_words("ovsegmentor-73-classes.txt", list, 200);
    CHECK_MSG(n >= 73, "cannot read ovsegmentor-73-classes.txt under %s", check_shared());
    CHECK(ovs_synth_nclasses() >= 20);
    for (int c = 0; c < ovs_synth_nclasses(); c++) {
        CHECK_MSG(in_list(list, n, ovs_synth_class_name(c)), "class '%s' not in the entity list", ovs_synth_class_name(c));
        for (int d = 0; d < c; d++) CHECK(strcmp(ovs_synth_class_name(c), ovs_synth_class_name(d)));
    }
}

TEST(synth_render_is_deterministic_per_seed) {
    ovs_synth_opts o;
    default_opts(&o);
    ovs_image a = {0}, b = {0}, c = {0};
    ovs_synth_scene s1, s2, s3;
    ovs_rng r;
    ovs_err e = {0};
    ovs_rng_seed(&r, 7, 100);
    ovs_synth_scene_sample(&r, &o, 300, 200, &s1);
    ovs_rng_seed(&r, 7, 100);
    ovs_synth_scene_sample(&r, &o, 300, 200, &s2);
    ovs_rng_seed(&r, 8, 100);
    ovs_synth_scene_sample(&r, &o, 300, 200, &s3);
    CHECK_OK(ovs_synth_render(&s1, &a, NULL, &e), &e);
    CHECK_OK(ovs_synth_render(&s2, &b, NULL, &e), &e);
    CHECK_OK(ovs_synth_render(&s3, &c, NULL, &e), &e);
    CHECK(a.px && b.px && c.px && !memcmp(a.px, b.px, 300 * 200 * 3));
    CHECK(a.px && c.px && memcmp(a.px, c.px, 300 * 200 * 3));
    ovs_image_free(&a);
    ovs_image_free(&b);
    ovs_image_free(&c);
}

/* Renders 1500 scenes and checks every caption against what it claims to name. */
TEST(synth_captions_name_exactly_the_named_classes) {
    static char top[300][32];
    int ntop = read_words("ovsegmentor-top100-words.txt", top, 300);
    CHECK_MSG(ntop >= 90, "cannot read ovsegmentor-top100-words.txt");
    ovs_synth_opts o;
    default_opts(&o);
    const char *position_words[] = {"left", "right", "top", "bottom", "above", "below", "upper", "lower",
                                    "corner", "center", "centre", "middle", "behind", "under"};
    int absent = 0, partial = 0, none = 0, total = 1500, person = 0, plural_ok = 0, plural_seen = 0;
    ovs_buf cap = {0};
    ovs_err e = {0};
    for (int i = 0; i < total; i++) {
        ovs_rng r;
        ovs_rng_seed(&r, 3, (uint64_t)i);
        ovs_synth_scene s;
        ovs_synth_scene_sample(&r, &o, 96, 80, &s);
        ovs_image img = {0};
        CHECK_OK(ovs_synth_render(&s, &img, NULL, &e), &e);
        ovs_image_free(&img);
        ovs_buf_reset(&cap);
        ovs_synth_named nm;
        CHECK_OK(ovs_synth_caption(&r, &s, &o, &cap, &nm), &e);
        const char *t = cap.data;
        CHECK_MSG(!strpbrk(t, "\t\n\r"), "tab or newline in caption '%s'", t);
        person += strstr(t, "<PERSON>") != NULL;
        absent += nm.absent >= 0, partial += nm.partial, none += nm.no_entity;
        /* <PERSON> is the entity `people` (a CC4M word): a caption naming no entity must not have it */
        if (nm.no_entity) CHECK_MSG(!strstr(t, "<PERSON>"), "no-entity caption names <PERSON>: '%s'", t);
        int seen[64] = {0};
        char w[64];
        for (const char *p = t; *p;) {
            while (*p && !isalpha((unsigned char)*p)) p++;
            size_t k = 0;
            while (*p && isalpha((unsigned char)*p)) { if (k < sizeof w - 1) w[k++] = (char)tolower((unsigned char)*p); p++; }
            w[k] = 0;
            if (!k) continue;
            int c = class_of_word(w);
            if (c >= 0) seen[c] = 1;
            else if (strcmp(w, "person")) CHECK_MSG(!in_list(top, ntop, w), "entity word '%s' in caption '%s'", w, t);
            for (size_t q = 0; q < sizeof position_words / sizeof *position_words; q++)
                CHECK_MSG(strcmp(w, position_words[q]), "position word '%s' in '%s'", w, t);
        }
        int named[64] = {0};
        for (int k = 0; k < nm.n; k++) named[nm.cls[k]] = 1;
        for (int c = 0; c < ovs_synth_nclasses(); c++)
            CHECK_MSG(seen[c] == named[c], "class '%s' seen %d named %d in '%s'", ovs_synth_class_name(c), seen[c], named[c], t);
        /* the absent class is not in the scene; every other named class is visible in it */
        for (int k = 0; k < nm.n; k++) {
            int vis = 0, present = 0;
            for (int j = 0; j < s.nobj; j++) {
                present |= s.obj[j].cls == nm.cls[k];
                vis |= s.obj[j].cls == nm.cls[k] && ovs_synth_obj_visible(&s, j);
            }
            if (k == nm.absent) CHECK_MSG(!present, "absent class present: '%s'", t);
            else CHECK_MSG(vis, "named class '%s' not visible: '%s'", ovs_synth_class_name(nm.cls[k]), t);
        }
        /* two visible objects of one class, named: the plural is used */
        for (int k = 0; k < nm.n; k++) {
            int cnt = 0;
            for (int j = 0; j < s.nobj; j++) cnt += s.obj[j].cls == nm.cls[k] && ovs_synth_obj_visible(&s, j);
            if (cnt >= 2 && strcmp(ovs_synth_class_name(nm.cls[k]), ovs_synth_class_plural(nm.cls[k]))) {
                plural_seen++;
                char pat[64];
                snprintf(pat, sizeof pat, "%s", ovs_synth_class_plural(nm.cls[k]));
                plural_ok += strcasestr(t, pat) != NULL;
            }
        }
    }
    ovs_buf_free(&cap);
    CHECK_MSG(absent > total * .03 && absent < total * .07, "absent %d of %d", absent, total);
    CHECK_MSG(partial > total * .05 && partial < total * .25, "partial %d of %d", partial, total);
    CHECK_MSG(none > total * .03 && none < total * .15, "no-entity %d of %d", none, total);
    CHECK_MSG(person > total * .03, "<PERSON> in %d of %d", person, total);
    CHECK_MSG(plural_seen > 20 && plural_ok == plural_seen, "plural used %d of %d", plural_ok, plural_seen);
}

TEST(synth_class_mask_rings_every_border_with_255) {
    ovs_synth_opts o;
    default_opts(&o);
    ovs_err e = {0};
    int K = ovs_synth_nclasses();
    for (int i = 0; i < 20; i++) {
        ovs_rng r;
        ovs_rng_seed(&r, 5, (uint64_t)i);
        ovs_synth_scene s;
        ovs_synth_scene_sample(&r, &o, 64, 64, &s);
        ovs_image img = {0};
        uint8_t map[64 * 64], mask[64 * 64];
        CHECK_OK(ovs_synth_render(&s, &img, map, &e), &e);
        ovs_image_free(&img);
        ovs_synth_class_mask(&s, map, 1, mask);
        int fg = 0;
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++) {
                int v = mask[y * 64 + x];
                CHECK(v == 255 || v <= K);
                fg += v > 0 && v != 255;
                if (v == 255) continue;
                if (x + 1 < 64 && mask[y * 64 + x + 1] != 255) CHECK(mask[y * 64 + x + 1] == v);
                if (y + 1 < 64 && mask[(y + 1) * 64 + x] != 255) CHECK(mask[(y + 1) * 64 + x] == v);
                if (map[y * 64 + x]) CHECK_EQ_INT(v, s.obj[map[y * 64 + x] - 1].cls + 1);
            }
        CHECK(fg > 0);
    }
}

TEST(synth_kind_shares_hit_the_targets) {
    double sum = 0, fail = 0;
    for (int k = 0; k < OVS_SK_COUNT; k++) {
        double s = ovs_synth_kind_share(k, .33);
        sum += s;
        if (k != OVS_SK_OK && k != OVS_SK_OK_REDIRECT) fail += s;
    }
    CHECK_NEAR(sum, 1, 1e-9);
    CHECK_NEAR(fail, .33, 1e-9);
    CHECK_NEAR(ovs_synth_kind_share(OVS_SK_404, .33) + ovs_synth_kind_share(OVS_SK_410, .33), .12, 1e-9);
    CHECK_NEAR(ovs_synth_kind_share(OVS_SK_403, .33), .08, 1e-9);
    CHECK_NEAR(ovs_synth_kind_share(OVS_SK_TRUNCATED, .33) + ovs_synth_kind_share(OVS_SK_CORRUPT, .33), .04, 1e-9);
    CHECK_NEAR(ovs_synth_kind_share(OVS_SK_404, .1), .09 / .33 * .1, 1e-9);
}

TEST(synth_flags_out_of_range_name_the_flag) {
    ovs_synth_opts o;
    default_opts(&o);
    ovs_err e = {0};
    o.max_objects = 9;
    CHECK(ovs_synth_check(&o, &e) == OVS_EUSER && strstr(e.msg, "--max-objects"));
    default_opts(&o);
    o.absent_rate = 1.5;
    CHECK(ovs_synth_check(&o, &e) == OVS_EUSER && strstr(e.msg, "--absent-rate"));
    default_opts(&o);
    o.colour_swap_rate = 2;
    CHECK(ovs_synth_check(&o, &e) == OVS_EUSER && strstr(e.msg, "--colour-swap-rate"));
    default_opts(&o);
    o.base_url = "ftp://x/";
    CHECK(ovs_synth_check(&o, &e) == OVS_EUSER && strstr(e.msg, "--base-url"));
    default_opts(&o);
    CHECK_OK(ovs_synth_check(&o, &e), &e);
}

int main(void) {
    RUN(synth_has_20_classes_named_from_the_entity_list);
    RUN(synth_render_is_deterministic_per_seed);
    RUN(synth_captions_name_exactly_the_named_classes);
    RUN(synth_class_mask_rings_every_border_with_255);
    RUN(synth_kind_shares_hit_the_targets);
    RUN(synth_flags_out_of_range_name_the_flag);
    return check_done();
}
