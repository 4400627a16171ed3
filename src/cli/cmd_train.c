/* ddpm train */
#include "cli/cli.h"
#include "cli/commands.h"
#include "core/common.h"
#include "core/progress.h"
#include "train/trainer.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int cmd_train(int argc, char **argv)
{
    static const cli_opt opts[] = {
        { "config", "FILE", "config file (default: official CIFAR-10 values)" },
        { "data", "DIR", "shorthand for --set data_dir=DIR" },
        { "out", "DIR", "run directory (ckpt.h5, log.h5, config.txt, status); resumed if it holds this config" },
        { "ckpt-every", "N", "checkpoint every N steps (default 500; 0: only time-based; also every 10 minutes)" },
        { "stop-after", "N", "stop cleanly (checkpointed) after N total steps" },
        { 0 }
    };
    cli_args a = { .cmd = "train",
                   .usage = "[--config F] [--set k=v]... --out DIR",
                   .summary = "Trains a model; Ctrl-C stops with a resumable checkpoint.",
                   .opts = opts };
    ddpm_config c;
    int rc = cli_start(&a, argc, argv, "out", &c);
    if (rc) return rc < 0 ? 0 : rc;
    train_opts o;
    train_opts_default(&o);
    long long v;
    if ((rc = cli_get_int(&a, "ckpt-every", o.ckpt_every, &v))) return rc;
    if (v < 0) {
        fprintf(stderr, "ddpm train: --ckpt-every must be >= 0 (0: only every 10 minutes and at the end)\n");
        return 2;
    }
    o.ckpt_every = v;
    if ((rc = cli_get_int(&a, "stop-after", -1, &v))) return rc;
    o.stop_after = v;
    o.stop = &g_stop;
    o.argc = argc;
    o.argv = argv;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    train_result r;
    const char *dir = cli_get(&a, "out");
    if (train_run(&c, dir, &o, &r) != DDPM_OK) return cli_fail(&a);
    char el[32];
    format_duration(r.seconds, el, sizeof el);
    switch (r.outcome) {
    case TRAIN_FINISHED:
        printf("train: finished %lld steps in %s (loss %.5f at the last step, mean %.5f over the last %d); checkpoint "
               "%s/ckpt.h5, log %s/log.h5\n",
               (long long)r.step, el, r.final_loss, r.last_loss, r.last_loss_n, dir, dir);
        return 0;
    case TRAIN_INTERRUPTED:
        printf(
            "train: stopped at step %lld after %s; rerun the same command to resume (checkpoint %s/ckpt.h5):\n  ddpm",
            (long long)r.step, el, dir);
        for (int i = 0; i < argc; i++) {
            const char *s = argv[i];
            int plain = *s != 0;
            for (const char *q = s; *q; q++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+", *q)) plain = 0;
            if (plain) printf(" %s", s);
            else {
                printf(" '");
                for (const char *q = s; *q; q++) {
                    if (*q == '\'') printf("'\\''");
                    else putchar(*q);
                }
                printf("'");
            }
        }
        printf("\n");
        return g_stop ? 130 : 0;
    default:
        printf("train: diverged (non-finite loss or gradient) at step %lld; last good checkpoint %s/ckpt.h5 "
               "(step %lld), log %s/log.h5\n",
               (long long)r.diverged_step, dir, (long long)r.step, dir);
        return 3;
    }
}
