#include "launch/metrics.h"

#include <math.h>
#include <time.h>

#include "common/sys.h"
#include "common/error.h"

const char *m3ae_format_duration(double s, char *buf, int n) {
    if (!isfinite(s) || s < 0) snprintf(buf, (size_t)n, "?");
    else if (s < 60) snprintf(buf, (size_t)n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, (size_t)n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, (size_t)n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    return buf;
}

void m3ae_metrics_print_header(FILE *f) {
    fprintf(f, "%-13s %5s %7s %7s %7s %7s %7s %7s %9s %7s %8s %6s %7s\n", "step", "epoch", "loss", "mlm", "mim", "itm",
            "mlm_acc", "itm_acc", "lr", "gnorm", "sample/s", "MFU", "ETA");
    fflush(f);
}

void m3ae_metrics_print(FILE *f, const m3ae_step_metrics *m) {
    char step[32], eta[16];
    snprintf(step, sizeof step, "%lld/%lld", (long long)m->step, (long long)m->max_steps);
    fprintf(f, "%-13s %5llu %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %9.3e %7.3f %8.1f %5.1f%% %7s\n", step,
            (unsigned long long)m->epoch, m->loss, m->mlm_loss, m->mim_loss, m->itm_loss, m->mlm_acc, m->itm_acc, m->lr,
            m->grad_norm, m->samples_per_s, 100.0 * m->mfu, m3ae_format_duration(m->eta_s, eta, sizeof eta));
    fflush(f);
}

void m3ae_metrics_json(FILE *f, const m3ae_step_metrics *m) {
    fprintf(f,
            "{\"split\": \"train\", \"step\": %lld, \"epoch\": %llu, \"loss\": %.6g, \"mlm_loss\": %.6g, \"mim_loss\": %.6g, "
            "\"itm_loss\": %.6g, \"mlm_acc\": %.6g, \"itm_acc\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, "
            "\"samples_per_s\": %.6g, \"mfu\": %.6g, \"eta_s\": %.1f}\n",
            (long long)m->step, (unsigned long long)m->epoch, m->loss, m->mlm_loss, m->mim_loss, m->itm_loss, m->mlm_acc,
            m->itm_acc, m->lr, m->grad_norm, m->samples_per_s, m->mfu, isfinite(m->eta_s) ? m->eta_s : -1.0);
    fflush(f);
}

void m3ae_metrics_print_val(FILE *f, const m3ae_val_metrics *v) {
    fprintf(f, "validation at step %lld: mlm_acc %.4f  itm_acc %.4f  mim_loss %.4f  (mlm_loss %.4f, itm_loss %.4f)\n",
            (long long)v->step, v->mlm_acc, v->itm_acc, v->mim_loss, v->mlm_loss, v->itm_loss);
    fflush(f);
}

void m3ae_metrics_json_val(FILE *f, const m3ae_val_metrics *v) {
    fprintf(f,
            "{\"split\": \"val\", \"step\": %lld, \"val_mlm_acc\": %.6g, \"val_itm_acc\": %.6g, \"val_mim_loss\": %.6g, "
            "\"val_mlm_loss\": %.6g, \"val_itm_loss\": %.6g}\n",
            (long long)v->step, v->mlm_acc, v->itm_acc, v->mim_loss, v->mlm_loss, v->itm_loss);
    fflush(f);
}
