/* cmd_embed.c — `ovseg embed --ckpt F [--images DIR|LIST] [--texts FILE] --out F.safetensors`:
 * image features (pooled and per group) and text features of a checkpoint, projected and
 * L2-normalised as the model's eval mode computes them, written as safetensors with the image
 * paths and texts (the keys) in the metadata — for retrieval, zero-shot classification and
 * comparing ovseg with other implementations of the same model.
 *
 * Images: decoded, shorter side resized to the model's img_size (area resize), centre-cropped,
 * normalised with the ImageNet mean/std. Texts: one per line, WordPiece-encoded to text_len tokens
 * with the vocab beside the checkpoint (RUNDIR/vocab.txt) unless --vocab is given. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shards/wordpiece.h"
#include "train/ckpt.h"
#include "train/safetensors.h"
#include "util/args.h"
#include "util/buf.h"
#include "util/cli.h"
#include "util/fsutil.h"
#include "util/image.h"
#include "util/log.h"
#include "util/progress.h"

typedef struct strlist {
    char **s;
    int n, cap;
} strlist;

static int sl_push(strlist *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->s, (size_t)cap * sizeof *v);
        if (!v) return OVS_EINTERNAL;
        l->s = v, l->cap = cap;
    }
    if (!(l->s[l->n] = strndup(s, n))) return OVS_EINTERNAL;
    l->n++;
    return 0;
}

static void sl_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_image_name(const char *n) {
    const char *dot = strrchr(n, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png") || !strcasecmp(dot, ".webp"));
}

/* Lines of a file (empty lines skipped; a final line without newline kept). */
static int read_lines(const char *path, strlist *out, ovs_err *e) {
    char *data;
    size_t len;
    int rc = ovs_read_file(path, &data, &len, e);
    if (rc) return rc;
    for (char *s = data; s < data + len;) {
        char *nl = memchr(s, '\n', (size_t)(data + len - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(data + len - s);
        if (n && s[n - 1] == '\r') n--;
        if (n && sl_push(out, s, n)) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); break; }
        s += (nl ? (size_t)(nl - s) + 1 : n);
        if (!nl) break;
    }
    free(data);
    return rc;
}

/* --images DIR (its image files, sorted) or LIST (one path a line). */
static int list_images(const char *arg, strlist *out, ovs_err *e) {
    if (!ovs_is_dir(arg)) return read_lines(arg, out, e);
    DIR *d = opendir(arg);
    if (!d) return ovs_errno(e, OVS_EUSER, "%s", arg);
    char p[4200];
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.' || !is_image_name(de->d_name)) continue;
        snprintf(p, sizeof p, "%s/%s", arg, de->d_name);
        if (sl_push(out, p, strlen(p))) { closedir(d); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
    }
    closedir(d);
    if (out->n) qsort(out->s, (size_t)out->n, sizeof *out->s, cmp_str);
    if (!out->n) return ovs_errf(e, OVS_EUSER, "%s: no .jpg/.jpeg/.png/.webp files", arg);
    return 0;
}

/* Decodes path into dst [3,S,S]: shorter side to S, centre crop, ImageNet normalisation. */
static int load_image(const char *path, int S, float *dst, ovs_err *e) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    char *data;
    size_t len;
    int rc = ovs_read_file(path, &data, &len, e);
    if (rc) return rc;
    ovs_image img = {0}, rs = {0};
    rc = ovs_image_decode(data, len, 100000000, S, &img, e);
    free(data);
    if (rc) return ovs_errctx(e, "%s", path);
    int w = img.w <= img.h ? S : (int)((long)img.w * S / img.h), h = img.w <= img.h ? (int)((long)img.h * S / img.w) : S;
    if (w < S) w = S;
    if (h < S) h = S;
    rc = ovs_image_resize(&img, w, h, &rs, e);
    ovs_image_free(&img);
    if (rc) return ovs_errctx(e, "%s", path);
    int x0 = (w - S) / 2, y0 = (h - S) / 2;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float v = rs.px[((size_t)(y0 + y) * (size_t)w + (size_t)(x0 + x)) * 3 + (size_t)c] / 255.0f;
                dst[((size_t)c * S + (size_t)y) * S + (size_t)x] = (v - mean[c]) / stdv[c];
            }
    ovs_image_free(&rs);
    return 0;
}

