/* tarwrite.c — atomic WebDataset tar shards with libarchive (ustar): members are written
 * unbuffered through a callback that counts bytes (so each member's header offset is known) and
 * hashes them (SHA-256 of the whole shard); commit = close, fsync, rename PATH.tmp -> PATH, fsync dir. */
#include "shards/tarwrite.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/sha256.h"

struct ovs_tarw {
    struct archive *a;
    int fd;
    int64_t pos;         /* bytes handed to the file so far */
    int write_errno;     /* errno of a failed write(2), 0 if none */
    ovs_sha256 sha;
    char path[4096], tmp[4200];
};

/* A failed write(2) is remembered in write_errno and reported by the caller; libarchive is told the
 * bytes went out (and later writes are dropped), so the archive never enters its fatal state, in which
 * archive_write_free leaks the client buffer. */
static la_ssize_t on_write(struct archive *a, void *ctx, const void *buf, size_t n) {
    (void)a;
    ovs_tarw *w = ctx;
    if (w->write_errno) return (la_ssize_t)n;
    const char *p = buf;
    size_t left = n;
    while (left) {
        ssize_t k = write(w->fd, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) { w->write_errno = errno; return (la_ssize_t)n; }
        p += k, left -= (size_t)k;
    }
    ovs_sha256_update(&w->sha, buf, n);
    w->pos += (int64_t)n;
    return (la_ssize_t)n;
}

static int on_close(struct archive *a, void *ctx) {
    (void)a;
    (void)ctx;
    return ARCHIVE_OK;
}

static int tar_error(ovs_tarw *w, ovs_err *e, const char *what) {
    if (w->write_errno) {
        errno = w->write_errno;
        return ovs_errno(e, OVS_EUSER, "%s: %s", w->tmp, what);
    }
    return ovs_errf(e, OVS_EINTERNAL, "%s: %s: %s", w->tmp, what, archive_error_string(w->a));
}

int ovs_tarw_open(ovs_tarw **out, const char *path, ovs_err *e) {
    ovs_tarw *w = calloc(1, sizeof *w);
    if (!w) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w->fd < 0) {
        int rc = ovs_errno(e, OVS_EUSER, "%s", w->tmp);
        free(w);
        return rc;
    }
    ovs_sha256_init(&w->sha);
    w->a = archive_write_new();
    if (!w->a || archive_write_set_format_ustar(w->a) != ARCHIVE_OK || archive_write_set_bytes_per_block(w->a, 0) ||
        archive_write_set_bytes_in_last_block(w->a, 1) ||
        archive_write_open2(w->a, w, NULL, on_write, on_close, NULL) != ARCHIVE_OK) {
        int rc = tar_error(w, e, "cannot start tar");
        ovs_tarw_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int ovs_tarw_add(ovs_tarw *w, const char *name, const void *data, size_t n, int64_t *header_offset, ovs_err *e) {
    if (strlen(name) > 99) return ovs_errf(e, OVS_EINTERNAL, "%s: member name too long: %s", w->tmp, name);
    struct archive_entry *en = archive_entry_new();
    if (!en) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    archive_entry_set_pathname(en, name);
    archive_entry_set_size(en, (la_int64_t)n);
    archive_entry_set_filetype(en, AE_IFREG);
    archive_entry_set_perm(en, 0644);
    archive_entry_set_mtime(en, 0, 0); /* fixed: the same samples give the same bytes */
    archive_entry_set_uname(en, "ovseg");
    archive_entry_set_gname(en, "ovseg");
    int64_t at = w->pos;
    int rc = 0;
    if (archive_write_header(w->a, en) != ARCHIVE_OK) rc = tar_error(w, e, name);
    else if (n && archive_write_data(w->a, data, n) != (la_ssize_t)n) rc = tar_error(w, e, name);
    else if (archive_write_finish_entry(w->a) != ARCHIVE_OK) rc = tar_error(w, e, name);
    if (!rc && w->write_errno) rc = tar_error(w, e, name);
    archive_entry_free(en);
    if (!rc && header_offset) *header_offset = at;
    return rc;
}

int ovs_tarw_commit(ovs_tarw *w, int64_t *bytes, char sha256_hex[65], ovs_err *e) {
    int rc = 0;
    if (archive_write_close(w->a) != ARCHIVE_OK || w->write_errno) rc = tar_error(w, e, "finishing tar");
    else if (fsync(w->fd)) rc = ovs_errno(e, OVS_EUSER, "%s: fsync", w->tmp);
    else if (close(w->fd)) rc = ovs_errno(e, OVS_EUSER, "%s: close", w->tmp);
    else {
        w->fd = -1;
        if (rename(w->tmp, w->path)) rc = ovs_errno(e, OVS_EUSER, "rename %s", w->path);
        else rc = ovs_fsync_dir_of(w->path, e);
    }
    if (rc) { ovs_tarw_abort(w); return rc; }
    unsigned char dig[32];
    ovs_sha256_final(&w->sha, dig);
    if (sha256_hex) ovs_hex(dig, 32, sha256_hex);
    if (bytes) *bytes = w->pos;
    archive_write_free(w->a);
    free(w);
    return 0;
}

void ovs_tarw_abort(ovs_tarw *w) {
    if (!w) return;
    if (w->a) archive_write_free(w->a); /* may flush: harmless, the file is removed */
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    free(w);
}
