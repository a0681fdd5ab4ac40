/* run.c — the evaluation loop over a dataset and its result files (run.h). */
#include "eval/run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/rng.h"

const char *const ovs_eval_method_names[OVS_EV_N] = {"model", "random", "group_oracle", "patch_ceiling", "all_background"};

void ovs_eval_result_free(ovs_eval_result *r) {
    for (int i = 0; i < OVS_EV_N; i++) ovs_miou_free(&r->m[i]);
}

/* A mask value that is neither a class nor 255 is bad input: named with its file and position. */
static int check_mask(const ovs_evalset *d, int i, const ovs_image *gt, ovs_err *e) {
    size_t n = (size_t)gt->w * gt->h;
    for (size_t p = 0; p < n; p++)
        if (gt->px[p] != OVS_IGNORE_LABEL && gt->px[p] >= d->ncls) {
            char ip[4096], ap[4096];
            ovs_evalset_paths(d, i, ip, sizeof ip, ap, sizeof ap);
            return ovs_errf(e, OVS_EUSER, "%s: mask value %d at x=%zu y=%zu, but %s has %d classes (0..%d) and 255 (ignore)",
                            ap, gt->px[p], p % (size_t)gt->w, p / (size_t)gt->w, d->kind, d->ncls, d->ncls - 1);
        }
    return 0;
}

static int write_png(const char *dir, const char *id, const ovs_image *img, int palette, ovs_err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.png", dir, id);
    ovs_buf b = {0};
    int rc;
    if (palette) {
        uint8_t pal[256 * 3];
        ovs_voc_palette(pal);
        rc = ovs_png_encode_palette(img, pal, 256, &b, e);
    } else {
        rc = ovs_image_encode(img, OVS_IMG_PNG, 90, &b, e);
    }
    if (!rc) rc = ovs_write_atomic(path, b.data, b.len, e);
    ovs_buf_free(&b);
    return rc;
}

static int one_image(const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_segmenter *s, const float *text,
                     int i, unsigned modes, ovs_eval_result *r, const char *mask_dir, const char *ov_dir,
                     const char *score_dir, ovs_err *e) {
    ovs_image rgb, gt;
    int rc = ovs_evalset_load(d, i, &rgb, &gt, e);
    if (rc) return rc;
    if (cfg->oor_mode == OVS_OOR_ERROR && (rc = check_mask(d, i, &gt, e))) goto done;
    size_t n = (size_t)rgb.w * rgb.h;
    uint8_t *pred[OVS_SEG_NMODES] = {0}, *bg = calloc(n, 1);
    ovs_seg_out out = {0};
    for (int k = 0; k < OVS_SEG_NMODES; k++)
        if (modes & (1u << k)) out.pred[k] = pred[k] = malloc(n);
    for (int k = 0; k < OVS_SEG_NMODES; k++)
        if (((modes & (1u << k)) && !pred[k]) || !bg) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!rc && score_dir && !(out.scores = malloc(sizeof(float) * n * (size_t)d->ncls))) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!rc && (rc = ovs_seg_image(s, &cfg->seg, text, d->ncls - d->with_bg, &rgb, &gt, modes,
                                   cfg->seed ^ ovs_hash64(d->ids[i], strlen(d->ids[i])), &out, e)))
        ovs_errctx(e, "image %s", d->ids[i]);
    for (int k = 0; !rc && k < OVS_SEG_NMODES; k++)
        if (pred[k]) rc = ovs_miou_add(&r->m[k], gt.px, pred[k], n, e);
    if (!rc && r->m[OVS_EV_ALLBG].ncls) rc = ovs_miou_add(&r->m[OVS_EV_ALLBG], gt.px, bg, n, e);
    r->windows += out.windows;
    ovs_image pm = {.w = rgb.w, .h = rgb.h, .c = 1, .px = pred[0]};
    if (!rc && mask_dir) rc = write_png(mask_dir, d->ids[i], &pm, 1, e);
    if (!rc && score_dir) {
        char path[8400];
        snprintf(path, sizeof path, "%s/%s.f32", score_dir, d->ids[i]);
        rc = ovs_write_atomic(path, out.scores, sizeof(float) * n * (size_t)d->ncls, e);
    }
    free(out.scores);
    if (!rc && ov_dir && r->images < cfg->overlays) {
        ovs_image ov = {0};
        rc = ovs_eval_overlay(&rgb, pred[0], gt.px, d->names, d->ncls, &ov, e);
        if (!rc) rc = write_png(ov_dir, d->ids[i], &ov, 0, e);
        ovs_image_free(&ov);
    }
    for (int k = 0; k < OVS_SEG_NMODES; k++) free(pred[k]);
    free(bg);
