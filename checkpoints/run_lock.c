#include "checkpoints/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/sys.h"

int m3ae_run_lock(const char *run_dir, m3ae_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", run_dir);
    if (m3ae_mkdir_p(run_dir) != 0)
        return m3ae_error_set(err, "cannot create the run folder %s: %s", run_dir, strerror(errno));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644); /* no O_TRUNC: the holder's name stays */
    if (fd < 0) return m3ae_error_set(err, "cannot open the run folder's lock %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[256] = "";
        ssize_t n = e == EWOULDBLOCK ? pread(fd, holder, sizeof holder - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK) return m3ae_error_set(err, "cannot lock %s: %s", path, strerror(e));
        holder[n > 0 ? n : 0] = 0;
        holder[strcspn(holder, "\r\n")] = 0;
        return m3ae_error_set(err, "the run folder %s is in use by another job (%s, lock %s); wait for it to end, "
                                   "or give this job another --out", run_dir, holder[0] ? holder : "holder unknown", path);
    }
    char host[256] = "unknown", text[400];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
    int len = snprintf(text, sizeof text, "host %s pid %d\n", host, (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return m3ae_error_set(err, "cannot write the run folder's lock %s: %s (is the disk full?)", path, strerror(e));
    }
    return fd;
}

void m3ae_run_unlock(int fd) {
    if (fd < 0) return;
    flock(fd, LOCK_UN);
    close(fd);
}
