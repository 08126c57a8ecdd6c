/* test_model_corrupt.c — broken model files fail cleanly. Every file of the corpus in
 * tests/data/corrupt/ (make_corrupt.py; listed in EXPECTED with its status and message)
 * is loaded from memory and from its path; then each golden model is truncated at every
 * byte and has every one of its bits flipped. Nothing may crash, leak or read out of
 * bounds (the suite also runs under ASan+UBSan), and every failure must come with a
 * message. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>

#include <zlib.h>

#include "model_testutil.h"

#define CORRUPT_DIR "corrupt"

static const struct {
    const char *name;
    mli_status status;
} k_status_names[] = {
    {"MLI_OK", MLI_OK},
    {"MLI_ERR_INVALID_ARGUMENT", MLI_ERR_INVALID_ARGUMENT},
    {"MLI_ERR_OUT_OF_MEMORY", MLI_ERR_OUT_OF_MEMORY},
    {"MLI_ERR_UNSUPPORTED", MLI_ERR_UNSUPPORTED},
    {"MLI_ERR_IO", MLI_ERR_IO},
    {"MLI_ERR_CORRUPT", MLI_ERR_CORRUPT},
    {"MLI_ERR_VERSION", MLI_ERR_VERSION},
    {"MLI_ERR_SHAPE", MLI_ERR_SHAPE},
    {"MLI_ERR_DEVICE", MLI_ERR_DEVICE},
    {"MLI_ERR_INTERNAL", MLI_ERR_INTERNAL},
};

static mli_status status_named(const char *name)
{
    for (size_t i = 0; i < sizeof k_status_names / sizeof k_status_names[0]; i++)
        if (strcmp(k_status_names[i].name, name) == 0)
            return k_status_names[i].status;
    fail_msg("EXPECTED: unknown status name '%s'", name);
    return MLI_ERR_INTERNAL;
}

/* The message contains one of the '|'-separated alternatives of `texts` ("-": any). */
static int message_matches(const char *msg, const char *texts)
{
    if (strcmp(texts, "-") == 0)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", texts);
    char *save = NULL;
    for (char *alt = strtok_r(buf, "|", &save); alt; alt = strtok_r(NULL, "|", &save))
        if (strstr(msg, alt))
            return 1;
    return 0;
}

/* A loaded model answers one row of zeros (it must never crash on a model it accepted). */
static void predict_zeros(const mli_model *m)
{
    int64_t nf = mli_model_n_features(m), k = mli_model_n_classes(m), no = mli_model_n_outputs(m);
    double *x = calloc((size_t)nf, sizeof(double)), out[64];
    assert_non_null(x);
    assert_true(no <= 64 && k <= 64);
    assert_int_equal(mli_model_predict(m, x, MLI_F64, 1, nf, out, 64), MLI_OK);
    if (mli_model_has_proba(m))
        assert_int_equal(mli_model_predict_proba(m, x, MLI_F64, 1, nf, out, 64), MLI_OK);
    free(x);
}

/* ---- the corpus ----------------------------------------------------------------------- */

typedef struct {
    char file[128], status[64], text[400];
} corpus_entry;

/* Reads EXPECTED; with include_bugs, '#bug' lines (defects not caught yet) too. */
static int read_expected(corpus_entry *out, int cap, int include_bugs)
{
    size_t n;
    uint8_t *text = mt_read_file(CORRUPT_DIR "/EXPECTED", &n);
    text[n] = 0;
    int count = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "#bug ", 5) == 0 && include_bugs)
            line += 5;
        else if (line[0] == '#' || line[0] == 0)
            continue;
        assert_true(count < cap);
        corpus_entry *e = &out[count++];
        if (sscanf(line, "%127[^\t]\t%63[^\t]\t%399[^\n]", e->file, e->status, e->text) != 3)
            fail_msg("EXPECTED: malformed line '%s'", line);
    }
    free(text);
    return count;
}

