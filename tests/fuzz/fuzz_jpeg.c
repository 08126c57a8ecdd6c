/* fuzz_jpeg.c — JPEG input: the header reader, the decoder (to the size it announces) and
 * the preprocessing, with a spec picked by the input's last byte (size, colour, fit,
 * resize, layout, flags). Every call either succeeds or fails with a message. */
#include "fuzz_harness.h"

#define FUZZ_MAX_PIXELS ((int64_t)1 << 22) /* keeps each run fast; the limit itself is tested */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mli_image_info info;
    mli_status st = mli_image_jpeg_info(data, size, &info);
    if (st != MLI_OK)
        fuzz_check_failure(st, "mli_image_jpeg_info");
    else
        FUZZ_CHECK(info.width > 0 && info.height > 0 && (info.components == 1 || info.components == 3 ||
                                                         info.components == 4),
                   "mli_image_jpeg_info: %d x %d, %d components", info.width, info.height, info.components);

    uint8_t pick = size ? data[size - 1] : 0;
    mli_color color = (mli_color)(pick % 3);
    uint32_t flags = (pick >> 2) & 7u;
    int32_t w = 0, h = 0;
    st = mli_image_decode_jpeg(data, size, color, 16, 16, FUZZ_MAX_PIXELS, flags, NULL, 0, &w, &h);
    if (st == MLI_OK) {
        int64_t channels = color == MLI_COLOR_GRAY ? 1 : 3, n = (int64_t)w * h * channels;
        FUZZ_CHECK(w > 0 && h > 0 && (int64_t)w * h <= FUZZ_MAX_PIXELS, "announced %d x %d", w, h);
        uint8_t *px = malloc((size_t)n);
        if (px) {
            int32_t w2 = 0, h2 = 0;
            st = mli_image_decode_jpeg(data, size, color, 16, 16, FUZZ_MAX_PIXELS, flags, px, n, &w2, &h2);
            if (st != MLI_OK)
                fuzz_check_failure(st, "mli_image_decode_jpeg");
            else
                FUZZ_CHECK(w2 == w && h2 == h, "decoded %d x %d, announced %d x %d", w2, h2, w, h);
            free(px);
        }
    } else {
        fuzz_check_failure(st, "mli_image_decode_jpeg (size)");
    }

    mli_image_spec spec;
    mli_image_spec_init(&spec);
    spec.width = 8 + (pick & 7) * 5;
    spec.height = 8 + ((pick >> 3) & 3) * 7;
    spec.color = (int32_t)color;
    spec.fit = (pick >> 5) % 3;
    spec.shorter = spec.fit == MLI_FIT_SHORTER ? spec.width + spec.height : 0;
    spec.resize = (pick >> 4) & 1;
    spec.layout = (pick >> 6) & 1;
    spec.flags = flags;
    spec.max_pixels = FUZZ_MAX_PIXELS;
    int64_t len = 0;
    FUZZ_CHECK(mli_image_spec_tensor_len(&spec, &len) == MLI_OK, "spec refused: %s", mli_last_error());
    float *out = malloc(sizeof *out * (size_t)len);
    if (out) {
        st = mli_image_preprocess_jpeg(data, size, &spec, out, len);
        if (st != MLI_OK)
            fuzz_check_failure(st, "mli_image_preprocess_jpeg");
        free(out);
    }
    return 0;
}
