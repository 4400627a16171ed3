/* commands.h — the `ddpm` subcommands; each returns the exit status (0 ok, 1 failure, 2 usage). */
#ifndef DDPM_COMMANDS_H
#define DDPM_COMMANDS_H

int cmd_config(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_bpd(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_inception(int argc, char **argv);
int cmd_fid(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* cmd_released.c */
int cmd_tensors(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif
