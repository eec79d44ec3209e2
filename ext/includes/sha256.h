/* SHA-256 (FIPS 180-4) for JA4 / JA4S. Not for security.
 * Written for wirescore from the standard; checked against hashlib in
 * tests/test_msg_tls.py. ws_sha256(data, len, out[32]): any length, no allocation. */
#ifndef WIRESCORE_SHA256_H
#define WIRESCORE_SHA256_H
#include <stdint.h>
#include "md_pad.h"

#define WS_ROR32(v, b) (((v) >> (b)) | ((v) << (32 - (b))))

/* the first 32 bits of the fractional parts of the cube roots of the first 64 primes */
static const uint32_t ws_sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u,
    0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u,
    0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au,
    0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

static void ws_sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], s[8], t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) |
               ((uint32_t)p[4 * i + 2] << 8) | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++)
        w[i] = (WS_ROR32(w[i - 2], 17) ^ WS_ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
               (WS_ROR32(w[i - 15], 7) ^ WS_ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
    for (i = 0; i < 8; i++)
        s[i] = h[i];
    for (i = 0; i < 64; i++) {
        t1 = s[7] + (WS_ROR32(s[4], 6) ^ WS_ROR32(s[4], 11) ^ WS_ROR32(s[4], 25)) +
             ((s[4] & s[5]) ^ (~s[4] & s[6])) + ws_sha256_k[i] + w[i];
        t2 = (WS_ROR32(s[0], 2) ^ WS_ROR32(s[0], 13) ^ WS_ROR32(s[0], 22)) +
             ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
        s[7] = s[6]; s[6] = s[5]; s[5] = s[4]; s[4] = s[3] + t1;
        s[3] = s[2]; s[2] = s[1]; s[1] = s[0]; s[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++)
        h[i] += s[i];
}

/* digest of len bytes into out[32] */
static void ws_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
    uint32_t h[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                     0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    int i;
    ws_md_run(h, ws_sha256_block, data, len, 1);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}
#endif
