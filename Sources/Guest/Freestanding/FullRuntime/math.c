/* math.c — the libm functions libswiftCore.a imports. Rounding and sqrt are exact;
 * Float80 (long double) goes through double; the transcendental functions are not in the
 * prototype and halt with their name if a program reaches them. */
#include <stdint.h>
__attribute__((noreturn)) void fullrt_missing(const char *name);

static double trunc_d(double x) {
    if (!(x > -4503599627370496.0 && x < 4503599627370496.0)) return x;   /* |x| >= 2^52, NaN, inf */
    return (double)(int64_t)x;
}
double trunc(double x) { double t = trunc_d(x); return t == 0 ? x * 0 : t; }
double floor(double x) { double t = trunc_d(x); return t > x ? t - 1 : t; }
double ceil(double x) { double t = trunc_d(x); return t < x ? t + 1 : t; }
double round(double x) { double t = trunc_d(x); double f = x - t; return f >= 0.5 ? t + 1 : f <= -0.5 ? t - 1 : t; }
double rint(double x) {
    double t = floor(x), f = x - t;
    if (f > 0.5 || (f == 0.5 && (int64_t)t % 2 != 0)) t += 1;
    return t;
}
double nearbyint(double x) { return rint(x); }
double sqrt(double x) { double r; __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x)); return r; }
double fma(double x, double y, double z) { return x * y + z; }
double fmod(double x, double y) { return x - trunc(x / y) * y; }
double remainder(double x, double y) { return x - rint(x / y) * y; }

#define FLOAT_VARIANTS(name) \
    float name##f(float x) { return (float)name((double)x); } \
    long double name##l(long double x) { return (long double)name((double)x); }
FLOAT_VARIANTS(trunc) FLOAT_VARIANTS(floor) FLOAT_VARIANTS(ceil) FLOAT_VARIANTS(round)
FLOAT_VARIANTS(rint) FLOAT_VARIANTS(nearbyint) FLOAT_VARIANTS(sqrt)
float fmaf(float x, float y, float z) { return x * y + z; }
long double fmal(long double x, long double y, long double z) { return x * y + z; }
float fmodf(float x, float y) { return (float)fmod(x, y); }
long double fmodl(long double x, long double y) { return fmod((double)x, (double)y); }
float remainderf(float x, float y) { return (float)remainder(x, y); }
long double remainderl(long double x, long double y) { return remainder((double)x, (double)y); }

#define MISSING(name) \
    double name(double x) { (void)x; fullrt_missing(#name); } \
    float name##f(float x) { (void)x; fullrt_missing(#name "f"); } \
    long double name##l(long double x) { (void)x; fullrt_missing(#name "l"); }
MISSING(sin) MISSING(cos) MISSING(exp) MISSING(exp2) MISSING(log) MISSING(log2) MISSING(log10)

#define MISSING_PARSE(name, type) \
    type name(const char *s, char **end, void *locale) { (void)s; (void)end; (void)locale; fullrt_missing(#name); }
MISSING_PARSE(strtod_l, double) MISSING_PARSE(strtof_l, float) MISSING_PARSE(strtold_l, long double)
