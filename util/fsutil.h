/* fsutil.h — file helpers: whole-file read, atomic write (tmp + fsync + rename + fsync dir), mkdir -p. */
#ifndef OVS_FSUTIL_H
#define OVS_FSUTIL_H

#include <stddef.h>

#include "util/err.h"

/* Reads all of path into a malloc'd NUL-terminated buffer; *len gets the byte count. */
int ovs_read_file(const char *path, char **data, size_t *len, ovs_err *e);
/* Writes data to path atomically: path.tmp, fsync, rename, fsync of the folder. */
int ovs_write_atomic(const char *path, const void *data, size_t len, ovs_err *e);
/* fsyncs the folder that holds path (so a rename into it is durable). */
int ovs_fsync_dir_of(const char *path, ovs_err *e);
/* Creates dir and its parents (mode 0755); fine when it exists. */
int ovs_mkdir_p(const char *dir, ovs_err *e);
/* 1 if path is an existing directory. */
int ovs_is_dir(const char *path);

#endif
