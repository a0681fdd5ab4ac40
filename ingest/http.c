/* http.c — concurrent downloads over libcurl's multi interface (see http.h).
 *
 * Every added URL becomes a req. A req waits in one FIFO until both the global transfer cap and its
 * host's cap allow it to start; then it gets a curl easy handle (from a small pool) and joins the
 * multi handle. Callbacks watch each response as it arrives: the header callback tracks the status
 * line of every response in a redirect chain and the X-Robots-Tag directives; the body callback
 * enforces the byte cap, refuses bodies that do not start like an image, and reads the image header
 * as soon as enough bytes are in to refuse decompression bombs before they finish downloading. */
#include "ingest/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/image.h"
#include "util/progress.h"

static const char *const REASON_NAMES[OVS_R_COUNT] = {
    "ok", "http_4xx", "http_5xx", "timeout", "dns", "connect", "too_large",
    "not_image", "decode_error", "too_small", "bad_aspect", "noai", "redirect",
};

const char *ovs_reason_name(ovs_reason r) { return r >= 0 && r < OVS_R_COUNT ? REASON_NAMES[r] : "?"; }

int ovs_reason_retriable(ovs_reason r) {
    return r == OVS_R_TIMEOUT || r == OVS_R_HTTP_5XX || r == OVS_R_CONNECT || r == OVS_R_DNS;
}

enum { HOST_BUCKETS = 4096, EASY_POOL = 64 };

typedef struct host {
    struct host *next;
    int inflight;
    char key[]; /* "host:port" */
} host;

typedef struct req {
    struct req *next;        /* in the waiting FIFO */
    struct req *lprev, *lnext; /* in the running list */
    struct ovs_http *h;
    CURL *easy;
    char *url, *hostkey;
    void *user;
    ovs_buf body;
    double t0;
    int status;              /* code of the response being received */
    int saw_redirect;
    int noai;                /* current response carries a disallowing X-Robots-Tag */
    int sniffed, info_done;
    size_t next_info;        /* body length at which to try reading the image header again */
    ovs_reason abort_reason; /* set by a callback that aborted the transfer */
    char error[CURL_ERROR_SIZE + 128];
    char curl_error[CURL_ERROR_SIZE];
} req;

struct ovs_http {
    ovs_http_opts o;
    CURLM *multi;
    host *hosts[HOST_BUCKETS];
    req *wait_head, *wait_tail;
    req *running;            /* transfers in the multi handle */
    int nwaiting, ninflight;
    CURL *pool[EASY_POOL];
    int npool;
    int64_t bytes;
    char ua_token[64]; /* lower-case product token of the user agent, for "token: noai" */
};

/* ── hosts ───────────────────────────────────────────────────────────────────────────────── */

static host **host_slot(ovs_http *h, const char *key) {
    uint64_t x = 1469598103934665603ULL;
    for (const char *p = key; *p; p++) x = (x ^ (unsigned char)*p) * 1099511628211ULL;
    host **s = &h->hosts[x % HOST_BUCKETS];
    while (*s && strcmp((*s)->key, key)) s = &(*s)->next;
    return s;
}

static int host_inflight(ovs_http *h, const char *key) {
    host *x = *host_slot(h, key);
    return x ? x->inflight : 0;
}

static int host_adjust(ovs_http *h, const char *key, int d) {
    host **s = host_slot(h, key);
    if (!*s) {
        size_t n = strlen(key) + 1;
        host *x = calloc(1, sizeof *x + n);
        if (!x) return OVS_EINTERNAL;
        memcpy(x->key, key, n);
        *s = x;
    }
    (*s)->inflight += d;
    if ((*s)->inflight <= 0) { /* forget idle hosts: the table holds only busy ones */
        host *x = *s;
        *s = x->next;
        free(x);
    }
    return 0;
}

/* "host:port" of url, lower-cased; the whole url when it does not parse (curl reports it later). */
static char *host_key(const char *url) {
    CURLU *u = curl_url();
    char *hostname = NULL, *port = NULL, *out = NULL;
    if (u && !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_get(u, CURLUPART_HOST, &hostname, 0) &&
        !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
        size_t n = strlen(hostname) + strlen(port) + 2;
        if ((out = malloc(n))) {
            snprintf(out, n, "%s:%s", hostname, port);
            for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
        }
    }
    curl_free(hostname);
    curl_free(port);
    if (u) curl_url_cleanup(u);
    return out ? out : strdup(url);
}