static void check_entry(const corpus_entry *e)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, CORRUPT_DIR "/%.127s", e->file);
    mt_path(path, sizeof path, rel);
    mli_status want = status_named(e->status);
    size_t size;
    uint8_t *bytes = mt_read_file(rel, &size);

    for (int from_path = 0; from_path < 2; from_path++) {
        mli_model *m = (mli_model *)(uintptr_t)1;
        mli_status got = from_path ? mli_model_load(path, &m) : mli_model_load_memory(bytes, size, &m);
        const char *how = from_path ? "path" : "memory";
        if (got != want)
            fail_msg("%s (from %s): got %s (\"%s\"), want %s", e->file, how, mli_status_string(got),
                     mli_last_error(), e->status);
        if (want == MLI_OK) {
            assert_non_null(m);
            predict_zeros(m);
            mli_model_free(m);
            continue;
        }
        if (m != NULL)
            fail_msg("%s (from %s): *out is not NULL after a failed load", e->file, how);
        const char *msg = mli_last_error();
        if (!msg || !msg[0] || !message_matches(msg, e->text))
            fail_msg("%s (from %s): message \"%s\" does not contain \"%s\"", e->file, how, msg ? msg : "(null)",
                     e->text);
        /* the message names where the bytes came from */
        if (from_path && !strstr(msg, e->file))
            fail_msg("%s: message \"%s\" does not name the file", e->file, msg);
        if (!from_path && size > 0 && !strstr(msg, "<memory>"))
            fail_msg("%s: message \"%s\" does not say <memory>", e->file, msg);
    }
    free(bytes);
}

static void test_corpus(void **state)
{
    (void)state;
    static corpus_entry entries[512];
    int n = read_expected(entries, 512, 0);
    assert_true(n >= 100);
    for (int i = 0; i < n; i++)
        check_entry(&entries[i]);
    printf("corpus: %d files fail (or load) as EXPECTED says, from memory and from path\n", n);
}

/* Every .mli file in the folder is listed (a file nobody checks is a file nobody fixes). */
static void test_corpus_is_complete(void **state)
{
    (void)state;
    static corpus_entry entries[512];
    int n = read_expected(entries, 512, 1);
    char dir[1024];
    mt_path(dir, sizeof dir, CORRUPT_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".mli") != 0)
            continue;
        files++;
        int found = 0;
        for (int i = 0; i < n && !found; i++)
            found = strcmp(entries[i].file, de->d_name) == 0;
        if (!found)
            fail_msg("%s/%s is not listed in EXPECTED", dir, de->d_name);
    }
    closedir(d);
    assert_int_equal(files, n);
}


/* ---- golden files, mutated ------------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void fix_header_crc(uint8_t *b) { wr32(b + 60, (uint32_t)crc32(0L, b, 60)); }

enum { REGION_HEADER, REGION_TABLE, REGION_PAYLOAD, REGION_PADDING };

typedef struct {
    uint8_t *bytes;
    size_t size;
    uint64_t table_end, payload_end; /* end of the table; end of the last payload */
    uint8_t *region;                 /* REGION_* of each byte */
    uint8_t *optional_name;          /* 1 for name bytes of sections the loader treats as optional */
    mt_expected e;
    double *signature;               /* predict (+ proba, + decision) on the golden input */
    size_t sig_len;
} golden_file;

/* Outputs that fingerprint a model: predict, proba and decision on the golden rows. Returns
 * the number of doubles written (0 if a call failed). */
static size_t signature(const mli_model *m, const mt_expected *e, double *out, size_t cap)
{
    size_t n = 0;
    int64_t rows = e->input.rows;
    if (mli_model_n_features(m) != e->n_features || mli_model_n_outputs(m) != e->n_outputs ||
        mli_model_n_classes(m) != e->n_classes || mli_model_has_proba(m) != e->has_proba ||
        mli_model_n_decision(m) != e->n_decision)
        return 0;
    if (mli_model_predict(m, e->input.v, MLI_F64, rows, e->n_features, out + n, (int64_t)(cap - n)) != MLI_OK)
        return 0;
    n += (size_t)(rows * e->n_outputs);
    if (e->has_proba) {
        if (mli_model_predict_proba(m, e->input.v, MLI_F64, rows, e->n_features, out + n, (int64_t)(cap - n)))
            return 0;
        n += (size_t)(rows * e->n_classes);
    }
    if (e->n_decision) {
        if (mli_model_decision_function(m, e->input.v, MLI_F64, rows, e->n_features, out + n, (int64_t)(cap - n)))
            return 0;
        n += (size_t)(rows * e->n_decision);
    }
    return n;
}

