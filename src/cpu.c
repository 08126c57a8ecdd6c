/* cpu.c — picks the kernel table once: CPUID says what the core implements, XCR0 says
 * whether the OS saves those registers on a context switch; both must agree. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(MLI_X86)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int cpu_has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const unsigned osxsave = 1u << 27, avx = 1u << 28, fma = 1u << 12;
    if ((c & (osxsave | avx | fma)) != (osxsave | avx | fma))
        return 0;
    if ((read_xcr0() & 0x6) != 0x6) /* XMM and YMM state */
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b >> 5) & 1; /* AVX2 */
}

static int cpu_has_avx512(void) {
    unsigned a, b, c, d;
    if (!cpu_has_avx2())
        return 0;
    if ((read_xcr0() & 0xE6) != 0xE6) /* plus opmask, ZMM0-15 upper halves, ZMM16-31 */
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    const unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31); /* F DQ BW VL */
    return (b & need) == need;
}
#endif

static mli__kernels mli__table;
static mli__kernels mli__scalar_table; /* the reference walks (MLI_TREE_STRATEGY=scalar) */
static const mli__kernels *mli__active;
static char mli__unavailable[160];
static pthread_once_t mli__kernels_once = PTHREAD_ONCE_INIT;

static void fill_forced(const char *want) {
    if (strcmp(want, "scalar") == 0) {
        mli__kernels_init_scalar(&mli__table);
        mli__active = &mli__table;
        return;
    }
#if defined(MLI_X86)
    if (strcmp(want, "avx2") == 0 && cpu_has_avx2()) {
        mli__kernels_init_avx2(&mli__table);
        mli__active = &mli__table;
        return;
    }
    if (strcmp(want, "avx512") == 0 && cpu_has_avx512()) {
        mli__kernels_init_avx512(&mli__table);
        mli__active = &mli__table;
        return;
    }
#endif
    if (strcmp(want, "avx2") == 0 || strcmp(want, "avx512") == 0)
        snprintf(mli__unavailable, sizeof mli__unavailable,
                 "MLI_FORCE_ISA=%s, but this CPU (or its OS) does not support %s", want, want);
    else
        snprintf(mli__unavailable, sizeof mli__unavailable, "MLI_FORCE_ISA='%.40s' is not one of scalar, avx2, avx512",
                 want);
}

static void init_kernels(void) {
    mli__kernels_init_scalar(&mli__scalar_table);
    const char *want = getenv("MLI_FORCE_ISA");
    if (want && *want) {
        fill_forced(want);
    } else {
#if defined(MLI_X86)
        if (cpu_has_avx512())
            mli__kernels_init_avx512(&mli__table);
        else if (cpu_has_avx2())
            mli__kernels_init_avx2(&mli__table);
        else
#endif
            mli__kernels_init_scalar(&mli__table);
        mli__active = &mli__table;
    }
    (void)mli__num_threads(); /* settle the thread count (and OpenBLAS's) early */
}

const mli__kernels *mli__get_kernels(void) {
    pthread_once(&mli__kernels_once, init_kernels);
    if (!mli__active)
        mli__fail(MLI_ERR_UNSUPPORTED, "%s", mli__unavailable);
    return mli__active;
}

const mli__kernels *mli__get_scalar_kernels(void) {
    pthread_once(&mli__kernels_once, init_kernels);
    return &mli__scalar_table;
}

const char *mli_cpu_isa(void) {
    pthread_once(&mli__kernels_once, init_kernels);
    return mli__active ? mli__active->isa : "unavailable";
}
