/* jdoc.c — JSON and UBJSON parsers building the packed document tree of jdoc.h. */
#include "jdoc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *origin;
    const uint8_t *beg, *p, *end;
    mli__jdoc *doc;
    mli__jval *stk; /* elements of the containers being parsed, innermost last */
    size_t n_stk, cap_stk;
    int depth;
} parser;

static mli_status oom(const parser *ps) {
    return mli__fail(MLI_ERR_OUT_OF_MEMORY, "%s: out of memory while parsing the model", ps->origin);
}

static mli_status syntax(const parser *ps, const char *what) {
    return mli__fail(MLI_ERR_CORRUPT, "%s: %s at byte %zu", ps->origin, what, (size_t)(ps->p - ps->beg));
}

static mli_status push(parser *ps, const mli__jval *v) {
    if (!mli__reserve((void **)&ps->stk, &ps->cap_stk, ps->n_stk, 1, sizeof *ps->stk))
        return oom(ps);
    ps->stk[ps->n_stk++] = *v;
    return MLI_OK;
}

/* Moves the elements pushed since `base` into the document and describes them in *out:
 * an array of numbers (and booleans) goes to `nums`, anything else to `vals`. */
static mli_status close_container(parser *ps, size_t base, int is_obj, mli__jval *out) {
    mli__jdoc *d = ps->doc;
    size_t n = ps->n_stk - base;
    /* an empty container may close before anything was ever pushed (stk still NULL) */
    const mli__jval *e = n > 0 ? ps->stk + base : NULL;
    if ((is_obj ? n / 2 : n) > UINT32_MAX)
        return syntax(ps, "container with more than 2^32 elements");
    memset(out, 0, sizeof *out);
    out->type = is_obj ? MLI__JD_OBJ : MLI__JD_ARR;
    out->n = (uint32_t)(is_obj ? n / 2 : n);
    int packed = !is_obj, has_bool = 0;
    for (size_t i = 0; packed && i < n; ++i) {
        packed = e[i].type == MLI__JD_NUM || e[i].type == MLI__JD_BOOL;
        has_bool |= e[i].type == MLI__JD_BOOL;
    }
    if (packed) {
        if (!mli__reserve((void **)&d->nums, &d->cap_nums, d->n_nums, n, sizeof *d->nums))
            return oom(ps);
        for (size_t i = 0; i < n; ++i)
            d->nums[d->n_nums + i] = e[i].u.num;
        out->flags = (uint8_t)(MLI__JD_PACKED | (has_bool ? MLI__JD_HAS_BOOL : 0));
        out->u.off = d->n_nums;
        d->n_nums += n;
    } else {
        if (!mli__reserve((void **)&d->vals, &d->cap_vals, d->n_vals, n, sizeof *d->vals))
            return oom(ps);
        if (n > 0)
            memcpy(d->vals + d->n_vals, e, n * sizeof *e);
        out->u.off = d->n_vals;
        d->n_vals += n;
    }
    ps->n_stk = base;
    return MLI_OK;
}

static mli_status string_to_sbuf(parser *ps, const char *s, size_t len, mli__jval *out) {
    mli__jdoc *d = ps->doc;
    if (!mli__reserve((void **)&d->sbuf, &d->cap_sbuf, d->n_sbuf, len + 1, 1))
        return oom(ps);
    memcpy(d->sbuf + d->n_sbuf, s, len);
    d->sbuf[d->n_sbuf + len] = 0;
    out->type = MLI__JD_STR;
    out->flags = MLI__JD_OWNSTR;
    out->n = (uint32_t)len;
    out->u.off = d->n_sbuf;
    d->n_sbuf += len + 1;
    return MLI_OK;
}

/* ---- numbers ----------------------------------------------------------------------- */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* d is the correctly rounded double of a decimal S with sign(S - d) == dir. When d lies
 * exactly halfway between two floats although S does not, (float)d would round the tie
 * to even instead of toward S: move d one ulp toward S so that it does not. */
static double float_safe(double d, int dir) {
    if (dir == 0 || !isfinite(d))
        return d;
    float f = (float)d;
    if ((double)f == d || isinf(f))
        return d;
    float g = nextafterf(f, d > (double)f ? INFINITY : -INFINITY);
    if (((double)f + (double)g) * 0.5 == d)
        return nextafter(d, dir > 0 ? INFINITY : -INFINITY);
    return d;
}

