#include "nn/conv_im2col.h"

#include "core/common.h"

#include <cblas.h>

int conv_im2col_out_size(int in, int k, int stride, int pad)
{
    if (stride < 1 || in + 2 * pad < k) return 0;
    return (in + 2 * pad - k) / stride + 1;
}

int conv_im2col_forward(float *out, int out_ld, const float *inp, const float *w, const float *bias, int relu,
                        float *col, size_t col_cap, int B, int H, int W, int Cin, int Cout, conv_geom g)
{
    int Ho = conv_im2col_out_size(H, g.kh, g.sh, g.ph);
    int Wo = conv_im2col_out_size(W, g.kw, g.sw, g.pw);
    if (B < 1 || Cin < 1 || Cout < 1 || g.kh < 1 || g.kw < 1 || g.ph < 0 || g.pw < 0 || Ho < 1 || Wo < 1 ||
        out_ld < Cout)
        return ddpm_error("conv_im2col: invalid geometry (B=%d H=%d W=%d Cin=%d Cout=%d k=%dx%d "
                          "stride=%dx%d pad=%dx%d ld=%d)",
                          B, H, W, Cin, Cout, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, out_ld);
    const long M = (long)B * Ho * Wo, K = (long)g.kh * g.kw * Cin;
    if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0) {
        /* the NHWC input already is the (M, Cin) matrix */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, Cout, Cin, 1.0f, inp, Cin, w, Cout, 0.0f, out,
                    out_ld);
    } else {
        if (!col || col_cap < (size_t)K)
            return ddpm_error("conv_im2col: workspace of %zu floats is below one row (%ld)", col_cap, K);
        long rows = (long)(col_cap / (size_t)K);
        for (long m0 = 0; m0 < M; m0 += rows) {
            long m1 = m0 + rows < M ? m0 + rows : M;
            im2col_rows(col, inp, m0, m1, H, W, Cin, Ho, Wo, g);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(m1 - m0), Cout, (int)K, 1.0f, col, (int)K, w,
                        Cout, 0.0f, out + m0 * out_ld, out_ld);
        }
    }
    if (bias || relu) {
        for (long m = 0; m < M; m++) {
            float *o = out + m * out_ld;
            if (bias)
                for (int c = 0; c < Cout; c++) o[c] += bias[c];
            if (relu)
                for (int c = 0; c < Cout; c++) o[c] = o[c] > 0.0f ? o[c] : 0.0f;
        }
    }
    return DDPM_OK;
}
