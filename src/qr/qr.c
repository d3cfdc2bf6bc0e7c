/*
 * qr.c - QR codes (qr.h): libqrencode makes the module matrix; libpng
 * writes it as a 1-bit PNG into memory; the SVG is one path of horizontal
 * runs of dark modules.
 *
 * Invariants: the output is exactly the encoder's matrix (bit 0 of each
 * module byte = dark), scaled, with a white quiet zone; nothing else.
 *
 * Threading: no shared state.
 */
#include <openssl/evp.h>
#include <png.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "qr.h"

static enum pay_err encode(const char *text, int scale, int margin, QRcode **out)
{
    *out = NULL;
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n > PAY_QR_TEXT_LEN_MAX || scale < 1 || scale > PAY_QR_SCALE_MAX || margin < 0 ||
        margin > 16) {
        return PAY_ERR_PARAM_INVALID;
    }
    /* 8-bit mode: the text is carried byte for byte, whatever it holds. */
    QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (q == NULL) {
        return PAY_ERR_INTERNAL;
    }
    *out = q;
    return PAY_OK;
}

static bool dark(const QRcode *q, int x, int y)
{
    return (q->data[y * q->width + x] & 1) != 0;
}

struct png_sink {
    struct pay_buf *out;
    enum pay_err e;
};

static void png_write(png_structp png, png_bytep data, png_size_t n)
{
    struct png_sink *s = png_get_io_ptr(png);
    if (s->e == PAY_OK) {
        s->e = pay_buf_add(s->out, data, n);
    }
}

static void png_flush(png_structp png)
{
    (void)png;
}

enum pay_err pay_qr_png(const char *text, int scale, int margin, struct pay_buf *out)
{
    QRcode *q = NULL;
    enum pay_err e = encode(text, scale, margin, &q);
    if (e != PAY_OK) {
        return e;
    }
    int modules = q->width + 2 * margin;
    int size = modules * scale;
    size_t row_bytes = ((size_t)size + 7) / 8;
    unsigned char *row = malloc(row_bytes);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    struct png_sink sink = {.out = out, .e = PAY_OK};
    if (row == NULL || png == NULL || info == NULL) {
        e = PAY_ERR_NOMEM;
        goto out_free;
    }
    if (setjmp(png_jmpbuf(png))) {
        e = sink.e != PAY_OK ? sink.e : PAY_ERR_INTERNAL;
        goto out_free;
    }
    png_set_write_fn(png, &sink, png_write, png_flush);
    png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 1, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int py = 0; py < size; py++) {
        memset(row, 0xff, row_bytes); /* 1 = white */
        int my = py / scale - margin;
        for (int px = 0; px < size; px++) {
            int mx = px / scale - margin;
            if (my >= 0 && my < q->width && mx >= 0 && mx < q->width && dark(q, mx, my)) {
                row[px / 8] &= (unsigned char)~(0x80u >> (px % 8));
            }
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    e = sink.e;
out_free:
    if (png != NULL) {
        png_destroy_write_struct(&png, info ? &info : NULL);
    }
    free(row);
    QRcode_free(q);
    return e;
}

enum pay_err pay_qr_svg(const char *text, int scale, int margin, struct pay_buf *out)
{
    QRcode *q = NULL;
    enum pay_err e = encode(text, scale, margin, &q);
    if (e != PAY_OK) {
        return e;
    }
    int modules = q->width + 2 * margin;
    e = pay_buf_addf(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
        "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/><path fill=\"#000000\" d=\"",
        modules * scale, modules * scale, modules, modules, modules, modules);
    for (int y = 0; e == PAY_OK && y < q->width; y++) {
        for (int x = 0; e == PAY_OK && x < q->width;) {
            if (!dark(q, x, y)) {
                x++;
                continue;
            }
            int run = 1;
            while (x + run < q->width && dark(q, x + run, y)) {
                run++;
            }
            e = pay_buf_addf(out, "M%d %dh%dv1h-%dz", x + margin, y + margin, run, run);
            x += run;
        }
    }
    if (e == PAY_OK) {
        e = pay_buf_adds(out, "\"/></svg>");
    }
    QRcode_free(q);
    return e;
}

enum pay_err pay_qr_png_data_url(const char *text, int scale, int margin, struct pay_buf *out)
{
    struct pay_buf png;
    pay_buf_init(&png, 4 * 1024 * 1024);
    enum pay_err e = pay_qr_png(text, scale, margin, &png);
    if (e != PAY_OK) {
        pay_buf_release(&png);
        return e;
    }
    size_t b64_len = 4 * ((png.len + 2) / 3);
    unsigned char *b64 = malloc(b64_len + 1);
    if (b64 == NULL) {
        pay_buf_release(&png);
        return PAY_ERR_NOMEM;
    }
    int w = EVP_EncodeBlock(b64, (const unsigned char *)png.data, (int)png.len);
    pay_buf_release(&png);
    e = w < 0 ? PAY_ERR_INTERNAL : pay_buf_adds(out, "data:image/png;base64,");
    if (e == PAY_OK) {
        e = pay_buf_add(out, b64, (size_t)w);
    }
    free(b64);
    return e;
}
