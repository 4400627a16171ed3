/* test_released.c — the released DDPM models' formats (issue 17) on fixtures written by the real
 * writers (scripts/gen_released_fixtures.py: torch.save in both serialisations with pesser's and
 * diffusers' keys, safetensors and a TF bundle from their specs, numpy's savez):
 *  - the name map derived from the U-Net equals every row of cifar10-names.csv;
 *  - each format converts, and the U-Net forward of the converted checkpoint equals PyTorch's
 *    forward of the same weights (re-implementation of the official U-Net) within 1e-4;
 *  - the config is inferred from the shapes and checked against --config key by key;
 *  - convert -> export -> convert round-trips bit-identically;
 *  - .npz/.npy statistics (stored and deflated, Fortran order) read exactly;
 *  - every truncation and byte flip of each fixture gives an error naming the file, or
 *    identical tensors (changed values only where the format has no checksum), never a crash.
 * With DDPM_RELEASED_FULL_DIR set (scripts/gen_released_fixtures.py --full DIR) the same
 * conversions run on the 35.7M-parameter CIFAR-10 model. */
#include "core/common.h"
#include "features/fid.h"
#include "io/h5io.h"
#include "io/npy.h"
#include "io/pth.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"
#include "io/zip.h"
#include "model/unet.h"
#include "train/checkpoint.h"
#include "train/released.h"
#include "testutil.h"

#include <stdint.h>
#include <sys/stat.h>

#define DIR             "tests/data/released/"
#define FIXTURE_VERSION 1
/* The C and PyTorch forwards are both float32 with different summation orders; errors of
 * a few ulp of |y| ~ 4 per layer (measured 1.9e-6 on the fixtures, 1e-5 scale expected at
 * full size) stay far below the 1e-4. */
#define FORWARD_ATOL 1e-4

static const char *SOURCES[] = { "pesser_zip.ckpt",      "pesser_legacy.ckpt",    "diffusers.bin",
                                 "diffusers_legacy.bin", "diffusers.safetensors", "diffusers_new.safetensors",
                                 "tf/model.ckpt-1000" };

#define slurp(path, len) test_slurp(path, len, "run /usr/bin/python3 scripts/gen_released_fixtures.py")

#define spit test_spit

static void load_config(const char *dir, ddpm_config *c)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/model.cfg", dir);
    config_defaults(c);
    ck_assert_msg(config_load_file(c, p) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert(config_validate(c) == DDPM_OK);
}

/* ---- the name map against every row of the CSV -------------------------------------------- */

static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        if (*p == '"') {
            f[n++] = ++p;
            while (*p && *p != '"') p++;
            if (*p) *p++ = 0;
        } else {
            f[n++] = p;
            while (*p && *p != ',' && *p != '\n') p++;
        }
        if (*p == ',') *p++ = 0;
        else {
            *p = 0;
            break;
        }
    }
    return n;
}

static void shape_str(char *b, size_t n, const long long *s, int r)
{
    b[0] = 0;
    for (int k = 0; k < r; k++) snprintf(b + strlen(b), n - strlen(b), "%s%lld", k ? "x" : "", s[k]);
}

START_TEST(test_names_match_csv)
{
    ddpm_config c;
    config_defaults(&c); /* the official CIFAR-10 model */
    unet *m;
    ck_assert(unet_create(&m, &c, 1) == DDPM_OK);
    ck_assert_int_eq(unet_num_tensors(m), 328);
    ck_assert(unet_num_params(m) == 35746307);
    FILE *fp = fopen(DIR "cifar10-names.csv", "r");
    ck_assert(fp != NULL);
    char line[1024];
    ck_assert(fgets(line, sizeof line, fp) != NULL); /* header */
    int rows = 0;
    while (fgets(line, sizeof line, fp)) {
        char *f[8];
        ck_assert_int_eq(split_csv(line, f, 8), 8);
        const unet_param *p = unet_find(m, f[0]);
        ck_assert_msg(p != NULL, "CSV name %s is not a U-Net parameter", f[0]);
        long long tf[4], ts[4];
        for (int k = 0; k < p->rank; k++) tf[k] = p->shape[k];
        char got[64];
        shape_str(got, sizeof got, tf, p->rank);
        ck_assert_msg(!strcmp(got, f[1]), "%s: TF shape %s, CSV %s", f[0], got, f[1]);
        struct {
            key_style s;
            int col, shape_col;
        } styles[] = { { KEYS_PESSER, 2, 3 }, { KEYS_DIFFUSERS, 4, 5 }, { KEYS_DIFFUSERS_NEW, 6, 5 } };
        for (int s = 0; s < 3; s++) {
            char key[256];
            param_layout lay;
            int trank;
            ck_assert_msg(released_key(f[0], styles[s].s, 4, key, sizeof key, &lay, &trank) == DDPM_OK, "%s",
                          ddpm_last_error());
            ck_assert_msg(!strcmp(key, f[styles[s].col]), "%s: %s key %s, CSV %s", f[0], key_style_name(styles[s].s),
                          key, f[styles[s].col]);
            int r = layout_torch_shape(lay, p->rank, p->shape, trank, ts);
            shape_str(got, sizeof got, ts, r);
            ck_assert_msg(!strcmp(got, f[styles[s].shape_col]), "%s: %s torch shape %s, CSV %s", f[0],
                          key_style_name(styles[s].s), got, f[styles[s].shape_col]);
            if (s == 0) { /* layout column: "copy", "conv: ...", "dense: ...", "nin: ..." */
                ck_assert_msg(!strncmp(f[7], param_layout_name(lay), strlen(param_layout_name(lay))),
                              "%s: layout %s, CSV %s", f[0], param_layout_name(lay), f[7]);
            }
        }
        rows++;
    }
    fclose(fp);
    ck_assert_int_eq(rows, 328);
    /* and the reverse: every U-Net parameter maps, so the CSV rows are all of them */
    char key[256];
    ck_assert(released_key("model/down_0/attn_0/bogus/W", KEYS_PESSER, 4, key, sizeof key, NULL, NULL) == DDPM_ERR);
    ck_assert(released_key("model/down_7/block_0/conv1/W", KEYS_DIFFUSERS, 4, key, sizeof key, NULL, NULL) == DDPM_ERR);
    ck_assert(released_key("model/norm_out/W", KEYS_PESSER, 4, key, sizeof key, NULL, NULL) == DDPM_ERR);
    unet_free(m);
}
END_TEST