size_t mli__jd_number(const char *p, const char *end, double *out) {
    const char *s = p;
    int neg = 0;
    if (s < end && *s == '-') {
        neg = 1;
        ++s;
    }
    if ((size_t)(end - s) >= 8 && memcmp(s, "Infinity", 8) == 0) {
        *out = neg ? -INFINITY : INFINITY;
        return (size_t)(s + 8 - p);
    }
    if (!neg && (size_t)(end - s) >= 3 && memcmp(s, "NaN", 3) == 0) {
        *out = NAN;
        return 3;
    }
    if (s >= end || *s < '0' || *s > '9')
        return 0;
    uint64_t m = 0;
    int nd = 0, dropped = 0;
    int64_t e10 = 0;
    if (*s == '0') {
        ++s;
    } else {
        for (; s < end && *s >= '0' && *s <= '9'; ++s) {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*s - '0');
                nd += m != 0;
            } else {
                ++e10;
                dropped |= *s != '0';
            }
        }
    }
    if (s < end && *s == '.') {
        ++s;
        if (s >= end || *s < '0' || *s > '9')
            return 0;
        for (; s < end && *s >= '0' && *s <= '9'; ++s) {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*s - '0');
                nd += m != 0;
                --e10;
            } else {
                dropped |= *s != '0';
            }
        }
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        ++s;
        int eneg = 0;
        if (s < end && (*s == '+' || *s == '-'))
            eneg = *s++ == '-';
        if (s >= end || *s < '0' || *s > '9')
            return 0;
        int64_t ex = 0;
        for (; s < end && *s >= '0' && *s <= '9'; ++s)
            if (ex < 100000)
                ex = ex * 10 + (*s - '0');
        e10 += eneg ? -ex : ex;
    }
    size_t used = (size_t)(s - p);
    double d;
    if (m == 0) {
        d = 0.0;
    } else if (!dropped && m <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
        /* Clinger's fast path: one correctly rounded operation on exact operands; its
         * rounding error is exactly representable, so fma gives the side S lies on. */
        double md = (double)m, pw = pow10_exact[e10 < 0 ? -e10 : e10], r;
        int dir;
        if (e10 >= 0) {
            d = md * pw;
            r = fma(md, pw, -d);
            dir = (r > 0) - (r < 0);
        } else {
            d = md / pw;
            r = fma(d, pw, -md);
            dir = (r < 0) - (r > 0);
        }
        d = float_safe(d, dir);
    } else {
        /* Rare in model files: strtod (in the "C" locale) on a terminated copy. */
        char buf[128];
        if (used >= sizeof buf)
            return 0;
        memcpy(buf, p, used);
        buf[used] = 0;
        char *stop = NULL;
        d = mli__strtod_c(buf, &stop);
        if (stop != buf + used)
            return 0;
        /* the float32 rounding of the decimal, not of d (they differ when d is a tie) */
        float f = mli__strtof_c(buf, NULL);
        if ((float)d != f && isfinite(d))
            d = nextafter(d, (double)f);
        *out = d;
        return used;
    }
    *out = neg ? -d : d;
    return used;
}

/* ---- JSON -------------------------------------------------------------------------- */

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ++ps->p;
}

