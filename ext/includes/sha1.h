/* SHA-1 (FIPS 180-4) for Community ID hashing of short inputs. Not for security.
 * Written for wirescore; checked against hashlib in tests/test_eve_format.py. */
#ifndef WIRESCORE_SHA1_H
#define WIRESCORE_SHA1_H
#include <stdint.h>
#include <string.h>

#define WS_ROL(v, b) (((v) << (b)) | ((v) >> (32 - (b))))

static void ws_sha1_block_c(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80], a, b, c, d, e, f, k, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) |
               ((uint32_t)p[4 * i + 2] << 8) | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = WS_ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20)      { f = (b & c) | (~b & d);           k = 0x5A827999u; }
        else if (i < 40) { f = b ^ c ^ d;                    k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d);  k = 0x8F1BBCDCu; }
        else             { f = b ^ c ^ d;                    k = 0xCA62C1D6u; }
        t = WS_ROL(a, 5) + f + e + k + w[i];
        e = d; d = c; c = WS_ROL(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

/* The same block through the x86 SHA extensions (SHA-NI), used when the CPU has them:
 * the 80 rounds in 20 groups of 4 (sha1rnds4, its function chosen by group / 5), the
 * message schedule W[j] = msg2(msg1(W[j-4], W[j-3]) ^ W[j-2], W[j-1]) over 4-word groups. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <cpuid.h>
#define WS_SHA1_NI 1

__attribute__((target("sha,sse4.1,ssse3")))
static void ws_sha1_block_ni(uint32_t h[5], const uint8_t *p)
{
    const __m128i mask = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    __m128i ABCD, ABCD0, E0, E00, E1, M0, M1, M2, M3;
    ABCD = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1B);
    E0 = _mm_set_epi32((int)h[4], 0, 0, 0);
    ABCD0 = ABCD;
    E00 = E0;
    M0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), mask);
    M1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), mask);
    M2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), mask);
    M3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), mask);
    /* rounds 0-3 */
    E0 = _mm_add_epi32(E0, M0);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 0);
    /* rounds 4-7 */
    E1 = _mm_sha1nexte_epu32(E1, M1);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 0);
    M0 = _mm_sha1msg1_epu32(M0, M1);
    /* rounds 8-11 */
    E0 = _mm_sha1nexte_epu32(E0, M2);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 0);
    M1 = _mm_sha1msg1_epu32(M1, M2);
    M0 = _mm_xor_si128(M0, M2);
    /* rounds 12-15 */
    E1 = _mm_sha1nexte_epu32(E1, M3);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 0);
    M2 = _mm_sha1msg1_epu32(M2, M3);
    M1 = _mm_xor_si128(M1, M3);
    M0 = _mm_sha1msg2_epu32(M0, M3);
    /* rounds 16-19 */
    E0 = _mm_sha1nexte_epu32(E0, M0);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 0);
    M3 = _mm_sha1msg1_epu32(M3, M0);
    M2 = _mm_xor_si128(M2, M0);
    M1 = _mm_sha1msg2_epu32(M1, M0);
    /* rounds 20-23 */
    E1 = _mm_sha1nexte_epu32(E1, M1);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 1);
    M0 = _mm_sha1msg1_epu32(M0, M1);
    M3 = _mm_xor_si128(M3, M1);
    M2 = _mm_sha1msg2_epu32(M2, M1);
    /* rounds 24-27 */
    E0 = _mm_sha1nexte_epu32(E0, M2);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 1);
    M1 = _mm_sha1msg1_epu32(M1, M2);
    M0 = _mm_xor_si128(M0, M2);
    M3 = _mm_sha1msg2_epu32(M3, M2);
    /* rounds 28-31 */
    E1 = _mm_sha1nexte_epu32(E1, M3);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 1);
    M2 = _mm_sha1msg1_epu32(M2, M3);
    M1 = _mm_xor_si128(M1, M3);
    M0 = _mm_sha1msg2_epu32(M0, M3);
    /* rounds 32-35 */
    E0 = _mm_sha1nexte_epu32(E0, M0);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 1);
    M3 = _mm_sha1msg1_epu32(M3, M0);
    M2 = _mm_xor_si128(M2, M0);
    M1 = _mm_sha1msg2_epu32(M1, M0);
    /* rounds 36-39 */
    E1 = _mm_sha1nexte_epu32(E1, M1);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 1);
    M0 = _mm_sha1msg1_epu32(M0, M1);
    M3 = _mm_xor_si128(M3, M1);
    M2 = _mm_sha1msg2_epu32(M2, M1);
    /* rounds 40-43 */
    E0 = _mm_sha1nexte_epu32(E0, M2);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 2);
    M1 = _mm_sha1msg1_epu32(M1, M2);
    M0 = _mm_xor_si128(M0, M2);
    M3 = _mm_sha1msg2_epu32(M3, M2);
    /* rounds 44-47 */
    E1 = _mm_sha1nexte_epu32(E1, M3);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 2);
    M2 = _mm_sha1msg1_epu32(M2, M3);
    M1 = _mm_xor_si128(M1, M3);
    M0 = _mm_sha1msg2_epu32(M0, M3);
    /* rounds 48-51 */
    E0 = _mm_sha1nexte_epu32(E0, M0);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 2);
    M3 = _mm_sha1msg1_epu32(M3, M0);
    M2 = _mm_xor_si128(M2, M0);
    M1 = _mm_sha1msg2_epu32(M1, M0);
    /* rounds 52-55 */
    E1 = _mm_sha1nexte_epu32(E1, M1);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 2);
    M0 = _mm_sha1msg1_epu32(M0, M1);
    M3 = _mm_xor_si128(M3, M1);
    M2 = _mm_sha1msg2_epu32(M2, M1);
    /* rounds 56-59 */
    E0 = _mm_sha1nexte_epu32(E0, M2);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 2);
    M1 = _mm_sha1msg1_epu32(M1, M2);
    M0 = _mm_xor_si128(M0, M2);
    M3 = _mm_sha1msg2_epu32(M3, M2);
    /* rounds 60-63 */
    E1 = _mm_sha1nexte_epu32(E1, M3);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 3);
    M2 = _mm_sha1msg1_epu32(M2, M3);
    M1 = _mm_xor_si128(M1, M3);
    M0 = _mm_sha1msg2_epu32(M0, M3);
    /* rounds 64-67 */
    E0 = _mm_sha1nexte_epu32(E0, M0);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 3);
    M3 = _mm_sha1msg1_epu32(M3, M0);
    M2 = _mm_xor_si128(M2, M0);
    M1 = _mm_sha1msg2_epu32(M1, M0);
    /* rounds 68-71 */
    E1 = _mm_sha1nexte_epu32(E1, M1);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 3);
    M3 = _mm_xor_si128(M3, M1);
    M2 = _mm_sha1msg2_epu32(M2, M1);
    /* rounds 72-75 */
    E0 = _mm_sha1nexte_epu32(E0, M2);
    E1 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 3);
    M3 = _mm_sha1msg2_epu32(M3, M2);
    /* rounds 76-79 */
    E1 = _mm_sha1nexte_epu32(E1, M3);
    E0 = ABCD;
    ABCD = _mm_sha1rnds4_epu32(ABCD, E1, 3);
    E0 = _mm_sha1nexte_epu32(E0, E00);
    ABCD = _mm_add_epi32(ABCD, ABCD0);
    _mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(ABCD, 0x1B));
    h[4] = (uint32_t)_mm_extract_epi32(E0, 3);
}

