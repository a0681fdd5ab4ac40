/* test_eval_prompts.c — prompt templates and template-averaged class embeddings. */
#include "tests/check.h"
#include "eval/prompts.h"
#include "util/fsutil.h"

/* A fake text encoder: 2-d feature from the text's length and its count of 'a's, normalised. */
static int fake_text(void *ctx, const char *const *texts, int n, float *out, ovs_err *e) {
    (void)e;
    int *calls = ctx;
    for (int i = 0; i < n; i++) {
        float a = 0, l = (float)strlen(texts[i]);
        for (const char *p = texts[i]; *p; p++) a += *p == 'a';
        float nr = sqrtf(a * a + l * l);
        out[2 * i] = l / nr;
        out[2 * i + 1] = a / nr;
        (*calls)++;
    }
    return 0;
}

TEST(prompts_default_template_is_a_photo_of_a) {
    char out[64];
    ovs_err e = {0};
    CHECK_OK(ovs_prompt_fill(ovs_default_template, "cat", out, sizeof out, &e), &e);
    CHECK_STR(out, "a photo of a cat.");
    CHECK_EQ_INT(ovs_prompt_fill("{} {}", "a very long class name", out, 8, &e), OVS_EUSER);
}

TEST(prompts_template_file_needs_one_placeholder_per_line) {
    const char *p = check_path("tpl.txt");
    ovs_err e = {0};
    char **t;
    int n;
    CHECK_OK(ovs_write_atomic(p, "# comment\na photo of a {}.\n\nitap of a {}.\r\n", strlen("# comment\na photo of a {}.\n\nitap of a {}.\r\n"), &e), &e);
    CHECK_OK(ovs_templates_read(p, &t, &n, &e), &e);
    CHECK_EQ_INT(n, 2);
    CHECK_STR(t[1], "itap of a {}.");
    ovs_templates_free(t, n);
    CHECK_OK(ovs_write_atomic(p, "a {}.\nno placeholder\n", strlen("a {}.\nno placeholder\n"), &e), &e);
    CHECK_EQ_INT(ovs_templates_read(p, &t, &n, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, ":2:") != NULL, "%s", e.msg);
}

TEST(prompts_class_embedding_is_normalised_mean_over_templates) {
    char *names[] = {"cat", "banana"};
    char *tpl[] = {"a {}", "{}"};
    float out[4];
    int calls = 0;
    ovs_err e = {0};
    CHECK_OK(ovs_class_embeddings(fake_text, &calls, 2, names, 2, tpl, 2, out, &e), &e);
    CHECK_EQ_INT(calls, 4);
    /* "a cat": len 5, 2 a's; "cat": len 3, 1 a -> mean of normalised (5,2)/sqrt29 and (3,1)/sqrt10 */
    double x = (5 / sqrt(29) + 3 / sqrt(10)) / 2, y = (2 / sqrt(29) + 1 / sqrt(10)) / 2, nr = sqrt(x * x + y * y);
    CHECK_NEAR(out[0], x / nr, 1e-6);
    CHECK_NEAR(out[1], y / nr, 1e-6);
    CHECK_NEAR(out[2] * out[2] + out[3] * out[3], 1.0, 1e-6);
    /* no templates: the default one */
    calls = 0;
    CHECK_OK(ovs_class_embeddings(fake_text, &calls, 2, names, 1, NULL, 0, out, &e), &e);
    CHECK_EQ_INT(calls, 1);
    double l = strlen("a photo of a cat."), a = 3, n2 = sqrt(l * l + a * a);
    CHECK_NEAR(out[0], l / n2, 1e-6);
}

int main(void) {
    RUN(prompts_default_template_is_a_photo_of_a);
    RUN(prompts_template_file_needs_one_placeholder_per_line);
    RUN(prompts_class_embedding_is_normalised_mean_over_templates);
    return check_done();
}
