/* exp_table3 — Table 3 of Ho et al. 2020 (appendix): FID of 50k samples of the released LSUN
 * 256x256 models (church 7.89, bedroom 6.36 (4.90 for the large model), cat 19.75; paper/table3.csv).
 *
 * Evaluates the model given with --ckpt (trains nothing): --samples N samples (default the
 * tier's; 50000 at the paper tier) and the FID against either the statistics of the training
 * images (a png_rgb folder: --set data_dir=DIR, cached under runs/<tier>/) or given statistics
 * (--ref-stats, e.g. an .npz with mu/sigma); the table names which, and the counts. The row is
 * --row NAME or read from the file name (lsun_church.h5 -> church). Writes
 * results/<tier>/table3-ckpt-<hash>/: table.md, table.csv, samples.png, log.h5. */
#include "core/common.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "driver/driver.h"
#include "driver/paper_csv.h"
#include "io/h5io.h"
#include "io/runlog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *row_of_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strstr(base, "bedroom")) return strstr(base, "large") ? "bedroom_large" : "bedroom";
    if (strstr(base, "church")) return "church";
    if (strstr(base, "cat")) return "cat";
    return NULL;
}

int main(int argc, char **argv)
{
    h5io_init();
    driver_args a;
    int rc = driver_parse(&a, "table3", "Table 3: FID of the released LSUN 256x256 models (give --ckpt).", argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    double t0 = ddpm_now();
    if (!a.ckpt) {
        fprintf(stderr,
                "exp_table3: give --ckpt FILE, a converted LSUN model (make released-models MODEL=lsun_church; "
                "then make exp-table3 TIER=paper CKPT=released/lsun_church.h5 DATA_DIR=... or REF_STATS=...)\n");
        return 2;
    }
    const char *row = a.row ? a.row : row_of_name(a.ckpt);
    if (!row) {
        fprintf(stderr, "exp_table3: %s: which of Table 3's rows is it? give --row church|bedroom|bedroom_large|cat\n",
                a.ckpt);
        return 2;
    }
    paper_csv pc;
    int prow = 0;
    if (paper_csv_load(&pc, "paper/table3.csv") != DDPM_OK || paper_csv_row(&pc, "row", row, &prow) != DDPM_OK) {
        fprintf(stderr, "exp_table3: %s\n", ddpm_last_error());
        return 1;
    }
    /* Table 3 is FID only: no likelihood; the data is needed only for the reference statistics. */
    a.req.bpd_n = a.req.bpd_train_n = 0;
    a.no_data_check = 1;
    runlog L;
    variant_result r;
    ddpm_config cfg;
    if (driver_begin(&a, "table3", &L, argc, argv) != DDPM_OK || driver_ckpt_variant(&a, &r, &cfg) != DDPM_OK) {
        fprintf(stderr, "exp_table3: %s\n", ddpm_last_error());
        return 1;
    }
    char refsrc[900];
    if (a.req.ref_given) {
        snprintf(refsrc, sizeof refsrc, "given statistics %s", a.req.ref_stats);
    } else {
        /* the training images must be there before hours of sampling */
        dataset ds;
        if (dataset_load_n(&ds, &cfg, 1, 1) != DDPM_OK) {
            fprintf(stderr,
                    "exp_table3: %s (the FID reference is the training images: --set data_dir=DIR, a folder of "
                    "the %dx%d PNGs, or --ref-stats FILE)\n",
                    ddpm_last_error(), cfg.image_size, cfg.image_size);
            runlog_close(&L);
            return 1;
        }
        dataset_free(&ds);
        if (a.req.ref_n > 0)
            snprintf(refsrc, sizeof refsrc,
                     "statistics of the first %d training images in %s (png_folder; cached in %s)", a.req.ref_n,
                     config_data_dir(&cfg), a.req.ref_stats);
        else
            snprintf(refsrc, sizeof refsrc, "statistics of all training images in %s (png_folder; cached in %s)",
                     config_data_dir(&cfg), a.req.ref_stats);
    }
    char png[700];
    snprintf(png, sizeof png, "%s/samples.png", a.out_dir);
    fprintf(stderr, "\n== table3 [%s] %s (row %s) ==\n", a.tier.name, a.ckpt, row);
    if (driver_eval_cost(&a, "table3", &cfg, 0) != DDPM_OK || experiment_evaluate(&a.req, &r, 0, png) != DDPM_OK ||
        driver_log_variant(L.file, &a, &r) != DDPM_OK || h5io_attr_str(L.file, ".", "table3_row", row) != DDPM_OK ||
        h5io_attr_str(L.file, ".", "fd_reference", refsrc) != DDPM_OK) {
        fprintf(stderr, "exp_table3: %s: %s\n", a.ckpt, ddpm_last_error());
        runlog_close(&L);
        paper_csv_free(&pc);
        return 1;
    }
    driver_report_variant("table3", &r, 1, 1, t0);
    driver_tables tab;
    if (driver_open_tables(&a, &tab) != DDPM_OK) {
        fprintf(stderr, "exp_table3: %s\n", ddpm_last_error());
        return 1;
    }
    const char *fdn = r.q.available ? r.q.fd_name : "FID";
    char note[200], ours[64];
    driver_fd_note(&a, fdn, note, sizeof note);
    if (r.q.available) snprintf(ours, sizeof ours, "%.2f", r.q.fd);
    else snprintf(ours, sizeof ours, "n/a (no extractor)");
    fprintf(tab.md,
            "# Table 3 — tier `%s`, given model %s (%s, %dx%d, step %lld)\n\nOurs: %s of %d samples (extractor: %s); "
            "reference: %s. Paper: FID of 50,000 samples against the training set.\n\n",
            a.tier.name, a.ckpt, r.variant, cfg.image_size, cfg.image_size, (long long)r.steps, fdn, a.req.samples_n,
            r.q.available ? r.q.extractor : "none", refsrc);
    if (note[0]) fprintf(tab.md, "**%s.**\n\n", note);
    if (!r.q.available) fprintf(tab.md, "No FID: %s.\n\n", r.q.why);
    fprintf(tab.md,
            "| data set | model | paper FID | paper ProgressiveGAN FID | ours (%s) | samples "
            "|\n|---|---|---|---|---|---|\n",
            fdn);
    fprintf(tab.csv,
            "row,dataset,model,paper_fid,paper_progressive_gan_fid,fd,fd_name,extractor,samples_n,fd_reference,ckpt\n");
    int bad = 0;
    for (int k = 1; k <= pc.nrows && !bad; k++) {
        const char *name, *ds, *model;
        double pf, pg;
        if (paper_csv_str(&pc, k, "row", &name) || paper_csv_str(&pc, k, "dataset", &ds) ||
            paper_csv_str(&pc, k, "model", &model) || paper_csv_num(&pc, k, "fid", &pf) ||
            paper_csv_num(&pc, k, "progressive_gan_fid", &pg)) {
            bad = 1;
            break;
        }
        const int mine = k == prow;
        char nsamp[32] = "";
        if (mine) snprintf(nsamp, sizeof nsamp, "%d", a.req.samples_n);
        fprintf(tab.md, "| %s | %s | %.2f | %.2f | %s | %s |\n", ds, model, pf, pg, mine ? ours : "", nsamp);
        fprintf(tab.csv, "%s,\"%s\",\"%s\",%.6g,%.6g,%s,%s,%s,%s,\"%s\",\"%s\"\n", name, ds, model, pf, pg,
                mine && r.q.available ? ours : "", mine ? fdn : "",
                mine ? (r.q.available ? r.q.extractor : "none") : "", nsamp, mine ? refsrc : "", mine ? a.ckpt : "");
        if (mine)
            printf("%-28s %-22s paper FID %.2f (ProgressiveGAN %.2f)  ours %s %s  [%d samples; reference: %s]\n", ds,
                   model, pf, pg, fdn, ours, a.req.samples_n, refsrc);
    }
    paper_csv_free(&pc);
    if (note[0]) printf("note: %s\n", note);
    char el[32];
    fprintf(tab.md, "\nSamples: `samples.png`. Log: `log.h5`. Wall time of this invocation: %s.\n",
            format_duration(ddpm_now() - t0, el, sizeof el));
    if (bad) fprintf(stderr, "exp_table3: %s\n", ddpm_last_error());
    bad |= driver_close_tables(&tab) != DDPM_OK;
    h5io_attr_f64(L.file, ".", "wall_seconds", ddpm_now() - t0);
    if (runlog_close(&L) != DDPM_OK || bad) {
        fprintf(stderr, "exp_table3: %s\n", ddpm_last_error());
        return 1;
    }
    printf("exp_table3: wrote %s and %s (%s)\n", tab.md_path, tab.csv_path, el);
    return 0;
}
