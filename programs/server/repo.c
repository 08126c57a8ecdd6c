/* repo.c — a model repository: the set of (name, version) registries, kept in step with
 * the directory by the control thread. */
#include "repo.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SLOTS 4096

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int slot_cmp(const void *a, const void *b) {
    const struct registry *x = *(struct registry *const *)a, *y = *(struct registry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

static struct registry *new_slot(const char *path, const char *name, long version) {
    struct registry *r = malloc(sizeof *r);
    if (r && registry_init(r, path, name, version) != 0) {
        free(r->path);
        free(r);
        r = NULL;
    }
    return r;
}

static void free_slot(struct registry *r) {
    registry_destroy(r);
    free(r);
}

/* Counts the regular *.mli files at the top of `dir`, writing the path of the last one into
 * out; -1 (errno set) when the directory cannot be read. */
static int top_level_models(const char *dir, char *out, size_t outlen) {
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char file[4096];
        struct stat st;
        if (e->d_name[0] == '.' || len <= 4 || strcmp(e->d_name + len - 4, ".mli") != 0 ||
            snprintf(file, sizeof file, "%s/%s", dir, e->d_name) >= (int)sizeof file || stat(file, &st) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        n++;
        snprintf(out, outlen, "%s", file);
    }
    closedir(d);
    return n;
}

static void scan(const char *root, void (*fn)(void *, const char *, const char *, long), void *ctx);

static void count_one(void *ctx, const char *file, const char *name, long version) {
    (void)file;
    (void)name;
    (void)version;
    ++*(int *)ctx;
}

int repo_init(struct repo *rp, const char *path) {
    memset(rp, 0, sizeof *rp);
    if (pthread_mutex_init(&rp->lock, NULL) != 0 || !(rp->root = strdup(path)))
        return -1;
    rp->is_dir = is_dir(path);
    char single[4096];
    int layout = 0;
    if (rp->is_dir) /* one .mli file and no repository layout: serve that file */
        scan(path, count_one, &layout);
    if (rp->is_dir && layout == 0 && top_level_models(path, single, sizeof single) == 1) {
        rp->is_dir = 0;
        path = single;
    }
    if (!rp->is_dir) {
        if (!(rp->slots = malloc(sizeof *rp->slots)) || !(rp->slots[0] = new_slot(path, NULL, 1)))
            return -1;
        rp->n = rp->cap = 1;
        snprintf(rp->label, sizeof rp->label, "%s", rp->slots[0]->name);
    } else {
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/')
            n--;
        const char *base = path + n;
        while (base > path && base[-1] != '/')
            base--;
        snprintf(rp->label, sizeof rp->label, "%.*s", (int)(path + n - base), base);
    }
    return 0;
}

void repo_destroy(struct repo *rp) {
    for (size_t i = 0; i < rp->n; i++)
        free_slot(rp->slots[i]);
    free(rp->slots);
    free(rp->root);
    pthread_mutex_destroy(&rp->lock);
    memset(rp, 0, sizeof *rp);
}

/* A positive decimal version directory name; 0 otherwise. */
static long parse_version(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (!errno && end != s && !*end && s[0] != '+' && s[0] != '-' && v > 0) ? v : 0;
}

/* Calls fn for each <root>/<name>/<version>/model.mli that exists. */
static void scan(const char *root, void (*fn)(void *, const char *, const char *, long), void *ctx) {
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char dir[4096];
        if (e->d_name[0] == '.' || snprintf(dir, sizeof dir, "%s/%s", root, e->d_name) >= (int)sizeof dir ||
            !is_dir(dir))
            continue;
        DIR *vd = opendir(dir);
        struct dirent *ve;
        while (vd && (ve = readdir(vd))) {
            char file[4096];
            long v = parse_version(ve->d_name);
            struct stat st;
            if (v && snprintf(file, sizeof file, "%s/%s/model.mli", dir, ve->d_name) < (int)sizeof file &&
                stat(file, &st) == 0 && S_ISREG(st.st_mode))
                fn(ctx, file, e->d_name, v);
        }
        if (vd)
            closedir(vd);
    }
    if (d)
        closedir(d);
}

struct found {
    struct registry **slots;
    size_t n;
};

static void collect(void *ctx, const char *file, const char *name, long version) {
    struct found *f = ctx;
    if (f->n >= MAX_SLOTS || strlen(name) >= sizeof f->slots[0]->name)
        return;
    struct registry *r = new_slot(file, name, version);
    if (r)
        f->slots[f->n++] = r;
}

/* The slot for (name, version) among slots[0..n), or NULL. */
static struct registry *find_slot(struct registry **slots, size_t n, const char *name, long version) {
    for (size_t i = 0; i < n; i++)
        if (slots[i]->version == version && strcmp(slots[i]->name, name) == 0)
            return slots[i];
    return NULL;
}

/* Brings the slot list in step with the directory: new versions are loaded before they
 * appear, removed ones disappear (requests holding their model finish on it). */
static void sync_dir(struct repo *rp, const struct logger *lg, struct metrics *m) {
    struct found f = {calloc(MAX_SLOTS, sizeof(struct registry *)), 0};
    if (!f.slots)
        return;
    scan(rp->root, collect, &f);
    for (size_t i = 0; i < f.n; i++) {
        struct registry *old = find_slot(rp->slots, rp->n, f.slots[i]->name, f.slots[i]->version);
        if (old) { /* keep the loaded one */
            free_slot(f.slots[i]);
            f.slots[i] = old;
        } else {
            registry_load(f.slots[i], lg, m, "new version");
        }
    }
    qsort(f.slots, f.n, sizeof *f.slots, slot_cmp);
    pthread_mutex_lock(&rp->lock);
    struct registry **old_slots = rp->slots;
    size_t old_n = rp->n;
    rp->slots = f.slots;
    rp->n = f.n;
    pthread_mutex_unlock(&rp->lock);
    for (size_t i = 0; i < old_n; i++)
        if (!find_slot(f.slots, f.n, old_slots[i]->name, old_slots[i]->version)) {
            log_event(lg, LOG_INFO, "model_removed", "model:s version:i", old_slots[i]->name,
                      (long long)old_slots[i]->version);
            free_slot(old_slots[i]);
        }
    free(old_slots);
}

int repo_refresh(struct repo *rp, const struct logger *lg, struct metrics *m, const char *reason, int force) {
    int startup = strcmp(reason, "startup") == 0;
    for (size_t i = 0; i < rp->n; i++) /* the control thread is the only writer: no lock to read */
        if (force || startup || registry_file_changed(rp->slots[i]))
            registry_load(rp->slots[i], lg, m, reason);
    if (rp->is_dir)
        sync_dir(rp, lg, m);
    return repo_any_loaded(rp);
}

struct model_ref *repo_acquire(struct repo *rp, const char *name, size_t name_len, long version, int *why,
                               int *metrics_slot) {
    struct model_ref *ref = NULL;
    *why = REPO_NO_MODEL;
    *metrics_slot = 0;
    pthread_mutex_lock(&rp->lock);
    if (!name && rp->n > 0) {
        name = rp->slots[0]->name;
        name_len = strlen(name);
    }
    for (size_t i = rp->n; i-- > 0;) { /* latest version first */
        struct registry *r = rp->slots[i];
        if (!name || strlen(r->name) != name_len || strncmp(r->name, name, name_len) != 0)
            continue;
        if (*why == REPO_NO_MODEL) {
            *why = REPO_NO_VERSION;
            *metrics_slot = atomic_load_explicit(&r->metrics_slot, memory_order_relaxed);
        }
        if (version && r->version != version)
            continue;
        *why = REPO_NOT_LOADED;
        if ((ref = registry_acquire(r)))
            break;
        if (version)
            break;
    }
    pthread_mutex_unlock(&rp->lock);
    if (ref)
        *why = REPO_FOUND;
    return ref;
}

int repo_versions(struct repo *rp, const char *name, long *out, int max) {
    int n = 0;
    pthread_mutex_lock(&rp->lock);
    for (size_t i = 0; i < rp->n && n < max; i++) {
        struct registry *r = rp->slots[i];
        if (strcmp(r->name, name) != 0)
            continue;
        struct model_ref *ref = registry_acquire(r);
        if (ref)
            out[n++] = r->version;
        model_ref_release(ref);
    }
    pthread_mutex_unlock(&rp->lock);
    return n;
}

void repo_startup_error(struct repo *rp, char *buf, size_t len) {
    for (size_t i = 0; i < rp->n; i++)
        if (rp->slots[i]->error[0]) { /* the loader's messages mostly name the file already */
            const struct registry *r = rp->slots[i];
            int named = strstr(r->error, r->path) != NULL;
            snprintf(buf, len, "%s%s%s%s", named ? "" : r->path, named ? "" : ": ", r->error,
                     rp->n > 1 ? " (the first of the repository's models that failed)" : "");
            return;
        }
    if (!rp->is_dir) {
        snprintf(buf, len, "%s: not loaded", rp->root);
        return;
    }
    char one[4096];
    int n = top_level_models(rp->root, one, sizeof one);
    if (n < 0)
        snprintf(buf, len, "%s: cannot read the directory: %s", rp->root, strerror(errno));
    else if (n > 1)
        snprintf(buf, len,
                 "%s: %d .mli files and no <name>/<version>/model.mli: cannot tell which one to serve "
                 "(give --model the file, or lay the directory out as a repository)",
                 rp->root, n);
    else
        snprintf(buf, len, "%s: no model in the directory (expected one .mli file, or <name>/<version>/model.mli)",
                 rp->root);
}

int repo_any_loaded(struct repo *rp) {
    int n = 0;
    pthread_mutex_lock(&rp->lock);
    for (size_t i = 0; i < rp->n; i++) {
        struct model_ref *ref = registry_acquire(rp->slots[i]);
        n += ref != NULL;
        model_ref_release(ref);
    }
    pthread_mutex_unlock(&rp->lock);
    return n;
}
