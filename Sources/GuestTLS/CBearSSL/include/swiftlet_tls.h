/*
 * swiftlet_tls.h — the few BearSSL set-ups the Swift TLS layer (Sources/GuestTLS/TLS) needs,
 * written in C because BearSSL is configured through C structs and callbacks: credentials
 * from PEM, and a TLS 1.2 server engine limited to ECDHE with AES-GCM or ChaCha20-Poly1305.
 * Records then go in and out through BearSSL's own sans-I/O calls, from Swift.
 */
#ifndef SWIFTLET_TLS_H
#define SWIFTLET_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "bearssl.h"

/* A certificate chain (leaf first) and its private key, decoded and checked to match. */
typedef struct swiftlet_tls_credentials swiftlet_tls_credentials;

/* Why credentials were refused: a static English sentence. */
typedef struct {
    const char *message;
    int bearssl_error;          /* BearSSL's error code where it gave one, else 0 */
} swiftlet_tls_problem;

swiftlet_tls_credentials *swiftlet_tls_credentials_parse(const void *chain_pem, size_t chain_length,
                                                         const void *key_pem, size_t key_length,
                                                         swiftlet_tls_problem *problem);
void swiftlet_tls_credentials_free(swiftlet_tls_credentials *credentials);
/* BR_KEYTYPE_EC or BR_KEYTYPE_RSA. */
int swiftlet_tls_credentials_key_type(const swiftlet_tls_credentials *credentials);
/* Certificates in the chain. */
size_t swiftlet_tls_credentials_chain_count(const swiftlet_tls_credentials *credentials);
/* The leaf's validity, in seconds since 1970 (UTC). */
int64_t swiftlet_tls_credentials_not_before(const swiftlet_tls_credentials *credentials);
int64_t swiftlet_tls_credentials_not_after(const swiftlet_tls_credentials *credentials);
/* RSA modulus bits, or the EC curve's (BR_EC_secp256r1 = 23) id for EC keys. */
unsigned swiftlet_tls_credentials_key_size(const swiftlet_tls_credentials *credentials);

/* A session cache shared by every connection of one configuration (BearSSL's LRU). */
typedef struct swiftlet_tls_session_cache swiftlet_tls_session_cache;
swiftlet_tls_session_cache *swiftlet_tls_session_cache_new(size_t bytes);
void swiftlet_tls_session_cache_free(swiftlet_tls_session_cache *cache);

/* One server connection: BearSSL's server context and its record buffers, in one allocation. */
typedef struct swiftlet_tls_server swiftlet_tls_server;

/* `seed`: 32 fresh random bytes for the engine's DRBG. `cache` may be NULL. */
swiftlet_tls_server *swiftlet_tls_server_new(const swiftlet_tls_credentials *credentials,
                                             swiftlet_tls_session_cache *cache,
                                             const void *seed, size_t seed_length);
void swiftlet_tls_server_free(swiftlet_tls_server *server);
br_ssl_engine_context *swiftlet_tls_server_engine(swiftlet_tls_server *server);
/* Bytes one connection holds (context and buffers): the heap cost of a TLS connection. */
size_t swiftlet_tls_server_footprint(void);

#endif
