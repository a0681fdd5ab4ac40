/* progress.h — a one-line progress display (count, rate, ETA) for long commands.
 * It draws only when stderr is a terminal and CI is not set; in pipes and CI it stays quiet. */
#ifndef OVS_PROGRESS_H
#define OVS_PROGRESS_H

#include <stdint.h>

typedef struct ovs_progress {
    const char *label;
    int64_t total;      /* 0 when unknown: no ETA */
    double start;       /* monotonic seconds */
    double last_draw;
    int enabled;        /* drawing on a terminal */
    int drawn;          /* a line is on screen and needs a newline at the end */
} ovs_progress;

void ovs_progress_start(ovs_progress *p, const char *label, int64_t total);
/* Redraws at most 5 times a second; extra (may be NULL) is appended, e.g. "ok 61%  3.1 MB/s". */
void ovs_progress_update(ovs_progress *p, int64_t done, const char *extra);
void ovs_progress_end(ovs_progress *p);

/* Monotonic clock in seconds. */
double ovs_now(void);
/* Wall-clock time as an ISO-8601 UTC string "2026-01-02T03:04:05Z". */
void ovs_iso_time(char out[32]);

#endif
