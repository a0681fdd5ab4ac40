/* safetensors.h — reading and writing safetensors files (the format of Hugging Face's `safetensors`):
 *
 *   [8 bytes: little-endian u64 N] [N bytes: JSON header] [tensor bytes]
 *   header = {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...,
 *             "__metadata__": {"key": "string value", ...}}
 *
 * Offsets are relative to the first byte after the header. Reading is strict: bad JSON, unknown
 * dtypes, duplicate names, offsets out of range, overlapping or leaving holes, and a byte size
 * that is not shape × dtype size are errors naming the file and the tensor. The file is mapped
 * read-only; tensors are read into float buffers with conversion from F16/BF16/F64/I64/I32/U8/BOOL.
 * Writing is durable: FILE.tmp, fsync, rename, fsync of the folder. Little-endian hosts only. */
#ifndef OVS_SAFETENSORS_H
#define OVS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum {
    OVS_ST_BOOL, OVS_ST_U8, OVS_ST_I8, OVS_ST_I16, OVS_ST_U16, OVS_ST_F16, OVS_ST_BF16,
    OVS_ST_I32, OVS_ST_U32, OVS_ST_F32, OVS_ST_I64, OVS_ST_U64, OVS_ST_F64, OVS_ST_NTYPES
} ovs_st_dtype;

enum { OVS_ST_MAXDIM = 8 };

typedef struct ovs_st_tensor {
    char *name;
    ovs_st_dtype dtype;
    int ndim;
    int64_t shape[OVS_ST_MAXDIM];
    uint64_t numel;
    uint64_t begin, end;    /* byte offsets into the data section */
    const void *data;       /* points into the mapping */
} ovs_st_tensor;

typedef struct ovs_st_file {
    char path[1024];
    void *map;              /* the whole file, mapped read-only */
    size_t size;
    ovs_st_tensor *t;       /* in header order */
    int n;
    char **meta_key, **meta_val;
    int nmeta;
} ovs_st_file;

const char *ovs_st_dtype_name(ovs_st_dtype d);
size_t ovs_st_dtype_size(ovs_st_dtype d);

/* Opens and validates path; on error nothing needs freeing. */
int ovs_st_open(ovs_st_file *f, const char *path, ovs_err *e);
void ovs_st_close(ovs_st_file *f);
const ovs_st_tensor *ovs_st_find(const ovs_st_file *f, const char *name);
/* The metadata value for key, or NULL. */
const char *ovs_st_meta(const ovs_st_file *f, const char *key);
/* Reads tensor name into dst (numel floats, converting the dtype). Errors name file and tensor when
 * the tensor is missing or its element count differs from numel. */
int ovs_st_read_f32(const ovs_st_file *f, const char *name, float *dst, size_t numel, ovs_err *e);
/* Like ovs_st_read_f32, and also requires the shape to be exactly shape[0..ndim). */
int ovs_st_read_shaped(const ovs_st_file *f, const char *name, int ndim, const int64_t *shape,
                       float *dst, ovs_err *e);

/* A writer collects tensors (by pointer: the data must stay valid until ovs_st_write) and metadata. */
typedef struct ovs_st_entry {
    char *name;
    ovs_st_dtype dtype;
    int ndim;
    int64_t shape[OVS_ST_MAXDIM];
    const void *data;
    size_t nbytes;
} ovs_st_entry;

typedef struct ovs_st_writer {
    ovs_st_entry *t;
    int n, cap;
    char **meta_key, **meta_val;
    int nmeta, meta_cap;
} ovs_st_writer;

void ovs_st_writer_init(ovs_st_writer *w);
void ovs_st_writer_free(ovs_st_writer *w);
/* Adds a tensor; shape has ndim entries (ndim 0 = scalar). Duplicate names are an error. */
int ovs_st_add(ovs_st_writer *w, const char *name, ovs_st_dtype dtype, int ndim, const int64_t *shape,
               const void *data, ovs_err *e);
/* Adds (or replaces) one metadata string. */
int ovs_st_add_meta(ovs_st_writer *w, const char *key, const char *value, ovs_err *e);
/* Writes path durably (tmp + fsync + rename + fsync folder). */
int ovs_st_write(const ovs_st_writer *w, const char *path, ovs_err *e);

#endif
