/*
 * qr.h - QR codes of short texts (a wallet payment's reference and
 * payload), as PNG (libqrencode + libpng) and as SVG text, for
 * next_action.mobile_money_request.qr_code. Pure computation: no I/O.
 *
 * Threading: any thread (libqrencode's encoder is reentrant).
 */
#ifndef PAY_QR_H
#define PAY_QR_H

#include "../core/core.h"

/* Longest text encoded: a payload of a few fields, far below QR's limit. */
#define PAY_QR_TEXT_LEN_MAX 1024
/* Pixels per module and quiet-zone modules (ISO/IEC 18004 asks for 4). */
#define PAY_QR_SCALE_DEFAULT 6
#define PAY_QR_MARGIN_DEFAULT 4
#define PAY_QR_SCALE_MAX 32

/*
 * Encode @text (1..PAY_QR_TEXT_LEN_MAX bytes, error correction level M) as
 * a 1-bit grayscale PNG, @scale pixels per module (1..PAY_QR_SCALE_MAX)
 * with @margin modules of white around it, appended to @out.
 * PAY_ERR_PARAM_INVALID for an empty or too long text or a bad scale;
 * PAY_ERR_NOMEM; PAY_ERR_INTERNAL when an encoder fails.
 */
enum pay_err pay_qr_png(const char *text, int scale, int margin, struct pay_buf *out) PAY_WUR;
/* The same code as an SVG document (black modules as one path) in @out. */
enum pay_err pay_qr_svg(const char *text, int scale, int margin, struct pay_buf *out) PAY_WUR;
/* "data:image/png;base64,..." of the PNG of @text, in @out. */
enum pay_err pay_qr_png_data_url(const char *text, int scale, int margin,
                                 struct pay_buf *out) PAY_WUR;

#endif