/* ---- conversion of each format and the forward against PyTorch ---------------------------- */

static float *load_group(const char *ckpt, const unet *m, const char *which)
{
    float *p = malloc(unet_num_params(m) * sizeof *p);
    ck_assert_msg(checkpoint_load_weights(ckpt, m, which, p) == DDPM_OK, "%s", ddpm_last_error());
    return p;
}

static double forward_error(unet *m, const float *params, const char *ref, const char *yname)
{
    hid_t h = test_ref_open(ref, FIXTURE_VERSION, "scripts/gen_released_fixtures.py");
    float *x, *y;
    int32_t *t;
    int r;
    hsize_t d[H5IO_MAX_RANK], dt[H5IO_MAX_RANK];
    ck_assert(h5io_read_f32(h, "x", &x, &r, d) == DDPM_OK && r == 4);
    ck_assert(h5io_read_i32(h, "t", &t, &r, dt) == DDPM_OK);
    ck_assert(h5io_read_f32(h, yname, &y, &r, d) == DDPM_OK);
    h5io_close(h);
    int B = (int)d[0];
    size_t n = (size_t)(d[0] * d[1] * d[2] * d[3]);
    float *out = malloc(n * sizeof *out);
    memcpy(unet_params(m), params, unet_num_params(m) * sizeof(float));
    ck_assert(unet_forward(out, m, x, t, 0, 0, 0, B) == DDPM_OK);
    double err = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)out[i] - (double)y[i]);
        if (e > err) err = e;
        if (fabs((double)y[i]) > mag) mag = fabs((double)y[i]);
    }
    ck_assert(mag > 0.1); /* the reference output is not trivially zero */
    free(out);
    ddpm_free(x);
    ddpm_free(y);
    ddpm_free(t);
    return err;
}

static void convert_ok(const char *from, const char *weights, ddpm_config *c, int check, const char *out,
                       released_report *rep)
{
    char *argv[] = { "test_released", NULL };
    ck_assert_msg(released_convert(from, weights, c, check, out, 1, argv, rep) == DDPM_OK, "%s: %s", from,
                  ddpm_last_error());
}

