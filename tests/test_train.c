/* test_train.c — train/train.c: the loop's resume protocol, its NaN stop, and its bad-input checks,
 * on a small test-local model (a linear regressor with a decayed weight, a bias, a buffer and a
 * Gumbel-noise draw, with analytic gradients) and a synthetic data stream with a cursor — so the
 * loop is tested here independently of the real model and loader (tests/test_train.sh runs the
 * real `ovseg train`).
 *
 * Exact resume: 40 steps straight vs 20 steps + resume, and vs a child process killed with SIGKILL
 * mid-run + resume: metrics.tsv loss columns and the final checkpoint identical byte for byte. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/check.h"
#include "train/safetensors.h"
#include "train/train.h"
#include "util/fsutil.h"

enum { DIN = 12, DOUT = 4, NB = 6 };

/* ── the test model ──────────────────────────────────────────────────────────────────────────── */

typedef struct toy {
    ovs_param table[3];
    float params[DOUT * DIN + DOUT + DOUT], grads[DOUT * DIN + DOUT + DOUT];
    ovs_config cfg;
    int64_t steps_run;
    int nan_at;          /* step number (1-based, this process) whose entity loss is NaN; 0 = never */
    int sleep_us;
} toy;

static void toy_init(toy *t, int dout_rows) {
    memset(t, 0, sizeof *t);
    snprintf(t->cfg.name, sizeof t->cfg.name, "toy");
    t->cfg.width = dout_rows;
    ovs_param *p = t->table;
    snprintf(p[0].name, sizeof p[0].name, "head.weight");
    p[0].ndim = 2, p[0].shape[0] = dout_rows, p[0].shape[1] = DIN * DOUT / dout_rows, p[0].numel = DOUT * DIN;
    p[0].decay = 1, p[0].trainable = 1;
    snprintf(p[1].name, sizeof p[1].name, "head.bias");
    p[1].ndim = 1, p[1].shape[0] = DOUT, p[1].offset = DOUT * DIN, p[1].numel = DOUT, p[1].trainable = 1;
    snprintf(p[2].name, sizeof p[2].name, "bn.running_mean");
    p[2].ndim = 1, p[2].shape[0] = DOUT, p[2].offset = DOUT * DIN + DOUT, p[2].numel = DOUT;
    ovs_rng r;
    ovs_rng_seed(&r, 1, 2);
    for (int i = 0; i < DOUT * DIN; i++) t->params[i] = (float)(ovs_rng_normal(&r) * 0.1);
}

static int toy_step(void *ctx, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e) {
    (void)e;
    toy *t = ctx;
    t->steps_run++;
    if (t->sleep_us) usleep((useconds_t)t->sleep_us);
    memset(t->grads, 0, sizeof t->grads);
    const float *W = t->params, *bias = t->params + DOUT * DIN;
    float *gW = t->grads, *gb = t->grads + DOUT * DIN, *run = t->params + DOUT * DIN + DOUT;
    double loss = 0;
    for (int n = 0; n < b->B; n++) {
        const float *x = b->img + (size_t)n * DIN;
        for (int o = 0; o < DOUT; o++) {
            float y = bias[o], target = 0;
            for (int i = 0; i < DIN; i++) y += W[o * DIN + i] * x[i], target += (float)((o + 1) * (i % 3 - 1)) * x[i];
            float noise = 0.01f * ovs_rng_gumbel(rng);
            float d = y - target + noise;
            loss += (double)d * d / (b->B * DOUT);
            float g = 2 * d / (float)(b->B * DOUT);
            for (int i = 0; i < DIN; i++) gW[o * DIN + i] += g * x[i];
            gb[o] += g;
            run[o] = 0.9f * run[o] + 0.1f * y / (float)b->B;
        }
    }
    out->contrastive = (float)loss;
    out->entity = 0.5f * (float)loss;
    out->mask = 0;
    if (t->nan_at && t->steps_run == t->nan_at) out->entity = NAN;
    out->total = out->contrastive + out->entity;
    return 0;
}

/* ── the test data stream: sample k of epoch ep is drawn from a per-sample seed; the epoch order is
 * a shuffle by a stream RNG, so the cursor must carry that RNG's state ───────────────────────── */

typedef struct stream {
    int64_t per_epoch, pos;        /* pos = samples consumed */
    int64_t order[64];
    ovs_rng rng;
    float img[NB * DIN];
    int32_t ids[NB];
    ovs_batch b;
    int fail_restore;
} stream;

static void stream_shuffle(stream *s) {
    for (int64_t i = 0; i < s->per_epoch; i++) s->order[i] = i;
    ovs_rng_shuffle(&s->rng, s->order, (uint64_t)s->per_epoch, sizeof s->order[0]);
}

