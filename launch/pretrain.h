/* `m3ae pretrain`: the data-parallel pretraining run (issue 5). Every rank runs the same loop on
 * 1/world of each global batch; gradients are summed over ranks after backward; AdamW keeps the
 * parameters identical on every rank; rank 0 writes the logs and the checkpoints. */
#ifndef M3AE_LAUNCH_PRETRAIN_H
#define M3AE_LAUNCH_PRETRAIN_H

typedef struct {
    const char *config_path; /* NULL: defaults */
    const char *data_dir;    /* converted dataset (m3ae prep) */
    const char *val_dir;     /* validation dataset, or NULL */
    const char *out_dir;     /* run folder: created, or resumed when it holds checkpoints */
    const char *init_from;   /* weights-only start, or NULL */
    int allow_config_change; /* --allow-config-change: resume although the data order or model changes */
    int n_overrides;
    char **overrides; /* key=value */
} m3ae_pretrain_args;

/* Runs the whole pretraining (MPI is started here). Returns an exit code. */
int m3ae_pretrain_run(const m3ae_pretrain_args *a, int *argc, char ***argv);

#endif