static int hex4(const uint8_t *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static size_t utf8_put(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote. Strings without escapes stay in the input. */
static mli_status json_string(parser *ps, mli__jval *out) {
    const uint8_t *s = ++ps->p, *q = s;
    int escaped = 0;
    while (q < ps->end && *q != '"') {
        if (*q < 0x20) {
            ps->p = q;
            return syntax(ps, "control character in a string");
        }
        if (*q == '\\') {
            escaped = 1;
            if (++q >= ps->end)
                break;
        }
        ++q;
    }
    if (q >= ps->end)
        return syntax(ps, "unterminated string");
    size_t raw = (size_t)(q - s);
    if (raw > UINT32_MAX)
        return syntax(ps, "string longer than 4 GiB");
    memset(out, 0, sizeof *out);
    if (!escaped) {
        out->type = MLI__JD_STR;
        out->n = (uint32_t)raw;
        out->u.off = (uint64_t)(s - ps->beg);
        ps->p = q + 1;
        return MLI_OK;
    }
    /* Decoded text is never longer than the escaped text. */
    char *tmp = malloc(raw + 1);
    if (!tmp)
        return oom(ps);
    size_t n = 0;
    for (const uint8_t *c = s; c < q;) {
        if (*c != '\\') {
            tmp[n++] = (char)*c++;
            continue;
        }
        ps->p = c;
        uint8_t e = c[1];
        c += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            tmp[n++] = map[simple - "\"\\/bfnrt"];
            continue;
        }
        uint32_t cp, lo;
        if (e != 'u' || q - c < 4 || !hex4(c, &cp)) {
            free(tmp);
            return syntax(ps, "bad escape in a string");
        }
        c += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
            if (q - c < 6 || c[0] != '\\' || c[1] != 'u' || !hex4(c + 2, &lo) || lo < 0xDC00 || lo >= 0xE000) {
                free(tmp);
                return syntax(ps, "unpaired surrogate in a string");
            }
            c += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
            free(tmp);
            return syntax(ps, "unpaired surrogate in a string");
        }
        n += utf8_put(tmp + n, cp); /* \uXXXX is 6 bytes, its UTF-8 at most 4 */
    }
    mli_status st = string_to_sbuf(ps, tmp, n, out);
    free(tmp);
    ps->p = q + 1;
    return st;
}

static mli_status json_value(parser *ps, mli__jval *out);

static mli_status json_container(parser *ps, int is_obj, mli__jval *out) {
    if (++ps->depth > MLI__JD_MAX_DEPTH)
        return syntax(ps, "nesting deeper than 128 levels");
    const uint8_t close = is_obj ? '}' : ']';
    size_t base = ps->n_stk;
    ++ps->p;
    skip_ws(ps);
    mli_status st;
    if (ps->p < ps->end && *ps->p == close) {
        ++ps->p;
    } else {
        for (;;) {
            mli__jval v;
            skip_ws(ps);
            if (is_obj) {
                if (ps->p >= ps->end || *ps->p != '"')
                    return syntax(ps, "expected a key string");
                if ((st = json_string(ps, &v)) != MLI_OK || (st = push(ps, &v)) != MLI_OK)
                    return st;
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return syntax(ps, "expected ':'");
                ++ps->p;
                skip_ws(ps);
            }
            if ((st = json_value(ps, &v)) != MLI_OK || (st = push(ps, &v)) != MLI_OK)
                return st;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ++ps->p;
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ++ps->p;
                break;
            }
            return syntax(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    --ps->depth;
    return close_container(ps, base, is_obj, out);
}

static mli_status json_value(parser *ps, mli__jval *out) {
    if (ps->p >= ps->end)
        return syntax(ps, "unexpected end of input");
    memset(out, 0, sizeof *out);
    size_t left = (size_t)(ps->end - ps->p);
    switch (*ps->p) {
    case '{': return json_container(ps, 1, out);
    case '[': return json_container(ps, 0, out);
    case '"': return json_string(ps, out);
    case 't':
    case 'f':
    case 'n': {
        static const char *const lit[] = {"true", "false", "null"};
        int k = *ps->p == 't' ? 0 : *ps->p == 'f' ? 1 : 2;
        size_t n = strlen(lit[k]);
        if (left < n || memcmp(ps->p, lit[k], n) != 0)
            return syntax(ps, "unknown literal");
        ps->p += n;
        out->type = k == 2 ? MLI__JD_NULL : MLI__JD_BOOL;
        out->u.num = k == 0;
        return MLI_OK;
    }
    default: {
        size_t n = mli__jd_number((const char *)ps->p, (const char *)ps->end, &out->u.num);
        if (n == 0)
            return syntax(ps, "expected a value");
        ps->p += n;
        out->type = MLI__JD_NUM;
        return MLI_OK;
    }
    }
}

static mli_status start(const char *origin, const uint8_t *data, size_t size, mli__jdoc *doc, parser *ps) {
    memset(doc, 0, sizeof *doc);
    memset(ps, 0, sizeof *ps);
    ps->origin = origin;
    ps->beg = ps->p = data;
    ps->end = data + size;
    ps->doc = doc;
    doc->src = (const char *)data;
    if (!data || size == 0)
        return mli__fail(MLI_ERR_CORRUPT, "%s: the model file is empty", origin);
    if (size > UINT32_MAX)
        return mli__fail(MLI_ERR_UNSUPPORTED, "%s: model files over 4 GiB are not supported", origin);
    return MLI_OK;
}

static mli_status finish(parser *ps, mli_status st) {
    free(ps->stk);
    if (st != MLI_OK) {
        const char *src = ps->doc->src;
        mli__jd_free(ps->doc);
        ps->doc->src = src;
    }
    return st;
}

mli_status mli__jd_parse_json(const char *origin, const uint8_t *data, size_t size, mli__jdoc *doc) {
    parser ps;
    mli_status st = start(origin, data, size, doc, &ps);
    if (st != MLI_OK)
        return finish(&ps, st);
    if (size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF)
        ps.p += 3;
    skip_ws(&ps);
    st = json_value(&ps, &doc->root);
    if (st == MLI_OK) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            st = syntax(&ps, "unexpected text after the end of the document");
    }
    return finish(&ps, st);
}

/* ---- UBJSON (big-endian; https://ubjson.org) ------------------------------------------ */

static int ub_need(const parser *ps, size_t n) { return (size_t)(ps->end - ps->p) >= n; }

static uint64_t be_load(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i)
        v = v << 8 | p[i];
    return v;
}

