#include "core/fs.h"

#include "core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int fs_join(char *buf, size_t n, const char *dir, const char *name)
{
    int w = dir && *dir ? snprintf(buf, n, "%s/%s", dir, name) : snprintf(buf, n, "%s", name);
    if (w < 0 || (size_t)w >= n) return ddpm_error("%s/%s: path too long", dir ? dir : "", name);
    return DDPM_OK;
}

void fs_dirname(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash) snprintf(buf, n, ".");
    else if (slash == buf) buf[1] = 0;
    else *slash = 0;
}

int fs_mkdir_p(const char *dir, int *created)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return ddpm_error("%s: path too long", dir);
    if (created) *created = 0;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return ddpm_error("%s: cannot create directory (%s)", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) == 0) {
        if (created) *created = 1;
    } else if (errno != EEXIST) {
        return ddpm_error("%s: cannot create directory (%s)", buf, strerror(errno));
    }
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return ddpm_error("%s: exists and is not a directory", buf);
    return DDPM_OK;
}

int fs_check_writable_dir_of(const char *path)
{
    char dir[1024];
    fs_dirname(path, dir, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0) return ddpm_error("%s: its directory %s does not exist; create it first", path, dir);
    if (!S_ISDIR(st.st_mode)) return ddpm_error("%s: %s is not a directory", path, dir);
    if (access(dir, W_OK) != 0) return ddpm_error("%s: directory %s is not writable", path, dir);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return ddpm_error("%s: is a directory, not a file name", path);
    return DDPM_OK;
}

int fs_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void fs_tmp_path(const char *path, char *tmp, size_t n) { snprintf(tmp, n, "%s.tmp", path); }

int fs_commit(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ddpm_error("%s: cannot replace (%s)", path, strerror(e));
    }
    char dir[1024];
    fs_dirname(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd); /* best effort: the rename is durable once the directory is */
        close(fd);
    }
    return DDPM_OK;
}

int fs_write_text_atomic(const char *path, const char *text)
{
    char tmp[1100];
    fs_tmp_path(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "w");
    if (!f) return ddpm_error("%s: cannot write (%s)", tmp, strerror(errno));
    int ok = fputs(text, f) >= 0;
    ok &= fflush(f) == 0;
    ok &= fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok) {
        unlink(tmp);
        return ddpm_error("%s: write failed (disk full?)", path);
    }
    return fs_commit(tmp, path);
}

long fs_lock_holder(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (!f) return 0;
    char line[512];
    long found = 0, self = (long)getpid();
    while (!found && fgets(line, sizeof line, f)) {
        /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; blocked waiters have "->". */
        if (strstr(line, "->")) continue;
        char kind[16], mode[16], rw[16], dev[64];
        long pid;
        if (sscanf(line, "%*s %15s %15s %15s %ld %63s", kind, mode, rw, &pid, dev) != 5) continue;
        unsigned maj, min;
        unsigned long long ino;
        if (sscanf(dev, "%x:%x:%llu", &maj, &min, &ino) != 3) continue;
        if (ino == (unsigned long long)st.st_ino && maj == major(st.st_dev) && min == minor(st.st_dev) && pid != self)
            found = pid;
    }
    fclose(f);
    return found;
}

int fs_lock_dir(fs_dir_lock *l, const char *dir, const char *what)
{
    l->fd = -1;
    DDPM_TRY(fs_join(l->path, sizeof l->path, dir, "lock"));
    int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return ddpm_error("%s: cannot create the lock file (%s)", l->path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pidtxt[32] = "";
        ssize_t r = pread(fd, pidtxt, sizeof pidtxt - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK) return ddpm_error("%s: cannot lock (%s)", l->path, strerror(e));
        long pid = r > 0 ? strtol(pidtxt, NULL, 10) : 0;
        if (pid <= 0) pid = fs_lock_holder(l->path);
        if (pid > 0)
            return ddpm_error("%s is in use by PID %ld (%s there); wait for it to finish or stop it, or use another "
                              "directory",
                              dir, pid, what);
        return ddpm_error("%s is in use by another process (%s there); wait for it or use another directory", dir,
                          what);
    }
    char pidtxt[32];
    int len = snprintf(pidtxt, sizeof pidtxt, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pidtxt, (size_t)len, 0) != len) {
        close(fd);
        return ddpm_error("%s: cannot write the lock file (disk full?)", l->path);
    }
    l->fd = fd;
    return DDPM_OK;
}

void fs_unlock_dir(fs_dir_lock *l)
{
    if (l->fd < 0) return;
    /* The file stays: removing it would race with a process that opened it meanwhile. */
    flock(l->fd, LOCK_UN);
    close(l->fd);
    l->fd = -1;
}

int fs_copy_file(const char *from, const char *to)
{
    char tmp[1100];
    fs_tmp_path(to, tmp, sizeof tmp);
    FILE *in = fopen(from, "rb");
    if (!in) return ddpm_error("%s: cannot read (%s)", from, strerror(errno));
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return ddpm_error("%s: cannot write (%s)", tmp, strerror(errno));
    }
    char buf[65536];
    size_t k;
    int ok = 1;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) ok &= fwrite(buf, 1, k, out) == k;
    ok &= !ferror(in);
    fclose(in);
    ok &= fclose(out) == 0;
    if (!ok) {
        unlink(tmp);
        return ddpm_error("%s: copy failed (disk full?)", to);
    }
    return fs_commit(tmp, to);
}