static void check_dir(const char *dir, int with_ema_ref)
{
    h5io_init();
    ddpm_config c0;
    load_config(dir, &c0);
    unet *m;
    ck_assert(unet_create(&m, &c0, 4) == DDPM_OK);
    char ref[1024];
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    float *first = NULL;
    for (size_t s = 0; s < DDPM_ARRAY_LEN(SOURCES); s++) {
        char from[1024], out[64];
        snprintf(from, sizeof from, "%s/%s", dir, SOURCES[s]);
        snprintf(out, sizeof out, "conv%zu.h5", s);
        struct stat st;
        char idx[1100];
        snprintf(idx, sizeof idx, "%s.index", from);
        if (stat(from, &st) != 0 && stat(idx, &st) != 0) {
            ck_assert_msg(strncmp(SOURCES[s], "tf/", 3) != 0 || !with_ema_ref, "%s missing", from);
            fprintf(stderr, "%s: not present, skipped\n", from);
            continue;
        }
        ddpm_config c = c0;
        released_report rep;
        const char *ck = test_tmp_path(out);
        convert_ok(from, NULL, &c, 1, ck, &rep);
        ck_assert_int_eq(rep.n_params, unet_num_tensors(m));
        float *raw = load_group(ck, m, "model"), *ema = load_group(ck, m, "ema");
        double e = forward_error(m, raw, ref, "y");
        fprintf(stderr, "%s (%s, %s keys): forward max |C - PyTorch| = %.3g, %d extras\n", from, rep.format,
                key_style_name(rep.style), e, rep.n_extras);
        ck_assert_msg(e <= FORWARD_ATOL, "%s: forward differs from PyTorch by %g", from, e);
        if (!first) {
            first = raw;
            raw = NULL;
        } else {
            ck_assert_msg(!memcmp(first, raw, unet_num_params(m) * sizeof(float)),
                          "%s: converted weights differ from %s's", from, SOURCES[0]);
        }
        if (rep.both_weights) {
            double ee = forward_error(m, ema, ref, "y_ema");
            fprintf(stderr, "%s: EMA forward max |C - PyTorch| = %.3g; extras (Adam, global_step) %d: %s\n", from, ee,
                    rep.n_extras, rep.extras);
            ck_assert_msg(ee <= FORWARD_ATOL, "%s: EMA forward differs by %g", from, ee);
            ck_assert_int_eq(rep.n_extras, unet_num_tensors(m) + 1);
        } else {
            ck_assert_msg(!memcmp(first, ema, unet_num_params(m) * sizeof(float)),
                          "%s: single-weight source but ema/ differs", from);
            ck_assert_int_eq(rep.n_extras, 0);
        }
        hid_t h = h5io_open(ck, 0);
        char w[256];
        ck_assert(h5io_get_attr_str(h, ".", "released_weights", w, sizeof w) == DDPM_OK);
        ck_assert(strstr(w, rep.both_weights ? "ExponentialMovingAverage" : "same tensors") != NULL);
        h5io_close(h);
        free(raw);
        free(ema);
    }
    free(first);
    unet_free(m);
}

START_TEST(test_convert_each_format) { check_dir("tests/data/released", 1); }
END_TEST

START_TEST(test_full_size)
{
    const char *dir = getenv("DDPM_RELEASED_FULL_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "DDPM_RELEASED_FULL_DIR not set: full-size test skipped\n");
        return;
    }
    check_dir(dir, 1);
}
END_TEST

/* ---- config inference and its check ------------------------------------------------------ */

START_TEST(test_infer_and_check_config)
{
    h5io_init();
    char *argv[] = { "t", NULL };
    released_report rep;
    ddpm_config c;
    const char *out = test_tmp_path("infer.h5");
    /* nothing given: ch 4 cannot have the official 32 groups -> an error that says what to do */
    config_defaults(&c);
    ck_assert(released_convert(DIR "pesser_zip.ckpt", NULL, &c, 0, out, 1, argv, &rep) == DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "num_groups") && strstr(ddpm_last_error(), "--config"), "%s",
                  ddpm_last_error());
    /* num_groups given (not inferable): the architecture comes from the shapes */
    config_defaults(&c);
    c.num_groups = 2;
    convert_ok(DIR "diffusers.safetensors", NULL, &c, 0, out, &rep);
    ck_assert_int_eq(c.ch, 4);
    ck_assert_int_eq(c.num_levels, 2);
    ck_assert(c.ch_mult[0] == 1 && c.ch_mult[1] == 2);
    ck_assert_int_eq(c.num_res_blocks, 1);
    ck_assert(c.image_size == 32 && c.num_attn == 1 && c.attn_resolutions[0] == 16); /* level 1 of 32 */
    ck_assert(strstr(rep.notes, "image_size = 32") != NULL);
    ck_assert(strstr(rep.notes, "single-weight source") != NULL);
    /* checked against a config: the first differing key is named with both values */
    struct {
        const char *set, *key;
    } bad[] = { { "ch_mult=1,2,2", "ch_mult is 1,2 in the file but 1,2,2" },
                { "ch=8", "ch is 4 in the file but 8" },
                { "num_res_blocks=2", "num_res_blocks is 1" },
                { "attn_resolutions=16", "attn_resolutions is 8" },
                { "dataset=png_gray", "input channels" } };
    for (size_t k = 0; k < DDPM_ARRAY_LEN(bad); k++) {
        load_config("tests/data/released", &c);
        ck_assert(config_set(&c, bad[k].set) == DDPM_OK);
        if (config_validate(&c) != DDPM_OK) {
            ck_assert_msg(config_set(&c, "num_groups=1") == DDPM_OK && config_validate(&c) == DDPM_OK, "%s",
                          ddpm_last_error());
        }
        ck_assert(released_convert(DIR "pesser_legacy.ckpt", NULL, &c, 1, out, 1, argv, &rep) == DDPM_ERR);
        ck_assert_msg(strstr(ddpm_last_error(), bad[k].key) != NULL && strstr(ddpm_last_error(), "pesser_legacy.ckpt"),
                      "%s: %s", bad[k].set, ddpm_last_error());
    }
    load_config("tests/data/released", &c);
    ck_assert(released_convert(DIR "pesser_zip.ckpt", "both", &c, 1, out, 1, argv, &rep) == DDPM_ERR);
    ck_assert(released_convert(DIR "stats.npz", NULL, &c, 1, out, 1, argv, &rep) == DDPM_ERR);
    ck_assert(strstr(ddpm_last_error(), "no DDPM U-Net keys") != NULL);
}
END_TEST

