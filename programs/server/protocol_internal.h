/* protocol_internal.h — what protocol.c shares with the protocol files (protocol_seed.c,
 * protocol_v2.c). Error texts go to `err`, a buffer of ERRLEN bytes. */
#ifndef MLI_SERVER_PROTOCOL_INTERNAL_H
#define MLI_SERVER_PROTOCOL_INTERNAL_H

#include "protocol.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define ERRLEN 512

/* The most interaction values one request may ask for (batch.h). */
#define PROTO_MAX_INTERACTION_VALUES PRED_MAX_INTERACTION_VALUES

/* Sets *out to {"error": msg} and returns status. */
int proto__fail(cJSON **out, int status, const char *msg);
/* The same with "reason": a short label of the input error, counted by /metrics. */
int proto__fail_reason(cJSON **out, int status, const char *msg, const char *reason);
/* Named rows: `rows` (an array of n JSON objects, or one object for `single`) into c->cols
 * for mli_model_predict_columns. `where` names the rows in errors ("features",
 * "instances"). 0, else the HTTP status with err and *reason set. */
int proto__named_rows(struct proto_call *c, const cJSON *rows, int single, const char *where, char *err,
                      const char **reason);
/* V2 inputs, one per column named as the model's (BYTES for strings; FP64, FP32, INT64,
 * INT32 or BOOL for numbers; shape [n] or [n, 1]; JSON data, null a missing value, or binary
 * data: `bin`, bin_len bytes after the JSON header, inputs' parts in order, NaN a missing
 * value) into c->cols. 0, else the HTTP status with err and *reason set. */
int proto__v2_named(struct proto_call *c, const cJSON *inputs, const unsigned char *bin, size_t bin_len, int has_header,
                    char *err, const char **reason);
/* The request body as a JSON object, or NULL with err set. */
cJSON *proto__parse_object(const char *body, size_t len, char *err);
/* A double as the shortest JSON number that reads back exactly (null when not finite), and
 * an array of n of them. */
cJSON *proto__number_json(double v);
cJSON *proto__numbers_json(const double *v, int64_t n);
/* The name of contribution column j (0 <= j <= n_columns, mli_model_contrib_column): the
 * column's name, f<j> without one, "bias" for j == n_columns. `buf` holds the f<j> form. */
const char *proto__contrib_name(const struct model_ref *m, int64_t j, int64_t n_columns, char buf[32]);
/* The contribution columns' names (proto__contrib_name, bias last) as a JSON array in a string:
 * the "columns" parameter of the V2 contributions and interactions tensors. */
char *proto__contrib_names_string(const struct model_ref *m);
/* Whether the call may ask for interactions: 0, or -1 with err set (the model has none, or
 * rows x values per row is over PROTO_MAX_INTERACTION_VALUES). `what` starts the message. */
int proto__interactions_ok(const struct proto_call *c, const char *what, char *err);
/* Class `cls` of the model as its label (string or integer). */
cJSON *proto__label_json(const struct model_ref *m, double cls);

/* A new call for model m owning `root` (the parsed body), or NULL with err set. */
struct proto_call *proto__new_call(struct model_ref *m, cJSON *root, char *err);
/* The request body parsed into a new call for model m: 200 with *call set, or the error
 * status with *out set. */
int proto__begin(struct model_ref *m, const char *body, size_t len, struct proto_call **call, cJSON **out);
/* Adds a job computing `kind` (0 predict, 1 predict_proba) over the call's rows. */
int proto__add_job(struct proto_call *c, int kind, char *err);
/* The outputs of the call's job of `kind`, or NULL. */
const double *proto__result(const struct proto_call *c, int kind);

/* Decodes n base64 strings (JPEG images); *bad gets the index of the first that fails. */
int proto__decode_b64_strings(const cJSON *const *strs, int64_t n, unsigned char **decoded, const unsigned char **jpegs,
                              size_t *sizes, int64_t *bad, char *why, size_t whylen);
/* One JSON value as a finite number into *out, or -1 with err naming where[idx]. */
int proto__number_value(const cJSON *v, const char *where, long long idx, double *out, char *err);
/* Whether v is a value of the V2 integer datatype dt ("INT32" or "INT64"): a whole number
 * within the type's range (a cast of anything else to an integer is undefined). */
int proto__integer_ok(double v, const char *dt);

/* The protocols' responses, after every job of the call has run (proto_finish). */
int proto__seed_finish(const struct proto_call *c, cJSON **out);
int proto__v2_finish(const struct proto_call *c, cJSON **out, char **bin_out, size_t *bin_len);

#endif
