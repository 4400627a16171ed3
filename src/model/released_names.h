/* released_names.h — the parameter names of the released DDPM models in their three spellings
 * (shared/released-models/FORMATS.md, cifar10-names.csv): the official TF names the U-Net uses
 * (unet.h), pesser/pytorch_diffusion's state_dict keys and diffusers' UNet2DModel keys, and how
 * each tensor's layout differs. The map is derived from the structure of the official name
 * ("model/up_1/attn_2/q/W"), so it holds for every config (ch, ch_mult, num_res_blocks,
 * attention resolutions); only diffusers' reversed up-block index needs the level count. */
#ifndef DDPM_RELEASED_NAMES_H
#define DDPM_RELEASED_NAMES_H

#include <stddef.h>

typedef enum { KEYS_OFFICIAL, KEYS_PESSER, KEYS_DIFFUSERS, KEYS_DIFFUSERS_NEW } key_style;

/* Layout of a parameter in PyTorch relative to TF:
 *   COPY  bias, gamma, beta (1-D)
 *   CONV  TF [kh,kw,in,out] <-> torch [out,in,kh,kw]
 *   DENSE TF [in,out] <-> torch Linear [out,in]
 *   NIN   TF [in,out] <-> torch 1x1 Conv2d [out,in,1,1] (pesser's q/k/v/proj_out and every
 *         nin_shortcut; diffusers' conv_shortcut), or Linear [out,in] (diffusers' attention) */
typedef enum { LAYOUT_COPY, LAYOUT_CONV, LAYOUT_DENSE, LAYOUT_NIN } param_layout;

/* The key of official parameter `official` in `style`, for a model of num_levels levels
 * (len(ch_mult)); *layout (may be NULL) its layout change and *torch_rank (may be NULL) the
 * rank PyTorch stores it with in that style (NIN: 4, except diffusers' attention: 2).
 * Error (ddpm_error) for a name that is not an official U-Net parameter. */
int released_key(const char *official, key_style style, int num_levels, char *out, size_t n, param_layout *layout,
                 int *torch_rank);
const char *key_style_name(key_style s); /* "official", "pesser", "diffusers", ... */
const char *param_layout_name(param_layout l);

/* dst (TF layout, shape tf[rank]) from src in torch layout, and back. For NIN the torch side
 * may be [out,in] or [out,in,1,1]: the same bytes. */
void layout_torch_to_tf(float *dst, const float *src, param_layout l, int rank, const int *tf);
void layout_tf_to_torch(float *dst, const float *src, param_layout l, int rank, const int *tf);
/* The torch shape of a TF shape under layout l with torch rank trank. Returns the rank. */
int layout_torch_shape(param_layout l, int rank, const int *tf, int trank, long long *out);

#endif
