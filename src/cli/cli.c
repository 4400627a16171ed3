#include "cli.h"

#include "core/common.h"
#include "core/fs.h"
#include "io/filekind.h"
#include "dist/dist.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The program's name in messages: "ddpm CMD", or a->prog (the experiment drivers). */
static const char *who(const cli_args *a)
{
    static char buf[96];
    if (a->prog) return a->prog;
    snprintf(buf, sizeof buf, "ddpm %s", a->cmd);
    return buf;
}

void cli_usage(const cli_args *a, FILE *out)
{
    fprintf(out, "usage: %s %s\n", who(a), a->usage ? a->usage : "[options]");
    if (a->summary) fprintf(out, "%s\n", a->summary);
    fprintf(out, "options:\n");
    for (int i = 0; i < a->nopts; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", a->opts[i].name, a->opts[i].arg ? " " : "",
                 a->opts[i].arg ? a->opts[i].arg : "");
        fprintf(out, "  %-24s %s\n", left, a->opts[i].help);
    }
    if (!a->no_set)
        fprintf(out, "  %-24s %s\n", "--set KEY=VALUE",
                a->set_help ? a->set_help
                : cli_has_opt(a, "ckpt") || cli_has_opt(a, "samples")
                    ? "data_dir=DIR (the model's keys are the checkpoint's)"
                    : "override a config key (repeatable)");
    fprintf(out, "  %-24s %s\n", "--help", "this text");
}

static int is_repeatable(const cli_args *a, const char *name)
{
    for (const char *const *r = a->repeatable; r && *r; r++)
        if (!strcmp(*r, name)) return 1;
    return 0;
}

int cli_parse(cli_args *a, int argc, char **argv)
{
    a->nopts = 0;
    while (a->opts && a->opts[a->nopts].name) a->nopts++;
    memset(a->value, 0, sizeof a->value);
    a->nsets = 0;
    a->nmulti = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", who(a), s, who(a));
            return 2;
        }
        s += 2;
        if (!strcmp(s, "help")) {
            cli_usage(a, stdout);
            return -1;
        }
        const char *eq = strchr(s, '=');
        size_t nl = eq ? (size_t)(eq - s) : strlen(s);
        const char *val = eq ? eq + 1 : NULL;
        if (nl == 3 && !strncmp(s, "set", 3) && a->no_set) {
            fprintf(stderr, "%s: takes no --set (it has no config)\n", who(a));
            return 2;
        }
        if (nl == 3 && !strncmp(s, "set", 3)) {
            if (!val) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "%s: --set needs KEY=VALUE\n", who(a));
                    return 2;
                }
                val = argv[++i];
            }
            if (a->nsets >= CLI_MAX_SETS) {
                fprintf(stderr, "%s: too many --set\n", who(a));
                return 2;
            }
            a->sets[a->nsets++] = val;
            continue;
        }
        int k = -1;
        for (int j = 0; j < a->nopts; j++)
            if (strlen(a->opts[j].name) == nl && !strncmp(a->opts[j].name, s, nl)) k = j;
        if (k < 0) {
            fprintf(stderr, "%s: unknown option '--%.*s' (see %s --help)\n", who(a), (int)nl, s, who(a));
            return 2;
        }
        if (a->opts[k].arg) {
            if (!val) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "%s: --%s needs a value (%s)\n", who(a), a->opts[k].name, a->opts[k].arg);
                    return 2;
                }
                val = argv[++i];
            }
            a->value[k] = val;
            if (is_repeatable(a, a->opts[k].name)) {
                if (a->nmulti >= CLI_MAX_SETS) {
                    fprintf(stderr, "%s: too many --%s\n", who(a), a->opts[k].name);
                    return 2;
                }
                a->multi_opt[a->nmulti] = k;
                a->multi[a->nmulti++] = val;
            }
        } else {
            if (val) {
                fprintf(stderr, "%s: --%s takes no value\n", who(a), a->opts[k].name);
                return 2;
            }
            a->value[k] = "1";
        }
    }
    return 0;
}

static int find(const cli_args *a, const char *name)
{
    for (int j = 0; j < a->nopts; j++)
        if (!strcmp(a->opts[j].name, name)) return j;
    return -1;
}

int cli_has_opt(const cli_args *a, const char *name) { return find(a, name) >= 0; }

const char *cli_get(const cli_args *a, const char *name)
{
    int k = find(a, name);
    return k < 0 ? NULL : a->value[k];
}

int cli_flag(const cli_args *a, const char *name) { return cli_get(a, name) != NULL; }

int cli_get_all(const cli_args *a, const char *name, const char **out, int max)
{
    int k = find(a, name), n = 0;
    for (int i = 0; i < a->nmulti && k >= 0; i++)
        if (a->multi_opt[i] == k && n < max) out[n++] = a->multi[i];
    return n;
}

int cli_get_int(const cli_args *a, const char *name, long long dflt, long long *out)
{
    const char *v = cli_get(a, name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "%s: --%s: '%s' is not an integer\n", who(a), name, v);
        return 2;
    }
    *out = x;
    return 0;
}