/* A tensor missing: the error names it (source key and official name); an extra is ignored. */
START_TEST(test_missing_and_extra_tensors)
{
    h5io_init();
    safetensors *s;
    ck_assert(safetensors_open(&s, DIR "diffusers.safetensors") == DDPM_OK);
    int n = safetensors_num_tensors(s);
    safetensors_tensor *t = calloc((size_t)n + 1, sizeof *t);
    static const float extra[3] = { 1, 2, 3 };
    int k = 0, drop = safetensors_find(s, "down_blocks.1.attentions.0.proj_attn.weight");
    ck_assert(drop >= 0);
    for (int i = 0; i < n; i++) {
        if (i == drop) continue;
        io_dtype dt;
        uint64_t nb;
        ck_assert(safetensors_tensor_info(s, i, &dt, &t[k].rank, t[k].shape, &nb) == DDPM_OK);
        t[k].name = safetensors_tensor_name(s, i);
        t[k].dtype = dt;
        t[k].data = safetensors_tensor_data(s, i);
        k++;
    }
    const char *missing = test_tmp_path("missing.safetensors"), *out = test_tmp_path("missing.h5");
    ck_assert(safetensors_write(missing, t, k, NULL, 0) == DDPM_OK);
    ddpm_config c;
    load_config("tests/data/released", &c);
    released_report rep;
    char *argv[] = { "t", NULL };
    ck_assert(released_convert(missing, NULL, &c, 1, out, 1, argv, &rep) == DDPM_ERR);
    ck_assert_msg(strstr(ddpm_last_error(), "down_blocks.1.attentions.0.proj_attn.weight") &&
                      strstr(ddpm_last_error(), "model/down_1/attn_0/proj_out/W") &&
                      strstr(ddpm_last_error(), "missing"),
                  "%s", ddpm_last_error());
    /* all of them plus one extra */
    t[k].name = "some.extra.tensor";
    t[k].dtype = IO_F32;
    t[k].rank = 1;
    t[k].shape[0] = 3;
    t[k].data = extra;
    t[drop] = t[k]; /* reuse: put the dropped one back by rewriting from the file */
    k = 0;
    for (int i = 0; i < n; i++) {
        io_dtype dt;
        uint64_t nb;
        safetensors_tensor_info(s, i, &dt, &t[k].rank, t[k].shape, &nb);
        t[k].name = safetensors_tensor_name(s, i);
        t[k].dtype = dt;
        t[k].data = safetensors_tensor_data(s, i);
        k++;
    }
    t[k].name = "some.extra.tensor";
    t[k].dtype = IO_F32;
    t[k].rank = 1;
    t[k].shape[0] = 3;
    t[k].data = extra;
    ck_assert(safetensors_write(missing, t, n + 1, NULL, 0) == DDPM_OK);
    convert_ok(missing, "raw", &c, 1, out, &rep);
    ck_assert_int_eq(rep.n_extras, 1);
    ck_assert(!strcmp(rep.extras, "some.extra.tensor"));
    free(t);
    safetensors_close(s);
}
END_TEST

/* ---- convert -> export -> convert --------------------------------------------------------- */

START_TEST(test_round_trip)
{
    h5io_init();
    ddpm_config c;
    load_config("tests/data/released", &c);
    unet *m;
    ck_assert(unet_create(&m, &c, 1) == DDPM_OK);
    released_report rep;
    const char *ck0 = test_tmp_path("rt0.h5");
    convert_ok(DIR "tf/model.ckpt-1000", NULL, &c, 1, ck0, &rep);
    ck_assert(rep.both_weights);
    float *raw0 = load_group(ck0, m, "model"), *ema0 = load_group(ck0, m, "ema");
    const char *formats[] = { "pesser", "diffusers", "safetensors" };
    for (int f = 0; f < 3; f++) {
        for (int w = 0; w < 2; w++) {
            char d[64], name[64];
            snprintf(d, sizeof d, "rt_%s_%d", formats[f], w);
            const char *dir = test_tmp_path(d);
            mkdir(dir, 0755);
            snprintf(name, sizeof name, "%s/%s", dir,
                     f == 0   ? "model-1000.ckpt"
                     : f == 1 ? "diffusion_pytorch_model.bin"
                              : "diffusion_pytorch_model.safetensors");
            char cj[1024];
            ck_assert_msg(released_export(ck0, formats[f], w ? "raw" : "ema", name, cj, sizeof cj) == DDPM_OK, "%s",
                          ddpm_last_error());
            ck_assert(f == 0 ? cj[0] == 0 : strstr(cj, "config.json") != NULL);
            const char *ck1 = test_tmp_path("rt1.h5");
            ddpm_config c1 = c;
            convert_ok(name, w ? "raw" : "ema", &c1, 1, ck1, &rep);
            float *back = load_group(ck1, m, "model");
            ck_assert_msg(!memcmp(back, w ? raw0 : ema0, unet_num_params(m) * sizeof(float)),
                          "%s (%s weights): convert -> export -> convert is not bit-identical", formats[f],
                          w ? "raw" : "ema");
            free(back);
        }
    }
    /* the diffusers config.json describes this model */
    char text[4096];
    released_diffusers_config(&c, text, sizeof text);
    ck_assert(strstr(text, "\"block_out_channels\": [4, 8]") && strstr(text, "\"DownBlock2D\", \"AttnDownBlock2D\"") &&
              strstr(text, "\"AttnUpBlock2D\", \"UpBlock2D\"") && strstr(text, "\"sample_size\": 16"));
    ck_assert(released_export(ck0, "onnx", "ema", test_tmp_path("x.onnx"), NULL, 0) == DDPM_ERR);
    free(raw0);
    free(ema0);
    unet_free(m);
}
END_TEST

