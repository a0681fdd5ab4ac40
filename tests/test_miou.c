/* test_miou.c — mIoU arithmetic on hand-built masks against values computed by hand. */
#include "tests/check.h"
#include "eval/miou.h"

static double run_case(int ncls, const uint8_t *gt, const uint8_t *pr, size_t n, double *iou, double *acc) {
    ovs_miou m;
    ovs_err e = {0};
    CHECK_OK(ovs_miou_init(&m, ncls, &e), &e);
    CHECK_OK(ovs_miou_add(&m, gt, pr, n, &e), &e);
    double mi = ovs_miou_compute(&m, iou, NULL);
    if (acc) *acc = ovs_miou_pixel_acc(&m);
    ovs_miou_free(&m);
    return mi;
}

TEST(miou_perfect_prediction_is_one) {
    uint8_t gt[] = {0, 1, 2, 2, 1, 0};
    double iou[3], acc;
    CHECK_NEAR(run_case(3, gt, gt, 6, iou, &acc), 1.0, 1e-12);
    for (int c = 0; c < 3; c++) CHECK_NEAR(iou[c], 1.0, 1e-12);
    CHECK_NEAR(acc, 1.0, 1e-12);
}

TEST(miou_by_hand_with_ignore_pixels) {
    /* pixel 4 is ignored (its prediction 2 must not count against class 2).
     * class 0: inter 1 (px0), gt 2 (px0,1), pred 2 (px0,5) -> union 3 -> 1/3
     * class 1: inter 2, gt 2, pred 3 (px1,2,3) -> 2/3;  class 2: inter 0, gt 1, pred 0 -> 0
     * mIoU = 1/3; pixel acc = 3 of 5 labelled */
    uint8_t gt[] = {0, 0, 1, 1, 255, 2}, pr[] = {0, 1, 1, 1, 2, 0};
    double iou[3], acc;
    double mi = run_case(3, gt, pr, 6, iou, &acc);
    CHECK_NEAR(iou[0], 1.0 / 3, 1e-12);
    CHECK_NEAR(iou[1], 2.0 / 3, 1e-12);
    CHECK_NEAR(iou[2], 0.0, 1e-12);
    CHECK_NEAR(mi, 1.0 / 3, 1e-12);
    CHECK_NEAR(acc, 3.0 / 5, 1e-12);
}

TEST(miou_empty_class_is_nan_and_excluded) {
    /* same pixels with a 4th class that is neither in the ground truth nor predicted */
    uint8_t gt[] = {0, 0, 1, 1, 255, 2}, pr[] = {0, 1, 1, 1, 2, 0};
    double iou[4];
    double mi = run_case(4, gt, pr, 6, iou, NULL);
    CHECK(isnan(iou[3]));
    CHECK_NEAR(mi, 1.0 / 3, 1e-12);
}

TEST(miou_class_absent_from_gt_but_predicted_counts_zero) {
    /* class 3 predicted once, never true: union 1, IoU 0, and it is in the mean:
     * class 0: 1/2, class 3: 0, classes 1,2: NaN -> mIoU 0.25 */
    uint8_t gt[] = {0, 0}, pr[] = {0, 3};
    double iou[4];
    double mi = run_case(4, gt, pr, 2, iou, NULL);
    CHECK_NEAR(iou[0], 0.5, 1e-12);
    CHECK_NEAR(iou[3], 0.0, 1e-12);
    CHECK(isnan(iou[1]) && isnan(iou[2]));
    CHECK_NEAR(mi, 0.25, 1e-12);
}

