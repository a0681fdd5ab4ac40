/* fetch.h — the crawl: pending samples of the database → downloads → decode/resize/encode →
 * WebDataset tar shards, with every sample's outcome recorded (see docs/fetch.md). */
#ifndef OVS_FETCH_H
#define OVS_FETCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "ingest/http.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/image.h"

typedef enum { OVS_RESIZE_KEEP_RATIO, OVS_RESIZE_CENTER_CROP, OVS_RESIZE_BORDER, OVS_RESIZE_NONE } ovs_resize_mode;

typedef struct ovs_fetch_opts {
    const char *out_dir;
    int workers;          /* downloads at once */
    int per_host;         /* downloads at once to one host */
    int shard_size;       /* samples per shard */
    int image_size;       /* target side in pixels */
    ovs_resize_mode resize;
    ovs_imgfmt format;    /* OVS_IMG_WEBP or OVS_IMG_JPEG */
    int quality;
    double timeout_s;     /* per transfer */
    int retries;          /* later runs retry retriable failures this many more times */
    int64_t max_bytes, max_pixels;
    int min_size;         /* smaller side of the original, pixels */
    double max_aspect;    /* long side / short side of the original; <= 0: no limit */
    const char *user_agent;
    const char *ca_file;  /* CA bundle for https; NULL = the system's */
    int allow_noai;
    int64_t limit;        /* at most this many samples this run; 0 = all */
    int threads;          /* image threads; 0 = one per core */
    volatile sig_atomic_t *stop; /* may be NULL; when it becomes non-zero (Ctrl-C), no new downloads
                                  * start, those running finish, and the samples done so far are
                                  * written as a last shard */
} ovs_fetch_opts;

/* Defaults of the flags (as documented in `ovseg fetch --help`). */
void ovs_fetch_defaults(ovs_fetch_opts *o);

/* The outcome of the image stage for one downloaded body. */
typedef struct ovs_fetch_img {
    ovs_reason reason;    /* OVS_R_OK or the image-stage failure */
    char error[200];
    ovs_buf encoded;      /* the stored image (o->format) when OK */
    int width, height;    /* stored size */
    int orig_width, orig_height; /* displayed size of the download (after EXIF orientation) */
    char sha256[65];      /* of the downloaded bytes */
} ovs_fetch_img;

/* Sniff → header checks (pixels, min size, aspect) → decode (JPEG at a reduced DCT scale when the
 * target allows) → resize → encode. Never fails as a call: the outcome is in r (free r->encoded). */
void ovs_fetch_image(const ovs_fetch_opts *o, const void *data, size_t n, ovs_fetch_img *r);

/* Counters of one run, for the summary and the runs row. */
typedef struct ovs_fetch_stats {
    int64_t total;        /* samples this run had to do */
    int64_t done;         /* of them, finished (ok or failed) */
    int64_t by_reason[OVS_R_COUNT];
    int64_t shards;
    int64_t download_bytes, stored_bytes;
    int64_t removed_tmp, removed_orphans;
    double seconds;
    int interrupted;      /* stopped early by *stop */
} ovs_fetch_stats;

/* Runs the crawl on db (opened, run recorded by the caller). Does what is left: pending samples
 * and retriable failures with attempts <= retries. */
int ovs_fetch_run(ovs_db *db, const ovs_fetch_opts *o, ovs_fetch_stats *st, ovs_err *e);

/* The stats as a JSON object (for the runs row). */
int ovs_fetch_stats_json(const ovs_fetch_stats *st, ovs_buf *out);

#endif
