/* train_classifier — trains the Fashion-MNIST extractor behind FD_fmnist / IS_fmnist and writes
 * the shipped weights file (docs/classifier.md).
 *
 *   bin/train_classifier --out experiments/classifier/fmnist_classifier.h5
 *       [--data DIR] [--seed N] [--epochs N] [--batch N] [--lr X] [--warmup N] [--no-flip]
 *       [--threads N]
 *
 * Training runs on one thread unless --threads says otherwise: the layers are small, and on a
 * shared 2-core machine the fork/join and BLAS thread hand-offs cost more than they gain.
 *
 * The file gets the weights, test_accuracy (10k test set), the training recipe, train_command,
 * git_revision, weights_digest, digest_step200 (for the determinism test) and a provenance
 * group. It is written to OUT.tmp and renamed, so an interrupted run never leaves a half file. */
#include "core/common.h"
#include "core/config.h"
#include "data/dataset.h"
#include "features/classifier.h"
#include "io/h5io.h"
#include "io/provenance.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DDPM_GIT_REV
#define DDPM_GIT_REV "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: train_classifier --out FILE.h5 [--data DIR] [--seed N] [--epochs N] "
               "[--batch N] [--lr X] [--warmup N] [--no-flip] [--threads N]\n"
               "Trains the Fashion-MNIST classifier used for FD_fmnist/IS_fmnist "
               "(default recipe: see docs/classifier.md).\n");
}

static int parse_ll(const char *opt, const char *s, long long lo, long long *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo) {
        fprintf(stderr, "train_classifier: %s: bad value '%s' (an integer >= %lld)\n", opt, s, lo);
        return 2;
    }
    *out = v;
    return 0;
}

static int write_metadata(const char *path, const classifier_train_opts *o, const classifier_train_report *rep,
                          double test_acc, double train_acc, const char *command, int threads, const ddpm_config *cfg,
                          int argc, char **argv)
{
    hid_t f = h5io_open(path, 1);
    if (f < 0) return DDPM_ERR;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)rep->digest_at_value);
    int st = DDPM_OK;
    if (st == DDPM_OK) st = h5io_attr_f64(f, ".", "test_accuracy", test_acc);
    if (st == DDPM_OK) st = h5io_attr_f64(f, ".", "train_accuracy_10k", train_acc);
    if (st == DDPM_OK) st = h5io_attr_str(f, ".", "train_command", command);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "seed", (int64_t)o->seed);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "epochs", o->epochs);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "batch_size", o->batch_size);
    if (st == DDPM_OK) st = h5io_attr_f64(f, ".", "lr", o->lr);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "warmup", o->warmup);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "randflip", o->randflip);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "train_steps", rep->steps_done);
    if (st == DDPM_OK) st = h5io_attr_f64(f, ".", "final_train_loss", rep->final_loss);
    if (st == DDPM_OK) st = h5io_attr_f64(f, ".", "train_seconds", rep->seconds);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "train_threads", threads);
    if (st == DDPM_OK) st = h5io_attr_str(f, ".", "git_revision", DDPM_GIT_REV);
    if (st == DDPM_OK) st = h5io_attr_i64(f, ".", "digest_step", o->digest_at);
    if (st == DDPM_OK) st = h5io_attr_str(f, ".", "digest_step200", hex);
    if (st == DDPM_OK) st = write_provenance(f, "provenance", cfg, argc, argv);
    if (h5io_close(f) != DDPM_OK) st = DDPM_ERR;
    return st;
}

static int report_epoch(fmnist_classifier *c, int epoch, void *user)
{
    double acc = 0;
    DDPM_TRY(classifier_accuracy(c, user, &acc));
    fprintf(stderr, "train_classifier: after epoch %d test accuracy %.2f%%\n", epoch, 100.0 * acc);
    return DDPM_OK;
}

int main(int argc, char **argv)
{
    classifier_train_opts o;
    classifier_train_defaults(&o);
    const char *out = NULL, *data = NULL;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--no-flip")) {
            o.randflip = 0;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "train_classifier: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "--out")) out = val;
        else if (!strcmp(a, "--data")) data = val;
        else if (!strcmp(a, "--seed")) {
            if (parse_ll(a, val, 0, &v)) return 2;
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--epochs")) {
            if (parse_ll(a, val, 1, &v)) return 2;
            o.epochs = (int)v;
        } else if (!strcmp(a, "--batch")) {
            if (parse_ll(a, val, 1, &v)) return 2;
            o.batch_size = (int)v;
        } else if (!strcmp(a, "--threads")) {
            if (parse_ll(a, val, 1, &v)) return 2;
            threads = (int)v;
        } else if (!strcmp(a, "--warmup")) {
            if (parse_ll(a, val, 0, &v)) return 2;
            o.warmup = (int)v;
        } else if (!strcmp(a, "--lr")) {
            char *end = NULL;
            o.lr = strtod(val, &end);
            if (!*val || *end || !(o.lr > 0)) {
                fprintf(stderr, "train_classifier: --lr: bad value '%s' (a number > 0)\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "train_classifier: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "train_classifier: --out is required\n");
        usage(stderr);
        return 2;
    }

    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);

    char command[4096];
    size_t n = 0;
    command[0] = 0;
    for (int i = 0; i < argc && n < sizeof command - 2; i++)
        n += (size_t)snprintf(command + n, sizeof command - n, "%s%s", i ? " " : "", argv[i]);

    ddpm_config cfg;
    config_defaults(&cfg);
    cfg.dataset = DATASET_FASHION_MNIST;
    cfg.image_size = 28;
    cfg.seed = o.seed;
    if (data) snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data);

    dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    fmnist_classifier *c = NULL;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    int st = dataset_load(&train, &cfg, 1);
    if (st == DDPM_OK) st = dataset_load(&test, &cfg, 0);
    classifier_train_report rep;
    if (st == DDPM_OK) {
        fprintf(stderr,
                "train_classifier: %d train / %d test images, seed %llu, %d epochs, "
                "batch %d, lr %g, %d threads\n",
                train.N, test.N, (unsigned long long)o.seed, o.epochs, o.batch_size, o.lr, omp_get_max_threads());
        o.epoch_hook = report_epoch;
        o.hook_user = &test;
        st = classifier_train(&c, &train, &o, &rep);
    }
    double test_acc = 0, train_acc = 0;
    if (st == DDPM_OK) st = classifier_accuracy(c, &test, &test_acc);
    if (st == DDPM_OK) { /* on the first 10k training images: cheap, shows the gap */
        dataset head = train;
        head.N = train.N < 10000 ? train.N : 10000;
        st = classifier_accuracy(c, &head, &train_acc);
    }
    if (st == DDPM_OK) st = classifier_save(c, tmp);
    if (st == DDPM_OK) st = write_metadata(tmp, &o, &rep, test_acc, train_acc, command, threads, &cfg, argc, argv);
    if (st == DDPM_OK && rename(tmp, out) != 0) st = ddpm_error("%s: cannot rename %s into place", out, tmp);
    if (st != DDPM_OK) {
        fprintf(stderr, "train_classifier: %s\n", ddpm_last_error());
        remove(tmp);
    } else {
        char hex[17];
        classifier_digest(c, hex);
        printf("train_classifier: test accuracy %.2f%% (first 10k train %.2f%%), %lld steps in %.1f s, "
               "weights digest %s -> %s\n",
               100.0 * test_acc, 100.0 * train_acc, (long long)rep.steps_done, rep.seconds, hex, out);
    }
    classifier_free(c);
    dataset_free(&train);
    dataset_free(&test);
    return st == DDPM_OK ? 0 : 1;
}