/* ── callbacks ───────────────────────────────────────────────────────────────────────────── */

/* X-Robots-Tag value: "noai, noimageai" or "bot: noindex". A directive list prefixed by a user
 * agent token applies only to that agent (as img2dataset reads it). */
static int robots_disallow(const char *v, size_t n, const char *ua_token) {
    char buf[512];
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
    char *list = buf, *colon = strchr(buf, ':');
    if (colon) {
        *colon = 0;
        char *tok = buf;
        while (*tok == ' ' || *tok == '\t') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
        if (strcmp(tok, ua_token) && strcmp(tok, "*")) return 0;
        list = colon + 1;
    }
    for (char *save = NULL, *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        while (*d == ' ' || *d == '\t') d++;
        size_t l = strcspn(d, " \t\r\n");
        static const char *const bad[] = {"noai", "noimageai", "noindex", "noimageindex"};
        for (int i = 0; i < 4; i++)
            if (l == strlen(bad[i]) && !strncmp(d, bad[i], l)) return 1;
    }
    return 0;
}

static size_t on_header(char *p, size_t sz, size_t nitems, void *ud) {
    req *r = ud;
    size_t n = sz * nitems;
    if (n >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (redirect chains have several) */
        const char *sp = memchr(p, ' ', n), *end = p + n; /* p is not NUL-terminated: no atoi */
        int st = 0;
        for (const char *q = sp ? sp + 1 : end; q < end && *q >= '0' && *q <= '9' && st < 1000; q++) st = st * 10 + (*q - '0');
        r->status = st;
        r->noai = 0;
        if (r->status >= 300 && r->status < 400) r->saw_redirect = 1;
        return n;
    }
    static const char tag[] = "x-robots-tag:";
    if (n > sizeof tag - 1 && !strncasecmp(p, tag, sizeof tag - 1)) {
        if (robots_disallow(p + sizeof tag - 1, n - (sizeof tag - 1), r->h->ua_token)) r->noai = 1;
        return n;
    }
    int end_of_headers = (n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n');
    if (end_of_headers && r->noai && !r->h->o.allow_noai && r->status >= 200 && r->status < 300) {
        r->abort_reason = OVS_R_NOAI;
        snprintf(r->error, sizeof r->error, "X-Robots-Tag forbids AI use (use --allow-noai to ignore)");
        return 0; /* aborts the transfer before the body */
    }
    return n;
}

/* Early image checks on the body received so far; returns 0 to go on, 1 to abort. */
static int check_body_start(req *r) {
    const ovs_http_opts *o = &r->h->o;
    if (!r->sniffed && r->body.len >= 16) {
        r->sniffed = 1;
        if (ovs_image_sniff(r->body.data, r->body.len) == OVS_IMG_UNKNOWN) {
            r->abort_reason = OVS_R_NOT_IMAGE;
            snprintf(r->error, sizeof r->error, "body is not an image (starts %02x %02x %02x %02x)",
                     (unsigned char)r->body.data[0], (unsigned char)r->body.data[1],
                     (unsigned char)r->body.data[2], (unsigned char)r->body.data[3]);
            return 1;
        }
    }
    if (o->max_pixels > 0 && r->sniffed && !r->info_done && r->body.len >= r->next_info) {
        int w, hh;
        if (!ovs_image_info(r->body.data, r->body.len, NULL, &w, &hh, NULL)) {
            r->info_done = 1;
            if ((int64_t)w * hh > o->max_pixels) {
                r->abort_reason = OVS_R_TOO_LARGE;
                snprintf(r->error, sizeof r->error, "image is %dx%d, over --max-pixels %lld", w, hh,
                         (long long)o->max_pixels);
                return 1;
            }
        } else {
            r->next_info = r->body.len * 4;
        }
    }
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t nitems, void *ud) {
    req *r = ud;
    size_t n = sz * nitems;
    const ovs_http_opts *o = &r->h->o;
    if ((int64_t)(r->body.len + n) > o->max_bytes) {
        r->abort_reason = OVS_R_TOO_LARGE;
        snprintf(r->error, sizeof r->error, "body over --max-bytes %lld", (long long)o->max_bytes);
        return 0;
    }
    if (!r->body.cap) { /* size the buffer from Content-Length when it is plausible */
        curl_off_t cl = -1;
        curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (cl > 0 && cl <= o->max_bytes && ovs_buf_reserve(&r->body, (size_t)cl)) return 0;
    }
    if (ovs_buf_append(&r->body, p, n)) return 0;
    r->h->bytes += (int64_t)n;
    return check_body_start(r) ? 0 : n;
}

/* ── transfers ───────────────────────────────────────────────────────────────────────────── */

static CURL *easy_get(ovs_http *h) {
    if (h->npool) {
        CURL *c = h->pool[--h->npool];
        curl_easy_reset(c);
        return c;
    }
    return curl_easy_init();
}

static void easy_put(ovs_http *h, CURL *c) {
    if (h->npool < EASY_POOL) h->pool[h->npool++] = c;
    else curl_easy_cleanup(c);
}

static int start(ovs_http *h, req *r) {
    CURL *c = r->easy = easy_get(h);
    if (!c) return OVS_EINTERNAL;
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_PRIVATE, r);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->o.max_bytes);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* PIPEWAIT makes new transfers wait for a connection that may turn out to multiplex (HTTP/2,
     * known after the TLS handshake); on plain http it would queue them behind a stalled transfer */
    curl_easy_setopt(c, CURLOPT_PIPEWAIT, strncasecmp(r->url, "https:", 6) ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 65536L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, h->o.user_agent);
    if (h->o.ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, h->o.ca_file);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_error);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    r->error[0] = r->curl_error[0] = 0;
    r->next_info = 64;
    r->t0 = ovs_now();
    if (host_adjust(h, r->hostkey, +1)) return OVS_EINTERNAL;
    if (curl_multi_add_handle(h->multi, c) != CURLM_OK) {
        host_adjust(h, r->hostkey, -1);
        return OVS_EINTERNAL;
    }
    h->ninflight++;
    r->lnext = h->running;
    if (h->running) h->running->lprev = r;
    h->running = r;
    return 0;
}

