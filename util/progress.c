/* progress.c — terminal progress line: done/total, rate per second, ETA. */
#include "util/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double ovs_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ovs_iso_time(char out[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void ovs_progress_start(ovs_progress *p, const char *label, int64_t total) {
    p->label = label;
    p->total = total;
    p->start = ovs_now();
    p->last_draw = 0;
    p->drawn = 0;
    const char *ci = getenv("CI");
    p->enabled = isatty(STDERR_FILENO) && !(ci && *ci);
}

static void fmt_eta(char *buf, size_t n, double secs) {
    if (secs < 0 || secs > 1e7) { snprintf(buf, n, "--:--"); return; }
    int s = (int)secs;
    if (s >= 3600) snprintf(buf, n, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, n, "%02d:%02d", s / 60, s % 60);
}

void ovs_progress_update(ovs_progress *p, int64_t done, const char *extra) {
    if (!p->enabled) return;
    double now = ovs_now();
    if (now - p->last_draw < 0.2 && !(p->total && done >= p->total)) return;
    p->last_draw = now;
    double el = now - p->start, rate = el > 0 ? done / el : 0;
    char eta[32] = "";
    if (p->total > 0 && rate > 0) fmt_eta(eta, sizeof eta, (p->total - done) / rate);
    if (p->total > 0)
        fprintf(stderr, "\r\033[K%s %lld/%lld (%.1f%%) %.0f/s ETA %s%s%s", p->label,
                (long long)done, (long long)p->total, 100.0 * done / p->total, rate, eta,
                extra ? "  " : "", extra ? extra : "");
    else
        fprintf(stderr, "\r\033[K%s %lld %.0f/s%s%s", p->label, (long long)done, rate,
                extra ? "  " : "", extra ? extra : "");
    fflush(stderr);
    p->drawn = 1;
}

void ovs_progress_end(ovs_progress *p) {
    if (p->enabled && p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}
