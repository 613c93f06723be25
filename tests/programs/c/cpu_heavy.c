/* CPU-bound work: SHA-256 over a generated 8 MiB buffer, and an LZ77-style
 * compressor round trip over generated, compressible text. Deterministic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SHA-256 ---- */
typedef struct { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t n; } sha256;
static const uint32_t K[64] = {
 0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
 0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
 0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
 0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
 0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
 0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
 0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
 0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha_block(sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4*i] << 24 | (uint32_t)p[4*i+1] << 16 | (uint32_t)p[4*i+2] << 8 | p[4*i+3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i-15], 7) ^ ROR(w[i-15], 18) ^ (w[i-15] >> 3);
        uint32_t s1 = ROR(w[i-2], 17) ^ ROR(w[i-2], 19) ^ (w[i-2] >> 10);
        w[i] = w[i-16] + s0 + w[i-7] + s1;
    }
    uint32_t a=s->h[0],b=s->h[1],c=s->h[2],d=s->h[3],e=s->h[4],f=s->h[5],g=s->h[6],h=s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e,6) ^ ROR(e,11) ^ ROR(e,25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a,2) ^ ROR(a,13) ^ ROR(a,22)) + ((a & b) ^ (a & c) ^ (b & c));
        h=g; g=f; f=e; e=d+t1; d=c; c=b; b=a; a=t1+t2;
    }
    s->h[0]+=a; s->h[1]+=b; s->h[2]+=c; s->h[3]+=d; s->h[4]+=e; s->h[5]+=f; s->h[6]+=g; s->h[7]+=h;
}
static void sha_init(sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,
                                   0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19};
    memcpy(s->h, iv, sizeof iv); s->len = 0; s->n = 0;
}
static void sha_update(sha256 *s, const uint8_t *p, size_t n) {
    s->len += n;
    while (n) {
        if (s->n == 0 && n >= 64) { sha_block(s, p); p += 64; n -= 64; continue; }
        size_t k = 64 - s->n < n ? 64 - s->n : n;
        memcpy(s->buf + s->n, p, k); s->n += k; p += k; n -= k;
        if (s->n == 64) { sha_block(s, s->buf); s->n = 0; }
    }
}
static void sha_final(sha256 *s, char hex[65]) {
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80, z = 0, lb[8];
    sha_update(s, &pad, 1);
    while (s->n != 56) sha_update(s, &z, 1);
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)(bits >> (56 - 8*i));
    sha_update(s, lb, 8);
    for (int i = 0; i < 8; i++) sprintf(hex + 8*i, "%08x", s->h[i]);
}
static void sha_hex(const uint8_t *p, size_t n, char hex[65]) {
    sha256 s; sha_init(&s); sha_update(&s, p, n); sha_final(&s, hex);
}

/* ---- generators ---- */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static const char *words[] = {"wasm","module","function","memory","table","global","import",
    "export","the","a","of","and","linear","stack","trap","runtime","compile","native",
    "instruction","value","i32","i64","f32","f64","call","block","loop","branch"};

/* ---- LZ77: tokens are literal runs and (distance, length) matches ----
 * format: control byte c; c < 128: c+1 literals follow; c >= 128: match of
 * length (c-128)+4, followed by 2-byte little-endian distance (1..65535). */
