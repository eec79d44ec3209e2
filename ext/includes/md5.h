/* MD5 (RFC 1321), for fingerprints (HASSH, JA3): not for security. Written from the
 * RFC's description; no allocation, usable without the GIL.
 *
 *   ws_md5(data, len, out)                     one shot
 *   ws_md5_init(&c); ws_md5_update(&c, p, k)...; ws_md5_final(&c, out)
 *   ws_md5_hex(digest, hex)                    32 lowercase hex digits and a NUL
 */
#ifndef WIRESCORE_MD5_H
#define WIRESCORE_MD5_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WS_MD5_ROL(v, s) (((v) << (s)) | ((v) >> (32 - (s))))

typedef struct {
    uint32_t h[4];
    uint64_t total;          /* bytes fed */
    uint8_t buf[64];         /* the block being filled */
    uint32_t used;           /* bytes in buf */
} ws_md5_ctx;

/* per-round shift amounts and the constants floor(abs(sin(i + 1)) * 2**32) */
static const uint8_t ws_md5_shift[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
static const uint32_t ws_md5_sine[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};

/* one 64-byte block into the state */
static void ws_md5_block(uint32_t h[4], const uint8_t *p)
{
    uint32_t m[16], a = h[0], b = h[1], c = h[2], d = h[3], f, t;
    int i, g;
    for (i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | ((uint32_t)p[4 * i + 1] << 8) |
               ((uint32_t)p[4 * i + 2] << 16) | ((uint32_t)p[4 * i + 3] << 24);
    for (i = 0; i < 64; i++) {
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        t = d;
        d = c;
        c = b;
        b = b + WS_MD5_ROL(a + f + ws_md5_sine[i] + m[g], ws_md5_shift[i]);
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static void ws_md5_init(ws_md5_ctx *c)
{
    c->h[0] = 0x67452301;
    c->h[1] = 0xefcdab89;
    c->h[2] = 0x98badcfe;
    c->h[3] = 0x10325476;
    c->total = 0;
    c->used = 0;
}

static void ws_md5_update(ws_md5_ctx *c, const uint8_t *p, size_t len)
{
    size_t take;
    c->total += len;
    while (len > 0) {
        take = 64 - c->used;
        if (take > len)
            take = len;
        memcpy(c->buf + c->used, p, take);
        c->used += (uint32_t)take;
        p += take;
        len -= take;
        if (c->used == 64) {
            ws_md5_block(c->h, c->buf);
            c->used = 0;
        }
    }
}

static void ws_md5_final(ws_md5_ctx *c, uint8_t out[16])
{
    uint64_t bits = c->total * 8;
    int i;
    c->buf[c->used++] = 0x80;
    if (c->used > 56) {
        memset(c->buf + c->used, 0, 64 - c->used);
        ws_md5_block(c->h, c->buf);
        c->used = 0;
    }
    memset(c->buf + c->used, 0, 56 - c->used);
    for (i = 0; i < 8; i++)
        c->buf[56 + i] = (uint8_t)(bits >> (8 * i));
    ws_md5_block(c->h, c->buf);
    for (i = 0; i < 16; i++)
        out[i] = (uint8_t)(c->h[i / 4] >> (8 * (i % 4)));
}

static void ws_md5(const uint8_t *data, size_t len, uint8_t out[16])
{
    ws_md5_ctx c;
    ws_md5_init(&c);
    ws_md5_update(&c, data, len);
    ws_md5_final(&c, out);
}

/* the digest as 32 lowercase hex digits, NUL-terminated (hex holds 33 bytes) */
static void ws_md5_hex(const uint8_t digest[16], char hex[33])
{
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 16; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[32] = 0;
}

#endif