/* Size of the payload of a fixed-size numeric marker, 0 for others. */
static int ub_num_size(uint8_t m) {
    switch (m) {
    case 'i':
    case 'U': return 1;
    case 'I': return 2;
    case 'l':
    case 'd': return 4;
    case 'L':
    case 'D': return 8;
    default: return 0;
    }
}

static double ub_num_load(uint8_t m, const uint8_t *p) {
    switch (m) {
    case 'i': return (double)(int8_t)p[0];
    case 'U': return (double)p[0];
    case 'I': return (double)(int16_t)be_load(p, 2);
    case 'l': return (double)(int32_t)be_load(p, 4);
    case 'L': return (double)(int64_t)be_load(p, 8);
    case 'd': {
        uint32_t b = (uint32_t)be_load(p, 4);
        float f;
        memcpy(&f, &b, 4);
        return (double)f;
    }
    default: {
        uint64_t b = be_load(p, 8);
        double d;
        memcpy(&d, &b, 8);
        return d;
    }
    }
}

/* An integer with its marker: a length or a count. */
static mli_status ub_length(parser *ps, uint64_t *out) {
    if (!ub_need(ps, 1))
        return syntax(ps, "unexpected end of input");
    uint8_t m = *ps->p;
    if (m != 'i' && m != 'U' && m != 'I' && m != 'l' && m != 'L')
        return syntax(ps, "expected an integer length");
    int n = ub_num_size(m);
    if (!ub_need(ps, 1 + (size_t)n))
        return syntax(ps, "unexpected end of input");
    double v = ub_num_load(m, ps->p + 1);
    if (m == 'L') {
        int64_t iv = (int64_t)be_load(ps->p + 1, 8);
        if (iv < 0)
            return syntax(ps, "negative length");
        *out = (uint64_t)iv;
    } else {
        if (v < 0)
            return syntax(ps, "negative length");
        *out = (uint64_t)v;
    }
    ps->p += 1 + n;
    return MLI_OK;
}

static mli_status ub_string_body(parser *ps, mli__jval *out) {
    uint64_t len;
    mli_status st = ub_length(ps, &len);
    if (st != MLI_OK)
        return st;
    if (len > (uint64_t)(ps->end - ps->p))
        return syntax(ps, "string runs past the end of the input");
    memset(out, 0, sizeof *out);
    out->type = MLI__JD_STR;
    out->n = (uint32_t)len;
    out->u.off = (uint64_t)(ps->p - ps->beg);
    ps->p += len;
    return MLI_OK;
}

static mli_status ub_value(parser *ps, uint8_t marker, mli__jval *out);

