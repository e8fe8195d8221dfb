/* swiftlet_tls.c — see include/swiftlet_tls.h. Allocates with malloc/free: the guest's heap
 * (Freestanding/runtime.c), or the C library's in host tests. */
#include "swiftlet_tls.h"

#if __STDC_HOSTED__
#include <stdlib.h>
#include <string.h>
#else
/* The freestanding guest's C library: Freestanding/runtime.c and string.c. */
void *malloc(size_t size);
void *calloc(size_t count, size_t size);
void *realloc(void *old, size_t size);
void free(void *pointer);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif

static int same_text(const char *a, const char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

/* ---- Credentials ------------------------------------------------------------------------ */

struct swiftlet_tls_credentials {
    br_x509_certificate *chain;
    size_t chain_count;
    br_skey_decoder_context key;      /* holds the decoded key's bytes */
    int64_t not_before, not_after;
    unsigned key_size;
};

typedef struct {
    unsigned char *data;
    size_t length, capacity;
    int failed;
} growing_bytes;

static void append_bytes(void *context, const void *data, size_t length) {
    growing_bytes *bytes = context;
    if (bytes->failed) return;
    if (bytes->length + length > bytes->capacity) {
        size_t capacity = bytes->capacity ? bytes->capacity * 2 : 1024;
        while (capacity < bytes->length + length) capacity *= 2;
        unsigned char *grown = realloc(bytes->data, capacity);
        if (!grown) { bytes->failed = 1; return; }
        bytes->data = grown;
        bytes->capacity = capacity;
    }
    memcpy(bytes->data + bytes->length, data, length);
    bytes->length += length;
}

/* Calls `each` with every PEM object of `text`; 0 when all decoded, else -1 with `problem`. */
typedef int (*pem_object_handler)(void *context, const char *name, unsigned char *der, size_t length);

static int each_pem_object(const unsigned char *text, size_t length, pem_object_handler each, void *context,
                           const char *what, swiftlet_tls_problem *problem) {
    br_pem_decoder_context pem;
    br_pem_decoder_init(&pem);
    growing_bytes der = {0};
    char name[128];
    int inside = 0, final_newline = 1, status = 0;
    while (length > 0) {
        size_t taken = br_pem_decoder_push(&pem, text, length);
        text += taken;
        length -= taken;
        switch (br_pem_decoder_event(&pem)) {
        case BR_PEM_BEGIN_OBJ:
            {
                const char *found = br_pem_decoder_name(&pem);
                size_t i = 0;
                for (; found[i] && i < sizeof name - 1; i++) name[i] = found[i];
                name[i] = 0;
            }
            der.length = 0;
            br_pem_decoder_setdest(&pem, append_bytes, &der);
            inside = 1;
            break;
        case BR_PEM_END_OBJ:
            if (inside) {
                inside = 0;
                if (der.failed) { problem->message = "out of memory while decoding PEM"; status = -1; goto done; }
                if (each(context, name, der.data, der.length) != 0) { status = -1; goto done; }
                der = (growing_bytes){0};   /* `each` owns the bytes now */
            }
            break;
        case BR_PEM_ERROR:
            problem->message = what;
            status = -1;
            goto done;
        }
        /* A file without a final newline still ends its last line. */
        if (length == 0 && final_newline) {
            final_newline = 0;
            text = (const unsigned char *)"\n";
            length = 1;
        }
    }
    if (inside) { problem->message = what; status = -1; }
done:
    free(der.data);
    return status;
}

typedef struct {
    swiftlet_tls_credentials *credentials;
    size_t capacity;
    swiftlet_tls_problem *problem;
    int keys;
} parse_context;

static int take_certificate(void *context, const char *name, unsigned char *der, size_t length) {
    parse_context *parse = context;
    swiftlet_tls_credentials *credentials = parse->credentials;
    if (!same_text(name, "CERTIFICATE")) {
        free(der);
        return 0;   /* other objects (parameters, comments) are not part of the chain */
    }
    if (credentials->chain_count == parse->capacity) {
        size_t capacity = parse->capacity ? parse->capacity * 2 : 4;
        br_x509_certificate *grown = realloc(credentials->chain, capacity * sizeof *grown);
        if (!grown) { free(der); parse->problem->message = "out of memory while reading the certificate chain"; return -1; }
        credentials->chain = grown;
        parse->capacity = capacity;
    }
    credentials->chain[credentials->chain_count++] = (br_x509_certificate){ .data = der, .data_len = length };
    return 0;
}

static int take_key(void *context, const char *name, unsigned char *der, size_t length) {
    parse_context *parse = context;
    int isKey = same_text(name, "PRIVATE KEY") || same_text(name, "EC PRIVATE KEY") || same_text(name, "RSA PRIVATE KEY");
    if (isKey) {
        parse->keys += 1;
        br_skey_decoder_init(&parse->credentials->key);
        br_skey_decoder_push(&parse->credentials->key, der, length);
    }
    /* Wipe the key's DER: only the decoder's copy stays. */
    memset(der, 0, length);
    free(der);
    return 0;
}

void swiftlet_tls_credentials_free(swiftlet_tls_credentials *credentials) {
    if (!credentials) return;
    for (size_t i = 0; i < credentials->chain_count; i++) free(credentials->chain[i].data);
    free(credentials->chain);
    memset(&credentials->key, 0, sizeof credentials->key);
    free(credentials);
}

/* Days since 1 January of year 0 (BearSSL's X.509 calendar) to 1 January 1970. */
#define DAYS_TO_UNIX_EPOCH 719528

static int64_t unix_seconds(uint32_t days, uint32_t seconds) {
    return ((int64_t)days - DAYS_TO_UNIX_EPOCH) * 86400 + seconds;
}

static size_t strip_zeros(const unsigned char **bytes, size_t length) {
    while (length > 0 && **bytes == 0) { (*bytes)++; length--; }
    return length;
}

/* Whether the leaf's public key is the private key's: 1 yes, 0 no. */
static int key_matches(const br_x509_pkey *certificate, br_skey_decoder_context *key, unsigned *key_size) {
    int type = br_skey_decoder_key_type(key);
    if (type != certificate->key_type) return 0;
    if (type == BR_KEYTYPE_EC) {
        const br_ec_private_key *secret = br_skey_decoder_get_ec(key);
        unsigned char point[BR_EC_KBUF_PUB_MAX_SIZE];
        br_ec_public_key derived;
        if (secret->curve != certificate->key.ec.curve) return 0;
        size_t length = br_ec_compute_pub(br_ec_get_default(), &derived, point, secret);
        *key_size = (unsigned)secret->curve;
        return length != 0 && length == certificate->key.ec.qlen && memcmp(point, certificate->key.ec.q, length) == 0;
    }
    const br_rsa_private_key *secret = br_skey_decoder_get_rsa(key);
    br_rsa_compute_modulus modulus = br_rsa_compute_modulus_get_default();
    br_rsa_compute_pubexp exponent = br_rsa_compute_pubexp_get_default();
    size_t length = modulus(NULL, secret);
    unsigned char *n = malloc(length ? length : 1);
    if (!n) return 0;
    int same = 0;
    if (length && modulus(n, secret) == length) {
        const unsigned char *ours = n, *theirs = certificate->key.rsa.n;
        size_t ourLength = strip_zeros(&ours, length);
        size_t theirLength = strip_zeros(&theirs, certificate->key.rsa.nlen);
        uint32_t e = exponent(secret), theirE = 0;
        for (size_t i = 0; i < certificate->key.rsa.elen; i++) theirE = (theirE << 8) | certificate->key.rsa.e[i];
        /* BearSSL recovers e only in common cases (0 otherwise); the modulus settles the pair. */
        same = ourLength == theirLength && memcmp(ours, theirs, ourLength) == 0 && (e == 0 || e == theirE);
    }
    *key_size = secret->n_bitlen;
    free(n);
    return same;
}

swiftlet_tls_credentials *swiftlet_tls_credentials_parse(const void *chain_pem, size_t chain_length,
                                                         const void *key_pem, size_t key_length,
                                                         swiftlet_tls_problem *problem) {
    *problem = (swiftlet_tls_problem){0};
    swiftlet_tls_credentials *credentials = calloc(1, sizeof *credentials);
    if (!credentials) { problem->message = "out of memory"; return NULL; }
    parse_context parse = { .credentials = credentials, .problem = problem };
    if (each_pem_object(chain_pem, chain_length, take_certificate, &parse,
                        "the certificate file is not valid PEM", problem) != 0) goto fail;
    if (credentials->chain_count == 0) {
        problem->message = "the certificate file holds no PEM CERTIFICATE block";
        goto fail;
    }
    if (each_pem_object(key_pem, key_length, take_key, &parse, "the private key file is not valid PEM", problem) != 0) goto fail;
    if (parse.keys != 1) {
        problem->message = parse.keys == 0 ? "the key file holds no PEM PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block"
                                           : "the key file holds more than one private key";
        goto fail;
    }
    if (br_skey_decoder_last_error(&credentials->key) != 0) {
        problem->message = "the private key is malformed or of a kind BearSSL does not know (RSA and EC are supported)";
        problem->bearssl_error = br_skey_decoder_last_error(&credentials->key);
        goto fail;
    }
    br_x509_decoder_context *decoder = malloc(sizeof *decoder);
    if (!decoder) { problem->message = "out of memory"; goto fail; }
    for (size_t i = 0; i < credentials->chain_count; i++) {
        br_x509_decoder_init(decoder, NULL, NULL);
        br_x509_decoder_push(decoder, credentials->chain[i].data, credentials->chain[i].data_len);
        const br_x509_pkey *key = br_x509_decoder_get_pkey(decoder);
        if (!key || br_x509_decoder_last_error(decoder) != 0) {
            problem->message = i == 0 ? "the first certificate (the server's own) is malformed"
                                      : "a certificate after the first (an intermediate) is malformed";
            problem->bearssl_error = br_x509_decoder_last_error(decoder);
            free(decoder);
            goto fail;
        }
        if (i == 0) {
            credentials->not_before = unix_seconds(decoder->notbefore_days, decoder->notbefore_seconds);
            credentials->not_after = unix_seconds(decoder->notafter_days, decoder->notafter_seconds);
            if (!key_matches(key, &credentials->key, &credentials->key_size)) {
                problem->message = "the private key does not belong to the first certificate (its public key differs)";
                free(decoder);
                goto fail;
            }
        }
    }
    free(decoder);
    return credentials;
fail:
    swiftlet_tls_credentials_free(credentials);
    return NULL;
}

int swiftlet_tls_credentials_key_type(const swiftlet_tls_credentials *credentials) {
    return br_skey_decoder_key_type(&credentials->key);
}
size_t swiftlet_tls_credentials_chain_count(const swiftlet_tls_credentials *credentials) { return credentials->chain_count; }
int64_t swiftlet_tls_credentials_not_before(const swiftlet_tls_credentials *credentials) { return credentials->not_before; }
int64_t swiftlet_tls_credentials_not_after(const swiftlet_tls_credentials *credentials) { return credentials->not_after; }
unsigned swiftlet_tls_credentials_key_size(const swiftlet_tls_credentials *credentials) { return credentials->key_size; }

/* ---- Session cache ---------------------------------------------------------------------- */

struct swiftlet_tls_session_cache {
    br_ssl_session_cache_lru lru;
    unsigned char store[];
};

swiftlet_tls_session_cache *swiftlet_tls_session_cache_new(size_t bytes) {
    swiftlet_tls_session_cache *cache = malloc(sizeof *cache + bytes);
    if (cache) br_ssl_session_cache_lru_init(&cache->lru, cache->store, bytes);
    return cache;
}

void swiftlet_tls_session_cache_free(swiftlet_tls_session_cache *cache) { free(cache); }

/* ---- Server engine ---------------------------------------------------------------------- */

struct swiftlet_tls_server {
    br_ssl_server_context context;
    /* Full-size records both ways: any client may send 16 KiB records; ours fill TCP segments. */
    unsigned char input[BR_SSL_BUFSIZE_INPUT];
    unsigned char output[BR_SSL_BUFSIZE_OUTPUT];
};

/* TLS 1.2, forward-secret key exchange, AEAD only: what every current browser and curl offer
 * first. No RSA key exchange, no CBC, no SHA-1 MACs. */
static const uint16_t ec_suites[] = {
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
};
static const uint16_t rsa_suites[] = {
    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
};
static const char *alpn_names[] = { "http/1.1" };

size_t swiftlet_tls_server_footprint(void) { return sizeof(swiftlet_tls_server); }

swiftlet_tls_server *swiftlet_tls_server_new(const swiftlet_tls_credentials *credentials,
                                             swiftlet_tls_session_cache *cache,
                                             const void *seed, size_t seed_length) {
    swiftlet_tls_server *server = malloc(sizeof *server);
    if (!server) return NULL;
    br_ssl_server_context *context = &server->context;
    br_ssl_engine_context *engine = &context->eng;
    br_ssl_server_zero(context);
    br_ssl_engine_set_versions(engine, BR_TLS12, BR_TLS12);
    /* The client's preference order among these (browsers know best whether they have AES-NI). */
    int ec = br_skey_decoder_key_type(&credentials->key) == BR_KEYTYPE_EC;
    br_ssl_engine_set_suites(engine, ec ? ec_suites : rsa_suites, 3);
    /* Hashes for handshake transcripts and for the signature the client asks for. */
    br_ssl_engine_set_hash(engine, br_sha1_ID, &br_sha1_vtable);
    br_ssl_engine_set_hash(engine, br_sha224_ID, &br_sha224_vtable);
    br_ssl_engine_set_hash(engine, br_sha256_ID, &br_sha256_vtable);
    br_ssl_engine_set_hash(engine, br_sha384_ID, &br_sha384_vtable);
    br_ssl_engine_set_hash(engine, br_sha512_ID, &br_sha512_vtable);
    br_ssl_engine_set_prf_sha256(engine, &br_tls12_sha256_prf);
    br_ssl_engine_set_prf_sha384(engine, &br_tls12_sha384_prf);
    br_ssl_engine_set_default_aes_gcm(engine);
    br_ssl_engine_set_default_chapol(engine);
    br_ssl_engine_set_default_ec(engine);
    if (ec) {
        br_ssl_server_set_single_ec(context, credentials->chain, credentials->chain_count,
                                    br_skey_decoder_get_ec(&credentials->key), BR_KEYTYPE_SIGN, BR_KEYTYPE_EC,
                                    br_ec_get_default(), br_ecdsa_sign_asn1_get_default());
    } else {
        br_ssl_server_set_single_rsa(context, credentials->chain, credentials->chain_count,
                                     br_skey_decoder_get_rsa(&credentials->key), BR_KEYTYPE_SIGN,
                                     br_rsa_private_get_default(), br_rsa_pkcs1_sign_get_default());
    }
    br_ssl_engine_set_buffers_bidi(engine, server->input, sizeof server->input, server->output, sizeof server->output);
    br_ssl_engine_set_protocol_names(engine, alpn_names, 1);
    br_ssl_engine_add_flags(engine, BR_OPT_NO_RENEGOTIATION);
    if (cache) br_ssl_server_set_cache(context, &cache->lru.vtable);
    br_ssl_engine_inject_entropy(engine, seed, seed_length);
    if (!br_ssl_server_reset(context)) {
        free(server);
        return NULL;
    }
    return server;
}

void swiftlet_tls_server_free(swiftlet_tls_server *server) {
    if (!server) return;
    memset(server, 0, sizeof server->context);   /* keys and secrets */
    free(server);
}

br_ssl_engine_context *swiftlet_tls_server_engine(swiftlet_tls_server *server) { return &server->context.eng; }