done:
    ovs_image_free(&rgb);
    ovs_image_free(&gt);
    return rc;
}

int ovs_eval_run(const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_segmenter *s, const float *text,
                 ovs_eval_result *r, ovs_err *e) {
    memset(r, 0, sizeof *r);
    unsigned modes = 1u << OVS_SEG_MODEL;
    if (cfg->baselines) modes = (1u << OVS_SEG_NMODES) - 1;
    int rc = 0;
    for (int k = 0; k < OVS_EV_N && !rc; k++)
        if (k == OVS_EV_MODEL || (cfg->baselines && (k != OVS_EV_ALLBG || d->with_bg)))
            if (!(rc = ovs_miou_init(&r->m[k], d->ncls, e))) r->m[k].oor_mode = cfg->oor_mode;
    char mask_dir[4096], ov_dir[4096], score_dir[4096];
    snprintf(score_dir, sizeof score_dir, "%s/scores", cfg->out_dir);
    snprintf(mask_dir, sizeof mask_dir, "%s/masks", cfg->out_dir);
    snprintf(ov_dir, sizeof ov_dir, "%s/overlays", cfg->out_dir);
    if (!rc) rc = ovs_mkdir_p(cfg->out_dir, e);
    if (!rc && cfg->write_masks) rc = ovs_mkdir_p(mask_dir, e);
    if (!rc && cfg->overlays > 0) rc = ovs_mkdir_p(ov_dir, e);
    if (!rc && cfg->write_scores) rc = ovs_mkdir_p(score_dir, e);
    int n = cfg->limit > 0 && cfg->limit < d->n ? cfg->limit : d->n;
    ovs_progress pg;
    ovs_progress_start(&pg, "eval", n);
    double t0 = ovs_now();
    for (int i = 0; i < n && !rc; i++) {
        rc = one_image(cfg, d, s, text, i, modes, r, cfg->write_masks ? mask_dir : NULL,
                       cfg->overlays > 0 ? ov_dir : NULL, cfg->write_scores ? score_dir : NULL, e);
        if (rc == OVS_EUSER && cfg->skip_bad) {
            ovs_warn("eval: skipped: %s", e->msg);
            r->skipped++;
            rc = 0;
            continue;
        }
        if (rc) break;
        r->images++;
        double iou[256];
        char extra[96];
        snprintf(extra, sizeof extra, "mIoU %.1f", 100 * ovs_miou_compute(&r->m[0], iou, NULL));
        ovs_progress_update(&pg, i + 1, extra);
    }
    ovs_progress_end(&pg);
    r->seconds = ovs_now() - t0;
    if (!rc && r->images == 0) rc = ovs_errf(e, OVS_EUSER, "%s: no image could be evaluated (%d skipped)", d->root, r->skipped);
    return rc;
}

static void json_num(ovs_buf *b, double v) {
    if (isnan(v)) ovs_buf_puts(b, "null");
    else ovs_buf_printf(b, "%.6f", v);
}

int ovs_eval_per_class_json(const ovs_evalset *d, const ovs_eval_result *r, int k, ovs_buf *b) {
    double iou[256];
    ovs_miou_compute(&r->m[k], iou, NULL);
    ovs_buf_puts(b, "{");
    for (int c = 0; c < d->ncls; c++) {
        if (c) ovs_buf_puts(b, ", ");
        ovs_buf_json_str(b, d->names[c], strlen(d->names[c]));
        ovs_buf_puts(b, ": ");
        json_num(b, iou[c]);
    }
    return ovs_buf_puts(b, "}");
}

