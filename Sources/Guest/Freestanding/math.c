/* math.c — the libm functions the Swift stdlib calls (Dictionary capacity math uses ceil). */
#include <stdint.h>

/* Without SSE4.1's roundsd (not in the x86-64 baseline), and without letting the compiler
 * lower these to calls to themselves: truncate through an integer where that is exact. */
static const double swiftlet_two52 = 4503599627370496.0; /* beyond this, doubles are integers */

double floor(double x) {
    /* NaN, infinities, values already integral, and ±0 (whose sign must survive). */
    if (!(x > -swiftlet_two52 && x < swiftlet_two52) || x == 0.0) return x;
    double truncated = (double)(long long)x;
    if (truncated > x) truncated -= 1.0;
    return truncated;
}

double ceil(double x) {
    if (!(x > -swiftlet_two52 && x < swiftlet_two52) || x == 0.0) return x;
    double truncated = (double)(long long)x;
    if (truncated < x) truncated += 1.0;
    if (truncated == 0.0 && x < 0) return -0.0;
    return truncated;
}

double sqrt(double x) {
    double r;
    __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
    return r;
}

