/* http.h — many HTTP(S) downloads at once over libcurl's multi interface, for `ovseg fetch`.
 * Keep-alive and HTTP/2 multiplexing come from curl's connection cache; this layer adds a per-host
 * cap (transfers to a busy host wait in a queue and start when a slot frees), http/https only (also
 * after redirects, at most 5), a body cap enforced while receiving, early refusal of bodies that
 * are not images or whose image header shows too many pixels, the X-Robots-Tag noai check, and one
 * classified reason per finished transfer. */
#ifndef OVS_HTTP_H
#define OVS_HTTP_H

#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Why a sample ended as it did (also used by fetch for the image checks). Names: ovs_reason_name. */
typedef enum {
    OVS_R_OK = 0,
    OVS_R_HTTP_4XX,
    OVS_R_HTTP_5XX,
    OVS_R_TIMEOUT,
    OVS_R_DNS,
    OVS_R_CONNECT,
    OVS_R_TOO_LARGE,
    OVS_R_NOT_IMAGE,
    OVS_R_DECODE_ERROR,
    OVS_R_TOO_SMALL,
    OVS_R_BAD_ASPECT,
    OVS_R_NOAI,
    OVS_R_REDIRECT,
    OVS_R_COUNT
} ovs_reason;

const char *ovs_reason_name(ovs_reason r);
/* Timeouts, 5xx, connection failures and DNS failures may succeed later: a later run retries them. */
int ovs_reason_retriable(ovs_reason r);

typedef struct ovs_http_opts {
    int max_inflight;     /* transfers running at once */
    int per_host;         /* transfers running at once to one host (host:port) */
    long timeout_ms;      /* whole transfer, redirects included */
    int64_t max_bytes;    /* body cap: the transfer is aborted when it would exceed it */
    int64_t max_pixels;   /* > 0: abort once the body's image header shows more pixels */
    const char *user_agent;
    int allow_noai;       /* 1: ignore X-Robots-Tag noai/noimageai/noindex/noimageindex */
    const char *ca_file;  /* CA bundle for https; NULL = the system's */
} ovs_http_opts;

/* A finished transfer, handed to the callback. The callback may take body (then set body.data
 * to NULL and body.len/cap to 0); otherwise it is freed after the callback returns. */
typedef struct ovs_http_done {
    void *user;
    const char *url;      /* as added */
    ovs_reason reason;    /* OVS_R_OK: a complete 2xx body that starts like an image */
    int http_status;      /* last response code, 0 if none */
    const char *error;    /* human-readable detail when reason != OK */
    ovs_buf body;
    double seconds;
} ovs_http_done;

typedef void (*ovs_http_cb)(void *ctx, ovs_http_done *d);
typedef struct ovs_http ovs_http;

int ovs_http_new(ovs_http **h, const ovs_http_opts *o, ovs_err *e);
void ovs_http_free(ovs_http *h); /* aborts what is still running, without callbacks */

/* Queues url (copied): it starts now, or when the transfer cap and its host's cap allow. */
int ovs_http_add(ovs_http *h, const char *url, void *user, ovs_err *e);
/* Transfers added and not yet finished (running + waiting). */
int ovs_http_pending(const ovs_http *h);
/* Waits up to wait_ms for network activity (or ovs_http_wakeup), drives every transfer, and calls
 * cb for each one that finished. */
int ovs_http_step(ovs_http *h, int wait_ms, ovs_http_cb cb, void *ctx, ovs_err *e);
/* Thread-safe: makes a waiting ovs_http_step return early. */
void ovs_http_wakeup(ovs_http *h);
/* Bytes received so far (bodies), for the MB/s display. */
int64_t ovs_http_bytes(const ovs_http *h);

#endif
