/* interp: a small register-machine bytecode interpreter (switch dispatch in a
 * loop, 16 registers, 3-address instructions).  Runs three bytecode programs:
 * prime counting by trial division, total Collatz steps over a range, and an
 * iterated LCG/xorshift mix loop, then checks each against the same
 * computation written directly in C. */
#include <stdint.h>
#include <stdio.h>

#ifndef PRIMES_MAX
#define PRIMES_MAX 300000
#endif
#ifndef COLLATZ_MAX
#define COLLATZ_MAX 300000
#endif
#ifndef MIX_ITERS
#define MIX_ITERS 20000000
#endif

enum { LI, MOV, ADD, SUB, MUL, DIVU, REMU, AND, XOR, SHL, SHR, ADDI, JMP, JLT, JGE, JEQ, JNE, HALT };
typedef struct { uint8_t op, a, b, c; int32_t imm; } Ins;

static int64_t run(const Ins *code, int64_t *r) {
    const Ins *pc = code;
    for (;;) {
        const Ins *i = pc++;
        switch (i->op) {
        case LI: r[i->a] = i->imm; break;
        case MOV: r[i->a] = r[i->b]; break;
        case ADD: r[i->a] = r[i->b] + r[i->c]; break;
        case SUB: r[i->a] = r[i->b] - r[i->c]; break;
        case MUL: r[i->a] = (int64_t)((uint64_t)r[i->b] * (uint64_t)r[i->c]); break;
        case DIVU: r[i->a] = (int64_t)((uint64_t)r[i->b] / (uint64_t)r[i->c]); break;
        case REMU: r[i->a] = (int64_t)((uint64_t)r[i->b] % (uint64_t)r[i->c]); break;
        case AND: r[i->a] = r[i->b] & r[i->c]; break;
        case XOR: r[i->a] = r[i->b] ^ r[i->c]; break;
        case SHL: r[i->a] = (int64_t)((uint64_t)r[i->b] << (i->imm & 63)); break;
        case SHR: r[i->a] = (int64_t)((uint64_t)r[i->b] >> (i->imm & 63)); break;
        case ADDI: r[i->a] = r[i->b] + i->imm; break;
        case JMP: pc = code + i->imm; break;
        case JLT: if (r[i->a] < r[i->b]) pc = code + i->imm; break;
        case JGE: if (r[i->a] >= r[i->b]) pc = code + i->imm; break;
        case JEQ: if (r[i->a] == r[i->b]) pc = code + i->imm; break;
        case JNE: if (r[i->a] != r[i->b]) pc = code + i->imm; break;
        case HALT: return r[i->a];
        }
    }
}

#define I(op, a, b, c, imm) {op, a, b, c, imm}

/* r1 = n, r2 = count, r3 = d, r4 = tmp, r5 = max, r6 = 0 */
static const Ins primes[] = {
    /*0*/ I(LI, 1, 0, 0, 2), I(LI, 2, 0, 0, 0), I(LI, 5, 0, 0, PRIMES_MAX), I(LI, 6, 0, 0, 0),
    /*4*/ I(JGE, 1, 5, 0, 15),          /* while n < max */
    /*5*/ I(LI, 3, 0, 0, 2),            /* d = 2 */
    /*6*/ I(MUL, 4, 3, 3, 0),           /* tmp = d*d */
    /*7*/ I(JLT, 1, 4, 0, 12),          /* if n < d*d: prime */
    /*8*/ I(REMU, 4, 1, 3, 0),
    /*9*/ I(JEQ, 4, 6, 0, 13),          /* divisible: not prime */
    /*10*/ I(ADDI, 3, 3, 0, 1),
    /*11*/ I(JMP, 0, 0, 0, 6),
    /*12*/ I(ADDI, 2, 2, 0, 1),
    /*13*/ I(ADDI, 1, 1, 0, 1),
    /*14*/ I(JMP, 0, 0, 0, 4),
    /*15*/ I(HALT, 2, 0, 0, 0)};