#define SIG_CAP 512

static int is_optional_section(const char *name)
{
    /* affine arrays: a missing one is the identity; feature_names and unknown names are
     * ignored (docs/FORMAT.md) */
    const char *dot = strrchr(name, '.');
    if (strncmp(name, "stage.", 6) == 0 && dot &&
        (!strcmp(dot, ".sub") || !strcmp(dot, ".div") || !strcmp(dot, ".mul") || !strcmp(dot, ".add")))
        return 1;
    return strcmp(name, "feature_names") == 0;
}

static void golden_open(const char *name, golden_file *g)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s.mli", name);
    g->bytes = mt_read_file(rel, &g->size);
    mt_expected_load(name, &g->e);
    g->region = calloc(g->size, 1);
    g->optional_name = calloc(g->size, 1);
    g->signature = malloc(SIG_CAP * sizeof(double));
    assert_true(g->region && g->optional_name && g->signature);
    const uint8_t *b = g->bytes;
    uint32_t count = rd32(b + 16);
    uint64_t table = rd64(b + 24);
    g->table_end = table + 64ull * count;
    assert_true(g->table_end <= g->size);
    memset(g->region, REGION_PADDING, g->size);
    memset(g->region, REGION_HEADER, 64);
    memset(g->region + table, REGION_TABLE, 64ull * count);
    g->payload_end = 0;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = b + table + 64ull * i;
        uint64_t off = rd64(e + 40), stored = rd64(e + 48);
        memset(g->region + off, REGION_PAYLOAD, stored);
        if (off + stored > g->payload_end)
            g->payload_end = off + stored;
        if (is_optional_section((const char *)e))
            memset(g->optional_name + table + 64ull * i, 1, strlen((const char *)e));
    }
    mli_model *m = NULL;
    assert_int_equal(mli_model_load_memory(g->bytes, g->size, &m), MLI_OK);
    g->sig_len = signature(m, &g->e, g->signature, SIG_CAP);
    assert_true(g->sig_len > 0);
    mli_model_free(m);
}

static void golden_close(golden_file *g)
{
    free(g->bytes);
    free(g->region);
    free(g->optional_name);
    free(g->signature);
    mt_expected_free(&g->e);
}

/* Loads `bytes`; on failure checks the contract (status, NULL model, a message) and
 * returns NULL. */
static mli_model *load_or_clean_failure(const uint8_t *bytes, size_t size, const char *what, size_t where)
{
    mli_model *m = (mli_model *)(uintptr_t)1;
    mli_status st = mli_model_load_memory(bytes, size, &m);
    if (st == MLI_OK) {
        assert_non_null(m);
        return m;
    }
    if (m != NULL)
        fail_msg("%s at %zu: *out not NULL after failure %s", what, where, mli_status_string(st));
    if (st == MLI_ERR_INTERNAL || st == MLI_ERR_INVALID_ARGUMENT || st == MLI_ERR_IO)
        fail_msg("%s at %zu: unexpected status %s (%s)", what, where, mli_status_string(st), mli_last_error());
    const char *msg = mli_last_error();
    if (!msg || !msg[0])
        fail_msg("%s at %zu: %s with an empty message", what, where, mli_status_string(st));
    return NULL;
}