/* ---- the writers read back: every rank's tuple opcode, memo beyond 255, names kept ---------- */

START_TEST(test_writers_read_back)
{
    enum { N = 300 }; /* > 256 memo entries: LONG_BINPUT/LONG_BINGET */
    static float data[N][24];
    pth_tensor_out t[N];
    safetensors_tensor st[N];
    char names[N][32];
    for (int i = 0; i < N; i++) {
        int rank = i % 6; /* 0 (scalar) .. 5 */
        snprintf(names[i], sizeof names[i], "layer.%d.w", i);
        t[i].name = st[i].name = names[i];
        t[i].rank = st[i].rank = rank;
        int64_t numel = 1;
        for (int k = 0; k < rank; k++) {
            t[i].shape[k] = st[i].shape[k] = k == 0 ? 2 : k == 1 ? 3 : 1 + (k % 2);
            numel *= t[i].shape[k];
        }
        ck_assert(numel <= 24);
        for (int e = 0; e < numel; e++) data[i][e] = (float)(i * 100 + e) * 0.125f - 7.0f;
        t[i].data = data[i];
        st[i].data = data[i];
        st[i].dtype = IO_F32;
    }
    const char *pp = test_tmp_path("w.pth"), *sp = test_tmp_path("w.safetensors");
    ck_assert_msg(pth_save_f32(pp, t, N) == DDPM_OK, "%s", ddpm_last_error());
    const char *meta[] = { "format", "pt", "note", "quote \" and \\ backslash" };
    ck_assert(safetensors_write(sp, st, N, meta, 2) == DDPM_OK);
    pth_file *f;
    ck_assert_msg(pth_open(&f, pp) == DDPM_OK, "%s", ddpm_last_error());
    safetensors *s;
    ck_assert_msg(safetensors_open(&s, sp) == DDPM_OK, "%s", ddpm_last_error());
    ck_assert(pth_is_zip(f) && pth_num_tensors(f) == N && safetensors_num_tensors(s) == N);
    ck_assert(!strcmp(safetensors_metadata(s, "note"), "quote \" and \\ backslash"));
    for (int i = 0; i < N; i++) {
        ck_assert(!strcmp(pth_tensor_name(f, i), names[i]) && !strcmp(safetensors_tensor_name(s, i), names[i]));
        int r;
        int64_t sh[PTH_MAX_RANK];
        float *x, *y;
        ck_assert(pth_get_f32(f, names[i], &x, &r, sh) == DDPM_OK);
        ck_assert_int_eq(r, t[i].rank);
        int64_t numel = 1;
        for (int k = 0; k < r; k++) {
            ck_assert(sh[k] == t[i].shape[k]);
            numel *= sh[k];
        }
        ck_assert(!memcmp(x, data[i], (size_t)numel * 4));
        ck_assert(safetensors_get_f32(s, i, &y) == DDPM_OK && !memcmp(y, data[i], (size_t)numel * 4));
        ddpm_free(x);
        ddpm_free(y);
    }
    pth_close(f);
    safetensors_close(s);
    /* the torch archive is stored, 64-byte aligned: every storage record starts at a multiple of 64 */
    size_t len;
    uint8_t *buf = slurp(pp, &len);
    ck_assert(buf[0] == 'P' && buf[1] == 'K');
    zip_archive z;
    ck_assert(zip_open(&z, buf, len, pp, 0) == DDPM_OK);
    ck_assert_int_eq(z.n, N + 3); /* data.pkl, byteorder, N storages, version */
    for (int k = 0; k < z.n; k++) {
        ck_assert_msg(z.ent[k].data_off % 64 == 0, "entry %d data at %llu", k, (unsigned long long)z.ent[k].data_off);
        ck_assert(z.ent[k].method == 0 && z.ent[k].nlen > 8 && !memcmp(z.ent[k].name, "archive/", 8));
    }
    ck_assert(zip_find(&z, "archive/", 8, "data.pkl") && zip_find(&z, "archive/", 8, "version") &&
              zip_find(&z, "archive/", 8, "data/299"));
    zip_close(&z);
    free(buf);
}
END_TEST