static mli_status ub_container(parser *ps, int is_obj, mli__jval *out) {
    if (++ps->depth > MLI__JD_MAX_DEPTH)
        return syntax(ps, "nesting deeper than 128 levels");
    uint8_t type = 0;
    uint64_t count = 0;
    int counted = 0;
    mli_status st;
    if (ub_need(ps, 1) && *ps->p == '$') {
        if (!ub_need(ps, 2))
            return syntax(ps, "unexpected end of input");
        type = ps->p[1];
        if (!strchr("iUIlLdDSHC[{", type) || type == 0)
            return syntax(ps, "unsupported element type of a typed container");
        ps->p += 2;
        if (!ub_need(ps, 1) || *ps->p != '#')
            return syntax(ps, "typed container without a count");
    }
    if (ub_need(ps, 1) && *ps->p == '#') {
        ++ps->p;
        if ((st = ub_length(ps, &count)) != MLI_OK)
            return st;
        counted = 1;
        /* every element takes at least one byte (a key at least two) */
        if (count > (uint64_t)(ps->end - ps->p))
            return syntax(ps, "container count larger than the rest of the input");
    }
    size_t base = ps->n_stk;
    int nsz = type ? ub_num_size(type) : 0;
    if (!is_obj && nsz > 0) {
        /* typed numeric array: straight into nums */
        if (count > (uint64_t)(ps->end - ps->p) / (uint64_t)nsz)
            return syntax(ps, "typed array runs past the end of the input");
        mli__jdoc *d = ps->doc;
        if (!mli__reserve((void **)&d->nums, &d->cap_nums, d->n_nums, (size_t)count, sizeof *d->nums))
            return oom(ps);
        for (uint64_t i = 0; i < count; ++i)
            d->nums[d->n_nums + i] = ub_num_load(type, ps->p + i * (uint64_t)nsz);
        ps->p += count * (uint64_t)nsz;
        memset(out, 0, sizeof *out);
        out->type = MLI__JD_ARR;
        out->flags = MLI__JD_PACKED;
        out->n = (uint32_t)count;
        out->u.off = d->n_nums;
        d->n_nums += (size_t)count;
        --ps->depth;
        return MLI_OK;
    }
    for (uint64_t i = 0;; ++i) {
        if (counted && i == count)
            break;
        if (!counted) {
            while (ub_need(ps, 1) && *ps->p == 'N')
                ++ps->p; /* no-op markers */
            if (!ub_need(ps, 1))
                return syntax(ps, "unterminated container");
            if (*ps->p == (is_obj ? '}' : ']')) {
                ++ps->p;
                break;
            }
        }
        mli__jval v;
        if (is_obj) {
            if ((st = ub_string_body(ps, &v)) != MLI_OK || (st = push(ps, &v)) != MLI_OK)
                return st;
        }
        uint8_t m = type;
        if (!m) {
            if (!ub_need(ps, 1))
                return syntax(ps, "unexpected end of input");
            m = *ps->p++;
        }
        if ((st = ub_value(ps, m, &v)) != MLI_OK || (st = push(ps, &v)) != MLI_OK)
            return st;
    }
    --ps->depth;
    return close_container(ps, base, is_obj, out);
}

/* The value after its marker `marker` (already consumed). */
static mli_status ub_value(parser *ps, uint8_t marker, mli__jval *out) {
    memset(out, 0, sizeof *out);
    int n = ub_num_size(marker);
    if (n > 0) {
        if (!ub_need(ps, (size_t)n))
            return syntax(ps, "unexpected end of input");
        out->type = MLI__JD_NUM;
        out->u.num = ub_num_load(marker, ps->p);
        ps->p += n;
        return MLI_OK;
    }
    switch (marker) {
    case 'Z': out->type = MLI__JD_NULL; return MLI_OK;
    case 'T':
    case 'F':
        out->type = MLI__JD_BOOL;
        out->u.num = marker == 'T';
        return MLI_OK;
    case 'C':
        if (!ub_need(ps, 1))
            return syntax(ps, "unexpected end of input");
        out->type = MLI__JD_STR;
        out->n = 1;
        out->u.off = (uint64_t)(ps->p - ps->beg);
        ++ps->p;
        return MLI_OK;
    case 'S': return ub_string_body(ps, out);
    case 'H': {
        mli__jval s;
        mli_status st = ub_string_body(ps, &s);
        if (st != MLI_OK)
            return st;
        const char *t = ps->doc->src + s.u.off;
        if (s.n == 0 || mli__jd_number(t, t + s.n, &out->u.num) != s.n)
            return syntax(ps, "bad high-precision number");
        out->type = MLI__JD_NUM;
        return MLI_OK;
    }
    case '[': return ub_container(ps, 0, out);
    case '{': return ub_container(ps, 1, out);
    default: --ps->p; return syntax(ps, "unknown UBJSON type marker");
    }
}

