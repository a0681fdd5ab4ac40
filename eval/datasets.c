/* datasets.c — id lists, class names and image/mask loading of the evaluation datasets (datasets.h). */
#include "eval/datasets.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fsutil.h"

/* segmentation/datasets/pascal_voc.py of the paper's code */
const char *const ovs_voc_classes[21] = {
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "table", "dog", "horse", "motorbike", "person", "plant", "sheep", "sofa", "train", "monitor"};

/* segmentation/datasets/pascal_context.py (the paper's code imports GroupViT's list) */
const char *const ovs_context_classes[60] = {
    "background", "airplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book",
    "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow",
    "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground", "horse",
    "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform", "plant", "road",
    "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa", "table", "track", "train", "tree",
    "truck", "monitor", "wall", "water", "window", "wood"};

/* segmentation/datasets/coco_object.py */
const char *const ovs_coco_object_classes[81] = {
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie",
    "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush"};

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int push(char ***v, int *n, int *cap, const char *s, size_t len) {
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        char **nv = realloc(*v, sizeof *nv * (size_t)nc);
        if (!nv) return -1;
        *v = nv;
        *cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    (*v)[(*n)++] = c;
    return 0;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* One id per line (first whitespace-separated field); blank lines skipped. */
static int read_ids(const char *path, char ***ids, int *n, ovs_err *e) {
    char *data;
    size_t len;
    int rc = ovs_read_file(path, &data, &len, e), cap = 0;
    if (rc) return ovs_errctx(e, "split file");
    *ids = NULL;
    *n = 0;
    for (char *p = data; *p;) {
        char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        char *s = p;
        while (s < eol && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
        char *t = s;
        while (t < eol && *t != ' ' && *t != '\t' && *t != '\r') t++;
        if (t > s && push(ids, n, &cap, s, (size_t)(t - s))) { free(data); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
        p = *eol ? eol + 1 : eol;
    }
    free(data);
    if (!*n) return ovs_errf(e, OVS_EUSER, "%s: no image ids", path);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Ids of every file in dir ending in one of the suffixes (sorted). */
static int list_ids(const char *dir, const char *const *suffixes, char ***ids, int *n, ovs_err *e) {
    DIR *d = opendir(dir);
    if (!d) return ovs_errno(e, OVS_EUSER, "image folder %s", dir);
    int cap = 0;
    *ids = NULL;
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        for (const char *const *s = suffixes; *s; s++) {
            size_t sl = strlen(*s);
            if (l > sl && !strcmp(de->d_name + l - sl, *s)) {
                if (push(ids, n, &cap, de->d_name, l - sl)) { closedir(d); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
                break;
            }
        }
    }
    closedir(d);
    if (!*n) return ovs_errf(e, OVS_EUSER, "%s: no images", dir);
    qsort(*ids, (size_t)*n, sizeof **ids, cmp_str);
    return 0;
}

int ovs_read_classes(const char *path, char ***names, int *n, ovs_err *e) {
    char *data;
    size_t len;
    int rc = ovs_read_file(path, &data, &len, e), cap = 0, line = 0;
    if (rc) return ovs_errctx(e, "class list");
    *names = NULL;
    *n = 0;
    for (char *p = data; *p && !rc;) {
        char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        line++;
        char *end = eol;
        while (end > p && (end[-1] == '\r' || end[-1] == ' ')) end--;
        char *s = p, *tab = NULL;
        for (char *q = p; q < end && !tab; q++) if (*q == '\t') tab = q;
        if (tab) {
            char *q;
            long idx = strtol(p, &q, 10);
            if (q != tab || idx != *n) rc = ovs_errf(e, OVS_EUSER, "%s:%d: index '%.*s' (expected %d)", path, line, (int)(tab - p), p, *n);
            s = tab + 1;
        }
        if (!rc && end > s && push(names, n, &cap, s, (size_t)(end - s))) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
        p = *eol ? eol + 1 : eol;
    }
    free(data);
    if (!rc && (*n < 1 || *n > 255)) rc = ovs_errf(e, OVS_EUSER, "%s: %d classes (1..255 allowed)", path, *n);
    if (rc) { free_list(*names, *n); *names = NULL; *n = 0; }
    return rc;
}

static int copy_names(ovs_evalset *d, const char *const *src, int n) {
    d->names = calloc((size_t)n, sizeof *d->names);
    if (!d->names) return -1;
    for (int i = 0; i < n; i++)
        if (!(d->names[i] = strdup(src[i]))) return -1;
    d->ncls = n;
    return 0;
}

int ovs_evalset_open(ovs_evalset *d, const char *kind, const char *root, const char *split, ovs_err *e) {
    memset(d, 0, sizeof *d);
    if (strlen(root) >= sizeof d->root - 64 || strlen(split) > 64) return ovs_errf(e, OVS_EUSER, "--root or --split too long");
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    snprintf(d->root, sizeof d->root, "%s", root);
    if (!ovs_is_dir(root)) return ovs_errf(e, OVS_EUSER, "--root %s: not a folder", root);
    char probe[2600];
    snprintf(probe, sizeof probe, "%s/classes.txt", root);
    if (!strcmp(kind, "synth") && !file_exists(probe)) { /* the folder `ovseg synth --out` made: use its eval/ */
        snprintf(probe, sizeof probe, "%s/eval/classes.txt", root);
        if (file_exists(probe)) snprintf(d->root, sizeof d->root, "%s/eval", root);
    }
    root = d->root;
    char split_path[2700];
    static const char *const jpg[] = {".jpg", NULL}, *const jpg_png[] = {".jpg", ".png", NULL};
    int rc = 0, oom = 0;
    d->with_bg = 1;
    d->ann_suffix = ".png";
    if (!strcmp(kind, "voc") || !strcmp(kind, "synth")) {
        snprintf(d->img_dir, sizeof d->img_dir, "%s/JPEGImages", root);
        snprintf(d->ann_dir, sizeof d->ann_dir, "%s/SegmentationClass", root);
        snprintf(split_path, sizeof split_path, "%s/ImageSets/Segmentation/%s.txt", root, split);
        d->bg_thresh = 0.95f;
        if (!strcmp(kind, "voc")) {
            oom = copy_names(d, ovs_voc_classes, 21);
            rc = read_ids(split_path, &d->ids, &d->n, e);
        } else {
            char cpath[2600];
            snprintf(cpath, sizeof cpath, "%s/classes.txt", root);
            rc = ovs_read_classes(cpath, &d->names, &d->ncls, e);
            if (!rc) d->with_bg = !strcmp(d->names[0], "background");
            if (!rc) rc = file_exists(split_path) ? read_ids(split_path, &d->ids, &d->n, e)
                                                   : list_ids(d->img_dir, jpg_png, &d->ids, &d->n, e);
        }
    } else if (!strcmp(kind, "context")) {
        snprintf(d->img_dir, sizeof d->img_dir, "%s/JPEGImages", root);
        snprintf(d->ann_dir, sizeof d->ann_dir, "%s/SegmentationClassContext", root);
        snprintf(split_path, sizeof split_path, "%s/ImageSets/SegmentationContext/%s.txt", root, split);
        d->bg_thresh = 0.35f;
        oom = copy_names(d, ovs_context_classes, 60);
        rc = read_ids(split_path, &d->ids, &d->n, e);
    } else if (!strcmp(kind, "coco-object")) {
        snprintf(d->img_dir, sizeof d->img_dir, "%s/images/%s2017", root, split);
        snprintf(d->ann_dir, sizeof d->ann_dir, "%s/annotations/%s2017_cocoobject", root, split);
        d->ann_suffix = "_instanceTrainIds.png";
        d->bg_thresh = 0.90f;
        oom = copy_names(d, ovs_coco_object_classes, 81);
        rc = list_ids(d->img_dir, jpg, &d->ids, &d->n, e);
    } else {
        return ovs_errf(e, OVS_EUSER, "--dataset %s: expected voc, context, coco-object or synth", kind);
    }
    if (oom) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!rc && !ovs_is_dir(d->ann_dir)) rc = ovs_errf(e, OVS_EUSER, "mask folder %s: not found", d->ann_dir);
    if (rc) ovs_evalset_free(d);
    return rc;
}

void ovs_evalset_free(ovs_evalset *d) {
    if (d->names) free_list(d->names, d->ncls);
    if (d->ids) free_list(d->ids, d->n);
    d->names = d->ids = NULL;
    d->n = d->ncls = 0;
}

void ovs_evalset_paths(const ovs_evalset *d, int i, char *img, size_t nimg, char *ann, size_t nann) {
    snprintf(img, nimg, "%s/%s.jpg", d->img_dir, d->ids[i]);
    if (!file_exists(img)) {
        char alt[4096];
        snprintf(alt, sizeof alt, "%s/%s.png", d->img_dir, d->ids[i]);
        if (file_exists(alt)) snprintf(img, nimg, "%s", alt);
    }
    snprintf(ann, nann, "%s/%s%s", d->ann_dir, d->ids[i], d->ann_suffix);
}

int ovs_evalset_load(const ovs_evalset *d, int i, ovs_image *rgb, ovs_image *gt, ovs_err *e) {
    char ip[4096], ap[4096], *data;
    size_t len;
    int rc;
    memset(rgb, 0, sizeof *rgb);
    memset(gt, 0, sizeof *gt);
    ovs_evalset_paths(d, i, ip, sizeof ip, ap, sizeof ap);
    char why[1024];
    if ((rc = ovs_read_file(ip, &data, &len, e))) {
        snprintf(why, sizeof why, "%s", e->msg);
        return ovs_errf(e, OVS_EUSER, "image of id '%s': %s", d->ids[i], why);
    }
    rc = ovs_image_decode(data, len, 0, 0, rgb, e);
    free(data);
    if (rc) return ovs_errctx(e, "%s", ip);
    if ((rc = ovs_read_file(ap, &data, &len, e))) {
        ovs_image_free(rgb);
        snprintf(why, sizeof why, "%s", e->msg);
        return ovs_errf(e, OVS_EUSER, "mask of id '%s': %s", d->ids[i], why);
    }
    rc = ovs_png_decode_indices(data, len, gt, e);
    free(data);
    if (rc) { ovs_image_free(rgb); return ovs_errctx(e, "%s", ap); }
    if (gt->w != rgb->w || gt->h != rgb->h) {
        rc = ovs_errf(e, OVS_EUSER, "%s: mask is %dx%d but the image %s is %dx%d", ap, gt->w, gt->h, ip, rgb->w, rgb->h);
        ovs_image_free(rgb);
        ovs_image_free(gt);
    }
    return rc;
}
