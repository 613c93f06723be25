/* Clocks and calendar time: monotonic and realtime clocks advance,
   gmtime/mktime/strftime of fixed times, localtime in the host zone. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int main(void) {
  struct timespec a, b, r;
  clock_gettime(CLOCK_MONOTONIC, &a);
  volatile double x = 0;
  for (int i = 0; i < 2000000; i++) x += i * 0.5;
  clock_gettime(CLOCK_MONOTONIC, &b);
  long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
  printf("monotonic advances: %d\n", ns > 0);
  clock_gettime(CLOCK_REALTIME, &a);
  printf("realtime after 2020: %d\n", a.tv_sec > 1577836800);
  time_t now = time(NULL);
  printf("time() close to realtime: %d\n", now - a.tv_sec <= 1 && a.tv_sec - now <= 1);
  struct timeval tv;
  gettimeofday(&tv, NULL);
  printf("gettimeofday close: %d\n", tv.tv_sec - now <= 1 && now - tv.tv_sec <= 1);
  printf("clock_getres ok: %d\n", clock_getres(CLOCK_MONOTONIC, &r) == 0 && r.tv_sec == 0);
  clock_t c = clock();
  printf("clock() non-negative: %d\n", c >= 0);
  time_t fixed = 1000000000;
  struct tm g;
  gmtime_r(&fixed, &g);
  char buf[128];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %A %B %j", &g);
  printf("gmtime: %s\n", buf);
  struct tm t = {0};
  t.tm_year = 124; t.tm_mon = 1; t.tm_mday = 29; t.tm_hour = 12; t.tm_isdst = -1;
  time_t m = mktime(&t);
  struct tm back;
  localtime_r(&m, &back);
  printf("mktime/localtime round trip: %d %d %d %d wday=%d yday=%d\n", back.tm_year + 1900, back.tm_mon + 1,
         back.tm_mday, back.tm_hour, back.tm_wday, back.tm_yday);
  struct tm l;
  localtime_r(&fixed, &l);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &l);
  printf("localtime: %s\n", buf);
  t.tm_mday = 31; t.tm_mon = 1; t.tm_isdst = -1;
  mktime(&t);
  printf("normalised: %d-%02d-%02d\n", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday);
  return 0;
}