int ovs_eval_json(const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_eval_result *r, ovs_buf *b) {
    double iou[256], acc[256];
    double mi = ovs_miou_compute(&r->m[0], iou, acc);
    ovs_buf_puts(b, "{\n  \"dataset\": ");
    ovs_buf_json_str(b, d->kind, strlen(d->kind));
    ovs_buf_puts(b, ",\n  \"root\": ");
    ovs_buf_json_str(b, d->root, strlen(d->root));
    ovs_buf_puts(b, ",\n  \"ckpt\": ");
    ovs_buf_json_str(b, cfg->ckpt ? cfg->ckpt : "", cfg->ckpt ? strlen(cfg->ckpt) : 0);
    ovs_buf_printf(b, ",\n  \"images\": %d,\n  \"skipped\": %d,\n  \"windows\": %d,\n  \"seconds\": %.3f,\n  \"miou\": ",
                   r->images, r->skipped, r->windows, r->seconds);
    json_num(b, mi);
    ovs_buf_puts(b, ",\n  \"pixel_acc\": ");
    json_num(b, ovs_miou_pixel_acc(&r->m[0]));
    static const char *const oor_names[] = {"error", "ignore", "mmseg"};
    ovs_buf_printf(b, ",\n  \"labelled_pixels\": %lld,\n  \"ignored_pixels\": %lld,\n  \"out_of_range_pixels\": %lld,"
                      "\n  \"out_of_range\": \"%s\",\n  \"classes\": [",
                   (long long)ovs_miou_labelled(&r->m[0]), (long long)r->m[0].ignored, (long long)r->m[0].oor,
                   oor_names[cfg->oor_mode]);
    for (int c = 0; c < d->ncls; c++) {
        ovs_buf_puts(b, c ? ",\n    {\"name\": " : "\n    {\"name\": ");
        ovs_buf_json_str(b, d->names[c], strlen(d->names[c]));
        ovs_buf_puts(b, ", \"iou\": ");
        json_num(b, iou[c]);
        ovs_buf_puts(b, ", \"acc\": ");
        json_num(b, acc[c]);
        ovs_buf_puts(b, "}");
    }
    ovs_buf_puts(b, "\n  ],\n  \"baselines\": {");
    int first = 1;
    for (int k = 1; k < OVS_EV_N; k++) {
        if (!r->m[k].ncls) continue;
        ovs_buf_printf(b, "%s\n    \"%s\": {\"miou\": ", first ? "" : ",", ovs_eval_method_names[k]);
        json_num(b, ovs_miou_compute(&r->m[k], iou, NULL));
        ovs_buf_puts(b, ", \"pixel_acc\": ");
        json_num(b, ovs_miou_pixel_acc(&r->m[k]));
        ovs_buf_puts(b, "}");
        first = 0;
    }
    const ovs_seg_opts *o = &cfg->seg;
    ovs_buf_printf(b, "%s},\n  \"protocol\": {\"short_side\": %d, \"long_max\": %d, \"window\": %d, \"stride\": %d, "
                      "\"whole\": %s, \"background\": %s, \"bg_thresh\": %.4f, \"topk\": %d, \"seed\": %llu}\n}\n",
                   first ? "" : "\n  ", o->short_side, o->long_max, o->window, o->stride, o->whole ? "true" : "false",
                   o->with_bg ? "true" : "false", o->bg_thresh, o->topk, (unsigned long long)cfg->seed);
    return 0;
}

void ovs_eval_print_table(const ovs_evalset *d, const ovs_eval_result *r, void *file) {
    FILE *f = file;
    double iou[256], acc[256];
    double mi = ovs_miou_compute(&r->m[0], iou, acc);
    fprintf(f, "%-20s %8s %8s\n", "class", "IoU", "acc");
    for (int c = 0; c < d->ncls; c++) {
        fprintf(f, "%-20.20s ", d->names[c]);
        if (isnan(iou[c])) fprintf(f, "%8s ", "-"); else fprintf(f, "%8.2f ", 100 * iou[c]);
        if (isnan(acc[c])) fprintf(f, "%8s\n", "-"); else fprintf(f, "%8.2f\n", 100 * acc[c]);
    }
    fprintf(f, "%-20s %8.2f\n%-20s %8.2f\n", "mIoU", 100 * mi, "pixel acc", 100 * ovs_miou_pixel_acc(&r->m[0]));
    int any = 0;
    for (int k = 1; k < OVS_EV_N; k++) any |= r->m[k].ncls != 0;
    if (any) {
        fprintf(f, "\n%-20s %8s %8s   (same run, same images)\n", "method", "mIoU", "pix acc");
        for (int k = 0; k < OVS_EV_N; k++) {
            if (!r->m[k].ncls) continue;
            fprintf(f, "%-20s %8.2f %8.2f\n", ovs_eval_method_names[k], 100 * ovs_miou_compute(&r->m[k], iou, NULL),
                    100 * ovs_miou_pixel_acc(&r->m[k]));
        }
    }
    fprintf(f, "%d images (%d skipped), %.1f s, %.2f images/s\n", r->images, r->skipped, r->seconds,
            r->seconds > 0 ? r->images / r->seconds : 0.0);
}

