/* The Merkle-Damgard frame MD5 and SHA-256 share (RFC 1321 3.1-3.2, FIPS 180-4 5.1.1):
 * the whole 64-byte blocks of the data, then the rest, a 0x80 byte, zeros and the
 * message length in bits as the last 8 bytes (little endian for MD5, big endian for
 * SHA-2), in one or two more blocks. block(h, p) compresses 64 bytes into the state h. */
#ifndef WIRESCORE_MD_PAD_H
#define WIRESCORE_MD_PAD_H
#include <stdint.h>
#include <string.h>

typedef void (*ws_md_block_fn)(uint32_t *h, const uint8_t *p);

/* the last block(s): the rem (< 64) bytes of tail, 0x80, zeros and bits, the whole
 * message's length in bits (a streaming hash keeps its own count) */
static void ws_md_finish(uint32_t *h, ws_md_block_fn block_fn, const uint8_t *tail,
                         size_t rem, uint64_t bits, int big_endian_length)
{
    uint8_t block[64];
    int i;
    memset(block, 0, 64);
    if (rem)
        memcpy(block, tail, rem);
    block[rem] = 0x80;
    if (rem >= 56) {
        block_fn(h, block);
        memset(block, 0, 64);
    }
    for (i = 0; i < 8; i++)
        block[big_endian_length ? 63 - i : 56 + i] = (uint8_t)(bits >> (8 * i));
    block_fn(h, block);
}

static void ws_md_run(uint32_t *h, ws_md_block_fn block_fn, const uint8_t *data,
                      size_t len, int big_endian_length)
{
    size_t off = 0;
    while (len - off >= 64) {
        block_fn(h, data + off);
        off += 64;
    }
    ws_md_finish(h, block_fn, data + off, len - off, (uint64_t)len * 8, big_endian_length);
}
#endif
