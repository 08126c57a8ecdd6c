/* registry.c — model loading, hot reload and reference counting. */
#include "registry.h"

#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int registry_init(struct registry *r, const char *path, const char *name, long version) {
    memset(r, 0, sizeof *r);
    atomic_init(&r->metrics_slot, 0);
    if (pthread_mutex_init(&r->lock, NULL) != 0)
        return -1;
    r->path = strdup(path);
    if (!r->path)
        return -1;
    r->version = version;
    const char *base = name;
    size_t n = name ? strlen(name) : 0;
    if (!name) {
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        n = strlen(base);
        if (n > 4 && strcmp(base + n - 4, ".mli") == 0)
            n -= 4;
    }
    if (n >= sizeof r->name)
        n = sizeof r->name - 1;
    memcpy(r->name, base, n);
    r->name[n] = '\0';
    return 0;
}

void registry_destroy(struct registry *r) {
    model_ref_release(r->current);
    r->current = NULL;
    free(r->path);
    r->path = NULL;
    pthread_mutex_destroy(&r->lock);
}

static struct file_sig file_signature(const char *path) {
    struct file_sig s = {0};
    struct stat st;
    if (stat(path, &st) == 0) { /* stat, not lstat: a ConfigMap "..data" swap changes the target */
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        s.valid = 1;
    }
    return s;
}

int registry_file_changed(struct registry *r) {
    struct file_sig s = file_signature(r->path);
    if (!s.valid) /* missing for a moment (mid-swap): wait until it is back */
        return 0;
    return !r->seen.valid || s.dev != r->seen.dev || s.ino != r->seen.ino || s.size != r->seen.size ||
           s.mtime_ns != r->seen.mtime_ns;
}

struct model_ref *model_ref_new(mli_model *model, char *err, size_t errlen) {
    struct model_ref *ref = calloc(1, sizeof *ref);
    if (!ref) {
        mli_model_free(model);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ref->model = model;
    ref->n_features = mli_model_n_features(model);
    ref->n_outputs = mli_model_n_outputs(model);
    ref->is_classifier = mli_model_task(model) == MLI_TASK_CLASSIFICATION;
    ref->n_classes = ref->is_classifier ? mli_model_n_classes(model) : 0;
    ref->has_proba = ref->is_classifier && mli_model_has_proba(model);
    ref->string_labels = ref->is_classifier && mli_model_labels_are_strings(model);
    ref->has_image = mli_model_has_image(model);
    atomic_init(&ref->refs, 1);
    int64_t tensor_len = 0;
    if (ref->has_image &&
        (mli_model_image_spec(model, &ref->image) != MLI_OK ||
         mli_image_spec_tensor_len(&ref->image, &tensor_len) != MLI_OK || tensor_len != ref->n_features)) {
        snprintf(err, errlen, "image stage unusable (tensor of %lld floats for %lld features): %s",
                 (long long)tensor_len, (long long)mli_model_n_features(model), mli_last_error());
        model_ref_release(ref);
        return NULL;
    }

    if (ref->n_features <= 0 || ref->n_features > (1 << 24) || ref->n_outputs <= 0 ||
        (ref->is_classifier && (ref->n_classes < 2 || ref->n_outputs != 1))) {
        snprintf(err, errlen, "model metadata out of range (features %lld, outputs %lld, classes %lld)",
                 (long long)ref->n_features, (long long)ref->n_outputs, (long long)ref->n_classes);
        model_ref_release(ref);
        return NULL;
    }
    for (int64_t i = 0; i < ref->n_features; i++) {
        mli_column_kind kind = MLI_COLUMN_NUMBER;
        if (mli_model_column_kind(model, i, &kind) == MLI_OK && kind == MLI_COLUMN_STRING)
            ref->has_strings = 1;
    }
    double *x = calloc((size_t)ref->n_features, sizeof *x);
    double *y = calloc((size_t)ref->n_outputs, sizeof *y);
    /* a model with string columns cannot take a numeric row: its file was checked on load */
    mli_status st = !x || !y           ? MLI_ERR_OUT_OF_MEMORY
                    : ref->has_strings ? MLI_OK
                                       : mli_model_predict(model, x, MLI_F64, 1, ref->n_features, y, ref->n_outputs);
    if (st == MLI_OK && ref->is_classifier && (y[0] < 0 || y[0] >= (double)ref->n_classes))
        st = MLI_ERR_INTERNAL;
    free(x);
    free(y);
    if (st != MLI_OK) {
        snprintf(err, errlen, "test prediction failed: %s", mli_last_error());
        model_ref_release(ref);
        return NULL;
    }
    return ref;
}

/* Loads and checks a model: metadata must be sane and one prediction must succeed. */
static struct model_ref *load_checked(const char *path, char *err, size_t errlen) {
    mli_model *model = NULL;
    if (mli_model_load(path, &model) != MLI_OK) {
        snprintf(err, errlen, "%s", mli_last_error());
        return NULL;
    }
    return model_ref_new(model, err, errlen);
}

int registry_load(struct registry *r, const struct logger *lg, struct metrics *m, const char *reason) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (atomic_load_explicit(&r->metrics_slot, memory_order_relaxed) == 0)
        atomic_store_explicit(&r->metrics_slot, metrics_model_slot(m, r->name), memory_order_relaxed);
    struct file_sig sig = file_signature(r->path);
    char err[512] = "";
    struct model_ref *ref = load_checked(r->path, err, sizeof err);
    r->seen = sig;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    snprintf(r->error, sizeof r->error, "%s", ref ? "" : err);
    if (!ref) {
        metrics_load(m, 0);
        log_event(lg, LOG_ERROR, "model_load_failed", "model:s version:i path:s reason:s error:s kept_previous:b",
                  r->name, (long long)r->version, r->path, reason, err, r->current != NULL);
        return -1;
    }
    snprintf(ref->name, sizeof ref->name, "%s", r->name);
    snprintf(ref->version, sizeof ref->version, "%ld", r->version);
    ref->metrics_slot = atomic_load_explicit(&r->metrics_slot, memory_order_relaxed);
    pthread_mutex_lock(&r->lock);
    struct model_ref *old = r->current;
    r->current = ref;
    pthread_mutex_unlock(&r->lock);
    model_ref_release(old);
    metrics_load(m, 1);
    log_event(lg, LOG_INFO, "model_loaded",
              "model:s version:i path:s reason:s features:i outputs:i classes:i image:b seconds:d", r->name,
              (long long)r->version, r->path, reason, (long long)ref->n_features, (long long)ref->n_outputs,
              (long long)ref->n_classes, ref->has_image, secs);
    return 0;
}

struct model_ref *registry_acquire(struct registry *r) {
    pthread_mutex_lock(&r->lock);
    struct model_ref *ref = r->current;
    if (ref)
        atomic_fetch_add_explicit(&ref->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&r->lock);
    return ref;
}

struct model_ref *model_ref_retain(struct model_ref *ref) {
    atomic_fetch_add_explicit(&ref->refs, 1, memory_order_relaxed);
    return ref;
}

void model_ref_release(struct model_ref *ref) {
    if (ref && atomic_fetch_sub_explicit(&ref->refs, 1, memory_order_acq_rel) == 1) {
        mli_model_free(ref->model);
        free(ref);
    }
}
