/* lzss: LZ77-family compressor/decompressor round trip.  Generates SIZE bytes
 * of text-like data (words drawn from a skewed PRNG distribution, with
 * punctuation and numbers), compresses it with a hash-chain LZSS encoder
 * (32 KiB window, matches 3..258 bytes, flag-byte framing), decompresses it
 * and checks the round trip byte for byte, plus the compressed size and a hash of
 * the compressed stream against the reference. Repeated REPS times on differently-seeded data. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SIZE
#define SIZE (4u << 20)
#endif
#ifndef REPS
#define REPS 3
#endif
#define WBITS 15
#define WSIZE (1u << WBITS)
#define HBITS 15
#define HSIZE (1u << HBITS)
#define MINM 3
#define MAXM 258
#define MAXCHAIN 48
#define EXPECTED_TOTAL 6301919u
#define EXPECTED_HASH 0xf9c0942cu

static uint64_t rs;
static uint32_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (uint32_t)(rs >> 16); }

static const char *words[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "webassembly",
    "runtime", "compiler", "function", "memory", "module", "instance", "benchmark", "native"};
#define NWORDS (sizeof words / sizeof words[0])

static void gen(uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t r = rnd();
        const char *w;
        char num[16];
        if ((r & 63) == 0) { snprintf(num, sizeof num, "%u", rnd() % 100000); w = num; }
        else { uint32_t a = rnd() % NWORDS, b = rnd() % NWORDS; w = words[a < b ? a : b]; }
        size_t l = strlen(w);
        for (size_t k = 0; k < l && i < n; k++) p[i++] = (uint8_t)w[k];
        if (i < n) p[i++] = (r & 0x700) == 0 ? ((r & 0x800) ? '.' : ',') : ((r & 0x3f000) == 0 ? '\n' : ' ');
    }
}

static uint32_t hash3(const uint8_t *p) { return ((p[0] << 10) ^ (p[1] << 5) ^ p[2]) & (HSIZE - 1); }

/* format: groups of 8 items preceded by a flag byte (bit=1: match).  literal:
 * 1 byte.  match: 2 bytes offset-1 (little endian), 1 byte length-MINM. */
static size_t compress(const uint8_t *in, size_t n, uint8_t *out, int32_t *head, int32_t *prev) {
    for (size_t i = 0; i < HSIZE; i++) head[i] = -1;
    size_t o = 0, i = 0, flagpos = 0;
    int nitems = 8;
    while (i < n) {
        if (nitems == 8) { flagpos = o++; out[flagpos] = 0; nitems = 0; }
        size_t best = 0, bestoff = 0;
        if (i + MINM <= n) {
            uint32_t h = hash3(in + i);
            int32_t c = head[h];
            size_t maxl = n - i < MAXM ? n - i : MAXM;
            for (int chain = 0; c >= 0 && i - (size_t)c <= WSIZE && chain < MAXCHAIN; chain++) {
                if (in[c + best] == in[i + best]) {
                    size_t l = 0;
                    while (l < maxl && in[c + l] == in[i + l]) l++;
                    if (l > best) { best = l; bestoff = i - (size_t)c; if (l == maxl) break; }
                }
                c = prev[c & (WSIZE - 1)];
            }
            prev[i & (WSIZE - 1)] = head[h];
            head[h] = (int32_t)i;
        }
        if (best >= MINM) {
            out[flagpos] |= (uint8_t)(1 << nitems);
            out[o++] = (uint8_t)(bestoff - 1); out[o++] = (uint8_t)((bestoff - 1) >> 8);
            out[o++] = (uint8_t)(best - MINM);
            for (size_t k = 1; k < best; k++) {
                size_t j = i + k;
                if (j + MINM <= n) {
                    uint32_t h = hash3(in + j);
                    prev[j & (WSIZE - 1)] = head[h];
                    head[h] = (int32_t)j;
                }
            }
            i += best;
        } else {
            out[o++] = in[i++];
        }
        nitems++;
    }
    return o;
}

static size_t decompress(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t flags = in[i++];
        for (int k = 0; k < 8 && i < n; k++) {
            if (flags & (1 << k)) {
                size_t off = (size_t)in[i] | (size_t)in[i + 1] << 8; off += 1;
                size_t len = (size_t)in[i + 2] + MINM;
                i += 3;
                if (off > o || o + len > cap) return (size_t)-1;
                for (size_t m = 0; m < len; m++, o++) out[o] = out[o - off];
            } else {
                if (o >= cap) return (size_t)-1;
                out[o++] = in[i++];
            }
        }
    }
    return o;
}

int main(void) {
    uint8_t *data = malloc(SIZE), *comp = malloc(SIZE + SIZE / 8 + 16), *back = malloc(SIZE);
    int32_t *head = malloc(HSIZE * sizeof(int32_t)), *prev = malloc(WSIZE * sizeof(int32_t));
    size_t total = 0;
    uint32_t crc = 0;
    for (int r = 0; r < REPS; r++) {
        rs = 0x2545F4914F6CDD1Dull + (uint64_t)r * 0x9E3779B97F4A7C15ull;
        gen(data, SIZE);
        size_t cn = compress(data, SIZE, comp, head, prev);
        size_t dn = decompress(comp, cn, back, SIZE);
        if (dn != SIZE || memcmp(data, back, SIZE) != 0) { printf("FAIL: round trip %d\n", r); return 1; }
        total += cn;
        for (size_t i = 0; i < cn; i++) crc = crc * 31 + comp[i];
    }
    printf("lzss size=%u reps=%d compressed=%zu ratio=%.4f hash=%08x\n", (unsigned)SIZE, REPS, total,
           (double)total / ((double)SIZE * REPS), crc);
    if (total != (size_t)EXPECTED_TOTAL || crc != EXPECTED_HASH) { printf("FAIL: size\n"); return 1; }
    printf("OK\n");
    return 0;
}