/* 1 when the CPU has SHA-NI (CPUID leaf 7, EBX bit 29) and SSE4.1, 0 otherwise; asked
 * once per module (a property of the machine; a race only repeats the same answer). */
static int ws_sha1_has_ni(void)
{
    static int known = -1;
    unsigned int a, b, c, d;
    if (known < 0) {
        int ni = 0;
        if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3)
                && __get_cpuid_count(7, 0, &a, &b, &c, &d))
            ni = (b >> 29) & 1;
        known = ni;
    }
    return known;
}
#endif

/* One 64-byte block into the state h. */
static void ws_sha1_block(uint32_t h[5], const uint8_t *p)
{
#ifdef WS_SHA1_NI
    if (ws_sha1_has_ni()) {
        ws_sha1_block_ni(h, p);
        return;
    }
#endif
    ws_sha1_block_c(h, p);
}

/* digest of len bytes (any length) into out[20] */
static void ws_sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    uint8_t block[64];
    size_t off = 0, rem;
    uint64_t bits = (uint64_t)len * 8;
    int i;
    while (len - off >= 64) {
        ws_sha1_block(h, data + off);
        off += 64;
    }
    rem = len - off;
    memset(block, 0, 64);
    memcpy(block, data + off, rem);
    block[rem] = 0x80;
    if (rem >= 56) {
        ws_sha1_block(h, block);
        memset(block, 0, 64);
    }
    for (i = 0; i < 8; i++)
        block[63 - i] = (uint8_t)(bits >> (8 * i));
    ws_sha1_block(h, block);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

/* standard base64 of 20 bytes: 28 characters + NUL */
static void ws_base64_20(const uint8_t in[20], char out[29])
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int i, o = 0;
    uint32_t v;
    for (i = 0; i + 3 <= 18; i += 3) {
        v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = tab[(v >> 18) & 63]; out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];  out[o++] = tab[v & 63];
    }
    v = ((uint32_t)in[18] << 16) | ((uint32_t)in[19] << 8);
    out[o++] = tab[(v >> 18) & 63]; out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];  out[o++] = '=';
    out[o] = 0;
}
/* SHA-1 over bytes that arrive in pieces (a certificate across TCP segments):
 * init, update..., final; the state is 96 bytes. */
typedef struct {
    uint32_t h[5];
    uint32_t fill;          /* bytes in block */
    uint64_t len;           /* bytes hashed */
    uint8_t block[64];
} ws_sha1_ctx;

static void ws_sha1_init(ws_sha1_ctx *c)
{
    c->h[0] = 0x67452301u; c->h[1] = 0xEFCDAB89u; c->h[2] = 0x98BADCFEu;
    c->h[3] = 0x10325476u; c->h[4] = 0xC3D2E1F0u;
    c->fill = 0;
    c->len = 0;
}

static void ws_sha1_update(ws_sha1_ctx *c, const uint8_t *p, size_t k)
{
    size_t take;
    c->len += k;
    while (k) {
        take = 64 - c->fill < k ? 64 - c->fill : k;
        memcpy(c->block + c->fill, p, take);
        c->fill += (uint32_t)take;
        p += take;
        k -= take;
        if (c->fill == 64) {
            ws_sha1_block(c->h, c->block);
            c->fill = 0;
        }
    }
}

static void ws_sha1_final(ws_sha1_ctx *c, uint8_t out[20])
{
    uint64_t bits = c->len * 8;
    int i;
    memset(c->block + c->fill, 0, 64 - c->fill);
    c->block[c->fill] = 0x80;
    if (c->fill >= 56) {
        ws_sha1_block(c->h, c->block);
        memset(c->block, 0, 64);
    }
    for (i = 0; i < 8; i++)
        c->block[63 - i] = (uint8_t)(bits >> (8 * i));
    ws_sha1_block(c->h, c->block);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}
#endif
