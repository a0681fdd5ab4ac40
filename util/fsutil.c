/* fsutil.c — whole-file read, durable atomic write, mkdir -p. */
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ovs_read_file(const char *path, char **data, size_t *len, ovs_err *e) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ovs_errno(e, OVS_EUSER, "%s", path);
    struct stat st;
    if (fstat(fd, &st) || S_ISDIR(st.st_mode)) {
        close(fd);
        return ovs_errf(e, OVS_EUSER, "%s: is a directory or unreadable", path);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) { close(fd); return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", path); }
    for (;;) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) { free(buf); close(fd); return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", path); }
            buf = p, cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { free(buf); close(fd); return ovs_errno(e, OVS_EUSER, "%s: read", path); }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}

int ovs_fsync_dir_of(const char *path, ovs_err *e) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return ovs_errno(e, OVS_EUSER, "%s", dir); /* the environment: gone, no permission, I/O error */
    int rc = fsync(fd);
    close(fd);
    return rc ? ovs_errno(e, OVS_EUSER, "fsync %s", dir) : 0;
}

int ovs_write_atomic(const char *path, const void *data, size_t len, ovs_err *e) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ovs_errno(e, OVS_EUSER, "%s", tmp);
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) { close(fd); unlink(tmp); return ovs_errno(e, OVS_EUSER, "%s: write", tmp); }
        p += w, left -= (size_t)w;
    }
    if (fsync(fd)) { close(fd); unlink(tmp); return ovs_errno(e, OVS_EUSER, "%s: fsync", tmp); }
    close(fd);
    if (rename(tmp, path)) { unlink(tmp); return ovs_errno(e, OVS_EUSER, "rename %s", path); }
    return ovs_fsync_dir_of(path, e);
}

int ovs_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ovs_mkdir_p(const char *dir, ovs_err *e) {
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST) return ovs_errno(e, OVS_EUSER, "mkdir %s", p);
        *s = '/';
    }
    if (mkdir(p, 0755) && errno != EEXIST) return ovs_errno(e, OVS_EUSER, "mkdir %s", p);
    if (!ovs_is_dir(p)) return ovs_errf(e, OVS_EUSER, "%s: exists and is not a directory", p);
    return 0;
}
