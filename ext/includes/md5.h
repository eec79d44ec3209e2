/* MD5 (RFC 1321) for JA3 / JA3S / HASSH strings. Not for security.
 * Written for wirescore from the RFC's description; checked against hashlib in
 * tests/test_msg_tls.py and test_msg_ssh.py. No allocation, usable without the GIL.
 *
 *   ws_md5(data, len, out[16])                 one shot, any length
 *   ws_md5_init(&c); ws_md5_update(&c, p, k)...; ws_md5_final(&c, out)
 *   ws_md5_hex(digest, hex)                    32 lowercase hex digits and a NUL */
#ifndef WIRESCORE_MD5_H
#define WIRESCORE_MD5_H
#include <stdint.h>
#include "md_pad.h"

/* a digest fed piece by piece */
typedef struct {
    uint32_t h[4];
    uint64_t total;          /* bytes fed */
    uint8_t buf[64];         /* the block being filled */
    uint32_t used;           /* bytes in buf */
} ws_md5_ctx;

#define WS_MD5_ROL(v, s) (((v) << (s)) | ((v) >> (32 - (s))))

/* per-round shift amounts and the sines' constants K[i] = floor(2^32 * |sin(i + 1)|) */
static const uint8_t ws_md5_s[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
static const uint32_t ws_md5_k[64] = {
    0xd76aa478u, 0xe8c7b756u, 0x242070dbu, 0xc1bdceeeu, 0xf57c0fafu, 0x4787c62au,
    0xa8304613u, 0xfd469501u, 0x698098d8u, 0x8b44f7afu, 0xffff5bb1u, 0x895cd7beu,
    0x6b901122u, 0xfd987193u, 0xa679438eu, 0x49b40821u, 0xf61e2562u, 0xc040b340u,
    0x265e5a51u, 0xe9b6c7aau, 0xd62f105du, 0x02441453u, 0xd8a1e681u, 0xe7d3fbc8u,
    0x21e1cde6u, 0xc33707d6u, 0xf4d50d87u, 0x455a14edu, 0xa9e3e905u, 0xfcefa3f8u,
    0x676f02d9u, 0x8d2a4c8au, 0xfffa3942u, 0x8771f681u, 0x6d9d6122u, 0xfde5380cu,
    0xa4beea44u, 0x4bdecfa9u, 0xf6bb4b60u, 0xbebfbc70u, 0x289b7ec6u, 0xeaa127fau,
    0xd4ef3085u, 0x04881d05u, 0xd9d4d039u, 0xe6db99e5u, 0x1fa27cf8u, 0xc4ac5665u,
    0xf4292244u, 0x432aff97u, 0xab9423a7u, 0xfc93a039u, 0x655b59c3u, 0x8f0ccc92u,
    0xffeff47du, 0x85845dd1u, 0x6fa87e4fu, 0xfe2ce6e0u, 0xa3014314u, 0x4e0811a1u,
    0xf7537e82u, 0xbd3af235u, 0x2ad7d2bbu, 0xeb86d391u};

static void ws_md5_block(uint32_t h[4], const uint8_t *p)
{
    uint32_t m[16], a = h[0], b = h[1], c = h[2], d = h[3], f, t;
    int i, g;
    for (i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | ((uint32_t)p[4 * i + 1] << 8) |
               ((uint32_t)p[4 * i + 2] << 16) | ((uint32_t)p[4 * i + 3] << 24);
    for (i = 0; i < 64; i++) {
        if (i < 16)      { f = (b & c) | (~b & d); g = i; }
        else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
        else if (i < 48) { f = b ^ c ^ d;          g = (3 * i + 5) & 15; }
        else             { f = c ^ (b | ~d);       g = (7 * i) & 15; }
        t = d; d = c; c = b;
        b = b + WS_MD5_ROL(a + f + ws_md5_k[i] + m[g], ws_md5_s[i]);
        a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
}

/* digest of len bytes into out[16] */
static void ws_md5(const uint8_t *data, size_t len, uint8_t out[16])
{
    uint32_t h[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
    int i;
    ws_md_run(h, ws_md5_block, data, len, 0);
    for (i = 0; i < 4; i++) {
        out[4 * i] = (uint8_t)h[i];
        out[4 * i + 1] = (uint8_t)(h[i] >> 8);
        out[4 * i + 2] = (uint8_t)(h[i] >> 16);
        out[4 * i + 3] = (uint8_t)(h[i] >> 24);
    }
}

static void ws_md5_init(ws_md5_ctx *c)
{
    c->h[0] = 0x67452301u;
    c->h[1] = 0xefcdab89u;
    c->h[2] = 0x98badcfeu;
    c->h[3] = 0x10325476u;
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

/* the digest of everything fed, into out[16] */
static void ws_md5_final(ws_md5_ctx *c, uint8_t out[16])
{
    int i;
    ws_md_finish(c->h, ws_md5_block, c->buf, c->used, c->total * 8, 0);
    for (i = 0; i < 16; i++)
        out[i] = (uint8_t)(c->h[i / 4] >> (8 * (i % 4)));
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
