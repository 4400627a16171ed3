#include "train/train_dist.h"

#include "core/common.h"
#include "dist/dist.h"
#include "io/h5io.h"

int train_dist_agree_int(int *v) { return dist_bcast_bytes(v, sizeof *v, 0); }

int train_dist_bcast_state(unet *net, float *ema, adam_state *opt, int64_t *step)
{
    if (dist_size() == 1) return DDPM_OK;
    const size_t n = unet_num_params(net);
    DDPM_TRY(dist_bcast_bytes(unet_params(net), n * sizeof(float), 0));
    DDPM_TRY(dist_bcast_bytes(ema, n * sizeof(float), 0));
    DDPM_TRY(dist_bcast_bytes(opt->m, n * sizeof(float), 0));
    DDPM_TRY(dist_bcast_bytes(opt->v, n * sizeof(float), 0));
    DDPM_TRY(dist_bcast_bytes(&opt->t, sizeof opt->t, 0));
    DDPM_TRY(dist_bcast_bytes(step, sizeof *step, 0));
    return DDPM_OK;
}

int train_dist_provenance(hid_t loc, const char *group)
{
    char hosts[4096];
    DDPM_TRY(dist_hosts(hosts, sizeof hosts));
    if (dist_rank() != 0) return DDPM_OK;
    DDPM_TRY(h5io_attr_i64(loc, group, "nranks", dist_size()));
    DDPM_TRY(h5io_attr_str(loc, group, "hosts", hosts));
    return DDPM_OK;
}
