/* fs.h — the file-system plumbing every module shares: path join, mkdir -p, atomic writes,
 * file identity, and advisory locks. Errors go through ddpm_error() naming the path. */
#ifndef DDPM_FS_H
#define DDPM_FS_H

#include <stddef.h>

/* "dir/name" into buf (or name alone when dir is empty). DDPM_ERR when it does not fit. */
int fs_join(char *buf, size_t n, const char *dir, const char *name);

/* mkdir -p. *created (may be NULL) gets 1 when the last component did not exist before. */
int fs_mkdir_p(const char *dir, int *created);

/* The directory part of path ("." when it has none). */
void fs_dirname(const char *path, char *buf, size_t n);

/* DDPM_OK when path's directory exists and is writable, else an error naming it. */
int fs_check_writable_dir_of(const char *path);

/* 1 when a and b name the same existing file (device and inode), else 0. */
int fs_same_file(const char *a, const char *b);

/* Atomic replacement: write to fs_tmp_path(path), then fs_commit() renames it over path and
 * fsyncs the directory, so a crash leaves either the old or the new file. */
void fs_tmp_path(const char *path, char *tmp, size_t n);
int fs_commit(const char *tmp, const char *path);
int fs_write_text_atomic(const char *path, const char *text);

/* PID of a process holding an flock/POSIX lock on path (from /proc/locks), or 0 if none is
 * known (or the holder is this process). */
long fs_lock_holder(const char *path);

/* An exclusive lock on DIR/lock held for the life of a job (flock: released by the kernel
 * when the process dies, so a kill -9 never leaves a stale lock). The file holds the PID. */
typedef struct {
    int fd;
    char path[1100];
} fs_dir_lock;

/* Fails with "DIR is in use by PID N (...)" when another process holds it. `what` names the
 * job in that message ("training"). */
int fs_lock_dir(fs_dir_lock *l, const char *dir, const char *what);
void fs_unlock_dir(fs_dir_lock *l);

/* Copies `from` to `to` atomically (a temporary beside `to`, then renamed into place). */
int fs_copy_file(const char *from, const char *to);

#endif