static void keys_json(const strlist *l, ovs_buf *out) {
    ovs_buf_puts(out, "[");
    for (int i = 0; i < l->n; i++) {
        if (i) ovs_buf_puts(out, ",");
        ovs_buf_json_str(out, l->s[i], strlen(l->s[i]));
    }
    ovs_buf_puts(out, "]");
}

typedef struct embed_args {
    const char *ckpt, *images, *texts, *out, *vocab;
    int64_t batch;
} embed_args;

static int embed_images(ovs_model *m, const strlist *imgs, int B, float *pooled, float *groups, ovs_err *e) {
    const ovs_config *c = ovs_model_config(m);
    int S = c->img_size, D = c->proj_out, K = c->groups_out;
    float *buf = malloc((size_t)B * 3 * (size_t)S * (size_t)S * sizeof(float));
    if (!buf) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    ovs_progress p;
    ovs_progress_start(&p, "images", imgs->n);
    int rc = 0;
    for (int i = 0; i < imgs->n && !rc; i += B) {
        int nb = imgs->n - i < B ? imgs->n - i : B;
        for (int k = 0; k < nb && !rc; k++) rc = load_image(imgs->s[i + k], S, buf + (size_t)k * 3 * S * S, e);
        if (!rc) rc = ovs_model_encode_image(m, buf, nb, S, S, pooled + (size_t)i * D, groups + (size_t)i * K * D, NULL, NULL, e);
        ovs_progress_update(&p, i + nb, NULL);
    }
    ovs_progress_end(&p);
    free(buf);
    return rc;
}

static int embed_texts(ovs_model *m, const strlist *texts, const char *vocab, int B, float *out, ovs_err *e) {
    const ovs_config *c = ovs_model_config(m);
    int L = c->text_len, D = c->proj_out;
    ovs_wordpiece *wp;
    int rc = ovs_wp_load(&wp, vocab, e);
    if (rc) return rc;
    if (ovs_wp_vocab_size(wp) != c->vocab) {
        rc = ovs_errf(e, OVS_EUSER, "%s: %d tokens, but the checkpoint's vocab is %d", vocab, ovs_wp_vocab_size(wp), c->vocab);
        ovs_wp_free(wp);
        return rc;
    }
    int32_t *ids = malloc((size_t)B * (size_t)L * sizeof *ids), *mask = malloc((size_t)B * (size_t)L * sizeof *mask);
    ovs_wp_toks scratch = {0};
    if (!ids || !mask) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int i = 0; i < texts->n && !rc; i += B) {
        int nb = texts->n - i < B ? texts->n - i : B;
        for (int k = 0; k < nb && !rc; k++)
            if (ovs_wp_encode(wp, texts->s[i + k], L, ids + (size_t)k * L, mask + (size_t)k * L, &scratch) < 0)
                rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
        if (!rc) rc = ovs_model_encode_text(m, ids, mask, nb, L, out + (size_t)i * D, e);
    }
    free(scratch.t), free(ids), free(mask);
    ovs_wp_free(wp);
    return rc;
}

