/* args.c — flag parsing and --help text for verbs (see args.h). */
#include "util/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ovs_parse_size(const char *s, int base, int64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno) return OVS_EUSER;
    double m = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': m = base; break;
        case 'm': case 'M': m = (double)base * base; break;
        case 'g': case 'G': m = (double)base * base * base; break;
        default: return OVS_EUSER;
        }
        end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end) return OVS_EUSER;
    }
    *out = (int64_t)(v * m);
    return 0;
}

void ovs_args_usage(const ovs_cmd_spec *spec) {
    printf("usage: ovseg %s %s%s\n\n%s\n", spec->verb, spec->opts && spec->opts[0].name ? "[options] " : "",
           spec->usage, spec->summary);
    if (!spec->opts || !spec->opts[0].name) return;
    printf("\noptions:\n");
    for (const ovs_opt *o = spec->opts; o->name; o++) {
        const char *arg = "";
        switch (o->type) {
        case OVS_ARG_INT: case OVS_ARG_COUNT: arg = " N"; break;
        case OVS_ARG_DOUBLE: arg = " X"; break;
        case OVS_ARG_STR: arg = " S"; break;
        case OVS_ARG_BYTES: arg = " SIZE"; break;
        default: break;
        }
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name, arg);
        printf("  %-26s %s\n", left, o->help ? o->help : "");
    }
}

static const ovs_opt *find_opt(const ovs_opt *opts, const char *name, size_t n) {
    for (const ovs_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == n && !strncmp(o->name, name, n)) return o;
    return NULL;
}

static int set_value(const ovs_opt *o, const char *v, ovs_err *e) {
    char *end;
    switch (o->type) {
    case OVS_ARG_INT:
        errno = 0;
        *(int64_t *)o->ptr = strtoll(v, &end, 10);
        if (!*v || *end || errno) return ovs_errf(e, OVS_EUSER, "--%s: not an integer: '%s'", o->name, v);
        return 0;
    case OVS_ARG_DOUBLE:
        errno = 0;
        *(double *)o->ptr = strtod(v, &end);
        if (!*v || *end || errno) return ovs_errf(e, OVS_EUSER, "--%s: not a number: '%s'", o->name, v);
        return 0;
    case OVS_ARG_STR:
        *(const char **)o->ptr = v;
        return 0;
    case OVS_ARG_BYTES:
    case OVS_ARG_COUNT:
        if (ovs_parse_size(v, o->type == OVS_ARG_BYTES ? 1024 : 1000, (int64_t *)o->ptr))
            return ovs_errf(e, OVS_EUSER, "--%s: not a size: '%s' (e.g. 20M)", o->name, v);
        return 0;
    default:
        return ovs_errf(e, OVS_EINTERNAL, "--%s: bad option type", o->name);
    }
}

int ovs_args_parse(const ovs_cmd_spec *spec, int argc, char **argv, char **pos, int maxpos,
                   int *npos, ovs_err *e) {
    int np = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || !a[1] || (a[1] != '-' && strcmp(a, "-h"))) {
            if (np < maxpos) pos[np] = argv[i];
            np++;
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { ovs_args_usage(spec); return OVS_ARGS_HELP; }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const ovs_opt *o = find_opt(spec->opts, name, n);
        if (!o) return ovs_errf(e, OVS_EUSER, "unknown flag --%.*s (see ovseg %s --help)", (int)n, name,
                                spec->verb);
        if (o->type == OVS_ARG_FLAG) {
            if (eq) return ovs_errf(e, OVS_EUSER, "--%s takes no value", o->name);
            *(int *)o->ptr = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return ovs_errf(e, OVS_EUSER, "--%s needs a value", o->name);
        int rc = set_value(o, v, e);
        if (rc) return rc;
    }
    if (npos) *npos = np;
    if (np < spec->min_pos || (spec->max_pos >= 0 && np > spec->max_pos))
        return ovs_errf(e, OVS_EUSER, "usage: ovseg %s %s (got %d argument%s; see --help)", spec->verb,
                        spec->usage, np, np == 1 ? "" : "s");
    return 0;
}
