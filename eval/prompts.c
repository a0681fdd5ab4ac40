/* prompts.c — prompt templates and template-averaged class embeddings (prompts.h). */
#include "eval/prompts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"

const char *const ovs_default_template = "a photo of a {}.";

void ovs_templates_free(char **tpl, int n) {
    for (int i = 0; i < n; i++) free(tpl[i]);
    free(tpl);
}

int ovs_templates_read(const char *path, char ***tpl, int *n, ovs_err *e) {
    char *data;
    size_t len;
    int rc = ovs_read_file(path, &data, &len, e), line = 0, cap = 0;
    if (rc) return ovs_errctx(e, "--templates");
    *tpl = NULL;
    *n = 0;
    for (char *p = data; *p && !rc;) {
        char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        line++;
        char *end = eol;
        while (end > p && (end[-1] == '\r' || end[-1] == ' ')) end--;
        size_t l = (size_t)(end - p);
        if (l && *p != '#') {
            char *t = strndup(p, l), *a = t ? strstr(t, "{}") : NULL;
            if (!t) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
            else if (!a || strstr(a + 2, "{}")) rc = ovs_errf(e, OVS_EUSER, "%s:%d: a template needs exactly one {}: '%s'", path, line, t);
            if (!rc && *n == cap) {
                cap = cap ? 2 * cap : 16;
                char **nt = realloc(*tpl, sizeof *nt * (size_t)cap);
                if (!nt) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
                else *tpl = nt;
            }
            if (!rc) (*tpl)[(*n)++] = t;
            else free(t);
        }
        p = *eol ? eol + 1 : eol;
    }
    free(data);
    if (!rc && !*n) rc = ovs_errf(e, OVS_EUSER, "%s: no templates", path);
    if (rc) { ovs_templates_free(*tpl, *n); *tpl = NULL; *n = 0; }
    return rc;
}

int ovs_prompt_fill(const char *tpl, const char *name, char *out, size_t cap, ovs_err *e) {
    const char *a = strstr(tpl, "{}");
    int k = a ? snprintf(out, cap, "%.*s%s%s", (int)(a - tpl), tpl, name, a + 2) : snprintf(out, cap, "%s", tpl);
    if (k < 0 || (size_t)k >= cap) return ovs_errf(e, OVS_EUSER, "prompt for '%s' too long", name);
    return 0;
}

int ovs_class_embeddings(ovs_text_encode_fn enc, void *ctx, int dim, char *const *names, int nnames,
                         char *const *tpl, int ntpl, float *out, ovs_err *e) {
    const char *def = ovs_default_template;
    if (ntpl <= 0) { tpl = (char *const *)&def; ntpl = 1; }
    char **texts = calloc((size_t)ntpl, sizeof *texts);
    float *f = malloc(sizeof(float) * (size_t)ntpl * (size_t)dim);
    int rc = texts && f ? 0 : ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int t = 0; t < ntpl && !rc; t++)
        if (!(texts[t] = malloc(1024))) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int c = 0; c < nnames && !rc; c++) {
        for (int t = 0; t < ntpl && !rc; t++) rc = ovs_prompt_fill(tpl[t], names[c], texts[t], 1024, e);
        if (!rc) rc = enc(ctx, (const char *const *)texts, ntpl, f, e);
        if (rc) break;
        float *o = out + (size_t)c * dim;
        double nrm = 0;
        for (int k = 0; k < dim; k++) {
            double s = 0;
            for (int t = 0; t < ntpl; t++) s += f[(size_t)t * dim + k];
            o[k] = (float)(s / ntpl);
            nrm += (double)o[k] * o[k];
        }
        nrm = sqrt(nrm);
        for (int k = 0; k < dim; k++) o[k] = nrm > 0 ? (float)(o[k] / nrm) : 0.0f;
    }
    for (int t = 0; texts && t < ntpl; t++) free(texts[t]);
    free(texts);
    free(f);
    return rc;
}
