/* Stop requests: SIGUSR1 (Slurm's warning before the time limit), SIGTERM and SIGINT set a flag that
 * the training loop checks at each step boundary, where all ranks agree on it, write a checkpoint and
 * exit 0. A second SIGINT ends the process at once. */
#ifndef M3AE_LAUNCH_SIGNALS_H
#define M3AE_LAUNCH_SIGNALS_H

void m3ae_signals_install(void);
/* 0 when no stop was requested, else the signal number that asked for it. */
int m3ae_signals_pending(void);
const char *m3ae_signal_name(int sig);

#endif
