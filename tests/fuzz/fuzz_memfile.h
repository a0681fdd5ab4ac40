/* fuzz_memfile.h — for fuzz targets whose parser reads a path: the input is written into one
 * anonymous in-memory file (memfd) per process, reached as /proc/self/fd/N (no disk traffic). */
#ifndef OVS_FUZZ_MEMFILE_H
#define OVS_FUZZ_MEMFILE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Replaces the memfile's contents with data[0..n) and returns its path (static storage). */
static const char *fuzz_memfile(const void *data, size_t n) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz", 0);
        if (fd < 0) { perror("memfd_create"); abort(); }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || (n && pwrite(fd, data, n, 0) != (ssize_t)n)) { perror("memfd write"); abort(); }
    return path;
}

#endif