mli_status mli__jd_parse_ubjson(const char *origin, const uint8_t *data, size_t size, mli__jdoc *doc) {
    parser ps;
    mli_status st = start(origin, data, size, doc, &ps);
    if (st == MLI_OK) {
        uint8_t m = *ps.p++;
        st = ub_value(&ps, m, &doc->root);
        if (st == MLI_OK && ps.p != ps.end)
            st = syntax(&ps, "unexpected bytes after the end of the document");
    }
    return finish(&ps, st);
}

/* ---- access ------------------------------------------------------------------------ */

void mli__jd_free(mli__jdoc *doc) {
    if (!doc)
        return;
    free(doc->vals);
    free(doc->nums);
    free(doc->sbuf);
    memset(doc, 0, sizeof *doc);
}

const char *mli__jd_str(const mli__jdoc *doc, const mli__jval *v, size_t *len) {
    if (!v || v->type != MLI__JD_STR)
        return NULL;
    *len = v->n;
    return (v->flags & MLI__JD_OWNSTR) ? doc->sbuf + v->u.off : doc->src + v->u.off;
}

int mli__jd_str_is(const mli__jdoc *doc, const mli__jval *v, const char *s) {
    size_t len;
    const char *p = mli__jd_str(doc, v, &len);
    return p && len == strlen(s) && memcmp(p, s, len) == 0;
}

const mli__jval *mli__jd_get(const mli__jdoc *doc, const mli__jval *obj, const char *key) {
    if (!obj || obj->type != MLI__JD_OBJ || obj->n == 0) /* an empty object: vals may be NULL */
        return NULL;
    const mli__jval *kv = doc->vals + obj->u.off;
    for (uint32_t i = 0; i < obj->n; ++i)
        if (mli__jd_str_is(doc, &kv[2 * (size_t)i], key))
            return &kv[2 * (size_t)i + 1];
    return NULL;
}

const mli__jval *mli__jd_at(const mli__jdoc *doc, const mli__jval *arr, uint32_t i) {
    if (!arr || arr->type != MLI__JD_ARR || (arr->flags & MLI__JD_PACKED) || i >= arr->n)
        return NULL;
    return doc->vals + arr->u.off + i;
}

const double *mli__jd_nums(const mli__jdoc *doc, const mli__jval *arr, int allow_bool) {
    static const double none = 0;
    if (!arr || arr->type != MLI__JD_ARR)
        return NULL;
    if (arr->n == 0)
        return &none;
    if (!(arr->flags & MLI__JD_PACKED) || ((arr->flags & MLI__JD_HAS_BOOL) && !allow_bool))
        return NULL;
    return doc->nums + arr->u.off;
}

const char *mli__jd_type_name(int type) {
    switch (type) {
    case MLI__JD_NULL: return "null";
    case MLI__JD_BOOL: return "a boolean";
    case MLI__JD_NUM: return "a number";
    case MLI__JD_STR: return "a string";
    case MLI__JD_ARR: return "an array";
    default: return "an object";
    }
}

mli_status mli__jd_member(const mli__jdoc *doc, const char *origin, const mli__jval *obj, const char *where,
                          const char *key, int type, const mli__jval **out) {
    const mli__jval *v = mli__jd_get(doc, obj, key);
    if (!v)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s has no '%s'", origin, where, key);
    if (v->type != type)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s.%s is %s, expected %s", origin, where, key,
                         mli__jd_type_name(v->type), mli__jd_type_name(type));
    *out = v;
    return MLI_OK;
}

mli_status mli__jd_num_array(const mli__jdoc *doc, const char *origin, const mli__jval *obj, const char *where,
                             const char *key, int64_t n, int allow_bool, const double **out) {
    const mli__jval *v;
    mli_status st = mli__jd_member(doc, origin, obj, where, key, MLI__JD_ARR, &v);
    if (st != MLI_OK)
        return st;
    const double *p = mli__jd_nums(doc, v, allow_bool);
    if (!p)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s.%s holds values that are not numbers", origin, where, key);
    if (n >= 0 && (int64_t)v->n != n)
        return mli__fail(MLI_ERR_CORRUPT, "%s: %s.%s has %u entries, expected %lld", origin, where, key, v->n,
                         (long long)n);
    *out = p;
    return MLI_OK;
}
