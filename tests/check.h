/* check.h — the C test harness: a test is a function; CHECK records a failure with file:line and
 * keeps going; each test prints "PASS name" or "FAIL name: why" (tests/run.sh counts them).
 *
 *   TEST(sha256_known_vectors) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_STR(s, "abc"); }
 *   int main(void) { RUN(sha256_known_vectors); return check_done(); }
 *
 * Helpers: check_tmpdir() gives a fresh temp folder per test binary (removed at the end unless
 * KEEP_TMP=1); check_path(name) joins a name onto it; check_shared() is ../shared or $OVSEG_SHARED.
 */
#ifndef OVS_CHECK_H
#define OVS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_failed_now, check_n_pass, check_n_fail;
static char check_first_msg[512];
static char check_tmp[256];

static void check_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), unused));
#include <stdarg.h>
static void check_fail(const char *file, int line, const char *fmt, ...) {
    if (!check_failed_now) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(check_first_msg, sizeof check_first_msg, "%s:%d: ", file, line);
        vsnprintf(check_first_msg + n, sizeof check_first_msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    check_failed_now++;
}

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                                          \
    do {                                                                                   \
        check_failed_now = 0;                                                              \
        test_##name();                                                                     \
        if (check_failed_now) {                                                            \
            check_n_fail++;                                                                \
            printf("FAIL %s: %s\n", #name, check_first_msg);                               \
        } else {                                                                           \
            check_n_pass++;                                                                \
            printf("PASS %s\n", #name);                                                    \
        }                                                                                  \
        fflush(stdout);                                                                    \
    } while (0)

#define CHECK(c) do { if (!(c)) check_fail(__FILE__, __LINE__, "CHECK(%s)", #c); } while (0)
#define CHECK_MSG(c, ...) do { if (!(c)) check_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) check_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); \
    if (!_a || !_b || strcmp(_a, _b)) check_fail(__FILE__, __LINE__, "%s == \"%s\": got \"%s\"", #a, _b ? _b : "(null)", _a ? _a : "(null)"); } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (a), _b = (b); \
    if (!(fabs(_a - _b) <= (tol))) check_fail(__FILE__, __LINE__, "%s ~ %s: %g vs %g (tol %g)", #a, #b, _a, _b, (double)(tol)); } while (0)
/* Checks that rc == 0; prints the ovs_err message when not. */
#define CHECK_OK(rc, e) do { int _r = (rc); if (_r) check_fail(__FILE__, __LINE__, "%s -> %d: %s", #rc, _r, (e)->msg); } while (0)

/* The start of every test's `mpirun` command line: 2 ranks over loopback TCP, run as root, and under
 * `make asan` full malloc stacks in the ranks so that tests/lsan.supp can match Open MPI's allocations. */
#define CHECK_MPIRUN "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0\" mpirun --allow-run-as-root " \
    "--oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo"

static const char *check_tmpdir(void) __attribute__((unused));
static const char *check_tmpdir(void) {
    if (!check_tmp[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(check_tmp, sizeof check_tmp, "%s/ovseg-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(check_tmp)) { perror("mkdtemp"); exit(2); }
    }
    return check_tmp;
}

static const char *check_path(const char *name) __attribute__((unused));
static const char *check_path(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", check_tmpdir(), name);
    return buf[k];
}

static const char *check_shared(void) __attribute__((unused));
static const char *check_shared(void) {
    const char *s = getenv("OVSEG_SHARED");
    return s && *s ? s : "../shared";
}

static int check_done(void) __attribute__((unused));
static int check_done(void) {
    if (check_tmp[0] && !getenv("KEEP_TMP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", check_tmp);
        if (system(cmd)) {}
    }
    return check_n_fail ? 1 : 0;
}

#endif