static void stream_init(stream *s, int64_t per_epoch) {
    memset(s, 0, sizeof *s);
    s->per_epoch = per_epoch;
    ovs_rng_seed(&s->rng, 9, 1);
    stream_shuffle(s);
    s->b = (ovs_batch){.B = NB, .S = 2, .img = s->img, .ids = s->ids};
}

static int stream_next(void *ctx, const ovs_batch **b, int64_t *epoch, ovs_err *e) {
    (void)e;
    stream *s = ctx;
    *epoch = s->pos / s->per_epoch;
    for (int n = 0; n < NB; n++) {
        if (s->pos > 0 && s->pos % s->per_epoch == 0) stream_shuffle(s);
        ovs_rng r;
        ovs_rng_seed(&r, 77, (uint64_t)s->order[s->pos % s->per_epoch]);
        for (int i = 0; i < DIN; i++) s->img[n * DIN + i] = (float)ovs_rng_normal(&r);
        s->pos++;
    }
    *b = &s->b;
    return 0;
}

static int stream_save(void *ctx, ovs_buf *out, ovs_err *e) {
    (void)e;
    stream *s = ctx;
    char hex[65];
    ovs_rng_to_hex(&s->rng, hex);
    ovs_buf_printf(out, "%lld %s", (long long)s->pos, hex);
    for (int64_t i = 0; i < s->per_epoch; i++) ovs_buf_printf(out, " %lld", (long long)s->order[i]);
    return 0;
}

static int stream_restore(void *ctx, const char *c, ovs_err *e) {
    stream *s = ctx;
    char hex[65];
    long long pos;
    int used;
    if (s->fail_restore || sscanf(c, "%lld %64s%n", &pos, hex, &used) != 2) return ovs_errf(e, OVS_EUSER, "bad cursor '%s'", c);
    s->pos = pos;
    c += used;
    for (int64_t i = 0; i < s->per_epoch; i++) {
        long long v;
        if (sscanf(c, " %lld%n", &v, &used) != 1) return ovs_errf(e, OVS_EUSER, "bad cursor order");
        s->order[i] = v, c += used;
    }
    return ovs_rng_from_hex(&s->rng, hex, e);
}

/* ── harness ─────────────────────────────────────────────────────────────────────────────────── */

typedef struct rig {
    toy t;
    stream s;
    ovs_trainee m;
    ovs_source src;
    ovs_train_cfg cfg;
} rig;

static void rig_init(rig *r, int64_t steps) {
    toy_init(&r->t, DOUT);
    stream_init(&r->s, 30);
    r->m = (ovs_trainee){.ctx = &r->t, .params = r->t.params, .grads = r->t.grads, .numel = DOUT * DIN + 2 * DOUT,
                         .table = r->t.table, .n = 3, .cfg = &r->t.cfg, .step = toy_step};
    r->src = (ovs_source){.ctx = &r->s, .samples_per_epoch = 30, .next = stream_next, .save = stream_save, .restore = stream_restore};
    ovs_train_defaults(&r->cfg, "tiny", 1);
    r->cfg.batch = NB, r->cfg.steps = steps, r->cfg.lr = 0.05, r->cfg.warmup_lr = 0.001, r->cfg.min_lr = 0.001;
    r->cfg.warmup_steps = 5, r->cfg.ckpt_every = 5, r->cfg.keep = 2;
}

static int train(rig *r, const char *run, int resume, int64_t stop_after, ovs_err *e) {
    ovs_train_opts o = {.rundir = run, .resume = resume, .stop_after = stop_after, .quiet = 1};
    return ovs_train_run(&r->cfg, &r->m, &r->src, &o, e);
}

/* The step..mask columns (1-7) of metrics.tsv, all rows. */
static char *loss_columns(const char *run) {
    char p[700], *data = NULL;
    snprintf(p, sizeof p, "%s/metrics.tsv", run);
    if (ovs_read_file(p, &data, NULL, NULL)) return strdup("(unreadable)");
    ovs_buf out = {0};
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        int tabs = 0;
        char *c = line;
        while (*c && !(*c == '\t' && ++tabs == 7)) c++;
        ovs_buf_append(&out, line, (size_t)(c - line));
        ovs_buf_puts(&out, "\n");
    }
    free(data);
    return out.data;
}

static char *file_bytes(const char *path, size_t *len) {
    char *d = NULL;
    if (ovs_read_file(path, &d, len, NULL)) return NULL;
    return d;
}

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = file_bytes(a, &la), *y = file_bytes(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x), free(y);
    return same;
}

static int count_rows(const char *run) {
    char *c = loss_columns(run);
    int n = -1;
    for (char *s = c; *s; s++) n += *s == '\n';
    free(c);
    return n;
}

static char straight[600];

