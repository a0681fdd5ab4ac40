/* font.h — a built-in 5x7 bitmap font for labels drawn into images (overlay legends).
 * Each glyph is 7 rows of 5 bits (bit 4 = leftmost column); the advance is 6 pixels per scale. */
#ifndef OVS_FONT_H
#define OVS_FONT_H

#include <stdint.h>

/* The 7 rows of ch, or NULL for a space; unknown characters draw as '?'. */
const unsigned char *ovs_font_glyph(int ch);
/* Draws s into an RGB image (w x h) with its top-left corner at (x, y), clipped to the image. */
void ovs_font_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, const uint8_t colour[3], int scale);

#endif
