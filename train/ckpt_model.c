/* ckpt_model.c — a model built from a checkpoint alone: the model config from the file's metadata,
 * then every tensor loaded strictly (names and shapes of the parameter table). Used by embed and eval. */
#include "train/ckpt.h"

#include "train/safetensors.h"

int ovs_ckpt_load_model(const char *path, int max_batch, ovs_model **out, ovs_err *e) {
    *out = NULL;
    ovs_st_file f;
    int rc = ovs_st_open(&f, path, e);
    if (rc) return rc;
    ovs_config cfg;
    const char *text = ovs_st_meta(&f, "model_config");
    if (!text) rc = ovs_errf(e, OVS_EUSER, "%s: no model_config in its metadata (not an ovseg checkpoint?)", path);
    else if ((rc = ovs_config_from_text(&cfg, text, e))) ovs_errctx(e, "%s", path);
    ovs_st_close(&f);
    if (rc) return rc;
    ovs_model *m;
    if ((rc = ovs_model_create(&m, &cfg, max_batch, 0, e))) return rc;
    int n;
    const ovs_param *table = ovs_model_table(m, &n);
    ovs_ckpt_part part = {.prefix = "", .table = table, .n = n, .data = ovs_model_params(m)};
    if ((rc = ovs_ckpt_read(path, &part, 1, 0, NULL, e))) { ovs_model_free(m); return rc; }
    *out = m;
    return 0;
}