int cli_get_double(const cli_args *a, const char *name, double dflt, double *out)
{
    const char *v = cli_get(a, name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "%s: --%s: '%s' is not a number\n", who(a), name, v);
        return 2;
    }
    *out = x;
    return 0;
}

int cli_require(const cli_args *a, const char *name)
{
    if (cli_get(a, name)) return 0;
    fprintf(stderr, "%s: --%s is required (see %s --help)\n", who(a), name, who(a));
    return 2;
}

int cli_start(cli_args *a, int argc, char **argv, const char *required, ddpm_config *config)
{
    int rc = cli_parse(a, argc, argv);
    if (rc) return rc;
    for (const char *p = required ? required : ""; *p;) {
        size_t n = strcspn(p, " ");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        if (n && (rc = cli_require(a, name))) return rc;
        p += n;
        p += strspn(p, " ");
    }
    return config ? cli_config(a, NULL, config) : 0;
}

int cli_fail(const cli_args *a)
{
    fprintf(stderr, "%s%s: %s\n", dist_label(), who(a), ddpm_last_error());
    return 1;
}

int cli_config(const cli_args *a, const ddpm_config *base, ddpm_config *out)
{
    if (base) *out = *base;
    else config_defaults(out);
    const char *cf = cli_get(a, "config");
    if (cf && config_load_file(out, cf) != DDPM_OK) return cli_fail(a);
    const char *data = cli_get(a, "data");
    if (data && config_set_kv(out, "data_dir", data, "--data") != DDPM_OK) return cli_fail(a);
    for (int i = 0; i < a->nsets; i++)
        if (config_set(out, a->sets[i]) != DDPM_OK) return cli_fail(a);
    if (config_validate(out) != DDPM_OK) return cli_fail(a);
    return 0;
}

int cli_config_of_model(const cli_args *a, const ddpm_config *base, const char *origin, ddpm_config *out)
{
    *out = *base;
    const char *data = cli_get(a, "data");
    if (data && config_set_kv(out, "data_dir", data, "--data") != DDPM_OK) return cli_fail(a);
    for (int i = 0; i < a->nsets; i++) {
        ddpm_config trial = *out;
        /* config_set has checked the form, the key and its length: the key is what precedes '=' */
        if (config_set(&trial, a->sets[i]) != DDPM_OK) return cli_fail(a);
        const char *k0 = a->sets[i], *eq = strchr(k0, '=');
        while (isspace((unsigned char)*k0)) k0++;
        size_t kl = (size_t)(eq - k0);
        while (kl && isspace((unsigned char)k0[kl - 1])) kl--;
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)kl, k0);
        config_key_kind kind = config_key_kind_of(key);
        if (kind == CONFIG_KEY_DATA) {
            *out = trial;
            continue;
        }
        char have[1024], want[1024];
        config_value_text(out, key, have, sizeof have);
        config_value_text(&trial, key, want, sizeof want);
        if (!strcmp(have, want)) continue;
        if (kind == CONFIG_KEY_MODEL)
            fprintf(stderr,
                    "%s: --set %s=%s: %s was made with %s = %s, and %s defines the trained model; "
                    "it cannot be overridden (only data_dir can)\n",
                    who(a), key, want, origin, key, have, key);
        else
            fprintf(stderr,
                    "%s: --set %s=%s: %s is a training key and means nothing to `%s` (only "
                    "data_dir can be set here%s)\n",
                    who(a), key, want, key, who(a),
                    !strcmp(key, "seed") || !strcmp(key, "batch_size") ? "; see --seed / --batch" : "");
        return 2;
    }
    if (config_validate(out) != DDPM_OK) return cli_fail(a);
    return 0;
}

int cli_check_output(const cli_args *a, const char *name, file_kind kind)
{
    const char *out = cli_get(a, name);
    if (!out || dist_rank() != 0) return 0; /* under MPI outputs are rank 0's to write */
    for (int j = 0; j < a->nopts; j++) {
        const char *v = a->value[j];
        if (!a->opts[j].arg || !v || !strcmp(a->opts[j].name, name)) continue;
        if (fs_same_file(v, out)) {
            fprintf(stderr,
                    "%s: --%s %s is the same file as --%s %s; refusing to overwrite an input (give "
                    "another output name)\n",
                    who(a), name, out, a->opts[j].name, v);
            return 1;
        }
    }
    file_kind have = file_kind_of(out);
    if (have == FK_DIRECTORY) {
        fprintf(stderr, "%s: --%s %s is a directory; give a file name\n", who(a), name, out);
        return 1;
    }
    if (have != FK_MISSING && have != kind && !cli_flag(a, "force")) {
        fprintf(stderr, "%s: --%s %s exists and is %s, not %s; refusing to overwrite it (give another name%s)\n",
                who(a), name, out, file_kind_name(have), file_kind_name(kind),
                cli_has_opt(a, "force") ? ", or --force to replace it" : "");
        return 1;
    }
    if (fs_check_writable_dir_of(out) != DDPM_OK) return cli_fail(a);
    return 0;
}
