/* sniff.c — tells model files apart by their first bytes, never by their names. */
#include <string.h>

#include "import.h"

mli__source mli__sniff(const uint8_t *data, size_t size) {
    if (size >= 8 && memcmp(data, "MLINFER", 8) == 0)
        return MLI__SRC_MLI;
    size_t i = 0;
    if (size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF)
        i = 3; /* a UTF-8 byte order mark */
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        ++i;
    if (i < size && data[i] == '{') {
        /* JSON continues with whitespace, a quote or '}'; UBJSON with a type marker
         * (a key's length: 'i', 'U', 'I', 'l', 'L') or a container optimisation ('$', '#'). */
        size_t j = i + 1;
        if (j < size && strchr("iUIlL$#", data[j]) && data[j] != 0)
            return MLI__SRC_XGBOOST_UBJ;
        /* CatBoost writes its keys in sorted order, so its JSON opens with one of its own
         * top-level keys; XGBoost's opens with "learner" or "version". */
        while (j < size && (data[j] == ' ' || data[j] == '\t' || data[j] == '\r' || data[j] == '\n'))
            ++j;
        static const char *const cb[] = {"\"features_info\"", "\"model_info\"", "\"oblivious_trees\""};
        for (int k = 0; k < 3; ++k) {
            size_t n = strlen(cb[k]);
            if (size - j >= n && memcmp(data + j, cb[k], n) == 0)
                return MLI__SRC_CATBOOST_JSON;
        }
        return MLI__SRC_XGBOOST_JSON;
    }
    static const char *const lgb[] = {"tree\n", "tree\r\n"};
    for (int k = 0; k < 2; ++k) {
        size_t n = strlen(lgb[k]);
        if (size - i >= n && memcmp(data + i, lgb[k], n) == 0)
            return MLI__SRC_LIGHTGBM;
    }
    return MLI__SRC_UNKNOWN;
}
