#include "eval/resumable.h"

#include "core/common.h"
#include "eval/partial.h"
#include "image/png_io.h"

#include <stdio.h>

int resumable_sample_batch(void *user, int b, int i0, int nb, void (*step)(void *, int, int), void *step_user)
{
    resumable_sample_job *j = user;
    DDPM_TRY(ddpm_generate_batch(j->m, j->n, j->seed, j->batch, b, j->x, j->every, j->rec, step, step_user));
    if (j->u8) images_to_uint8(j->u8 + (size_t)i0 * j->m->D, j->x + (size_t)i0 * j->m->D, (size_t)nb * j->m->D);
    return DDPM_OK;
}

int resumable_bpd_batch(void *user, int b, int i0, int nb, void (*step)(void *, int, int), void *step_user)
{
    (void)i0;
    (void)nb;
    resumable_bpd_job *j = user;
    return ddpm_eval_bpd_batch(j->m, j->x0, j->n, j->batch, b, j->seed, j->total, j->prior, j->terms, j->mse, step,
                               step_user);
}

void resumable_weights_key(ddpm_model *m, const ddpm_config *c, const char *which, char *key, size_t n)
{
    char wd[17], ch[17];
    partial_digest(unet_params(m->net), unet_num_params(m->net) * sizeof(float), wd);
    config_hash(c, ch);
    snprintf(key, n, "weights=%s digest=%s config=%s", which, wd, ch);
}