static int embed(const embed_args *a, ovs_err *e) {
    char ckpt[4200], vocab[4200];
    int rc = ovs_ckpt_resolve(a->ckpt, ckpt, sizeof ckpt, e);
    if (rc) return rc;
    if (a->vocab) snprintf(vocab, sizeof vocab, "%s", a->vocab);
    else {
        snprintf(vocab, sizeof vocab, "%s", ckpt);
        char *slash = strrchr(vocab, '/');
        snprintf(slash ? slash + 1 : vocab, sizeof vocab - (size_t)(slash ? slash + 1 - vocab : 0), "vocab.txt");
    }
    strlist imgs = {0}, texts = {0};
    if (a->images && (rc = list_images(a->images, &imgs, e))) goto done;
    if (a->texts && (rc = read_lines(a->texts, &texts, e))) goto done;
    if (a->texts && !texts.n) { rc = ovs_errf(e, OVS_EUSER, "%s: no texts", a->texts); goto done; }
    int B = a->batch > 0 ? (int)a->batch : 32;
    ovs_model *m = NULL;
    if ((rc = ovs_ckpt_load_model(ckpt, B, &m, e))) goto done;
    const ovs_config *c = ovs_model_config(m);
    int D = c->proj_out, K = c->groups_out;
    float *pooled = calloc((size_t)imgs.n * D + 1, sizeof(float)), *groups = calloc((size_t)imgs.n * K * D + 1, sizeof(float));
    float *tf = calloc((size_t)texts.n * D + 1, sizeof(float));
    if (!pooled || !groups || !tf) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!rc && imgs.n) rc = embed_images(m, &imgs, B, pooled, groups, e);
    if (!rc && texts.n) rc = embed_texts(m, &texts, vocab, B, tf, e);
    if (!rc) {
        ovs_st_writer w;
        ovs_st_writer_init(&w);
        ovs_buf keys = {0};
        char mcfg[4096], scale[32];
        ovs_config_to_text(c, mcfg, sizeof mcfg);
        snprintf(scale, sizeof scale, "%.9g", (double)ovs_model_logit_scale(m));
        if (imgs.n) {
            rc = ovs_st_add(&w, "image_features", OVS_ST_F32, 2, (int64_t[]){imgs.n, D}, pooled, e);
            if (!rc) rc = ovs_st_add(&w, "image_group_features", OVS_ST_F32, 3, (int64_t[]){imgs.n, K, D}, groups, e);
            keys_json(&imgs, &keys);
            if (!rc) rc = ovs_st_add_meta(&w, "image_keys", keys.data, e);
        }
        if (!rc && texts.n) {
            rc = ovs_st_add(&w, "text_features", OVS_ST_F32, 2, (int64_t[]){texts.n, D}, tf, e);
            ovs_buf_reset(&keys);
            keys_json(&texts, &keys);
            if (!rc) rc = ovs_st_add_meta(&w, "text_keys", keys.data, e);
        }
        if (!rc) rc = ovs_st_add_meta(&w, "checkpoint", ckpt, e);
        if (!rc) rc = ovs_st_add_meta(&w, "model_config", mcfg, e);
        if (!rc) rc = ovs_st_add_meta(&w, "logit_scale", scale, e);
        if (!rc) rc = ovs_st_write(&w, a->out, e);
        if (!rc) ovs_info("%s: %d image and %d text features of %s", a->out, imgs.n, texts.n, ckpt);
        ovs_buf_free(&keys);
        ovs_st_writer_free(&w);
    }
    free(pooled), free(groups), free(tf);
    ovs_model_free(m);
done:
    sl_free(&imgs), sl_free(&texts);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    ovs_err e = {0};
    embed_args a = {0};
    const ovs_opt opts[] = {
        {"ckpt", OVS_ARG_STR, &a.ckpt, "checkpoint file, or a run folder (its newest checkpoint)"},
        {"images", OVS_ARG_STR, &a.images, "a folder of images, or a file listing image paths"},
        {"texts", OVS_ARG_STR, &a.texts, "a file of texts, one a line"},
        {"out", OVS_ARG_STR, &a.out, "output .safetensors"},
        {"vocab", OVS_ARG_STR, &a.vocab, "WordPiece vocab.txt (default: vocab.txt beside the checkpoint)"},
        {"batch", OVS_ARG_INT, &a.batch, "images or texts per forward pass (default 32)"},
        {0}};
    const ovs_cmd_spec spec = {
        .verb = "embed", .usage = "",
        .summary = "Image features (pooled: image_features [N,D]; per group: image_group_features [N,K,D]) and\n"
                   "text features (text_features [M,D]) of a checkpoint, projected and L2-normalised, with the\n"
                   "image paths and texts in the metadata (image_keys, text_keys: JSON arrays).",
        .opts = opts, .min_pos = 0, .max_pos = 0};
    int rc = ovs_args_parse(&spec, argc, argv, NULL, 0, NULL, &e);
    if (rc) return ovs_cli_finish("embed", rc, &e);
    if (!a.ckpt || !a.out) rc = ovs_errf(&e, OVS_EUSER, "--ckpt and --out are required");
    else if (!a.images && !a.texts) rc = ovs_errf(&e, OVS_EUSER, "give --images, --texts or both");
    if (!rc) rc = embed(&a, &e);
    return ovs_cli_finish("embed", rc, &e);
}