/* ---- NumPy ------------------------------------------------------------------------------- */

START_TEST(test_npz_statistics)
{
    h5io_init();
    hid_t h = h5io_open(DIR "stats.h5", 0);
    double *mu, *sigma;
    int r;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert(h5io_read_f64(h, "mu", &mu, &r, d) == DDPM_OK);
    int D = (int)d[0];
    ck_assert(h5io_read_f64(h, "sigma", &sigma, &r, d) == DDPM_OK);
    h5io_close(h);
    const char *files[] = { DIR "stats.npz", DIR "stats_compressed.npz" };
    for (int k = 0; k < 2; k++) {
        npy_file *f;
        ck_assert_msg(npy_open(&f, files[k]) == DDPM_OK, "%s", ddpm_last_error());
        ck_assert(npy_is_npz(f) && npy_num_arrays(f) == 3);
        double *m2, *s2;
        float *fo;
        io_dtype dt;
        int rank, fortran;
        int64_t sh[IO_MAX_RANK];
        ck_assert(npy_array_info(f, npy_find(f, "mu"), &dt, &rank, sh, NULL, NULL) == DDPM_OK);
        ck_assert(dt == IO_F64 && rank == 1 && sh[0] == D);
        ck_assert(npy_get_f64(f, npy_find(f, "mu"), &m2) == DDPM_OK);
        ck_assert(npy_get_f64(f, npy_find(f, "sigma"), &s2) == DDPM_OK);
        ck_assert(!memcmp(m2, mu, (size_t)D * 8) && !memcmp(s2, sigma, (size_t)D * D * 8));
        ck_assert(npy_array_info(f, npy_find(f, "fortran"), &dt, &rank, sh, NULL, &fortran) == DDPM_OK);
        ck_assert(dt == IO_F32 && rank == 2 && sh[0] == 3 && sh[1] == 5 && fortran == 1);
        ck_assert(npy_get_f32(f, npy_find(f, "fortran"), &fo) == DDPM_OK);
        for (int i = 0; i < 15; i++)
            ck_assert_msg(fo[i] == (float)i * 0.5f - 1.0f, "fortran[%d] = %g", i, (double)fo[i]);
        ddpm_free(m2);
        ddpm_free(s2);
        ddpm_free(fo);
        npy_close(f);
        /* stats_load_any (ddpm fid) reads the same numbers */
        double *m3, *s3;
        int D3;
        char ex[64];
        ck_assert_msg(stats_load_any(files[k], &m3, &s3, &D3, ex, sizeof ex, NULL) == DDPM_OK, "%s", ddpm_last_error());
        ck_assert(D3 == D && !memcmp(m3, mu, (size_t)D * 8) && !memcmp(s3, sigma, (size_t)D * D * 8) && ex[0] == 0);
        ddpm_free(m3);
        ddpm_free(s3);
    }
    npy_file *f;
    ck_assert(npy_open(&f, DIR "fortran.npy") == DDPM_OK);
    ck_assert(!npy_is_npz(f) && npy_num_arrays(f) == 1 && !strcmp(npy_array_name(f, 0), "fortran"));
    float *fo;
    ck_assert(npy_get_f32(f, 0, &fo) == DDPM_OK);
    for (int i = 0; i < 15; i++) ck_assert(fo[i] == (float)i * 0.5f - 1.0f);
    ddpm_free(fo);
    npy_close(f);
    ddpm_free(mu);
    ddpm_free(sigma);
}
END_TEST

/* ---- the commands ------------------------------------------------------------------------ */

static int run(const char *args, char *out, size_t n)
{
    const char *bin = getenv("DDPM_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/ddpm' %s", bin ? bin : "bin", args);
    return test_run_capture(cmd, out, n);
}

