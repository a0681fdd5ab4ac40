/* miou.c — the confusion-matrix accumulator behind every mIoU ovseg prints (see miou.h). */
#include "eval/miou.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ovs_miou_init(ovs_miou *m, int ncls, ovs_err *e) {
    memset(m, 0, sizeof *m);
    if (ncls < 1 || ncls > 255) return ovs_errf(e, OVS_EINTERNAL, "miou: %d classes (1..255 allowed)", ncls);
    m->conf = calloc((size_t)ncls * (size_t)ncls, sizeof *m->conf);
    m->oor_pred = calloc((size_t)ncls, sizeof *m->oor_pred);
    if (!m->conf || !m->oor_pred) { ovs_miou_free(m); return ovs_errf(e, OVS_EINTERNAL, "miou: out of memory"); }
    m->ncls = ncls;
    return 0;
}

void ovs_miou_free(ovs_miou *m) {
    free(m->conf);
    free(m->oor_pred);
    memset(m, 0, sizeof *m);
}

int ovs_miou_add(ovs_miou *m, const uint8_t *gt, const uint8_t *pred, size_t n, ovs_err *e) {
    int k = m->ncls;
    for (size_t i = 0; i < n; i++) { /* validate first so that an error adds nothing */
        if (m->oor_mode == OVS_OOR_ERROR && gt[i] != OVS_IGNORE_LABEL && gt[i] >= k)
            return ovs_errf(e, OVS_EUSER, "mask value %d at pixel %zu: only %d classes (0..%d) and 255 (ignore) are allowed",
                            gt[i], i, k, k - 1);
        if (pred[i] >= k) return ovs_errf(e, OVS_EINTERNAL, "prediction %d at pixel %zu >= %d classes", pred[i], i, k);
    }
    for (size_t i = 0; i < n; i++) {
        if (gt[i] == OVS_IGNORE_LABEL) { m->ignored++; continue; }
        if (gt[i] >= k) {
            m->oor++;
            if (m->oor_mode == OVS_OOR_MMSEG) m->oor_pred[pred[i]]++;
            continue;
        }
        m->conf[(size_t)gt[i] * (size_t)k + pred[i]]++;
    }
    m->images++;
    return 0;
}

double ovs_miou_compute(const ovs_miou *m, double *iou, double *acc) {
    int k = m->ncls, present = 0;
    double sum = 0;
    for (int c = 0; c < k; c++) {
        int64_t inter = m->conf[(size_t)c * k + c], gtc = 0, prc = 0;
        for (int j = 0; j < k; j++) {
            gtc += m->conf[(size_t)c * k + j];
            prc += m->conf[(size_t)j * k + c];
        }
        int64_t uni = gtc + prc + m->oor_pred[c] - inter;
        iou[c] = uni ? (double)inter / (double)uni : NAN;
        if (acc) acc[c] = gtc ? (double)inter / (double)gtc : NAN;
        if (uni) { sum += iou[c]; present++; }
    }
    return present ? sum / present : NAN;
}

int64_t ovs_miou_labelled(const ovs_miou *m) {
    int64_t t = 0;
    for (size_t i = 0; i < (size_t)m->ncls * (size_t)m->ncls; i++) t += m->conf[i];
    return t;
}

double ovs_miou_pixel_acc(const ovs_miou *m) {
    int64_t t = ovs_miou_labelled(m), ok = 0;
    for (int c = 0; c < m->ncls; c++) ok += m->conf[(size_t)c * m->ncls + c];
    return t ? (double)ok / (double)t : NAN;
}
