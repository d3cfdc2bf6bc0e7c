/*
 * qr_test.c - QR codes (src/qr/qr.c): the PNG decodes, with zbarimg (a QR
 * decoder independent of the encoder), to exactly the text encoded; the
 * SVG and the data URL have the expected shape; bad input is refused.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qr/qr.h"

/* Decode @png with zbarimg; the text (malloc'd) or NULL. */
static char *zbar_decode(const struct pay_buf *png)
{
    char path[] = "/tmp/payd-qr-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, png->data, png->len), (ssize_t)png->len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "zbarimg --quiet --raw -Sdisable -Sqrcode.enable '%s' 2>/dev/null",
             path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    unlink(path);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }
    return n > 0 ? strdup(out) : NULL;
}

Test(qr, png_decodes_to_text)
{
    const char *texts[] = {
        "momo:pay?reference=3f1c9a52-7d0e-4b8f-9c3a-2f0d6b1e8a47&provider=mtn&amount=12.50",
        "x",
        "0123456789012345678901234567890123456789",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct pay_buf png;
        pay_buf_init(&png, 1 << 20);
        cr_assert_eq(pay_qr_png(texts[i], PAY_QR_SCALE_DEFAULT, PAY_QR_MARGIN_DEFAULT, &png),
                     PAY_OK);
        cr_assert(png.len > 8);
        cr_assert_eq(memcmp(png.data, "\x89PNG\r\n\x1a\n", 8), 0);
        char *text = zbar_decode(&png);
        cr_assert_not_null(text, "zbarimg found no code in the PNG of %s", texts[i]);
        cr_assert_str_eq(text, texts[i]);
        free(text);
        pay_buf_release(&png);
    }
}

Test(qr, svg_and_data_url)
{
    struct pay_buf svg;
    pay_buf_init(&svg, 1 << 20);
    cr_assert_eq(pay_qr_svg("hello", 4, 4, &svg), PAY_OK);
    cr_assert(strncmp(svg.data, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    cr_assert(strstr(svg.data, "<path fill=\"#000000\" d=\"M") != NULL);
    cr_assert(strcmp(svg.data + svg.len - 6, "</svg>") == 0);
    pay_buf_release(&svg);
    struct pay_buf url;
    pay_buf_init(&url, 1 << 20);
    cr_assert_eq(pay_qr_png_data_url("hello", 4, 4, &url), PAY_OK);
    cr_assert(strncmp(url.data, "data:image/png;base64,iVBORw0KGgo", 33) == 0);
    pay_buf_release(&url);
}

Test(qr, refuses_bad_input)
{
    struct pay_buf b;
    pay_buf_init(&b, 1 << 20);
    cr_assert_eq(pay_qr_png("", 4, 4, &b), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_qr_png("x", 0, 4, &b), PAY_ERR_PARAM_INVALID);
    cr_assert_eq(pay_qr_svg("x", PAY_QR_SCALE_MAX + 1, 4, &b), PAY_ERR_PARAM_INVALID);
    char *big = malloc(PAY_QR_TEXT_LEN_MAX + 2);
    memset(big, 'a', PAY_QR_TEXT_LEN_MAX + 1);
    big[PAY_QR_TEXT_LEN_MAX + 1] = '\0';
    cr_assert_eq(pay_qr_png(big, 4, 4, &b), PAY_ERR_PARAM_INVALID);
    free(big);
    cr_assert_eq(b.len, 0);
    pay_buf_release(&b);
}