START_TEST(test_commands)
{
    static char out[1 << 16];
    char args[2048];
    for (size_t s = 0; s < DDPM_ARRAY_LEN(SOURCES); s++) {
        snprintf(args, sizeof args, "tensors " DIR "%s", SOURCES[s]);
        ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
        ck_assert_msg(strstr(out, "float32 [") != NULL, "%s", out);
    }
    const char *h5 = test_tmp_path("tensors.h5");
    snprintf(args, sizeof args, "tensors " DIR "tf/model.ckpt-1000.index --out %s", h5);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    ck_assert(strstr(out, "crc32c ok") && strstr(out, "model/conv_in/W float32 [3,3,3,4] 432 crc32c ok"));
    ck_assert(strstr(out, "global_step int64 [] 8"));
    h5io_init();
    hid_t h = h5io_open(h5, 0);
    ck_assert(h >= 0);
    ck_assert(h5io_exists(h, "model/conv_in/W/__tensor__") == 1 &&
              h5io_exists(h, "model/conv_in/W/ExponentialMovingAverage") == 1);
    int r;
    hsize_t d[H5IO_MAX_RANK];
    ck_assert(h5io_shape(h, "model/conv_in/W/ExponentialMovingAverage", &r, d) == DDPM_OK && r == 4 && d[3] == 4);
    h5io_close(h);
    snprintf(args, sizeof args, "tensors " DIR "stats.npz");
    ck_assert(run(args, out, sizeof out) == 0 && strstr(out, "sigma float64 [6,6] 288"));
    /* fid against the same statistics in HDF5 and npz */
    ck_assert(run("fid --a " DIR "stats.h5 --b " DIR "stats_compressed.npz", out, sizeof out) == 0);
    ck_assert_msg(strstr(out, "FID 0.0000") != NULL, "%s", out);
    /* convert + export through the tool */
    const char *ck = test_tmp_path("cli.h5");
    snprintf(args, sizeof args,
             "convert --from " DIR "pesser_legacy.ckpt --weights raw --config " DIR "model.cfg --out %s", ck);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    ck_assert(strstr(out, "wrote") && strstr(out, "pesser keys"));
    snprintf(args, sizeof args, "export --ckpt %s --format pesser --out %s", ck, test_tmp_path("cli.ckpt"));
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    /* one-line errors */
    ck_assert(run("tensors " DIR "model.cfg", out, sizeof out) == 1 && strstr(out, "unknown format"));
    ck_assert(run("tensors does/not/exist.bin", out, sizeof out) == 1 && strstr(out, "does/not/exist.bin"));
    snprintf(args, sizeof args, "convert --from " DIR "pesser_zip.ckpt --out %s", ck);
    ck_assert(run(args, out, sizeof out) == 1 && strstr(out, "num_groups"));
    ck_assert(run("convert --out x.h5", out, sizeof out) == 2);
}
END_TEST

/* ---- robustness: truncations and byte flips ------------------------------------------------ */

typedef struct {
    int n;
    char **names;
    float **data;
    size_t *len;
} tensors;

static void tensors_free(tensors *t)
{
    for (int i = 0; i < t->n; i++) {
        free(t->names[i]);
        ddpm_free(t->data[i]);
    }
    free(t->names);
    free(t->data);
    free(t->len);
    memset(t, 0, sizeof *t);
}

/* Opens path (or the buffer b labelled path) with tensor_file and reads every float tensor;
 * DDPM_ERR on any error. */
static int load_all(const char *path, const uint8_t *b, size_t len, tensors *t)
{
    memset(t, 0, sizeof *t);
    tensor_file *f;
    if ((b ? tensor_file_open_mem(&f, b, len, path) : tensor_file_open(&f, path)) != DDPM_OK) return DDPM_ERR;
    int n = tensor_file_count(f);
    t->names = calloc((size_t)n + 1, sizeof *t->names);
    t->data = calloc((size_t)n + 1, sizeof *t->data);
    t->len = calloc((size_t)n + 1, sizeof *t->len);
    int rc = DDPM_OK;
    for (int i = 0; i < n && rc == DDPM_OK; i++) {
        io_dtype dt;
        uint64_t nb;
        rc = tensor_file_info(f, i, &dt, NULL, NULL, &nb);
        t->names[i] = strdup(tensor_file_name(f, i));
        t->n = i + 1;
        if (rc == DDPM_OK && (dt == IO_F32 || dt == IO_F64 || dt == IO_F16) && nb < (1u << 24)) {
            rc = tensor_file_get_f32(f, i, &t->data[i]);
            t->len[i] = (size_t)(nb / io_dtype_size(dt));
        } else if (rc == DDPM_OK && tensor_file_format(f) == TENSOR_FMT_TFBUNDLE) {
            int c = tensor_file_check(f, i);
            if (c != 1) rc = ddpm_error("%s: CRC", path);
        }
    }
    tensor_file_close(f);
    if (rc != DDPM_OK) tensors_free(t);
    return rc;
}

static int same_tensors(const tensors *a, const tensors *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->names[i], b->names[i]) || a->len[i] != b->len[i]) return 0;
        if (a->len[i] && memcmp(a->data[i], b->data[i], a->len[i] * sizeof(float))) return 0;
    }
    return 1;
}

/* The error must be one line naming the file. */
static void expect_error(const char *label)
{
    const char *e = ddpm_last_error();
    ck_assert_msg(strstr(e, label) != NULL, "error does not name %s: %s", label, e);
    ck_assert_msg(strchr(e, '\n') == NULL, "error is not one line: %s", e);
}

/* Offsets to corrupt: every byte of the first and last KiB (headers, pickles, central
 * directories, SSTable footers), every 7th elsewhere; for the TF pair, which goes through files
 * on disk, the first and last 256 bytes and every 151st. */
static int pick(size_t pos, size_t len, int on_disk)
{
    size_t edge = on_disk ? 256 : 1024;
    return pos < edge || pos + edge >= len || pos % (on_disk ? 151 : 7) == 0;
}

