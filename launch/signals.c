#include "launch/signals.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static volatile sig_atomic_t pending = 0;

static void on_signal(int sig) {
    if (sig == SIGINT && pending == SIGINT) { /* second Ctrl-C: stop now */
        static const char msg[] = "\nm3ae: second SIGINT: exiting at once, without a checkpoint\n";
        ssize_t unused = write(2, msg, sizeof msg - 1);
        (void)unused;
        _exit(130);
    }
    pending = sig;
}

void m3ae_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int m3ae_signals_pending(void) { return (int)pending; }

const char *m3ae_signal_name(int sig) {
    return sig == SIGUSR1 ? "SIGUSR1" : sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}

double m3ae_signals_grace_s(void) {
    static int warned = 0;
    const char *s = getenv("M3AE_STOP_GRACE_S");
    if (!s || !*s) return 0;
    char *end = NULL;
    errno = 0;
    double g = strtod(s, &end);
    if (errno == 0 && end != s && *end == '\0' && g > 0 && isfinite(g)) return g;
    if (!warned) {
        m3ae_warn("M3AE_STOP_GRACE_S = '%s' is not a positive number of seconds; a stop abandons the step in "
                  "progress (set it to the launcher's grace, or unset it)", s);
        warned = 1;
    }
    return 0;
}
