/* tls_files.c — the application's tls/ folder (certificate chain, private key), embedded by
 * `swiftlet build` as a table in the asset format (Sources/CLI/Builder/AssetBundle.swift) under
 * its own symbol, so StaticFiles never serves it. Without one, the weak reference is NULL. */
extern const unsigned char swiftlet_tls_file_table[] __attribute__((weak));

const void *swiftlet_tls_files(void) { return swiftlet_tls_file_table; }
