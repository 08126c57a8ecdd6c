/* prep/text.c — the TEXT op: scikit-learn's CountVectorizer / TfidfVectorizer with the word,
 * char or char_wb analyzer, then the linear model's weights of the vocabulary's columns, on one
 * document. (The character analyzers keep every code point after lower case and accents,
 * collapse white space as re.sub(r"\s\s+", " ") and take n-grams of code points: char_terms.)
 *
 * The analysis is Python's, step for step (sklearn/feature_extraction/text.py):
 *   str.lower()                   Python's full lower case (SpecialCasing's İ -> i + U+0307,
 *                                 its final-sigma rule), ICU's mappings and properties
 *   strip_accents                 NFKD, then without the combining marks ('unicode') or
 *                                 without every non-ASCII character ('ascii')
 *   re.findall(r"(?u)\b\w\w+\b")  the maximal runs of word characters, two code points or more
 *                                 (one or more for r"\b\w+\b"): Python's \w is '_' and the
 *                                 general categories L* and N*
 *   stop words, then n-grams      the tokens joined by one space
 * then the counts of the terms in the vocabulary, in the order of their vocabulary index (the
 * CSR matrix's sorted indices), 1 + log(tf) when sublinear, times idf, divided by the row's l1
 * or l2 norm summed in that order, and summed against the weights in that order (scipy's CSR
 * product): the arithmetic of scikit-learn's transform and decision_function.
 *
 * Unicode versions: the file stores the exporter's (Python's unicodedata) version. A character
 * assigned after it is unassigned to Python (not a word character, no decomposition), and is
 * treated so here; a character ICU does not know, where the file's version is newer than ICU's,
 * is an input error (it may be a letter to the exporter). ASCII code points never reach ICU. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "prep.h"

int mli__text_unicode_version(void) {
    UVersionInfo v;
    u_getUnicodeVersion(v);
    return v[0] * 100 + v[1];
}

void mli__text_work_free(mli__text_work *w) {
    free(w->tok);
    free(w->gram);
    free(w->off);
    free(w->idx);
    free(w->idx2);
    free(w->tf);
    memset(w, 0, sizeof *w);
}

/* Grows *buf to hold at least n elements of size sz. */
static int grow(void *buf, size_t *cap, size_t n, size_t sz) {
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < n)
        c *= 2;
    void *q = realloc(*(void **)buf, c * sz);
    if (!q)
        return 1;
    *(void **)buf = q;
    *cap = c;
    return 0;
}

static int ascii_word(unsigned c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* Whether code point c was assigned in Unicode version `ver` (major * 100 + minor). */
static int assigned_by(UChar32 c, int ver) {
    UVersionInfo a;
    u_charAge(c, a);
    return a[0] * 100 + a[1] <= ver;
}

/* Python's \w under the exporter's Unicode version. */
static int word_char(UChar32 c, int ver) {
    if (c < 0x80)
        return ascii_word((unsigned)c);
    return (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_N_MASK)) && assigned_by(c, ver);
}

/* The tokens found so far: their bytes in w->tok, where each is (start, length) in w->off; the
 * current run of word characters from `start` (tok_add appends one, tok_end closes the run,
 * kept when long enough). */
typedef struct tokens {
    mli__text_work *w;
    size_t at;    /* bytes used in w->tok */
    size_t start; /* the current run's first byte */
    int64_t cps;  /* the current run's code points */
    int64_t n;    /* tokens */
    int64_t min;  /* code points a token needs */
} tokens;

static int tok_end(tokens *t) {
    if (!t->cps)
        return 0;
    if (t->cps >= t->min) {
        if (grow(&t->w->off, &t->w->ocap, 2 * (size_t)(t->n + 1), sizeof(int64_t)))
            return 1;
        t->w->off[2 * t->n] = (int64_t)t->start;
        t->w->off[2 * t->n + 1] = (int64_t)(t->at - t->start);
        t->n++;
    } else {
        t->at = t->start; /* too short: dropped */
    }
    t->start = t->at;
    t->cps = 0;
    return 0;
}

static inline int tok_add(tokens *t, UChar32 c) {
    if (t->at + 4 > t->w->tcap && grow(&t->w->tok, &t->w->tcap, t->at + 4, 1))
        return 1;
    uint8_t *b = (uint8_t *)t->w->tok;
    U8_APPEND_UNSAFE(b, t->at, c);
    t->cps++;
    return 0;
}

