/* malloc-heavy work that grows linear memory (built with
   -sALLOW_MEMORY_GROWTH): a linked structure of many blocks, reallocs,
   frees, and a large buffer; checksums are printed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; size_t len; unsigned char data[]; };

static uint32_t rng = 12345;
static uint32_t next(void) { rng = rng * 1103515245u + 12345u; return rng >> 8; }

int main(void) {
  struct node *head = NULL;
  size_t total = 0;
  for (int i = 0; i < 20000; i++) {
    size_t len = 16 + next() % 2000;
    struct node *n = malloc(sizeof *n + len);
    if (!n) { printf("malloc failed at %d\n", i); return 1; }
    n->len = len;
    memset(n->data, i & 0xff, len);
    n->next = head;
    head = n;
    total += len;
  }
  printf("allocated %zu bytes in 20000 blocks\n", total);
  uint64_t sum = 0;
  int k = 0;
  for (struct node **pp = &head; *pp;) {
    struct node *n = *pp;
    sum += n->data[n->len - 1] * (uint64_t)n->len;
    if (k++ % 3 == 0) { *pp = n->next; free(n); } else pp = &n->next;
  }
  printf("checksum %llu\n", (unsigned long long)sum);
  size_t cap = 1;
  unsigned *v = malloc(sizeof *v);
  for (unsigned i = 0; i < 3000000; i++) {
    if (i == cap) { cap *= 2; v = realloc(v, cap * sizeof *v); if (!v) { printf("realloc failed\n"); return 1; } }
    v[i] = i * 2654435761u;
  }
  uint32_t x = 0;
  for (unsigned i = 0; i < 3000000; i++) x ^= v[i] + i;
  printf("vector of 3000000: %08x (cap %zu)\n", x, cap);
  free(v);
  char *big = malloc(64 << 20);
  if (!big) { printf("big malloc failed\n"); return 1; }
  for (size_t i = 0; i < (64u << 20); i += 4096) big[i] = (char)(i >> 12);
  long s = 0;
  for (size_t i = 0; i < (64u << 20); i += 4096) s += big[i];
  printf("64 MiB buffer sum %ld\n", s);
  free(big);
  while (head) { struct node *n = head->next; free(head); head = n; }
  return 0;
}
