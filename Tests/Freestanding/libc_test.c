/* libc_test.c — checks the guest's C shims (Sources/Guest/Freestanding/libc.c) against the
 * host C library on the same inputs. Built and run by FreestandingLibCTests. */
#include <math.h>
#include <stdio.h>
#include <string.h>

double swiftlet_test_ceil(double);
double swiftlet_test_floor(double);
void *swiftlet_test_memmove(void *, const void *, size_t);
void *swiftlet_test_memcpy(void *, const void *, size_t);
int swiftlet_test_memcmp(const void *, const void *, size_t);

int main(void) {
    const double inputs[] = { 0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.9999, -2.9999, 1e15 + 0.5,
                              -1e15 - 0.5, 4503599627370496.0, -4503599627370497.0, 1e300, -1e300,
                              INFINITY, -INFINITY, NAN, 1e-300, -1e-300, 123456789.75 };
    int failures = 0;
    for (unsigned i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        double x = inputs[i];
        double c = swiftlet_test_ceil(x), f = swiftlet_test_floor(x);
        int cOK = (isnan(x) && isnan(c)) || (c == ceil(x) && signbit(c) == signbit(ceil(x)));
        int fOK = (isnan(x) && isnan(f)) || (f == floor(x) && signbit(f) == signbit(floor(x)));
        if (!cOK) { printf("ceil(%g) = %g, expected %g\n", x, c, ceil(x)); failures++; }
        if (!fOK) { printf("floor(%g) = %g, expected %g\n", x, f, floor(x)); failures++; }
    }
    char buffer[32] = "abcdefghijklmnopqrstuvwxyz";
    swiftlet_test_memmove(buffer + 2, buffer, 10);        /* overlapping, forwards */
    if (memcmp(buffer, "ababcdefghijmnop", 16) != 0) { printf("memmove forward overlap: %s\n", buffer); failures++; }
    swiftlet_test_memmove(buffer, buffer + 2, 10);        /* overlapping, backwards */
    if (memcmp(buffer, "abcdefghijijmnop", 16) != 0) { printf("memmove backward overlap: %s\n", buffer); failures++; }
    /* Every length up to 100 (the small-copy paths and both directions of the long ones) at
     * every source and destination offset up to 80, overlapping or not, against the host's. */
    unsigned char ours[256], hosts[256];
    for (size_t n = 0; n <= 100; n++) {
        for (size_t from = 0; from < 80; from++) {
            for (size_t to = 0; to < 80; to++) {
                for (size_t i = 0; i < sizeof ours; i++) ours[i] = hosts[i] = (unsigned char)(i * 7 + n);
                swiftlet_test_memmove(ours + to, ours + from, n);
                memmove(hosts + to, hosts + from, n);
                if (memcmp(ours, hosts, sizeof ours) != 0) { printf("memmove %zu bytes %zu -> %zu\n", n, from, to); failures++; }
                if (from + n > to && to + n > from) continue;  /* memcpy's ranges must not overlap */
                swiftlet_test_memcpy(ours + to, ours + from, n);
                memcpy(hosts + to, hosts + from, n);
                if (memcmp(ours, hosts, sizeof ours) != 0) { printf("memcpy %zu bytes %zu -> %zu\n", n, from, to); failures++; }
            }
        }
    }
    if (swiftlet_test_memcmp("abc", "abd", 3) >= 0 || swiftlet_test_memcmp("abd", "abc", 3) <= 0
        || swiftlet_test_memcmp("abc", "abc", 3) != 0) { printf("memcmp ordering\n"); failures++; }
    printf("%d failures\n", failures);
    return failures != 0;
}
