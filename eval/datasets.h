/* datasets.h — the evaluation datasets in the layouts mmsegmentation's converters produce (the ones
 * the paper's code and GroupViT read), with the class name lists of the paper's code:
 *   voc          ROOT/JPEGImages/ID.jpg, ROOT/SegmentationClass/ID.png,
 *                ROOT/ImageSets/Segmentation/SPLIT.txt; 21 classes incl. background; bg 0.95
 *   context      ROOT/JPEGImages/ID.jpg, ROOT/SegmentationClassContext/ID.png,
 *                ROOT/ImageSets/SegmentationContext/SPLIT.txt; 59 + background; bg 0.35
 *   coco-object  ROOT/images/SPLIT2017/ID.jpg, ROOT/annotations/SPLIT2017_cocoobject/ID_instanceTrainIds.png,
 *                every .jpg of the image folder (sorted); 80 + background; bg 0.90 (the paper's code)
 *   synth        the VOC layout written by `ovseg synth` (JPEGImages/ID.jpg or .png, SegmentationClass/ID.png,
 *                ImageSets/Segmentation/SPLIT.txt, or every image when there is no split file) plus
 *                ROOT/classes.txt: "INDEX<TAB>NAME" or one name per line; background when class 0 is
 *                named "background"; bg 0.95. ROOT may also be the folder `ovseg synth --out` wrote (its eval/
 *                subfolder is used).
 * Masks hold class indices (palette or gray PNG); 255 is ignored. */
#ifndef OVS_DATASETS_H
#define OVS_DATASETS_H

#include "util/err.h"
#include "util/image.h"

typedef struct ovs_evalset {
    char kind[16];
    char root[2048], img_dir[2560], ann_dir[2560];
    const char *ann_suffix;
    int ncls;          /* classes, background included when with_bg */
    char **names;      /* [ncls]; names[0] = "background" when with_bg */
    int with_bg;
    float bg_thresh;   /* the dataset's default */
    int n;             /* images */
    char **ids;
} ovs_evalset;

/* Class name lists of the paper's code (background first). */
extern const char *const ovs_voc_classes[21];
extern const char *const ovs_context_classes[60];
extern const char *const ovs_coco_object_classes[81];

/* Opens kind ("voc", "context", "coco-object", "synth") at root for split ("val"): reads the id list
 * and class names. Errors name the missing file or folder. */
int ovs_evalset_open(ovs_evalset *d, const char *kind, const char *root, const char *split, ovs_err *e);
void ovs_evalset_free(ovs_evalset *d);
/* Paths of image i and its mask (the image: .jpg, else .png if that exists). */
void ovs_evalset_paths(const ovs_evalset *d, int i, char *img, size_t nimg, char *ann, size_t nann);
/* Loads image i as RGB and its mask as indices. A missing or unreadable file, or a mask whose size
 * differs from the image's, is OVS_EUSER with the file named. */
int ovs_evalset_load(const ovs_evalset *d, int i, ovs_image *rgb, ovs_image *gt, ovs_err *e);
/* Reads a class list file ("INDEX<TAB>NAME" or "NAME" lines; indices must be 0,1,2,... in order). */
int ovs_read_classes(const char *path, char ***names, int *n, ovs_err *e);

#endif
