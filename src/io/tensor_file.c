/* tensor_file.c — format dispatch of tensor_file.h over pth, safetensors, npy and tfbundle. */
#include "io/tensor_file.h"

#include "core/common.h"
#include "io/npy.h"
#include "io/pth.h"
#include "io/readfile.h"
#include "io/safetensors.h"
#include "io/tfbundle.h"
#include "io/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tensor_file {
    tensor_format fmt;
    char path[1024];
    pth_file *pth;
    safetensors *st;
    npy_file *npy;
    tfbundle *tf;
};

const char *tensor_format_name(tensor_format fmt)
{
    switch (fmt) {
    case TENSOR_FMT_TORCH_ZIP: return "torch zip";
    case TENSOR_FMT_TORCH_LEGACY: return "torch legacy";
    case TENSOR_FMT_SAFETENSORS: return "safetensors";
    case TENSOR_FMT_NPY: return "npy";
    case TENSOR_FMT_NPZ: return "npz";
    case TENSOR_FMT_TFBUNDLE: return "tf bundle";
    }
    return "?";
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The SSTable footer magic 0xdb4775248b80fb57 in the last 8 bytes. */
static int has_sstable_magic(const uint8_t *b, size_t n)
{
    static const uint8_t M[8] = { 0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb };
    return n >= 48 && !memcmp(b + n - 8, M, 8);
}

/* The formats that live in one file, from a buffer (not taken over). */
static int open_buffer(tensor_file *f, const uint8_t *buf, size_t len, const char *label)
{
    int rc;
    if (len >= 4 && !memcmp(buf, "PK\3\4", 4)) {
        /* a torch archive has a data.pkl record; anything else is read as .npz */
        zip_archive z;
        rc = zip_open(&z, buf, len, label, 1);
        int torch = 0;
        for (int k = 0; rc == DDPM_OK && k < z.n; k++) {
            size_t L = z.ent[k].nlen;
            if (L >= 8 && !memcmp(z.ent[k].name + L - 8, "data.pkl", 8)) torch = 1;
        }
        if (rc == DDPM_OK) zip_close(&z);
        if (rc == DDPM_OK) {
            f->fmt = torch ? TENSOR_FMT_TORCH_ZIP : TENSOR_FMT_NPZ;
            rc = torch ? pth_open_mem(&f->pth, buf, len, label) : npy_open_mem(&f->npy, buf, len, label);
        }
    } else if (len >= 1 && buf[0] == 0x80) {
        f->fmt = TENSOR_FMT_TORCH_LEGACY;
        rc = pth_open_mem(&f->pth, buf, len, label);
    } else if (len >= 6 && !memcmp(buf, "\x93NUMPY", 6)) {
        f->fmt = TENSOR_FMT_NPY;
        rc = npy_open_mem(&f->npy, buf, len, label);
    } else if (len >= 9 && buf[8] == '{') {
        f->fmt = TENSOR_FMT_SAFETENSORS;
        rc = safetensors_open_mem(&f->st, buf, len, label);
    } else {
        rc = ddpm_error("%s: unknown format (not a torch file, safetensors, .npy/.npz or a TensorFlow "
                        "checkpoint .index; for a TF checkpoint pass its prefix or .index file)",
                        label);
    }
    return rc;
}

int tensor_file_open(tensor_file **out, const char *path)
{
    *out = NULL;
    tensor_file *f = calloc(1, sizeof *f);
    if (!f) return ddpm_error("out of memory");
    snprintf(f->path, sizeof f->path, "%s", path);
    int rc;
    char idx[1100];
    snprintf(idx, sizeof idx, "%s.index", path);
    /* a TF prefix, or one of its .data-NNNNN-of-NNNNN shards */
    const char *dp = strstr(path, ".data-");
    int shard = dp && strlen(dp) == 20 && !strncmp(dp + 11, "-of-", 4);
    if ((!is_file(path) && is_file(idx)) || shard) {
        f->fmt = TENSOR_FMT_TFBUNDLE;
        rc = tfbundle_open(&f->tf, path);
    } else {
        uint8_t *buf;
        size_t len;
        rc = io_read_file(path, &buf, &len, 0);
        if (rc != DDPM_OK) {
            free(f);
            return rc;
        }
        int known = (len >= 4 && !memcmp(buf, "PK\3\4", 4)) || (len >= 1 && buf[0] == 0x80) ||
                    (len >= 6 && !memcmp(buf, "\x93NUMPY", 6)) || (len >= 9 && buf[8] == '{');
        if (!known && has_sstable_magic(buf, len)) {
            f->fmt = TENSOR_FMT_TFBUNDLE;
            rc = tfbundle_open(&f->tf, path);
        } else {
            rc = open_buffer(f, buf, len, path);
        }
        free(buf);
    }
    if (rc != DDPM_OK) {
        tensor_file_close(f);
        return DDPM_ERR;
    }
    *out = f;
    return DDPM_OK;
}

int tensor_file_open_mem(tensor_file **out, const void *data, size_t len, const char *label)
{
    *out = NULL;
    tensor_file *f = calloc(1, sizeof *f);
    if (!f) return ddpm_error("out of memory");
    snprintf(f->path, sizeof f->path, "%s", label ? label : "(memory)");
    if (open_buffer(f, data, len, f->path) != DDPM_OK) {
        tensor_file_close(f);
        return DDPM_ERR;
    }
    *out = f;
    return DDPM_OK;
}

void tensor_file_close(tensor_file *f)
{
    if (!f) return;
    pth_close(f->pth);
    safetensors_close(f->st);
    npy_close(f->npy);
    if (f->tf) tfbundle_close(f->tf);
    free(f);
}

tensor_format tensor_file_format(const tensor_file *f) { return f->fmt; }
const char *tensor_file_path(const tensor_file *f) { return f->path; }

int tensor_file_count(const tensor_file *f)
{
    if (f->pth) return pth_num_tensors(f->pth);
    if (f->st) return safetensors_num_tensors(f->st);
    if (f->npy) return npy_num_arrays(f->npy);
    return tfbundle_num_tensors(f->tf);
}

const char *tensor_file_name(const tensor_file *f, int i)
{
    if (f->pth) return pth_tensor_name(f->pth, i);
    if (f->st) return safetensors_tensor_name(f->st, i);
    if (f->npy) return npy_array_name(f->npy, i);
    return tfbundle_tensor_name(f->tf, i);
}

int tensor_file_find(const tensor_file *f, const char *name)
{
    if (f->pth) return pth_find(f->pth, name);
    if (f->st) return safetensors_find(f->st, name);
    if (f->npy) return npy_find(f->npy, name);
    return tfbundle_find(f->tf, name);
}

int tensor_file_info(const tensor_file *f, int i, io_dtype *dtype, int *rank, int64_t shape[IO_MAX_RANK],
                     uint64_t *nbytes)
{
    io_dtype dt = IO_F32;
    int r = 0;
    int64_t s[IO_MAX_RANK];
    uint64_t nb = 0;
    int rc;
    if (f->pth) {
        const char *name = pth_tensor_name(f->pth, i);
        if (!name) return ddpm_error("%s: tensor index %d out of range", f->path, i);
        rc = pth_tensor_info(f->pth, name, &dt, &r, s);
        nb = io_dtype_size(dt);
        for (int k = 0; k < r; k++) nb *= (uint64_t)s[k];
    } else if (f->st) {
        rc = safetensors_tensor_info(f->st, i, &dt, &r, s, &nb);
    } else if (f->npy) {
        rc = npy_array_info(f->npy, i, &dt, &r, s, &nb, NULL);
    } else {
        rc = tfbundle_tensor_info(f->tf, i, &dt, &r, s, &nb);
    }
    if (rc != DDPM_OK) return rc;
    if (dtype) *dtype = dt;
    if (rank) *rank = r;
    if (shape)
        for (int k = 0; k < r; k++) shape[k] = s[k];
    if (nbytes) *nbytes = nb;
    return DDPM_OK;
}

int tensor_file_get_f32(const tensor_file *f, int i, float **out)
{
    *out = NULL;
    if (f->pth) {
        const char *name = pth_tensor_name(f->pth, i);
        if (!name) return ddpm_error("%s: tensor index %d out of range", f->path, i);
        return pth_get_f32(f->pth, name, out, NULL, NULL);
    }
    if (f->st) return safetensors_get_f32(f->st, i, out);
    if (f->npy) return npy_get_f32(f->npy, i, out);
    return tfbundle_get_f32(f->tf, i, out);
}

int tensor_file_check(const tensor_file *f, int i)
{
    if (f->tf) return tfbundle_check_crc(f->tf, i);
    return 2;
}
