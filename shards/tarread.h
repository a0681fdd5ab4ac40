/* tarread.h — a streaming reader of (WebDataset) tar shards: its own ustar/pax/GNU parser over pread,
 * so members can be listed without reading their bytes and read later by offset from any thread.
 * Members are grouped into samples by key (the name up to the first '.' of its last path component,
 * with the folder part kept), as the webdataset library does. Names that are absolute or contain a
 * ".." component are refused. Bad checksums, sizes beyond the end of the file and garbage headers are
 * reported as OVS_EUSER naming shard:member (or shard@offset). */
#ifndef OVS_TARREAD_H
#define OVS_TARREAD_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

typedef struct ovs_tar_member {
    char name[260];
    int64_t header_off; /* byte offset of the member's (first) header */
    int64_t data_off;   /* byte offset of its data */
    int64_t size;
} ovs_tar_member;

enum { OVS_TAR_MAX_MEMBERS = 16 };

typedef struct ovs_tar_sample {
    char key[256];
    int n;
    ovs_tar_member m[OVS_TAR_MAX_MEMBERS]; /* members beyond OVS_TAR_MAX_MEMBERS are dropped */
} ovs_tar_sample;

typedef struct ovs_tarr {
    int fd;
    int64_t pos, file_size;
    char path[1024];
    ovs_tar_member pending; /* the first member of the next sample (read ahead) */
    int have_pending, done;
    int err_pending;        /* an error met while reading ahead, reported by the next call */
    ovs_err err;
} ovs_tarr;

/* Opens path for reading (fd with O_CLOEXEC). */
int ovs_tarr_open(ovs_tarr *r, const char *path, ovs_err *e);
void ovs_tarr_close(ovs_tarr *r);
enum { OVS_TAR_GOT = 100 }; /* "got a member/sample" (distinct from the OVS_E* codes) */

/* The next regular-file member: OVS_TAR_GOT, 0 = end of archive, OVS_EUSER = corrupt/truncated
 * (the reader is then done; a sample cut short by it is not returned). */
int ovs_tarr_next(ovs_tarr *r, ovs_tar_member *m, ovs_err *e);
/* The next sample (consecutive members with one key): OVS_TAR_GOT, 0 at the end, or OVS_EUSER. */
int ovs_tarr_next_sample(ovs_tarr *r, ovs_tar_sample *s, ovs_err *e);
/* The key and the suffix ("jpg", "pair0.webp") of a member name; key gets at most cap bytes. */
const char *ovs_tar_split_name(const char *name, char *key, size_t cap);
/* Reads m's bytes (pread; thread-safe on one fd) into out (replacing its contents). */
int ovs_tar_read_data(int fd, const char *path, const ovs_tar_member *m, ovs_buf *out, ovs_err *e);
/* Reads the member whose header is at header_off of the open file fd (size file_size): name and
 * bytes. Used to copy images out of raw fetch shards by samples.member_offset. */
int ovs_tar_read_member_at(int fd, const char *path, int64_t header_off, int64_t file_size, ovs_tar_member *m,
                           ovs_buf *out, ovs_err *e);
/* The sample suffix of m within s: the member whose suffix equals suf, or NULL. */
const ovs_tar_member *ovs_tar_sample_find(const ovs_tar_sample *s, const char *suf);

#endif
