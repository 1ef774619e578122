/* The m3ae command's subcommands. Each lives in its own launch/cmd_<name>.c and is listed once in
 * the table of launch/commands.c; `m3ae help` and dispatch both read that table. */
#ifndef M3AE_LAUNCH_COMMANDS_H
#define M3AE_LAUNCH_COMMANDS_H

typedef struct {
    const char *name;
    const char *summary; /* one line for `m3ae help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name; returns an exit code */
} m3ae_command;

extern const m3ae_command m3ae_commands[];
extern const int m3ae_n_commands;

/* True when argv holds -h or --help (every subcommand answers both). */
int m3ae_cli_wants_help(int argc, char **argv);

int m3ae_cmd_version(int argc, char **argv);
int m3ae_cmd_bench(int argc, char **argv);
int m3ae_cmd_tokenize(int argc, char **argv);
int m3ae_cmd_prep(int argc, char **argv);
int m3ae_cmd_phantom(int argc, char **argv);
int m3ae_cmd_ckpt(int argc, char **argv);
int m3ae_cmd_pretrain(int argc, char **argv);
int m3ae_cmd_finetune(int argc, char **argv);
int m3ae_cmd_evaluate(int argc, char **argv);
int m3ae_cmd_predict(int argc, char **argv);
/* subcommands: add prototypes above this line */

#endif
