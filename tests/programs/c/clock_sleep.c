/* Clocks and sleeping; prints properties only, never times. */
#include <stdio.h>
#include <time.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/time.h>

static int64_t ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

int main(void) {
    struct timespec a, b, res;
    int r1 = clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec req = {0, 50 * 1000 * 1000};
    int rs = nanosleep(&req, NULL);
    int r2 = clock_gettime(CLOCK_MONOTONIC, &b);
    int64_t el = ns(b) - ns(a);
    printf("monotonic gettime: %s\n", r1 == 0 && r2 == 0 ? "ok" : "FAILED");
    printf("nanosleep(50ms): %d\n", rs);
    printf("elapsed >= 50ms: %s\n", el >= 50000000 ? "yes" : "no");
    printf("elapsed < 10s: %s\n", el < 10000000000LL ? "yes" : "no");

    /* usleep too */
    clock_gettime(CLOCK_MONOTONIC, &a);
    usleep(20000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("usleep(20ms) elapsed >= 20ms: %s\n", ns(b) - ns(a) >= 20000000 ? "yes" : "no");

    /* monotonic never goes backwards */
    int back = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 10000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (ns(b) < ns(a)) back++;
        a = b;
    }
    printf("monotonic went backwards: %d times\n", back);

    struct timespec rt;
    int r3 = clock_gettime(CLOCK_REALTIME, &rt);
    printf("realtime gettime: %s\n", r3 == 0 ? "ok" : "FAILED");
    printf("realtime after 2020-01-01: %s\n", rt.tv_sec > 1577836800 ? "yes" : "no");
    printf("realtime before 2200-01-01: %s\n", rt.tv_sec < 7258118400LL ? "yes" : "no");
    time_t t = time(NULL);
    printf("time() within 60s of realtime: %s\n",
           (t - rt.tv_sec) < 60 && (rt.tv_sec - t) < 60 ? "yes" : "no");
    struct timeval tv;
    printf("gettimeofday: %s\n", gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 1577836800 ? "ok" : "FAILED");

    int g1 = clock_getres(CLOCK_MONOTONIC, &res);
    printf("getres monotonic: %d, 0 < res <= 10ms: %s\n", g1,
           ns(res) > 0 && ns(res) <= 10000000 ? "yes" : "no");
    int g2 = clock_getres(CLOCK_REALTIME, &res);
    printf("getres realtime: %d, 0 < res <= 10ms: %s\n", g2,
           ns(res) > 0 && ns(res) <= 10000000 ? "yes" : "no");
    return 0;
}