/* r1 = i, r2 = total, r3 = x, r4 = tmp, r5 = max, r6 = 1, r7 = 0 */
static const Ins collatz[] = {
    /*0*/ I(LI, 1, 0, 0, 1), I(LI, 2, 0, 0, 0), I(LI, 5, 0, 0, COLLATZ_MAX), I(LI, 6, 0, 0, 1), I(LI, 7, 0, 0, 0),
    /*5*/ I(JGE, 1, 5, 0, 19),          /* for i in 1..max */
    /*6*/ I(MOV, 3, 1, 0, 0),           /* x = i */
    /*7*/ I(JEQ, 3, 6, 0, 17),          /* while x != 1 */
    /*8*/ I(AND, 4, 3, 6, 0),
    /*9*/ I(JEQ, 4, 7, 0, 14),          /* even? */
    /*10*/ I(ADD, 4, 3, 3, 0), I(ADD, 3, 4, 3, 0), I(ADDI, 3, 3, 0, 1), /* x = 3x + 1 */
    /*13*/ I(JMP, 0, 0, 0, 15),
    /*14*/ I(SHR, 3, 3, 0, 1),          /* x >>= 1 */
    /*15*/ I(ADDI, 2, 2, 0, 1),         /* total++ */
    /*16*/ I(JNE, 3, 6, 0, 8),
    /*17*/ I(ADDI, 1, 1, 0, 1),
    /*18*/ I(JMP, 0, 0, 0, 5),
    /*19*/ I(HALT, 2, 0, 0, 0)};

/* r1 = i, r2 = acc, r3 = n, r4 = tmp, r5 = mult, r6 = incr */
static const Ins mix[] = {
    /*0*/ I(LI, 1, 0, 0, 0), I(LI, 2, 0, 0, 12345), I(LI, 3, 0, 0, MIX_ITERS), I(LI, 5, 0, 0, 1103515245),
    /*4*/ I(LI, 6, 0, 0, 12345),
    /*5*/ I(JGE, 1, 3, 0, 13),
    /*6*/ I(MUL, 2, 2, 5, 0), I(ADD, 2, 2, 6, 0),
    /*8*/ I(SHR, 4, 2, 0, 29), I(XOR, 2, 2, 4, 0), I(ADD, 2, 2, 1, 0),
    /*11*/ I(ADDI, 1, 1, 0, 1), I(JMP, 0, 0, 0, 5),
    /*13*/ I(HALT, 2, 0, 0, 0)};

int main(void) {
    int64_t r[16] = {0};
    for (int k = 0; k < 16; k++) r[k] = 0;
    int64_t vp = run(primes, r);
    for (int k = 0; k < 16; k++) r[k] = 0;
    int64_t vc = run(collatz, r);
    for (int k = 0; k < 16; k++) r[k] = 0;
    int64_t vm = run(mix, r);

    /* direct C versions */
    int64_t cp = 0;
    for (int64_t n = 2; n < PRIMES_MAX; n++) {
        int64_t d = 2; int prime = 1;
        for (; d * d <= n; d++) if (n % d == 0) { prime = 0; break; }
        cp += prime;
    }
    int64_t cc = 0;
    for (int64_t i = 1; i < COLLATZ_MAX; i++) {
        uint64_t x = (uint64_t)i;
        while (x != 1) { if (x & 1) x = 3 * x + 1; else x >>= 1; cc++; }
    }
    uint64_t cm = 12345;
    for (uint64_t i = 0; i < MIX_ITERS; i++) { cm = cm * 1103515245u + 12345u; cm ^= cm >> 29; cm += i; }

    printf("interp primes=%lld collatz=%lld mix=%llu\n", (long long)vp, (long long)vc, (unsigned long long)vm);
    if (vp != cp || vc != cc || (uint64_t)vm != cm) {
        printf("FAIL: expected primes=%lld collatz=%lld mix=%llu\n", (long long)cp, (long long)cc, (unsigned long long)cm);
        return 1;
    }
    printf("OK\n");
    return 0;
}