TEST(train_forty_steps_learns_and_writes_metrics) {
    rig r;
    rig_init(&r, 40);
    ovs_err e = {0};
    snprintf(straight, sizeof straight, "%s", check_path("straight"));
    CHECK_OK(train(&r, straight, 0, 0, &e), &e);
    CHECK_EQ_INT(count_rows(straight), 40);
    char *cols = loss_columns(straight);
    CHECK(!strncmp(cols, "step\tepoch\tlr\ttotal\tcontrastive\tentity\tmask\n1\t0\t0.001\t", 30));
    /* the loss falls */
    double first = 0, last = 0;
    sscanf(strchr(cols, '\n') + 1, "%*d %*d %*g %lg", &first);
    char *lastrow = cols + strlen(cols) - 2;
    while (*lastrow != '\n') lastrow--;
    sscanf(lastrow + 1, "%*d %*d %*g %lg", &last);
    CHECK_MSG(last < 0.5 * first, "loss %g -> %g", first, last);
    free(cols);
    /* keep 2: steps 35 and 40 remain */
    char p[700];
    ovs_ckpt_path(p, sizeof p, straight, "ckpt", 30);
    CHECK(access(p, F_OK) != 0);
    ovs_ckpt_path(p, sizeof p, straight, "ckpt", 35);
    CHECK(access(p, F_OK) == 0);
    /* the checkpoint holds the table's names and the moments */
    ovs_st_file f;
    ovs_ckpt_path(p, sizeof p, straight, "ckpt", 40);
    CHECK_OK(ovs_st_open(&f, p, &e), &e);
    CHECK(ovs_st_find(&f, "head.weight") && ovs_st_find(&f, "bn.running_mean") && f.n == 3);
    CHECK(ovs_st_meta(&f, "model_config") && strstr(ovs_st_meta(&f, "model_config"), "name=toy\n"));
    ovs_st_close(&f);
    ovs_ckpt_path(p, sizeof p, straight, "state", 40);
    CHECK_OK(ovs_st_open(&f, p, &e), &e);
    CHECK(ovs_st_find(&f, "exp_avg.head.weight") && ovs_st_find(&f, "exp_avg_sq.head.bias") && f.n == 4);
    CHECK_STR(ovs_st_meta(&f, "step"), "40");
    CHECK_STR(ovs_st_meta(&f, "adamw_step"), "40");
    ovs_st_close(&f);
}

TEST(train_resume_is_bit_exact) {
    rig r;
    rig_init(&r, 40);
    ovs_err e = {0};
    const char *run = check_path("resumed");
    CHECK_OK(train(&r, run, 0, 20, &e), &e);
    CHECK_EQ_INT(count_rows(run), 20);
    rig r2; /* a fresh process: new model and stream, state only from the checkpoint */
    rig_init(&r2, 40);
    r2.cfg.lr = 123; /* must come from the checkpoint */
    CHECK_OK(ovs_train_resume_cfg(run, &r2.cfg, NULL, &e), &e);
    CHECK(r2.cfg.lr == 0.05);
    CHECK_OK(train(&r2, run, 1, 0, &e), &e);
    CHECK_EQ_INT(r2.t.steps_run, 20);
    char *a = loss_columns(straight), *b = loss_columns(run);
    CHECK_MSG(!strcmp(a, b), "metrics differ");
    free(a), free(b);
    char pa[700], pb[700];
    ovs_ckpt_path(pa, sizeof pa, straight, "ckpt", 40);
    ovs_ckpt_path(pb, sizeof pb, run, "ckpt", 40);
    CHECK(same_file(pa, pb));
}

TEST(train_resume_after_kill_9_is_bit_exact) {
    const char *run = check_path("killed");
    char mpath[700];
    snprintf(mpath, sizeof mpath, "%s/metrics.tsv", run);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        rig r;
        rig_init(&r, 40);
        r.t.sleep_us = 20000;
        ovs_err e = {0};
        _exit(train(&r, run, 0, 0, &e));
    }
    /* kill once 23 rows are out: between the checkpoints of steps 20 and 25 */
    for (int i = 0; i < 2000 && count_rows(run) < 23; i++) usleep(5000);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st));
    int rows = count_rows(run);
    CHECK_MSG(rows >= 23 && rows < 40, "rows %d when killed", rows);
    rig r;
    rig_init(&r, 40);
    ovs_err e = {0};
    CHECK_OK(train(&r, run, 1, 0, &e), &e);
    char *a = loss_columns(straight), *b = loss_columns(run);
    CHECK_MSG(!strcmp(a, b), "metrics differ after kill -9 + resume");
    free(a), free(b);
    char pa[700], pb[700];
    ovs_ckpt_path(pa, sizeof pa, straight, "ckpt", 40);
    ovs_ckpt_path(pb, sizeof pb, run, "ckpt", 40);
    CHECK(same_file(pa, pb));
}

