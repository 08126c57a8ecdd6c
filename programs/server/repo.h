/* repo.h — the served models: one .mli file (version 1), or a model repository directory
 * <root>/<name>/<version>/model.mli (positive integer versions) polled for new, removed and
 * changed versions, or a directory holding just one .mli file (KServe mounts a storageUri
 * naming one file that way), served as that file. Each version is a registry (hot reload,
 * reference counting). */
#ifndef MLI_SERVER_REPO_H
#define MLI_SERVER_REPO_H

#include "registry.h"

#include <pthread.h>
#include <stddef.h>

struct repo {
    pthread_mutex_t lock;    /* guards the slots array; each slot swaps its model itself */
    struct registry **slots; /* sorted by name, then version */
    size_t n, cap;
    char *root;
    int is_dir;
    char label[256]; /* for logs: the model's name, or the repository directory's */
};

int repo_init(struct repo *rp, const char *path);
void repo_destroy(struct repo *rp);
/* Loads (reason "startup"), or checks every slot and the directory for changes; `force`
 * reloads every file (SIGHUP). Returns the number of loaded models. Main thread only. */
int repo_refresh(struct repo *rp, const struct logger *lg, struct metrics *m, const char *reason, int force);

enum { REPO_FOUND = 0, REPO_NO_MODEL = 1, REPO_NO_VERSION = 2, REPO_NOT_LOADED = 3 };
/* A reference to model `name` (name_len bytes; NULL: the first name in sorted order) at
 * `version` (0: the latest loaded one); NULL with *why set when there is none. *metrics_slot
 * is the model's `model` label slot when the name exists (even with no version loaded), else 0. */
struct model_ref *repo_acquire(struct repo *rp, const char *name, size_t name_len, long version, int *why,
                               int *metrics_slot);
/* Writes the loaded versions of `name` (ascending) into out (at most max); returns how many. */
int repo_versions(struct repo *rp, const char *name, long *out, int max);
/* Why nothing could be served, for the startup failure message: the path and the reason
 * (the loader's error, or what the directory lacks). Main thread only. */
void repo_startup_error(struct repo *rp, char *buf, size_t len);
/* 1 when some model is loaded. */
int repo_any_loaded(struct repo *rp);

#endif
