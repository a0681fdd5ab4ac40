/* fuzz_evalset.c — fuzz target: the evaluation dataset readers of outside files (eval/datasets.c).
 * First byte % 3 picks: 0 a VOC split file (ImageSets/Segmentation/val.txt: ids, blank lines, odd
 * whitespace), each id's paths built; 1 a synth classes.txt ("INDEX<TAB>NAME" or "NAME" lines);
 * 2 a mask PNG (the VOC/COCO class-index reader) loaded with an image beside it (the same bytes) and
 * counted into a mIoU. The files live in one temporary dataset folder made at the first call. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/datasets.h"
#include "eval/miou.h"

static char root[256];

static void put(const char *rel, const void *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) abort();
}

static void remove_root(void) {
    const char *rel[] = {"ImageSets/Segmentation/val.txt", "classes.txt", "JPEGImages/a.png", "SegmentationClass/a.png"};
    const char *dirs[] = {"ImageSets/Segmentation", "ImageSets", "SegmentationClass", "JPEGImages", ""};
    char p[512];
    for (int i = 0; i < 4; i++) snprintf(p, sizeof p, "%s/%s", root, rel[i]), unlink(p);
    for (int i = 0; i < 5; i++) snprintf(p, sizeof p, "%s/%s", root, dirs[i]), rmdir(p);
}

static void make_root(void) {
    snprintf(root, sizeof root, "%s/ovseg-fuzz-evalset-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) abort();
    const char *dirs[] = {"JPEGImages", "SegmentationClass", "ImageSets", "ImageSets/Segmentation"};
    for (int i = 0; i < 4; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        if (mkdir(p, 0755)) abort();
    }
    atexit(remove_root);
}

static void split_file(const uint8_t *data, size_t n) {
    put("ImageSets/Segmentation/val.txt", data, n);
    ovs_evalset d;
    ovs_err e;
    if (ovs_evalset_open(&d, "voc", root, "val", &e)) return;
    if (d.n < 1 || d.ncls != 21) abort();
    for (int i = 0; i < d.n; i++) {
        char img[4096], ann[4096];
        if (!d.ids[i][0] || strpbrk(d.ids[i], " \t\r\n")) abort();
        ovs_evalset_paths(&d, i, img, sizeof img, ann, sizeof ann);
    }
    ovs_evalset_free(&d);
}

static void classes_file(const uint8_t *data, size_t n) {
    put("classes.txt", data, n);
    char **names;
    int nc;
    ovs_err e;
    char p[512];
    snprintf(p, sizeof p, "%s/classes.txt", root);
    if (ovs_read_classes(p, &names, &nc, &e)) return;
    if (nc < 1 || nc > 255) abort();
    for (int i = 0; i < nc; i++) free(names[i]);
    free(names);
}

static void mask_file(const uint8_t *data, size_t n) {
    static const char id[] = "a\n";
    put("ImageSets/Segmentation/val.txt", id, 2);
    put("JPEGImages/a.png", data, n);
    put("SegmentationClass/a.png", data, n);
    ovs_evalset d;
    ovs_err e;
    if (ovs_evalset_open(&d, "voc", root, "val", &e)) abort();
    ovs_image rgb, gt;
    if (!ovs_evalset_load(&d, 0, &rgb, &gt, &e)) {
        if (gt.w != rgb.w || gt.h != rgb.h || gt.c != 1) abort();
        ovs_miou m;
        if (!ovs_miou_init(&m, d.ncls, &e)) {
            size_t px = (size_t)gt.w * (size_t)gt.h;
            uint8_t *pred = malloc(px ? px : 1);
            double iou[21];
            if (!pred) abort();
            for (size_t i = 0; i < px; i++) pred[i] = (uint8_t)(gt.px[i] % 21);
            ovs_miou_add(&m, gt.px, pred, px, &e); /* a mask value >= 21 other than 255 is an error, not a crash */
            ovs_miou_compute(&m, iou, NULL);
            ovs_miou_free(&m);
            free(pred);
        }
        ovs_image_free(&rgb);
        ovs_image_free(&gt);
    }
    ovs_evalset_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!root[0]) make_root();
    if (!size) return 0;
    switch (data[0] % 3) {
    case 0: split_file(data + 1, size - 1); break;
    case 1: classes_file(data + 1, size - 1); break;
    default: mask_file(data + 1, size - 1);
    }
    return 0;
}
