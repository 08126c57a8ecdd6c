/* internal.h — declarations shared inside libmlinfer (prefix mli__, never exported). */
#ifndef MLI_INTERNAL_H
#define MLI_INTERNAL_H

#include <stdint.h>

#include "mlinfer.h"
#include "kernel_api.h"

#if defined(__GNUC__) || defined(__clang__)
#define MLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MLI_PRINTF(f, a)
#endif

/* Records a formatted message as the calling thread's last error and returns `status`,
 * so a failing path reads `return mli__fail(MLI_ERR_SHAPE, "...", ...);`. */
mli_status mli__fail(mli_status status, const char *fmt, ...) MLI_PRINTF(2, 3);
/* Appends a formatted note to the calling thread's last error (cut at its capacity). */
void mli__fail_note(const char *fmt, ...) MLI_PRINTF(1, 2);

/* The kernel table for this process, or NULL with the thread's last error set when the
 * ISA forced through MLI_FORCE_ISA cannot run here. Filled once; read-only after. */
const mli__kernels *mli__get_kernels(void);
/* The scalar kernel table, whatever the CPU: the reference a test or MLI_TREE_STRATEGY
 * asks for by name. Filled once with the other. */
const mli__kernels *mli__get_scalar_kernels(void);

/* C = act(A * op(B) + bias) on the calling thread with the own kernels, for any m:
 * the dense layer of the model runtimes (which parallelise over row blocks themselves).
 * A is m x k (lda); B is k x n (ldb) or, with trans_b, n x k. No argument checks. */
void mli__dense(const mli__kernels *kt, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                int64_t ldb, int trans_b, const float *bias, int act, float *c, int64_t ldc);

/* Argument checks shared by the host and device GEMMs (src/gemm.c): one operand of `rows`
 * x `cols` row-major with leading dimension `ld` (names for the message), and m, n, k. */
mli_status mli__check_matrix(const char *fn, const char *name, const char *ldname, const void *p, int64_t rows,
                             int64_t cols, int64_t ld);
mli_status mli__check_dims(const char *fn, int64_t m, int64_t n, int64_t k);
/* Every argument check of an sgemm call (transposes, sizes, each matrix and its ld). */
mli_status mli__check_sgemm(const char *fn, mli_trans trans_a, mli_trans trans_b, int64_t m, int64_t n, int64_t k,
                            const void *a, int64_t lda, const void *b, int64_t ldb, const void *c, int64_t ldc);

/* strtod / strtof in the "C" numeric locale, whatever the calling thread's locale is
 * (model files always write '.'); src/clocale.c. errno and *end as strtod. */
double mli__strtod_c(const char *s, char **end);
float mli__strtof_c(const char *s, char **end);

/* Makes room for `more` elements of `elem` bytes after the `used` ones of the growable
 * array *buf (capacity *cap elements, doubling from 256); 0 when the size would overflow or
 * memory runs out (then *buf is unchanged). The one growable buffer of the importers and
 * the writer (src/grow.c). */
int mli__reserve(void **buf, size_t *cap, size_t used, size_t more, size_t elem);

/* Threads the library may use for one call (>= 1). */
int mli__num_threads(void);
/* Around every cblas call: OpenBLAS's thread count is not changed during one (threads.c). */
void mli__blas_enter(void);
void mli__blas_leave(void);

/* Runs fn(ctx, begin, end) over [0, n) split into up to mli__num_threads() contiguous
 * ranges of at least `grain` items, on the caller and the pool's workers; returns the
 * number of parts used. Runs inline (one part) when the pool is busy with another
 * caller's job, so it never blocks on other threads' work. */
typedef void (*mli__range_fn)(void *ctx, int64_t begin, int64_t end);
#define MLI_MAX_POOL_WORKERS 255
int mli__parallel_for(int64_t n, int64_t grain, mli__range_fn fn, void *ctx);
/* The same over up to per_thread x mli__num_threads() ranges, which the caller and the
 * workers take one at a time as each finishes its last: where a core is shared with other
 * processes (a container's CPU quota, a noisy neighbour, the server's other threads), the
 * threads on free cores take more of them instead of waiting for the slow one's half. */
int mli__parallel_for_parts(int64_t n, int64_t grain, int per_thread, mli__range_fn fn, void *ctx);
/* Ranges per thread for batches of rows (predict, contributions): each part costs a scratch
 * allocation, so a few (benchmarks/README.md, "Parts taken as threads finish"). */
#define MLI_PARTS_PER_THREAD 4

/* Overflow-checked a * b for non-negative operands; returns 0 on overflow. */
static inline int mli__mul_ok(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out); }

#endif