/* Starts waiting transfers, oldest first, while the caps allow. */
static int start_waiting(ovs_http *h, ovs_err *e) {
    req **pp = &h->wait_head, *prev = NULL;
    while (*pp && h->ninflight < h->o.max_inflight) {
        req *r = *pp;
        if (host_inflight(h, r->hostkey) >= h->o.per_host) { prev = r, pp = &r->next; continue; }
        *pp = r->next;
        if (h->wait_tail == r) h->wait_tail = prev;
        r->next = NULL;
        h->nwaiting--;
        if (start(h, r)) return ovs_errf(e, OVS_EINTERNAL, "%s: cannot start transfer", r->url);
    }
    return 0;
}

static void req_free(req *r) {
    free(r->url);
    free(r->hostkey);
    ovs_buf_free(&r->body);
    free(r);
}

int ovs_http_add(ovs_http *h, const char *url, void *user, ovs_err *e) {
    req *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(url)) || !(r->hostkey = host_key(url))) {
        if (r) req_free(r);
        return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    r->h = h;
    r->user = user;
    if (h->wait_tail) h->wait_tail->next = r;
    else h->wait_head = r;
    h->wait_tail = r;
    h->nwaiting++;
    return start_waiting(h, e);
}

int ovs_http_pending(const ovs_http *h) { return h->nwaiting + h->ninflight; }
int64_t ovs_http_bytes(const ovs_http *h) { return h->bytes; }
void ovs_http_wakeup(ovs_http *h) { curl_multi_wakeup(h->multi); }

/* The reason for a finished transfer from curl's result and what the callbacks saw. */
static ovs_reason classify(req *r, CURLcode cc, int *status) {
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    *status = code ? (int)code : r->status;
    if (r->abort_reason) return r->abort_reason;
    snprintf(r->error, sizeof r->error, "%s", r->curl_error[0] ? r->curl_error : curl_easy_strerror(cc));
    switch (cc) {
    case CURLE_OK:
        if (*status >= 300 && *status < 400) {
            snprintf(r->error, sizeof r->error, "redirect %d without a usable Location", *status);
            return OVS_R_REDIRECT;
        }
        if (*status < 200 || *status >= 300) {
            snprintf(r->error, sizeof r->error, "unexpected HTTP status %d", *status);
            return OVS_R_CONNECT;
        }
        if (ovs_image_sniff(r->body.data, r->body.len) == OVS_IMG_UNKNOWN) {
            snprintf(r->error, sizeof r->error, "body is not an image (%zu bytes)", r->body.len);
            return OVS_R_NOT_IMAGE;
        }
        return OVS_R_OK;
    case CURLE_HTTP_RETURNED_ERROR:
        snprintf(r->error, sizeof r->error, "HTTP %d", *status);
        return *status >= 500 ? OVS_R_HTTP_5XX : OVS_R_HTTP_4XX;
    case CURLE_OPERATION_TIMEDOUT: return OVS_R_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return OVS_R_DNS;
    case CURLE_TOO_MANY_REDIRECTS: return OVS_R_REDIRECT;
    case CURLE_FILESIZE_EXCEEDED: return OVS_R_TOO_LARGE;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        /* after a redirect: a redirect to file://, ftp:// ... ; on the URL itself: not fetchable */
        return r->saw_redirect ? OVS_R_REDIRECT : OVS_R_NOT_IMAGE;
    default: return OVS_R_CONNECT; /* refused, reset, closed early (partial body), TLS failure */
    }
}