static void corrupt_file(const char *src, const char *copy_name, const char *tf_other, int checksummed)
{
    tensors ref;
    ck_assert_msg(load_all(src, NULL, 0, &ref) == DDPM_OK, "%s", ddpm_last_error());
    size_t len;
    uint8_t *b = slurp(tf_other ? tf_other : src, &len);
    const char *copy = test_tmp_path(copy_name);
    char path[1100];
    snprintf(path, sizeof path, "%s", copy);
    const char *open_as = copy;
    char prefix[1024];
    if (tf_other) {
        /* TF: corrupt either file of the pair; the other is copied unchanged */
        const char *suffix = strstr(tf_other, ".index") ? ".index" : ".data-00000-of-00001";
        const char *other_suffix = strstr(tf_other, ".index") ? ".data-00000-of-00001" : ".index";
        snprintf(prefix, sizeof prefix, "%s", copy);
        snprintf(path, sizeof path, "%s%s", prefix, suffix);
        char op[1100], os_[1100];
        snprintf(op, sizeof op, "%s%s", src, other_suffix);
        snprintf(os_, sizeof os_, "%s%s", prefix, other_suffix);
        size_t ol;
        uint8_t *ob = slurp(op, &ol);
        spit(os_, ob, ol);
        free(ob);
        open_as = prefix;
    }
    int trunc_err = 0, n_trunc = 0, errors = 0, identical = 0, changed = 0;
    for (size_t l = 0; l < len;
         l += (l > (tf_other ? 256u : 1024u) && l + (tf_other ? 256u : 1024u) < len) ? (tf_other ? 211 : 13) : 1) {
        if (tf_other) spit(path, b, l);
        tensors t;
        ddpm_clear_error();
        n_trunc++;
        if (load_all(open_as, tf_other ? NULL : b, l, &t) == DDPM_OK) {
            /* a shorter copy may be a valid file only where the format allows it: never with
             * different tensors in a checksummed container */
            ck_assert_msg(!checksummed || same_tensors(&t, &ref), "%s truncated to %zu loaded different tensors", src,
                          l);
            tensors_free(&t);
            continue;
        }
        expect_error(copy_name);
        trunc_err++;
    }
    ck_assert_msg(trunc_err == n_trunc, "%s: %d of %d truncations were accepted", src, n_trunc - trunc_err, n_trunc);
    for (size_t pos = 0; pos < len; pos++) {
        if (!pick(pos, len, tf_other != NULL)) continue;
        b[pos] ^= 0x5a;
        if (tf_other) spit(path, b, len);
        tensors t;
        ddpm_clear_error();
        int rc = load_all(open_as, tf_other ? NULL : b, len, &t);
        b[pos] ^= 0x5a;
        if (rc != DDPM_OK) {
            expect_error(copy_name);
            errors++;
            continue;
        }
        int same = same_tensors(&t, &ref);
        tensors_free(&t);
        if (same) identical++;
        else changed++;
        ck_assert_msg(!checksummed || same, "%s: flipping byte %zu loaded different tensors without an error", src,
                      pos);
    }
    fprintf(stderr, "%s%s: %d truncations rejected; flips: %d errors, %d identical, %d changed values%s\n", src,
            tf_other ? (strstr(tf_other, ".index") ? " (.index)" : " (.data)") : "", trunc_err, errors, identical,
            changed, changed ? " (data bytes the format does not checksum)" : "");
    ck_assert(errors > 0);
    free(b);
    tensors_free(&ref);
}

START_TEST(test_corrupted_fixtures)
{
    /* zip containers carry CRC-32 of every entry, TF bundles CRC32C of every block and tensor;
     * legacy torch streams, safetensors and .npy do not protect their data bytes */
    struct {
        const char *file;
        int checksummed;
    } F[] = {
        { DIR "pesser_zip.ckpt", 1 },      { DIR "pesser_legacy.ckpt", 0 },
        { DIR "diffusers.bin", 1 },        { DIR "diffusers_new.safetensors", 0 },
        { DIR "stats_compressed.npz", 1 }, { DIR "stats.npz", 1 },
        { DIR "fortran.npy", 0 },
    };
    for (size_t k = 0; k < DDPM_ARRAY_LEN(F); k++) {
        char name[64];
        const char *base = strrchr(F[k].file, '/') + 1;
        snprintf(name, sizeof name, "corrupt_%s", base);
        corrupt_file(F[k].file, name, NULL, F[k].checksummed);
    }
    corrupt_file(DIR "tf/model.ckpt-1000", "corrupt_tf", DIR "tf/model.ckpt-1000.index", 1);
    corrupt_file(DIR "tf/model.ckpt-1000", "corrupt_tf", DIR "tf/model.ckpt-1000.data-00000-of-00001", 1);
}
END_TEST

static Suite *released_suite(void)
{
    Suite *s = suite_create("released");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_names_match_csv);
    tcase_add_test(tc, test_convert_each_format);
    tcase_add_test(tc, test_infer_and_check_config);
    tcase_add_test(tc, test_missing_and_extra_tensors);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_writers_read_back);
    tcase_add_test(tc, test_npz_statistics);
    tcase_add_test(tc, test_commands);
    tcase_add_test(tc, test_corrupted_fixtures);
    tcase_add_test(tc, test_full_size);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(released_suite)
