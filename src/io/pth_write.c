/* pth_write.c — torch.save-compatible zip writer for float32 state_dicts (pth.h). */
#include "io/pth.h"

#include "core/common.h"
#include "io/pickle.h"
#include "io/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void int_tuple(pk_writer *w, const int64_t *v, int n)
{
    if (n == 0) {
        pkw_byte(w, ')');
    } else if (n <= 3) {
        for (int k = 0; k < n; k++) pkw_int(w, v[k]);
        pkw_byte(w, (uint8_t)(0x84 + n)); /* TUPLE1..3 */
    } else {
        pkw_byte(w, '(');
        for (int k = 0; k < n; k++) pkw_int(w, v[k]);
        pkw_byte(w, 't');
    }
    pkw_put(w);
}

int pth_save_f32(const char *path, const pth_tensor_out *t, int n)
{
    pk_writer w = { 0 };
    pkw_proto(&w, 2);
    pkw_global(&w, "collections", "OrderedDict"); /* memo 0 */
    pkw_byte(&w, ')');
    pkw_byte(&w, 'R');
    pkw_put(&w);
    uint32_t m_rebuild = 0, m_storage = 0, m_float = 0, m_cpu = 0;
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (i % 1000 == 0) pkw_byte(&w, '('); /* pickle batches SETITEMS by 1000 */
        int64_t numel = 1, stride[PTH_MAX_RANK], zero = 0;
        for (int k = t[i].rank - 1; k >= 0; k--) {
            stride[k] = numel;
            numel *= t[i].shape[k];
        }
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        pkw_str(&w, t[i].name);
        if (first) {
            pkw_global(&w, "torch._utils", "_rebuild_tensor_v2");
            m_rebuild = w.memo - 1;
        } else {
            pkw_get(&w, m_rebuild);
        }
        pkw_byte(&w, '(');
        pkw_byte(&w, '(');
        if (first) {
            pkw_str(&w, "storage");
            m_storage = w.memo - 1;
            pkw_global(&w, "torch", "FloatStorage");
            m_float = w.memo - 1;
        } else {
            pkw_get(&w, m_storage);
            pkw_get(&w, m_float);
        }
        pkw_str(&w, key);
        if (first) {
            pkw_str(&w, "cpu");
            m_cpu = w.memo - 1;
        } else {
            pkw_get(&w, m_cpu);
        }
        pkw_int(&w, numel);
        pkw_byte(&w, 't');
        pkw_put(&w);
        pkw_byte(&w, 'Q'); /* BINPERSID */
        pkw_int(&w, zero); /* storage_offset */
        int_tuple(&w, t[i].shape, t[i].rank);
        int_tuple(&w, stride, t[i].rank);
        pkw_byte(&w, 0x89); /* requires_grad False */
        pkw_get(&w, 0);     /* backward_hooks: OrderedDict() */
        pkw_byte(&w, ')');
        pkw_byte(&w, 'R');
        pkw_put(&w);
        pkw_byte(&w, 't');
        pkw_put(&w);
        pkw_byte(&w, 'R');
        pkw_put(&w);
        first = 0;
        if (i % 1000 == 999 || i == n - 1) pkw_byte(&w, 'u');
    }
    if (pkw_finish(&w) != DDPM_OK) {
        pkw_free(&w);
        return ddpm_error_prefix("%s: not written", path);
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    zip_writer *z;
    if (zip_writer_open(&z, tmp) != DDPM_OK) {
        pkw_free(&w);
        return DDPM_ERR;
    }
    int rc = zip_writer_add(z, "archive/data.pkl", w.buf, w.len, 64);
    pkw_free(&w);
    if (rc == DDPM_OK) rc = zip_writer_add(z, "archive/byteorder", "little", 6, 64);
    for (int i = 0; i < n && rc == DDPM_OK; i++) {
        char name[64];
        snprintf(name, sizeof name, "archive/data/%d", i);
        int64_t numel = 1;
        for (int k = 0; k < t[i].rank; k++) numel *= t[i].shape[k];
        rc = zip_writer_add(z, name, t[i].data, (size_t)numel * sizeof(float), 64);
    }
    if (rc == DDPM_OK) rc = zip_writer_add(z, "archive/version", "3\n", 2, 64);
    if (rc != DDPM_OK) {
        zip_writer_abort(z);
        unlink(tmp);
        return DDPM_ERR;
    }
    if (zip_writer_close(z) != DDPM_OK) {
        unlink(tmp);
        return DDPM_ERR;
    }
    if (rename(tmp, path) != 0) return ddpm_error("%s: cannot rename %s into place", path, tmp);
    return DDPM_OK;
}
