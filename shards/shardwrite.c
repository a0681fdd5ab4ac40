/* shardwrite.c — one training sample's members into a tar shard, and manifest.json (see shardwrite.h). */
#include "shards/shardwrite.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/minijson.h"
#include "util/fsutil.h"
#include "util/image.h"

const char *ovs_image_ext(const void *data, size_t n) {
    switch (ovs_image_sniff(data, n)) {
    case OVS_IMG_JPEG: return "jpg";
    case OVS_IMG_WEBP: return "webp";
    case OVS_IMG_PNG: return "png";
    case OVS_IMG_GIF: return "gif";
    default: return "bin";
    }
}

int ovs_train_json(const ovs_train_sample *s, ovs_buf *b) {
    ovs_buf_reset(b);
    int rc = ovs_buf_printf(b, "{\"key\":\"%09" PRId64 "\",\"entities\":[", s->key);
    for (int i = 0; i < s->nents && !rc; i++) {
        rc |= ovs_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        rc |= ovs_buf_json_str(b, s->ents[i].name, strlen(s->ents[i].name));
        rc |= ovs_buf_printf(b, ",\"start\":%d,\"end\":%d}", s->ents[i].start, s->ents[i].end);
    }
    rc |= ovs_buf_puts(b, "],\"pairs\":[");
    for (int k = 0; k < s->npairs && !rc; k++) {
        const ovs_train_pair *p = &s->pairs[k];
        rc |= ovs_buf_printf(b, "%s{\"key\":\"%09" PRId64 "\",\"entity\":", k ? "," : "", p->key);
        rc |= ovs_buf_json_str(b, p->entity, strlen(p->entity));
        rc |= ovs_buf_printf(b, ",\"member\":\"pair%d.%s\"}", k, ovs_image_ext(p->img, p->img_n));
    }
    rc |= ovs_buf_puts(b, "]}");
    return rc ? OVS_EINTERNAL : 0;
}

int ovs_train_write(ovs_tarw *w, const ovs_train_sample *s, ovs_buf *scratch, ovs_err *e) {
    char name[64];
    snprintf(name, sizeof name, "%09" PRId64 ".%s", s->key, ovs_image_ext(s->img, s->img_n));
    int rc = ovs_tarw_add(w, name, s->img, s->img_n, NULL, e);
    snprintf(name, sizeof name, "%09" PRId64 ".txt", s->key);
    if (!rc) rc = ovs_tarw_add(w, name, s->caption, strlen(s->caption), NULL, e);
    if (!rc && ovs_train_json(s, scratch)) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    snprintf(name, sizeof name, "%09" PRId64 ".json", s->key);
    if (!rc) rc = ovs_tarw_add(w, name, scratch->data, scratch->len, NULL, e);
    for (int k = 0; k < s->npairs && !rc; k++) {
        const ovs_train_pair *p = &s->pairs[k];
        snprintf(name, sizeof name, "%09" PRId64 ".pair%d.%s", s->key, k, ovs_image_ext(p->img, p->img_n));
        rc = ovs_tarw_add(w, name, p->img, p->img_n, NULL, e);
    }
    return rc;
}

int ovs_manifest_write(const char *dir, const ovs_manifest *m, ovs_err *e) {
    ovs_buf b = {0};
    int rc = ovs_buf_puts(&b, "{\"version\":1,\"subset\":");
    rc |= ovs_buf_json_str(&b, m->subset, strlen(m->subset));
    rc |= ovs_buf_printf(&b, ",\"seed\":%" PRIu64 ",\"shard_size\":%" PRId64 ",\"partners_per_sample\":%" PRId64
                              ",\"samples\":%" PRId64 ",\"shards\":[\n",
                         m->seed, m->shard_size, m->partners, m->samples);
    for (int i = 0; i < m->nshards; i++) {
        const ovs_manifest_shard *s = &m->shards[i];
        rc |= ovs_buf_puts(&b, "  {\"path\":");
        rc |= ovs_buf_json_str(&b, s->path, strlen(s->path));
        rc |= ovs_buf_printf(&b, ",\"samples\":%" PRId64 ",\"bytes\":%" PRId64 ",\"sha256\":\"%s\"}%s\n", s->samples,
                             s->bytes, s->sha256, i + 1 < m->nshards ? "," : "");
    }
    rc |= ovs_buf_puts(&b, "]}\n");
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (rc) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    else rc = ovs_write_atomic(path, b.data, b.len, e);
    ovs_buf_free(&b);
    return rc;
}

int ovs_manifest_read(const char *path, ovs_manifest *m, ovs_err *e) {
    memset(m, 0, sizeof *m);
    char file[4200];
    size_t pl = strlen(path);
    if (pl > 5 && !strcmp(path + pl - 5, ".json")) snprintf(file, sizeof file, "%s", path);
    else snprintf(file, sizeof file, "%s/manifest.json", path);
    char *data;
    size_t len;
    int rc = ovs_read_file(file, &data, &len, e);
    if (rc) return rc;
    mj_doc d = {0};
    if (mj_parse(&d, data, len)) {
        rc = ovs_errf(e, OVS_EUSER, "%s: not valid JSON", file);
        goto out;
    }
    int shards = mj_get(&d, 0, "shards");
    if (shards < 0 || d.t[shards].type != MJ_ARR) {
        rc = ovs_errf(e, OVS_EUSER, "%s: no \"shards\" list", file);
        goto out;
    }
    mj_str(&d, mj_get(&d, 0, "subset"), m->subset, sizeof m->subset);
    m->seed = (uint64_t)mj_int(&d, mj_get(&d, 0, "seed"), 0);
    m->shard_size = mj_int(&d, mj_get(&d, 0, "shard_size"), 0);
    m->partners = mj_int(&d, mj_get(&d, 0, "partners_per_sample"), 0);
    m->samples = mj_int(&d, mj_get(&d, 0, "samples"), 0);
    m->nshards = d.t[shards].size;
    m->shards = calloc((size_t)m->nshards + 1, sizeof *m->shards);
    if (!m->shards) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); goto out; }
    for (int i = 0; i < m->nshards; i++) {
        int s = mj_at(&d, shards, i);
        ovs_manifest_shard *ms = &m->shards[i];
        if (mj_str(&d, mj_get(&d, s, "path"), ms->path, sizeof ms->path) <= 0) {
            rc = ovs_errf(e, OVS_EUSER, "%s: shard %d has no path", file, i);
            goto out;
        }
        ms->samples = mj_int(&d, mj_get(&d, s, "samples"), -1);
        ms->bytes = mj_int(&d, mj_get(&d, s, "bytes"), -1);
        mj_str(&d, mj_get(&d, s, "sha256"), ms->sha256, sizeof ms->sha256);
    }
out:
    mj_free(&d);
    free(data);
    if (rc) ovs_manifest_free(m);
    return rc;
}

void ovs_manifest_free(ovs_manifest *m) {
    free(m->shards);
    m->shards = NULL;
    m->nshards = 0;
}
