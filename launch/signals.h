/* Stop requests: SIGUSR1 (Slurm's warning before the time limit; what launch/local.sh sends on the
 * first Ctrl-C), SIGTERM and SIGINT set a flag. The training loop looks at it between micro-batches
 * and after each step, where all ranks agree on it: it writes the checkpoint of the last finished
 * step and exits 0. A second SIGINT ends the process at once.
 *
 * How long a stop may take is the launcher's grace: the time between the signal and SIGKILL (Open
 * MPI's odls_base_sigkill_timeout, Slurm's KillWait or --signal=USR1@SECONDS). A launcher that knows
 * it says so in M3AE_STOP_GRACE_S (seconds); the trainer then finishes a step in progress when the
 * rest of it fits well within the grace, and otherwise abandons it (see launch/train/trainer.c). */
#ifndef M3AE_LAUNCH_SIGNALS_H
#define M3AE_LAUNCH_SIGNALS_H

void m3ae_signals_install(void);
/* 0 when no stop was requested, else the signal number that asked for it. */
int m3ae_signals_pending(void);
const char *m3ae_signal_name(int sig);
/* The grace of a stop in seconds from M3AE_STOP_GRACE_S, or 0 when unknown (unset; a value that is
 * not a positive number is reported once on stderr and treated as unknown). */
double m3ae_signals_grace_s(void);

#endif