#define HBITS 15
static size_t lz_compress(const uint8_t *in, size_t n, uint8_t *out) {
    static int32_t head[1 << HBITS];
    for (int i = 0; i < (1 << HBITS); i++) head[i] = -1;
    size_t o = 0, i = 0, lit_start = 0;
    #define FLUSH_LIT(end) do { size_t s_ = lit_start; while (s_ < (end)) { \
        size_t k_ = (end) - s_ > 128 ? 128 : (end) - s_; out[o++] = (uint8_t)(k_ - 1); \
        memcpy(out + o, in + s_, k_); o += k_; s_ += k_; } } while (0)
    while (i + 4 <= n) {
        uint32_t v; memcpy(&v, in + i, 4);
        uint32_t h = (v * 2654435761u) >> (32 - HBITS);
        int32_t cand = head[h];
        head[h] = (int32_t)i;
        if (cand >= 0 && i - (size_t)cand <= 65535 && memcmp(in + cand, in + i, 4) == 0) {
            size_t len = 4;
            while (i + len < n && len < 131 && in[cand + len] == in[i + len]) len++;
            FLUSH_LIT(i);
            size_t dist = i - (size_t)cand;
            out[o++] = (uint8_t)(128 + len - 4);
            out[o++] = (uint8_t)(dist & 255); out[o++] = (uint8_t)(dist >> 8);
            i += len; lit_start = i;
        } else {
            i++;
        }
    }
    FLUSH_LIT(n);
    return o;
}
static size_t lz_decompress(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t c = in[i++];
        if (c < 128) {
            size_t k = (size_t)c + 1;
            if (i + k > n || o + k > cap) return (size_t)-1;
            memcpy(out + o, in + i, k); i += k; o += k;
        } else {
            size_t len = (size_t)c - 128 + 4;
            if (i + 2 > n) return (size_t)-1;
            size_t dist = in[i] | (size_t)in[i + 1] << 8; i += 2;
            if (dist == 0 || dist > o || o + len > cap) return (size_t)-1;
            for (size_t k = 0; k < len; k++, o++) out[o] = out[o - dist];
        }
    }
    return o;
}

int main(void) {
    char hex[65];
    sha_hex((const uint8_t *)"abc", 3, hex);
    printf("sha256(\"abc\") = %s\n", hex);
    sha_hex((const uint8_t *)"", 0, hex);
    printf("sha256(\"\") = %s\n", hex);

    size_t N = 8u << 20;
    uint8_t *buf = malloc(N);
    for (size_t i = 0; i < N; i += 8) { uint64_t v = next(); memcpy(buf + i, &v, 8); }
    sha_hex(buf, N, hex);
    printf("sha256(8 MiB xorshift) = %s\n", hex);
    /* incremental, odd-sized chunks must give the same digest */
    sha256 s; sha_init(&s);
    for (size_t off = 0; off < N;) { size_t k = 1 + (off * 7919) % 5000; if (k > N - off) k = N - off; sha_update(&s, buf + off, k); off += k; }
    char hex2[65]; sha_final(&s, hex2);
    printf("incremental digest matches: %s\n", strcmp(hex, hex2) == 0 ? "yes" : "no");

    /* compressible text, 4 MiB */
    size_t T = 4u << 20, t = 0;
    uint8_t *text = malloc(T);
    unsigned line = 0;
    while (t < T) {
        char tmp[256];
        /* draw in a fixed order: argument evaluation order is unspecified */
        const char *w1 = words[next() % 28], *w2 = words[next() % 28], *w3 = words[next() % 28];
        unsigned long long num = next() % 1000;
        int k = snprintf(tmp, sizeof tmp, "%u: %s %s %s %llu\n", line++, w1, w2, w3, num);
        for (int j = 0; j < k && t < T; j++) text[t++] = (uint8_t)tmp[j];
    }
    sha_hex(text, T, hex);
    printf("text: %zu bytes, %u lines, sha256 %s\n", T, line, hex);
    uint8_t *comp = malloc(T + T / 64 + 16);
    size_t csz = lz_compress(text, T, comp);
    sha_hex(comp, csz, hex);
    printf("lz compressed: %zu bytes (%.1f%%), sha256 %s\n", csz, 100.0 * csz / T, hex);
    uint8_t *dec = malloc(T);
    size_t dsz = lz_decompress(comp, csz, dec, T);
    printf("lz decompressed: %zu bytes, identical: %s\n", dsz, dsz == T && memcmp(dec, text, T) == 0 ? "yes" : "no");
    /* incompressible input grows only slightly */
    size_t rsz = lz_compress(buf, 1u << 20, comp);
    size_t rd = lz_decompress(comp, rsz, dec, T);
    printf("random 1 MiB -> %zu bytes, round trip ok: %s\n", rsz, rd == (1u << 20) && memcmp(dec, buf, rd) == 0 ? "yes" : "no");
    free(buf); free(text); free(comp); free(dec);
    return 0;
}