/* A file cut at any byte fails: the header's file_size no longer matches. */
static void test_truncate_every_byte(void **state)
{
    (void)state;
    size_t loads = 0;
    for (size_t i = 0; i < MT_N_GOLDEN_MLI; i++) {
        golden_file g;
        golden_open(mt_golden[i], &g);
        for (size_t n = 0; n < g.size; n++) {
            uint8_t *prefix = malloc(n ? n : 1); /* exactly n bytes: ASan sees any overread */
            assert_non_null(prefix);
            memcpy(prefix, g.bytes, n);
            mli_model *m = load_or_clean_failure(prefix, n, mt_golden[i], n);
            if (m)
                fail_msg("%s cut to %zu of %zu bytes loaded", mt_golden[i], n, g.size);
            free(prefix);
            loads++;
        }
        golden_close(&g);
    }
    printf("truncation: %zu prefixes rejected\n", loads);
}

/* The same cut with file_size (and the header CRC) fixed up, so the checks behind the
 * size check see it: the file fails unless only trailing padding was cut. */
static void test_truncate_with_consistent_header(void **state)
{
    (void)state;
    for (size_t i = 0; i < MT_N_GOLDEN_MLI; i++) {
        golden_file g;
        golden_open(mt_golden[i], &g);
        for (size_t n = 64; n < g.size; n++) {
            uint8_t *prefix = malloc(n);
            assert_non_null(prefix);
            memcpy(prefix, g.bytes, n);
            wr64(prefix + 32, n);
            fix_header_crc(prefix);
            mli_model *m = load_or_clean_failure(prefix, n, mt_golden[i], n);
            if (m && n < g.payload_end)
                fail_msg("%s cut to %zu bytes (payloads end at %llu) loaded", mt_golden[i], n,
                         (unsigned long long)g.payload_end);
            if (!m && n >= g.payload_end)
                fail_msg("%s cut to %zu bytes (only padding cut) failed: %s", mt_golden[i], n, mli_last_error());
            if (m) {
                double sig[SIG_CAP];
                assert_int_equal(signature(m, &g.e, sig, SIG_CAP), g.sig_len);
                assert_memory_equal(sig, g.signature, g.sig_len * sizeof(double));
                mli_model_free(m);
            }
            free(prefix);
        }
        golden_close(&g);
    }
}

/* Every single-bit flip of every golden file. The header and every payload are
 * CRC-covered, and padding must be zero: a flip there must fail. The section table carries no CRC of its own (docs/FORMAT.md
 * 1.0); a table flip must fail or leave the model the same, except a flip that renames a
 * section the loader treats as optional (an affine array, feature_names): that drops the
 * array silently. Those are counted and printed. */
static void test_flip_every_bit(void **state)
{
    (void)state;
    size_t flips = 0, rejected = 0;
    for (size_t i = 0; i < MT_N_GOLDEN_MLI; i++) {
        golden_file g;
        golden_open(mt_golden[i], &g);
        uint8_t *copy = malloc(g.size);
        assert_non_null(copy);
        memcpy(copy, g.bytes, g.size);
        for (size_t at = 0; at < g.size; at++) {
            for (int bit = 0; bit < 8; bit++) {
                copy[at] ^= (uint8_t)(1u << bit);
                mli_model *m = load_or_clean_failure(copy, g.size, mt_golden[i], at);
                flips++;
                if (!m) {
                    rejected++;
                } else {
                    mli_model_free(m);
                    fail_msg("%s: flipping bit %d of byte %zu (%s) went undetected", mt_golden[i], bit, at,
                             g.region[at] == REGION_HEADER    ? "header, CRC-covered"
                             : g.region[at] == REGION_PAYLOAD ? "payload, CRC-covered"
                             : g.region[at] == REGION_TABLE   ? "section table, CRC-covered"
                                                              : "padding, must be zero");
                }
                copy[at] ^= (uint8_t)(1u << bit);
            }
        }
        free(copy);
        golden_close(&g);
    }
    printf("bit flips: %zu, all rejected (%zu)\n", flips, rejected);
}

/* Flips that also fix the header CRC (as a careless tool rewriting the header would): the
 * field checks behind the CRC see every header bit. */