int ovs_eval_write_files(const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_eval_result *r, ovs_err *e) {
    char path[4096];
    ovs_buf b = {0};
    ovs_eval_json(cfg, d, r, &b);
    snprintf(path, sizeof path, "%s/results.json", cfg->out_dir);
    int rc = ovs_write_atomic(path, b.data, b.len, e);
    ovs_buf_reset(&b);
    const ovs_miou *m = &r->m[0];
    ovs_buf_puts(&b, "gt\\pred");
    for (int c = 0; c < d->ncls; c++) ovs_buf_printf(&b, "\t%s", d->names[c]);
    ovs_buf_puts(&b, "\n");
    for (int g = 0; g < d->ncls; g++) {
        ovs_buf_puts(&b, d->names[g]);
        for (int c = 0; c < d->ncls; c++) ovs_buf_printf(&b, "\t%lld", (long long)m->conf[(size_t)g * d->ncls + c]);
        ovs_buf_puts(&b, "\n");
    }
    snprintf(path, sizeof path, "%s/confusion.tsv", cfg->out_dir);
    if (!rc) rc = ovs_write_atomic(path, b.data, b.len, e);
    ovs_buf_free(&b);
    return rc;
}

int ovs_eval_store(ovs_db *db, const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_eval_result *r, ovs_err *e) {
    const char *ckpt = cfg->ckpt ? cfg->ckpt : "";
    ovs_buf js = {0}, pc = {0};
    ovs_eval_json(cfg, d, r, &js);
    const char *proto = strstr(js.data, "\"protocol\": ");
    char now[32];
    ovs_iso_time(now);
    sqlite3_stmt *st;
    int rc = ovs_db_begin(db, e);
    if (!rc) rc = ovs_db_prepare(db, &st,
                                 "INSERT INTO eval_results(run_id,ckpt,dataset,method,miou,pixel_acc,images,skipped,"
                                 "per_class,protocol,out_dir,created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", e);
    for (int k = 0; !rc && k < OVS_EV_N; k++) {
        double iou[256], mi;
        if (!r->m[k].ncls || isnan(mi = ovs_miou_compute(&r->m[k], iou, NULL))) continue;
        ovs_buf_reset(&pc);
        ovs_eval_per_class_json(d, r, k, &pc);
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, db->run_id);
        sqlite3_bind_text(st, 2, ckpt, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, d->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, ovs_eval_method_names[k], -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, mi);
        sqlite3_bind_double(st, 6, ovs_miou_pixel_acc(&r->m[k]));
        sqlite3_bind_int(st, 7, r->images);
        sqlite3_bind_int(st, 8, r->skipped);
        sqlite3_bind_text(st, 9, pc.data, -1, SQLITE_STATIC);
        if (proto) sqlite3_bind_text(st, 10, proto + 12, (int)(strrchr(js.data, '}') - proto - 12), SQLITE_STATIC);
        else sqlite3_bind_text(st, 10, "{}", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, cfg->out_dir, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 12, now, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = ovs_errf(e, OVS_EINTERNAL, "%s: insert eval_results: %s", db->path, sqlite3_errmsg(db->h));
    }
    if (!rc) sqlite3_finalize(st);
    if (!rc) rc = ovs_db_commit(db, e);
    else ovs_db_rollback(db);
    ovs_buf_free(&js);
    ovs_buf_free(&pc);
    return rc;
}

