/* fannkuch-redux (Benchmarks Game): for all permutations of 1..n, count the
 * pancake flips until 1 is in front; report max flips and the alternating
 * checksum.  Reference values are the published ones. */
#include <stdio.h>

#ifndef NN
#define NN 10
#endif
#ifndef REPS
#define REPS 4
#endif

static void fannkuch(int n, int *checksum_out, int *maxflips_out) {
    int perm[16], perm1[16], count[16];
    int maxflips = 0, checksum = 0, permcount = 0, r = n;
    for (int i = 0; i < n; i++) perm1[i] = i;
    for (;;) {
        while (r != 1) { count[r - 1] = r; r--; }
        for (int i = 0; i < n; i++) perm[i] = perm1[i];
        int flips = 0, k;
        while ((k = perm[0]) != 0) {
            for (int i = 0, j = k; i < j; i++, j--) { int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
            flips++;
        }
        if (flips > maxflips) maxflips = flips;
        checksum += (permcount & 1) ? -flips : flips;
        for (;;) {
            if (r == n) { *checksum_out = checksum; *maxflips_out = maxflips; return; }
            int p0 = perm1[0];
            for (int i = 0; i < r; i++) perm1[i] = perm1[i + 1];
            perm1[r] = p0;
            if (--count[r] > 0) break;
            r++;
        }
        permcount++;
    }
}

int main(void) {
    static const int ref_sum[] = {0,0,-1,2,11,31,129,728,-2856,-8676,73196,556355,3968050};
    static const int ref_max[] = {0,0,1,2,4,7,10,16,22,30,38,51,65};
    int ok = 1, cs = 0, mf = 0;
    for (int r = 0; r < REPS; r++) {
        fannkuch(NN, &cs, &mf);
        if (cs != ref_sum[NN] || mf != ref_max[NN]) ok = 0;
    }
    printf("fannkuch n=%d reps=%d checksum=%d maxflips=%d\n", NN, REPS, cs, mf);
    if (!ok) { printf("FAIL\n"); return 1; }
    printf("OK\n");
    return 0;
}