/* Python's Cased and Case_Ignorable (its final-sigma rule), under the exporter's Unicode. */
static int cased(UChar32 c, int ver) { return u_hasBinaryProperty(c, UCHAR_CASED) && assigned_by(c, ver); }
static int case_ignorable(UChar32 c, int ver) {
    return u_hasBinaryProperty(c, UCHAR_CASE_IGNORABLE) && assigned_by(c, ver);
}

/* Whether the capital sigma at s[at] (the next code point at `after`) is word-final, as
 * Python's handle_capital_sigma decides on the original string: a cased letter before it
 * (skipping case-ignorable ones), and none after it. Before `at` the bytes are valid UTF-8
 * (read already); after it an ill-formed sequence ends the look (the document is refused
 * when the main loop reaches it). */
static int final_sigma(const char *s, int32_t at, int32_t after, int32_t len, int ver) {
    UChar32 c = 0;
    int32_t j = at;
    int found = 0;
    while (j > 0) {
        U8_PREV(s, 0, j, c);
        if (!case_ignorable(c, ver)) {
            found = 1;
            break;
        }
    }
    if (!found || !cased(c, ver))
        return 0;
    for (j = after; j < len;) {
        U8_NEXT(s, j, len, c);
        if (c < 0)
            return 1;
        if (!case_ignorable(c, ver))
            return !cased(c, ver);
    }
    return 1;
}

/* analyzer='char' / 'char_wb': every code point of the preprocessed text, its first byte in
 * w->off[n] (w->off[n] after the last one: the end). */
static inline int chr_add(tokens *t, UChar32 c) {
    if (grow(&t->w->off, &t->w->ocap, (size_t)t->n + 2, sizeof(int64_t)))
        return 1;
    t->w->off[t->n++] = (int64_t)t->at;
    return tok_add(t, c);
}

/* Python's str.isspace() and re's \s on str: bidirectional class WS, B or S, or general
 * category Zs -- the same code points since Unicode 6.3 (which took U+180E out of Zs); the
 * exporter checks its Python has exactly these. */