TEST(train_nan_loss_stops_and_keeps_last_checkpoint) {
    rig r;
    rig_init(&r, 40);
    r.t.nan_at = 7;
    ovs_err e = {0};
    const char *run = check_path("nan");
    CHECK(train(&r, run, 0, 0, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "step 7: the entity loss is NaN") && strstr(e.msg, "checkpoint (step 5) is intact"), "%s", e.msg);
    CHECK_EQ_INT(count_rows(run), 6);
    int64_t latest;
    CHECK_OK(ovs_ckpt_latest(run, &latest, &e), &e);
    CHECK_EQ_INT(latest, 5);
    /* and it resumes from there */
    rig r2;
    rig_init(&r2, 10);
    CHECK_OK(train(&r2, run, 1, 0, &e), &e);
    CHECK_EQ_INT(count_rows(run), 10);
}

TEST(train_bad_checkpoints_fail_before_any_step) {
    ovs_err e = {0};
    const char *run = check_path("bad");
    rig r;
    rig_init(&r, 10);
    CHECK_OK(train(&r, run, 0, 0, &e), &e);
    /* a fresh run into a folder with checkpoints */
    rig_init(&r, 10);
    CHECK(train(&r, run, 0, 0, &e) == OVS_EUSER && strstr(e.msg, "use --resume"));
    /* a model of another shape */
    rig_init(&r, 20);
    toy_init(&r.t, 2);
    CHECK(train(&r, run, 1, 0, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "'head.weight' has shape [4, 12], the model needs [2, 24]"), "%s", e.msg);
    CHECK_EQ_INT(r.t.steps_run, 0);
    /* a truncated checkpoint */
    char p[700];
    ovs_ckpt_path(p, sizeof p, run, "ckpt", 10);
    struct stat st;
    stat(p, &st);
    CHECK(truncate(p, st.st_size - 5) == 0);
    rig_init(&r, 20);
    CHECK(train(&r, run, 1, 0, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "bn.running_mean") && strstr(e.msg, "truncated"), "%s", e.msg);
    CHECK_EQ_INT(r.t.steps_run, 0);
    /* a cursor the loader refuses */
    const char *run2 = check_path("bad2");
    rig_init(&r, 5);
    CHECK_OK(train(&r, run2, 0, 0, &e), &e);
    rig_init(&r, 10);
    r.s.fail_restore = 1;
    CHECK(train(&r, run2, 1, 0, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "loader cursor") && strstr(e.msg, "state-00000005"), "%s", e.msg);
    CHECK_EQ_INT(r.t.steps_run, 0);
    /* nothing to resume */
    rig_init(&r, 10);
    CHECK(train(&r, check_path("nothing"), 1, 0, &e) == OVS_EUSER && strstr(e.msg, "no complete checkpoint"));
}

TEST(train_recipe_keys_round_trip) {
    ovs_train_cfg a, b;
    ovs_train_defaults(&a, "paper", 1);
    CHECK(a.lr == 6.4e-4 && a.batch == 2048 && a.lr_scaling == 1 && a.epochs == 30);
    ovs_err e = {0};
    CHECK_OK(ovs_train_set(&a, "lr=0.00123", &e), &e);
    CHECK_OK(ovs_train_set(&a, "seed=18446744073709551615", &e), &e);
    CHECK(ovs_train_set(&a, "width=3", &e) == -1);
    CHECK(ovs_train_set(&a, "batch=x", &e) == OVS_EUSER && strstr(e.msg, "batch"));
    ovs_buf t = {0};
    ovs_train_to_text(&a, &t);
    ovs_train_defaults(&b, "tiny", 2);
    for (char *line = strtok(t.data, "\n"); line; line = strtok(NULL, "\n")) CHECK_OK(ovs_train_set(&b, line, &e), &e);
    CHECK(!memcmp(&a, &b, sizeof a));
    ovs_buf_free(&t);
    /* epochs -> steps with drop-last batches */
    ovs_source src = {.samples_per_epoch = 100};
    ovs_train_defaults(&a, "tiny", 1);
    a.batch = 8, a.epochs = 2, a.warmup_epochs = 0.5;
    int64_t total, warm;
    CHECK_OK(ovs_train_plan(&a, &src, &total, &warm, &e), &e);
    CHECK_EQ_INT(total, 24);
    CHECK_EQ_INT(warm, 6);
    src.samples_per_epoch = 0;
    CHECK(ovs_train_plan(&a, &src, &total, &warm, &e) == OVS_EUSER);
}

int main(void) {
    RUN(train_forty_steps_learns_and_writes_metrics);
    RUN(train_resume_is_bit_exact);
    RUN(train_resume_after_kill_9_is_bit_exact);
    RUN(train_nan_loss_stops_and_keeps_last_checkpoint);
    RUN(train_bad_checkpoints_fail_before_any_step);
    RUN(train_recipe_keys_round_trip);
    return check_done();
}
