/* registry.h — the served model: a reference-counted handle swapped atomically on reload. */
#ifndef MLI_SERVER_REGISTRY_H
#define MLI_SERVER_REGISTRY_H

#include <mlinfer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

struct logger;
struct metrics;

/* One loaded model and what the protocol needs of it. Immutable; freed with the last
 * reference, so requests in flight during a reload finish on the model they started on. */
struct model_ref {
    atomic_int refs;
    char name[256];
    char version[24];
    mli_model *model;
    int64_t n_features, n_outputs, n_classes;
    int is_classifier, has_proba, string_labels;
    int has_strings;      /* a string input column: rows must come as named values (mli_model_predict_columns) */
    int has_image;        /* an image stage: JPEG bytes in, `image` turns them into a row */
    mli_image_spec image; /* the model's image stage, when has_image */
    int metrics_slot;     /* the `model` label's slot in struct metrics */
};

/* What identifies the model file's content, following symlinks. */
struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    long long mtime_ns;
    int valid;
};

struct registry {
    pthread_mutex_t lock; /* guards `current` only: held for a pointer swap or a refcount */
    struct model_ref *current;
    char *path;
    char name[256];          /* the model's name: the file name without .mli, or its repository directory */
    long version;            /* 1 for a single file, else the repository's version directory */
    atomic_int metrics_slot; /* metrics_model_slot(name), set by the first registry_load; 0 before */
    struct file_sig seen;    /* the file as last loaded (or last failed to load) */
    char error[512];         /* why the last load failed ("" after a success); main thread only */
};

/* `name` NULL: the file name without .mli. */
int registry_init(struct registry *r, const char *path, const char *name, long version);
void registry_destroy(struct registry *r);

/* Loads the file, checks it, and swaps it in; on failure keeps the current model. Logs and
 * counts either outcome. Returns 0 on success. Called from the main thread only. */
int registry_load(struct registry *r, const struct logger *lg, struct metrics *m, const char *reason);
/* 1 when the file (after following symlinks) differs from the last load attempt. */
int registry_file_changed(struct registry *r);

/* A reference to the current model (NULL when none is loaded); release it when done. */
struct model_ref *registry_acquire(struct registry *r);
/* A reference (count 1) to a loaded model, which it takes over (freed with the last
 * reference, or at once on failure). Checks the metadata and one prediction; returns NULL
 * with err set when they fail. The name is left empty. */
struct model_ref *model_ref_new(mli_model *model, char *err, size_t errlen);
/* Another reference to a model already held (a batch takes one for the model it runs on). */
struct model_ref *model_ref_retain(struct model_ref *ref);
void model_ref_release(struct model_ref *ref);

#endif