static void test_flip_header_with_crc_fixed(void **state)
{
    (void)state;
    for (size_t i = 0; i < MT_N_GOLDEN_MLI; i++) {
        golden_file g;
        golden_open(mt_golden[i], &g);
        uint8_t *copy = malloc(g.size);
        assert_non_null(copy);
        for (size_t at = 0; at < 60; at++) {
            for (int bit = 0; bit < 8; bit++) {
                memcpy(copy, g.bytes, g.size);
                copy[at] ^= (uint8_t)(1u << bit);
                fix_header_crc(copy);
                mli_model *m = load_or_clean_failure(copy, g.size, mt_golden[i], at);
                if (!m)
                    continue;
                /* only the minor version and the reserved bytes may change harmlessly */
                int harmless = (at >= 10 && at < 12) || (at >= 20 && at < 24) || (at >= 40 && at < 60);
                if (!harmless)
                    fail_msg("%s: header byte %zu bit %d flipped (CRC fixed) still loads", mt_golden[i], at, bit);
                double sig[SIG_CAP];
                assert_int_equal(signature(m, &g.e, sig, SIG_CAP), g.sig_len);
                assert_memory_equal(sig, g.signature, g.sig_len * sizeof(double));
                mli_model_free(m);
            }
        }
        free(copy);
        golden_close(&g);
    }
}

/* Other frameworks' files (XGBoost JSON, LightGBM text) have no checksums: a damaged one
 * may still parse. Every prefix and thousands of random byte changes must either load a
 * model that predicts, or fail with a status and a message; never crash or leak (this
 * test runs under ASan in CI). */
static void test_imported_files_cut_and_mutated(void **state)
{
    (void)state;
    for (size_t i = MT_N_GOLDEN_MLI; i < MT_N_GOLDEN; i++) {
        char rel[256];
        size_t size;
        mt_model_file(rel, sizeof rel, mt_golden[i]);
        uint8_t *bytes = mt_read_file(rel, &size);
        uint8_t *copy = malloc(size);
        assert_non_null(copy);
        size_t loads = 0, fails = 0;
        double out[64], x[64] = {0};
        for (size_t n = 0; n < size; n += (n < 512 ? 1 : 7)) {
            memcpy(copy, bytes, n);
            mli_model *m = load_or_clean_failure(copy, n, mt_golden[i], n);
            loads += m != NULL;
            fails += m == NULL;
            mli_model_free(m);
        }
        uint64_t st = 0x2545F4914F6CDD1Dull + i;
        static const uint8_t junk[] = {'0', '9', '-', '.', 'e', '"', '{', '}', '[', ']', ',', ':', '\n', ' ', 0xff, 0};
        for (int k = 0; k < 3000; k++) {
            memcpy(copy, bytes, size);
            for (int e = 0; e < 1 + k % 3; e++) {
                st ^= st << 13, st ^= st >> 7, st ^= st << 17;
                copy[(st >> 8) % size] = junk[st % sizeof junk];
            }
            mli_model *m = load_or_clean_failure(copy, size, mt_golden[i], (size_t)k);
            if (m) {
                int64_t nf = mli_model_n_features(m);
                if (nf <= 64) /* a model that loads must predict without trouble */
                    assert_int_equal(mli_model_predict_raw(m, x, MLI_F64, 1, nf, out, 64), MLI_OK);
                loads++;
            } else {
                fails++;
            }
            mli_model_free(m);
        }
        printf("%s: %zu damaged inputs rejected, %zu still loaded\n", rel, fails, loads);
        assert_true(fails > 0);
        free(copy);
        free(bytes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_corpus_is_complete),
        cmocka_unit_test(test_truncate_every_byte),
        cmocka_unit_test(test_truncate_with_consistent_header),
        cmocka_unit_test(test_flip_every_bit),
        cmocka_unit_test(test_flip_header_with_crc_fixed),
        cmocka_unit_test(test_imported_files_cut_and_mutated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