static void finish(ovs_http *h, req *r, CURLcode cc, ovs_http_cb cb, void *ctx) {
    ovs_http_done d = {0};
    d.user = r->user;
    d.url = r->url;
    d.reason = classify(r, cc, &d.http_status);
    d.error = d.reason == OVS_R_OK ? NULL : r->error;
    d.seconds = ovs_now() - r->t0;
    if (d.reason == OVS_R_OK) d.body = r->body, r->body = (ovs_buf){0};
    curl_multi_remove_handle(h->multi, r->easy);
    easy_put(h, r->easy);
    r->easy = NULL;
    host_adjust(h, r->hostkey, -1);
    h->ninflight--;
    if (r->lprev) r->lprev->lnext = r->lnext;
    else h->running = r->lnext;
    if (r->lnext) r->lnext->lprev = r->lprev;
    cb(ctx, &d);
    ovs_buf_free(&d.body);
    req_free(r);
}

int ovs_http_step(ovs_http *h, int wait_ms, ovs_http_cb cb, void *ctx, ovs_err *e) {
    int running = 0, rc;
    if ((rc = start_waiting(h, e))) return rc;
    if (curl_multi_perform(h->multi, &running) != CURLM_OK ||
        curl_multi_poll(h->multi, NULL, 0, wait_ms, NULL) != CURLM_OK ||
        curl_multi_perform(h->multi, &running) != CURLM_OK)
        return ovs_errf(e, OVS_EINTERNAL, "curl multi interface failed");
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(h, r, m->data.result, cb, ctx);
    }
    return start_waiting(h, e);
}

int ovs_http_new(ovs_http **out, const ovs_http_opts *o, ovs_err *e) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return ovs_errf(e, OVS_EINTERNAL, "curl_global_init failed");
    ovs_http *h = calloc(1, sizeof *h);
    if (!h || !(h->multi = curl_multi_init())) {
        free(h);
        curl_global_cleanup();
        return ovs_errf(e, OVS_EINTERNAL, "cannot start libcurl multi handle");
    }
    h->o = *o;
    if (h->o.max_inflight < 1) h->o.max_inflight = 1;
    if (h->o.per_host < 1) h->o.per_host = 1;
    if (!h->o.user_agent) h->o.user_agent = "ovseg/" "0.1";
    size_t n = strcspn(h->o.user_agent, "/ ");
    if (n >= sizeof h->ua_token) n = sizeof h->ua_token - 1;
    for (size_t i = 0; i < n; i++) h->ua_token[i] = (char)tolower((unsigned char)h->o.user_agent[i]);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->o.max_inflight * 2);
    *out = h;
    return 0;
}

void ovs_http_free(ovs_http *h) {
    if (!h) return;
    for (req *r = h->running, *nx; r; r = nx) { /* transfers still running */
        nx = r->lnext;
        curl_multi_remove_handle(h->multi, r->easy);
        curl_easy_cleanup(r->easy);
        req_free(r);
    }
    for (req *r = h->wait_head, *nx; r; r = nx) nx = r->next, req_free(r);
    for (int i = 0; i < h->npool; i++) curl_easy_cleanup(h->pool[i]);
    for (int i = 0; i < HOST_BUCKETS; i++)
        for (host *x = h->hosts[i], *nx; x; x = nx) nx = x->next, free(x);
    curl_multi_cleanup(h->multi);
    free(h);
    curl_global_cleanup();
}