TEST(miou_sums_over_the_dataset_not_per_image) {
    /* image 1 perfect on class 1; image 2: one class-1 pixel predicted 0.
     * class 1: inter 2, gt 3, pred 2 -> 2/3; class 0: inter 3, gt 3, pred 4 -> 3/4; mIoU 17/24
     * (the mean of per-image mIoUs would be (1 + (0 + 3/4)/2)/2 = 11/16) */
    uint8_t g1[] = {1, 1}, p1[] = {1, 1}, g2[] = {1, 0, 0, 0}, p2[] = {0, 0, 0, 0};
    ovs_miou m;
    ovs_err e = {0};
    double iou[2];
    CHECK_OK(ovs_miou_init(&m, 2, &e), &e);
    CHECK_OK(ovs_miou_add(&m, g1, p1, 2, &e), &e);
    CHECK_OK(ovs_miou_add(&m, g2, p2, 4, &e), &e);
    CHECK_NEAR(ovs_miou_compute(&m, iou, NULL), 17.0 / 24, 1e-12);
    CHECK_NEAR(ovs_miou_pixel_acc(&m), 5.0 / 6, 1e-12);
    CHECK_EQ_INT(m.images, 2);
    ovs_miou_free(&m);
}

TEST(miou_rejects_mask_value_outside_classes_and_adds_nothing) {
    uint8_t gt[] = {0, 7}, pr[] = {0, 0};
    ovs_miou m;
    ovs_err e = {0};
    CHECK_OK(ovs_miou_init(&m, 3, &e), &e);
    CHECK_EQ_INT(ovs_miou_add(&m, gt, pr, 2, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "mask value 7") != NULL);
    CHECK_EQ_INT(ovs_miou_labelled(&m), 0);
    ovs_miou_free(&m);
}

TEST(miou_out_of_range_labels_ignored_or_counted_as_mmseg) {
    /* gt 9 is outside 3 classes. ignore: as 255. mmseg (histc over 0..2 drops it from the label
     * areas, the prediction 1 still counts): class 1 union grows by one.
     * pixels: (0,0) (1,1) (9,1) (9,0) -> ignore: IoU0 1, IoU1 1; mmseg: class0 1/2, class1 1/2 */
    uint8_t gt[] = {0, 1, 9, 9}, pr[] = {0, 1, 1, 0};
    double iou[3];
    ovs_miou m;
    ovs_err e = {0};
    CHECK_OK(ovs_miou_init(&m, 3, &e), &e);
    m.oor_mode = OVS_OOR_IGNORE;
    CHECK_OK(ovs_miou_add(&m, gt, pr, 4, &e), &e);
    CHECK_NEAR(ovs_miou_compute(&m, iou, NULL), 1.0, 1e-12);
    CHECK_EQ_INT(m.oor, 2);
    CHECK_NEAR(ovs_miou_pixel_acc(&m), 1.0, 1e-12);
    ovs_miou_free(&m);
    CHECK_OK(ovs_miou_init(&m, 3, &e), &e);
    m.oor_mode = OVS_OOR_MMSEG;
    CHECK_OK(ovs_miou_add(&m, gt, pr, 4, &e), &e);
    CHECK_NEAR(ovs_miou_compute(&m, iou, NULL), 0.5, 1e-12);
    CHECK_NEAR(iou[0], 0.5, 1e-12);
    CHECK_NEAR(iou[1], 0.5, 1e-12);
    CHECK(isnan(iou[2]));
    CHECK_NEAR(ovs_miou_pixel_acc(&m), 1.0, 1e-12); /* mmseg's aAcc: over label areas only */
    ovs_miou_free(&m);
}

TEST(miou_all_ignored_is_nan) {
    uint8_t gt[] = {255, 255}, pr[] = {0, 1};
    double iou[2];
    CHECK(isnan(run_case(2, gt, pr, 2, iou, NULL)));
}

int main(void) {
    RUN(miou_perfect_prediction_is_one);
    RUN(miou_by_hand_with_ignore_pixels);
    RUN(miou_empty_class_is_nan_and_excluded);
    RUN(miou_class_absent_from_gt_but_predicted_counts_zero);
    RUN(miou_sums_over_the_dataset_not_per_image);
    RUN(miou_rejects_mask_value_outside_classes_and_adds_nothing);
    RUN(miou_out_of_range_labels_ignored_or_counted_as_mmseg);
    RUN(miou_all_ignored_is_nan);
    return check_done();
}