static int py_space(UChar32 c) {
    if (c < 0x80)
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

typedef struct analysis {
    tokens t;
    int chars; /* analyzer='char' / 'char_wb': every code point kept (chr_add), no tokens */
    int32_t flags;
    int ver, icu_ver;
    const UNormalizer2 *nfkd; /* with strip_accents */
    int64_t *where;
} analysis;

/* Code point x of the text after lower case and accents: a word character extends the
 * current token; anything else ends it. */
static int emit(analysis *a, UChar32 x) {
    if (!a->chars && word_char(x, a->ver))
        return tok_add(&a->t, x) ? MLI__TEXT_NOMEM : MLI__TEXT_OK;
    if (a->ver > a->icu_ver && x >= 0x80 && u_charType(x) == U_UNASSIGNED && !U_IS_UNICODE_NONCHAR(x)) {
        *a->where = x; /* maybe a letter, or a character lower() or NFKD changes, to the exporter's newer Unicode */
        return MLI__TEXT_UNASSIGNED;
    }
    if (a->chars) /* analyzer='char' / 'char_wb': every code point */
        return chr_add(&a->t, x) ? MLI__TEXT_NOMEM : MLI__TEXT_OK;
    return tok_end(&a->t) ? MLI__TEXT_NOMEM : MLI__TEXT_OK;
}

/* Code point x after lower case: strip_accents, then emit. NFKD without combining marks
 * ('unicode') or without non-ASCII ('ascii'), character by character: NFKD's reordering only
 * moves combining marks, which both forms drop, so the survivors come out in the order of a
 * whole-string NFKD. A character newer than the exporter's Unicode has no decomposition and
 * combining class 0 there. */
static int accents(analysis *a, UChar32 x) {
    const int ascii = (a->flags & MLI__OPF_TEXT_ASCII) != 0;
    if (!a->nfkd || x < 0x80)
        return emit(a, x);
    if (!assigned_by(x, a->ver))
        return ascii ? MLI__TEXT_OK : emit(a, x);
    UChar d[64]; /* NFKD's longest expansion is 18 code points */
    UErrorCode e = U_ZERO_ERROR;
    int32_t nd = unorm2_getDecomposition(a->nfkd, x, d, (int32_t)(sizeof d / sizeof d[0]), &e);
    if (U_FAILURE(e))
        return MLI__TEXT_ICU;
    if (nd < 0) { /* no decomposition: x itself */
        nd = 0;
        U16_APPEND_UNSAFE(d, nd, x);
    }
    for (int32_t j = 0; j < nd;) {
        UChar32 y;
        U16_NEXT(d, j, nd, y);
        int keep = ascii ? y < 0x80 : (y < 0x80 || !assigned_by(y, a->ver) || u_getCombiningClass(y) == 0);
        int rc = keep ? emit(a, y) : MLI__TEXT_OK;
        if (rc)
            return rc;
    }
    return MLI__TEXT_OK;
}

/* The document's tokens, in one pass over its UTF-8: ASCII code points inline (no ICU), each
 * other code point lower-cased as Python's
 * str.lower() does -- its full lower case, which is the simple one (ICU's u_tolower) but for
 * U+0130 -> i + U+0307 (SpecialCasing's one unconditional entry) and a capital sigma, final
 * (ς) or not (σ); a character newer than the exporter's Unicode unchanged -- then its accents,
 * then the tokens. (Lower case and accents act code point by code point but for the sigma,
 * whose context Python takes from the original string, as here.) */
static int tokenize(tokens *t, const char *s, int64_t len64, int32_t flags, int ver, int64_t *where) {
    if (len64 > INT32_MAX)
        return MLI__TEXT_NOMEM;
    const int32_t len = (int32_t)len64;
    const int chars = (flags & (MLI__OPF_TEXT_CHAR | MLI__OPF_TEXT_CHAR_WB)) != 0;
    analysis a = {*t, chars, flags, ver, mli__text_unicode_version(), NULL, where};
    if (flags & (MLI__OPF_TEXT_ASCII | MLI__OPF_TEXT_UNICODE)) {
        UErrorCode e = U_ZERO_ERROR;
        a.nfkd = unorm2_getNFKDInstance(&e);
        if (U_FAILURE(e))
            return MLI__TEXT_ICU;
    }
    const int lower = (flags & MLI__OPF_TEXT_LOWER) != 0;
    int rc = MLI__TEXT_OK;
    for (int32_t i = 0; i < len && rc == MLI__TEXT_OK;) {
        int32_t at = i;
        UChar32 c;
        U8_NEXT(s, i, len, c);
        if (c < 0) { /* an ill-formed sequence (surrogates and overlong forms included) */
            *where = at;
            return MLI__TEXT_BAD_UTF8;
        }
        if (c < 0x80) { /* most code points of most documents: no ICU, no accents */
            const UChar32 lc = lower && c >= 'A' && c <= 'Z' ? c + 32 : c;
            if (chars)
                rc = chr_add(&a.t, lc) ? MLI__TEXT_NOMEM : MLI__TEXT_OK;
            else if (!ascii_word((unsigned)c))
                rc = tok_end(&a.t) ? MLI__TEXT_NOMEM : MLI__TEXT_OK;
            else if (tok_add(&a.t, lc))
                rc = MLI__TEXT_NOMEM;
            continue;
        }
        if (lower) {
            if (c == 0x130) {
                rc = accents(&a, 'i');
                c = 0x307;
            } else if (c == 0x3a3) {
                c = final_sigma(s, at, i, len, ver) ? 0x3c2 : 0x3c3;
            } else if (assigned_by(c, ver)) {
                c = u_tolower(c);
            }
        }
        if (rc == MLI__TEXT_OK)
            rc = accents(&a, c);
    }
    if (rc == MLI__TEXT_OK && !chars && tok_end(&a.t))
        rc = MLI__TEXT_NOMEM;
    if (rc == MLI__TEXT_OK && chars) {
        if (grow(&a.t.w->off, &a.t.w->ocap, (size_t)a.t.n + 1, sizeof(int64_t)))
            rc = MLI__TEXT_NOMEM;
        else
            a.t.w->off[a.t.n] = (int64_t)a.t.at;
    }
    *t = a.t;
    return rc;
}

/* Sorts the n term indexes a[0..n) (each below v) ascending, with tmp[0..n) as scratch: an
 * insertion sort for a few, else an LSD radix sort on bytes (as many passes as v needs). A
 * document's indexes are a few hundred in random order: qsort's comparator calls were a third
 * of the op's time, a quicksort's mispredicted branches a sixth. */
static void sort_terms(int32_t *a, int32_t *tmp, size_t n, int64_t v) {
    if (n <= 32) {
        for (size_t i = 1; i < n; ++i) {
            int32_t x = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > x; --j)
                a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    for (int shift = 0; shift < 32 && (v - 1) >> shift; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; ++i)
            count[((uint32_t)a[i] >> shift & 255u) + 1]++;
        for (int d = 0; d < 256; ++d)
            count[d + 1] += count[d];
        for (size_t i = 0; i < n; ++i)
            tmp[count[(uint32_t)a[i] >> shift & 255u]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

/* MurmurHash3_x86_32 (Austin Appleby's public-domain algorithm) of len bytes with seed 0, the
 * blocks read little-endian: scikit-learn's murmurhash3_bytes_s32 on x86, which the
 * HashingVectorizer applies to a term's UTF-8. */
static uint32_t murmur3_32(const char *key, size_t len) {
    const uint8_t *b = (const uint8_t *)key;
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = 0, k;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        k = (uint32_t)b[i] | (uint32_t)b[i + 1] << 8 | (uint32_t)b[i + 2] << 16 | (uint32_t)b[i + 3] << 24;
        k = rotl32(k * c1, 15) * c2;
        h = rotl32(h ^ k, 13) * 5 + 0xe6546b64u;
    }
    const size_t r = len & 3;
    if (r) {
        k = 0;
        if (r == 3)
            k ^= (uint32_t)b[i + 2] << 16;
        if (r >= 2)
            k ^= (uint32_t)b[i + 1] << 8;
        k ^= b[i];
        h ^= rotl32(k * c1, 15) * c2;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

/* Term `key` (kl bytes): its column appended to w->idx[*ni] when it has one -- its vocabulary
 * index; hashed (HashingVectorizer, scikit-learn's _hashing_fast.transform), 2 x column + 1
 * when it counts -1 (alternate_sign and a negative hash), else 2 x column. */
static int add_term(const mli__prep *p, const mli__prep_op *op, mli__text_work *w, size_t *ni, const char *key,
                    size_t kl) {
    int32_t v;
    if (op->flags & MLI__OPF_TEXT_HASH) {
        const int32_t h = (int32_t)murmur3_32(key, kl);
        const int64_t n = op->n_in; /* abs(INT32_MIN) overflows: scikit-learn defines its column so */
        const int64_t j = h == INT32_MIN ? (INT32_MAX - (n - 1)) % n : (h < 0 ? -(int64_t)h : h) % n;
        v = (int32_t)(2 * j + ((op->flags & MLI__OPF_TEXT_ALT_SIGN) && h < 0));
    } else {
        if (kl > UINT32_MAX)
            return MLI__TEXT_OK; /* longer than any stored string */
        v = mli__prep_lookup(p, op->str0, op->hash, op->hmask, key, (uint32_t)kl);
        if (v < 0)
            return MLI__TEXT_OK;
    }
    if (grow(&w->idx, &w->icap, *ni + 1, sizeof(int32_t)))
        return MLI__TEXT_NOMEM;
    w->idx[(*ni)++] = v;
    return MLI__TEXT_OK;
}

/* Whether the code point starting at byte b of tok is white space to Python. */
static int space_at(const char *tok, int64_t b) {
    UChar32 c;
    int32_t k = 0;
    U8_NEXT_UNSAFE((const uint8_t *)tok + b, k, c);
    return py_space(c);
}

/* re.sub(r"\s\s+", " ", text) in place over the n code points (tok, off): a run of two or more
 * white-space characters becomes one ' ', a single one stays as it is. Returns the code points
 * left (off[m] their end). The text only shrinks, so writes stay behind reads. */
static int64_t collapse_spaces(char *tok, int64_t *off, int64_t n) {
    int64_t m = 0, at = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && space_at(tok, off[j]))
            ++j;
        if (j - i >= 2) {
            off[m++] = at;
            tok[at++] = ' ';
            i = j;
            continue;
        }
        int64_t b = off[i], e = off[i + 1];
        off[m++] = at;
        memmove(tok + at, tok + b, (size_t)(e - b));
        at += e - b;
        ++i;
    }
    off[m] = at;
    return m;
}

/* analyzer='char' (_char_ngrams) and 'char_wb' (_char_wb_ngrams) over the collapsed text: the
 * n-grams of code points of the whole text, or of each word (str.split()) padded with one
 * space each side -- where a padded word of P code points gives w[0:n] (all of it when P <= n)
 * and, after the first n with P <= n, no more. */
static int char_terms(const mli__prep *p, const mli__prep_op *op, mli__text_work *w, int64_t n, int64_t nmin,
                      int64_t nmax, size_t *ni) {
    n = collapse_spaces(w->tok, w->off, n);
    const char *tok = w->tok;
    const int64_t *off = w->off;
    int rc = MLI__TEXT_OK;
    if (op->flags & MLI__OPF_TEXT_CHAR) {
        for (int64_t g = nmin; g <= nmax && g <= n; ++g)
            for (int64_t i = 0; i + g <= n && rc == MLI__TEXT_OK; ++i)
                rc = add_term(p, op, w, ni, tok + off[i], (size_t)(off[i + g] - off[i]));
        return rc;
    }
    for (int64_t a = 0; a < n && rc == MLI__TEXT_OK;) {
        if (space_at(tok, off[a])) {
            ++a;
            continue;
        }
        int64_t b = a;
        while (b < n && !space_at(tok, off[b]))
            ++b;
        const int64_t B = off[b] - off[a], P = b - a + 2; /* the word's bytes; code points padded */
        if (grow(&w->gram, &w->gcap, (size_t)B + 2, 1))
            return MLI__TEXT_NOMEM;
        w->gram[0] = ' ';
        memcpy(w->gram + 1, tok + off[a], (size_t)B);
        w->gram[B + 1] = ' ';
#define POS(k) ((k) == 0 ? 0 : (k) == P ? B + 2 : 1 + off[a + (k)-1] - off[a]) /* padded code point k's byte */
        for (int64_t g = nmin; g <= nmax && rc == MLI__TEXT_OK; ++g) {
            int64_t o = 0, e = g < P ? g : P;
            rc = add_term(p, op, w, ni, w->gram, (size_t)POS(e));
            while (o + g < P && rc == MLI__TEXT_OK) {
                ++o;
                rc = add_term(p, op, w, ni, w->gram + POS(o), (size_t)(POS(o + g) - POS(o)));
            }
            if (o == 0)
                break;
        }
#undef POS
        a = b;
    }
    return rc;
}

/* analyzer='word': stop words out, then the word n-grams (tokens joined by one space). */
static int word_terms(const mli__prep *p, const mli__prep_op *op, mli__text_work *w, int64_t n_tok, int64_t S,
                      int64_t nmin, int64_t nmax, size_t *ni) {
    const char *tok = w->tok;
    int64_t *off = w->off, n = 0;
    for (int64_t k = 0; k < n_tok; ++k) /* stop words out, before the n-grams (scikit-learn's _word_ngrams) */
        if (S == 0 || mli__prep_lookup(p, op->str0 + mli__text_vocab(op), op->shash, op->smask, tok + off[2 * k],
                                       (uint32_t)off[2 * k + 1]) < 0) {
            off[2 * n] = off[2 * k];
            off[2 * n + 1] = off[2 * k + 1];
            n++;
        }
    for (int64_t g = nmin; g <= nmax && g <= n; ++g)
        for (int64_t i = 0; i + g <= n; ++i) {
            const char *key = tok + off[2 * i];
            size_t kl = (size_t)off[2 * i + 1];
            if (g > 1) { /* " ".join(tokens[i:i + g]) */
                size_t need = 0;
                for (int64_t j = i; j < i + g; ++j)
                    need += (size_t)off[2 * j + 1] + 1;
                if (grow(&w->gram, &w->gcap, need, 1))
                    return MLI__TEXT_NOMEM;
                kl = 0;
                for (int64_t j = i; j < i + g; ++j) {
                    if (j > i)
                        w->gram[kl++] = ' ';
                    memcpy(w->gram + kl, tok + off[2 * j], (size_t)off[2 * j + 1]);
                    kl += (size_t)off[2 * j + 1];
                }
                key = w->gram;
            }
            if (add_term(p, op, w, ni, key, kl))
                return MLI__TEXT_NOMEM;
        }
    return MLI__TEXT_OK;
}

int mli__text_row(const mli__prep *p, const mli__prep_op *op, const char *s, int64_t len, mli__text_work *w,
                  double *out, int64_t st, int cleared, int64_t *where) {
    const double *q = op->p;
    const int64_t V = op->n_in, K = op->count, S = (int64_t)q[0];
    const int64_t nmin = (int64_t)q[1], nmax = (int64_t)q[2];
    const int ver = (int)q[3];
    const int32_t flags = op->flags;
    for (int64_t k = 0; cleared == 0 && k < K; ++k)
        out[k * st] = mli__text_initial(op);
    tokens t = {w, 0, 0, 0, 0, (flags & MLI__OPF_TEXT_SHORT) ? 1 : 2};
    int rc = tokenize(&t, s, len, flags, ver, where);
    if (rc)
        return rc;
    size_t ni = 0;
    rc = (flags & (MLI__OPF_TEXT_CHAR | MLI__OPF_TEXT_CHAR_WB)) ? char_terms(p, op, w, t.n, nmin, nmax, &ni)
                                                                : word_terms(p, op, w, t.n, S, nmin, nmax, &ni);
    if (rc)
        return rc;
    if (ni == 0)
        return MLI__TEXT_OK;
    int32_t *idx = w->idx;
    if (grow(&w->idx2, &w->i2cap, ni, sizeof(int32_t)))
        return MLI__TEXT_NOMEM;
    const int hashed = (flags & MLI__OPF_TEXT_HASH) != 0; /* idx: 2 x column + (counts -1) */
    sort_terms(idx, w->idx2, ni, hashed ? 2 * V : V);
    /* the terms in index order, with their counts: in place, idx[u] and tf in a second pass;
     * hashed, the sum of the +-1 of the terms of a column (scipy's sum_duplicates), which may
     * be 0 and is still an entry (binary makes it 1, as X.data.fill(1) does) */
    size_t nu = 0;
    if (grow(&w->tf, &w->fcap, ni, sizeof(double)))
        return MLI__TEXT_NOMEM;
    double *tf = w->tf;
    for (size_t i = 0; i < ni;) {
        const int32_t col = hashed ? idx[i] >> 1 : idx[i];
        size_t j = i;
        double sum = 0.0;
        for (; j < ni && (hashed ? idx[j] >> 1 : idx[j]) == col; ++j)
            sum += hashed && (idx[j] & 1) ? -1.0 : 1.0;
        idx[nu] = col;
        tf[nu] = (flags & MLI__OPF_TEXT_BINARY) ? 1.0 : sum;
        nu++;
        i = j;
    }
    const double *idf = q + 4, *W = q + 4 + ((flags & MLI__OPF_TEXT_IDF) ? V : 0);
    for (size_t u = 0; u < nu; ++u) {
        if (flags & MLI__OPF_TEXT_SUBLINEAR) /* np.log(X.data, X.data); X.data += 1 */
            tf[u] = log(tf[u]) + 1.0;
        if (flags & MLI__OPF_TEXT_IDF)
            tf[u] *= idf[idx[u]];
    }
    if (flags & (MLI__OPF_TEXT_L1 | MLI__OPF_TEXT_L2)) { /* sklearn's inplace_csr_row_normalize_l1 / _l2 */
        double sum = 0.0;
        for (size_t u = 0; u < nu; ++u)
            sum += (flags & MLI__OPF_TEXT_L2) ? tf[u] * tf[u] : fabs(tf[u]);
        if (sum != 0.0) {
            if (flags & MLI__OPF_TEXT_L2)
                sum = sqrt(sum);
            for (size_t u = 0; u < nu; ++u)
                tf[u] /= sum;
        }
    }
    if (flags & MLI__OPF_TEXT_SELECT) { /* the columns a tree model reads: each entry's value itself */
        for (size_t u = 0; u < nu; ++u) {
            const int64_t k = (int64_t)W[idx[u]];
            if (k >= 0)
                out[k * st] = tf[u];
        }
        return MLI__TEXT_OK;
    }
    for (size_t u = 0; u < nu; ++u) { /* scipy's CSR times dense: row by row, terms in order */
        const double *wr = W + (int64_t)idx[u] * K;
        for (int64_t k = 0; k < K; ++k)
            out[k * st] += tf[u] * wr[k];
    }
    return MLI__TEXT_OK;
}
