/* randaug.h — timm's RandAugment as OVSegmentor's stage 1 uses it ("rand-m9-mstd0.5-inc1"): per image,
 * `layers` ops drawn uniformly with replacement from the 15 "increasing" ops, each applied with
 * probability 0.5 at a magnitude drawn from N(m, mstd) clipped to [0, 10]; geometric ops use bilinear
 * sampling and fill with the ImageNet mean colour (124, 116, 104), translation is relative (0.45 of
 * the side at magnitude 10). The ops follow PIL's ImageOps / ImageEnhance / Image.transform on 8-bit
 * RGB images (row-major, interleaved). */
#ifndef OVS_RANDAUG_H
#define OVS_RANDAUG_H

#include <stdint.h>

#include "util/rng.h"

enum {
    OVS_RA_AUTOCONTRAST, OVS_RA_EQUALIZE, OVS_RA_INVERT, OVS_RA_ROTATE, OVS_RA_POSTERIZE, OVS_RA_SOLARIZE,
    OVS_RA_SOLARIZE_ADD, OVS_RA_COLOR, OVS_RA_CONTRAST, OVS_RA_BRIGHTNESS, OVS_RA_SHARPNESS, OVS_RA_SHEAR_X,
    OVS_RA_SHEAR_Y, OVS_RA_TRANSLATE_X, OVS_RA_TRANSLATE_Y, OVS_RA_NOPS
};

/* One op with its argument as PIL takes it: degrees (rotate), factor (color, contrast, brightness,
 * sharpness: 1 = unchanged), bits (posterize), threshold (solarize), amount added below 128
 * (solarize_add), shear factor, translation in pixels; unused for autocontrast/equalize/invert.
 * tmp: w*h*3 bytes of scratch. */
void ovs_ra_op(int op, double arg, uint8_t *img, int w, int h, uint8_t *tmp);

/* RandAugment with `layers` ops at magnitude mag (std mstd), draws from r. */
void ovs_randaug(ovs_rng *r, int layers, double mag, double mstd, uint8_t *img, int w, int h, uint8_t *tmp);

#endif
