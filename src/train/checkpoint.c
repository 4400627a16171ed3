#include "train/checkpoint.h"

#include "core/common.h"
#include "core/fs.h"
#include "io/h5io.h"
#include "io/provenance.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Tensor i of m: its dataset name under prefix and its (TF) dims. */
static const unet_param *tensor_entry(const unet *m, int i, const char *prefix, char name[256], hsize_t dims[4])
{
    const unet_param *p = unet_tensor(m, i);
    for (int k = 0; k < p->rank; k++) dims[k] = (hsize_t)p->shape[k];
    snprintf(name, 256, "%s%s", prefix, p->name);
    return p;
}

static int write_group(hid_t f, const char *prefix, const unet *m, const float *data)
{
    char name[256];
    hsize_t dims[4];
    for (int i = 0; i < unet_num_tensors(m); i++) {
        const unet_param *p = tensor_entry(m, i, prefix, name, dims);
        DDPM_TRY(h5io_write_f32_checksummed(f, name, data + p->offset, p->rank, dims));
    }
    return DDPM_OK;
}

static int read_group(hid_t f, const char *path, const char *prefix, const unet *m, float *data)
{
    char name[256];
    hsize_t dims[4];
    for (int i = 0; i < unet_num_tensors(m); i++) {
        const unet_param *p = tensor_entry(m, i, prefix, name, dims);
        if (!h5io_exists(f, name))
            return ddpm_error("%s: parameter %s is missing (checkpoint of another model, or "
                              "damaged; re-create it with ddpm init or ddpm train)",
                              path, name);
        DDPM_TRY(h5io_read_into_f32(f, name, data + p->offset, p->rank, dims));
    }
    return DDPM_OK;
}

int checkpoint_save(const char *path, const ddpm_config *cfg, const unet *m, const float *params, const float *ema,
                    const adam_state *opt, int64_t step, int argc, char **argv)
{
    char tmp[1100];
    fs_tmp_path(path, tmp, sizeof tmp);
    hid_t f = h5io_create(tmp);
    if (f < 0) return ddpm_error("%s: cannot write checkpoint (is the directory writable?)", path);
    int rc = DDPM_OK;
    if (rc == DDPM_OK) rc = h5io_attr_str(f, ".", "format", CHECKPOINT_FORMAT);
    if (rc == DDPM_OK) rc = write_config_attrs(f, ".", cfg);
    if (rc == DDPM_OK) rc = h5io_attr_i64(f, ".", "step", step);
    if (rc == DDPM_OK) rc = h5io_attr_i64(f, ".", "num_params", (int64_t)unet_num_params(m));
    if (rc == DDPM_OK) rc = write_provenance(f, "provenance", cfg, argc, argv);
    if (rc == DDPM_OK) rc = write_group(f, "", m, params);
    if (rc == DDPM_OK && ema) rc = write_group(f, "ema/", m, ema);
    if (rc == DDPM_OK && opt) {
        rc = h5io_attr_i64(f, ".", "adam_t", opt->t);
        if (rc == DDPM_OK) rc = write_group(f, "optimizer/m/", m, opt->m);
        if (rc == DDPM_OK) rc = write_group(f, "optimizer/v/", m, opt->v);
    }
    if (rc != DDPM_OK) {
        h5io_close(f);
        unlink(tmp);
        return ddpm_error_prefix("%s: checkpoint not written (disk full?)", path);
    }
    if (h5io_close_sync(f, tmp) != DDPM_OK) {
        unlink(tmp);
        return ddpm_error_prefix("%s: checkpoint not written", path);
    }
    return fs_commit(tmp, path);
}

static hid_t open_ckpt(const char *path)
{
    hid_t f = h5io_open(path, 0);
    if (f < 0) return f;
    char fmt[64];
    if (!h5io_attr_exists(f, ".", "format") || h5io_get_attr_str(f, ".", "format", fmt, sizeof fmt) != DDPM_OK ||
        strcmp(fmt, CHECKPOINT_FORMAT) != 0) {
        h5io_close(f);
        ddpm_error("%s: not a ddpm checkpoint (no format = %s attribute)", path, CHECKPOINT_FORMAT);
        return H5I_INVALID_HID;
    }
    return f;
}

int checkpoint_read_config(const char *path, ddpm_config *cfg)
{
    hid_t f = open_ckpt(path);
    if (f < 0) return DDPM_ERR;
    int rc = read_config_attrs(f, ".", cfg);
    h5io_close(f);
    return rc;
}

int checkpoint_read_step(const char *path, int64_t *step)
{
    hid_t f = open_ckpt(path);
    if (f < 0) return DDPM_ERR;
    int rc = h5io_get_attr_i64(f, ".", "step", step);
    h5io_close(f);
    return rc;
}

int checkpoint_load_weights(const char *path, const unet *m, const char *which, float *params)
{
    hid_t f = open_ckpt(path);
    if (f < 0) return DDPM_ERR;
    int rc = read_group(f, path, strcmp(which, "ema") == 0 ? "ema/" : "", m, params);
    h5io_close(f);
    return rc;
}

int checkpoint_load_train_state(const char *path, const unet *m, float *params, float *ema, adam_state *opt,
                                int64_t *step)
{
    hid_t f = open_ckpt(path);
    if (f < 0) return DDPM_ERR;
    int rc = h5io_get_attr_i64(f, ".", "step", step);
    if (rc == DDPM_OK) rc = read_group(f, path, "", m, params);
    if (rc == DDPM_OK && ema) {
        if (h5io_exists(f, "ema")) rc = read_group(f, path, "ema/", m, ema);
        else memcpy(ema, params, unet_num_params(m) * sizeof(float));
    }
    if (rc == DDPM_OK && opt) {
        if (h5io_exists(f, "optimizer")) {
            rc = h5io_get_attr_i64(f, ".", "adam_t", &opt->t);
            if (rc == DDPM_OK) rc = read_group(f, path, "optimizer/m/", m, opt->m);
            if (rc == DDPM_OK) rc = read_group(f, path, "optimizer/v/", m, opt->v);
        } else {
            opt->t = 0;
            memset(opt->m, 0, opt->n * sizeof(float));
            memset(opt->v, 0, opt->n * sizeof(float));
        }
    }
    h5io_close(f);
    return rc;
}
