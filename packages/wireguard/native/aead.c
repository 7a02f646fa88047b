/*
 * l3kit_wireguard_aead: ChaCha20-Poly1305 (RFC 8439) for WireGuard transport data, through the
 * OpenSSL EVP API that the Node binary itself exports (no OpenSSL of our own is linked).
 *
 * - newKey(key[, uses])                  -> handle: a 32-byte key, set up once in an
 *                                           EVP_CIPHER_CTX per direction it is used for (uses:
 *                                           1 seal, 2 open, 3 both, the default); an external
 *                                           with a finalizer that wipes and frees them
 * - release(handle)                      wipes and frees at once (idempotent)
 * - seal(handle, ctrLo, ctrHi, buf, off, len)
 *     encrypts buf[off, off+len) in place and writes the 16-byte tag at buf[off+len]; the nonce
 *     is WireGuard's: 4 zero bytes, then the 64-bit counter little-endian
 * - open(handle, ctrLo, ctrHi, buf, off, len[, dst, dstOff]) -> boolean
 *     checks the tag at buf[off+len] and decrypts buf[off, off+len) in place, or into
 *     dst[dstOff, dstOff+len) when dst is given (buf is then only read); false for a bad tag, and
 *     then buf is left as it was (in place: the ciphertext is restored) and dst is zeroed, so no
 *     unauthenticated plaintext is ever released
 * - sealNonce(handle, nonce12, aad | null, buf, off, len), openNonce(...) -> boolean
 *     the same with an arbitrary 12-byte nonce and additional data (RFC 8439 test vectors,
 *     handshake-style uses)
 *
 * No call allocates: arguments are read with napi_get_typedarray_info / napi_get_value_*, results
 * are the shared undefined / true / false values. Bad data never throws (open returns false);
 * misuse (wrong types, out-of-range offsets, a released handle, a direction the key was not made
 * for) throws a TypeError or RangeError with a `code`: ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE,
 * ERR_AEAD_RELEASED, ERR_AEAD_DIRECTION, ERR_AEAD_OPENSSL.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16

/* Type tag of our key handles (napi_type_tag_object), so a foreign external is refused. */
static const napi_type_tag KEY_TAG = {0x6c336b6974616561ULL, 0x6477672d6b657931ULL};

#define USE_SEAL 1
#define USE_OPEN 2

typedef struct {
  EVP_CIPHER_CTX *seal; /* NULL when not made for sealing */
  EVP_CIPHER_CTX *open; /* NULL when not made for opening */
  bool released;
} aead_key;

static void key_free(aead_key *k) {
  /* EVP_CIPHER_CTX_free wipes the cipher state (key schedule included) before freeing it. */
  if (k->seal) EVP_CIPHER_CTX_free(k->seal);
  if (k->open) EVP_CIPHER_CTX_free(k->open);
  k->seal = k->open = NULL;
  k->released = true;
}

static void key_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_key *k = data;
  key_free(k);
  free(k);
}

static napi_value fail(napi_env env, bool range, const char *code, const char *msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    if (range)
      napi_throw_range_error(env, code, msg);
    else
      napi_throw_type_error(env, code, msg);
  }
  return NULL;
}

#define TYPE_ERROR(msg) fail(env, false, "ERR_INVALID_ARG_TYPE", msg)
#define RANGE_ERROR(msg) fail(env, true, "ERR_OUT_OF_RANGE", msg)

/* A Uint8Array (or Buffer) argument: its bytes and length. 0 and a pending TypeError otherwise. */
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    TYPE_ERROR(what);
    return 0;
  }
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    TYPE_ERROR(what);
    return 0;
  }
  *data = p;
  return 1;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) { /* not a number */
    TYPE_ERROR(what);
    return 0;
  }
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    RANGE_ERROR(what);
    return 0;
  }
  *out = (uint32_t)d;
  return 1;
}

static aead_key *get_key(napi_env env, napi_value v) {
  bool ok = false;
  napi_valuetype t;
  /* Only our externals carry KEY_TAG. (The typeof test first: the tag check would convert a
   * primitive to an object, and throw for null / undefined.) */
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &KEY_TAG, &ok) != napi_ok || !ok) {
    TYPE_ERROR("handle must be a key handle from newKey()");
    return NULL;
  }
  void *p = NULL;
  napi_get_value_external(env, v, &p);
  aead_key *k = p;
  if (k->released) {
    fail(env, false, "ERR_AEAD_RELEASED", "the key handle was released");
    return NULL;
  }
  return k;
}

/* buf, off, len with off + len + 16 <= buf.length. */
static uint8_t *get_region(napi_env env, napi_value *argv, size_t *len_out) {
  uint8_t *buf;
  size_t buf_len;
  uint32_t off, len;
  if (!get_bytes(env, argv[0], &buf, &buf_len, "buf must be a Uint8Array")) return NULL;
  if (!get_u32(env, argv[1], &off, "off must be an integer in 0..2^32-1")) return NULL;
  if (!get_u32(env, argv[2], &len, "len must be an integer in 0..2^32-1")) return NULL;
  if ((uint64_t)off + len + TAG_LEN > buf_len) {
    RANGE_ERROR("buf is too short: need off + len + 16 bytes (the tag follows the data)");
    return NULL;
  }
  if (len > INT32_MAX - TAG_LEN) {
    RANGE_ERROR("len is too large");
    return NULL;
  }
  *len_out = len;
  /* A zero-length Uint8Array may have a NULL data pointer; off + 16 <= 0 is refused above. */
  return buf + off;
}

static napi_value value_bool(napi_env env, bool b) {
  napi_value r;
  napi_get_boolean(env, b, &r);
  return r;
}

/*
 * One AEAD operation on p[0, len) with the tag at p[len]; the result goes to out[0, len) (out == p:
 * in place; the seal tag always goes to p[len]). Returns 1 on success, 0 for a bad tag (open),
 * -1 for an OpenSSL failure.
 */
static int crypt(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                 uint8_t *p, size_t len, uint8_t *out) {
  int n = 0;
  uint8_t tag[TAG_LEN];
  if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc) != 1) return -1;
  if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) return -1;
  if (!enc) {
    memcpy(tag, p + len, TAG_LEN);
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) != 1) return -1;
  }
  if (len > 0 && EVP_CipherUpdate(ctx, out, &n, p, (int)len) != 1) return -1;
  /* The AEAD has no buffered block: Final writes nothing, it computes (seal) or checks the tag. */
  if (EVP_CipherFinal_ex(ctx, tag, &n) != 1) {
    if (enc) return -1;
    if (out != p) {
      OPENSSL_cleanse(out, len);
      return 0;
    }
    /* Bad tag in place: undo the keystream so the caller's bytes are exactly as they were. */
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) != 1) return -1;
    if (len > 0 && EVP_CipherUpdate(ctx, p, &n, p, (int)len) != 1) return -1;
    return 0;
  }
  if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, p + len) != 1) return -1;
  return 1;
}

/* The optional (dst, dstOff) of open: dst[dstOff, dstOff+len) must not partly overlap buf's data. */
static int get_dst(napi_env env, size_t argc, napi_value *argv, uint8_t *p, size_t len, uint8_t **out) {
  *out = p;
  if (argc < 2) return 1;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t == napi_undefined) return 1;
  uint8_t *dst;
  size_t dst_len;
  uint32_t off;
  if (!get_bytes(env, argv[0], &dst, &dst_len, "dst must be a Uint8Array")) return 0;
  if (!get_u32(env, argv[1], &off, "dstOff must be an integer in 0..2^32-1")) return 0;
  if ((uint64_t)off + len > dst_len) {
    RANGE_ERROR("dst is too short: need dstOff + len bytes");
    return 0;
  }
  if (len == 0) return 1;
  dst += off;
  if (dst != p && dst < p + len && p < dst + len) {
    RANGE_ERROR("dst overlaps buf partially (use the same offset to decrypt in place)");
    return 0;
  }
  *out = dst;
  return 1;
}

static napi_value openssl_error(napi_env env) {
  return fail(env, false, "ERR_AEAD_OPENSSL", "OpenSSL ChaCha20-Poly1305 failed");
}

/* A ChaCha20-Poly1305 context keyed with `key` for one direction (enc: 1 seal, 0 open), or NULL. */
static EVP_CIPHER_CTX *keyed_ctx(const uint8_t *key, int enc) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return NULL;
  if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
      EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* newKey(key: Uint8Array(32), uses = 3) -> handle */
static napi_value NewKey(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) return TYPE_ERROR("newKey(key) needs a 32-byte Uint8Array");
  uint8_t *key;
  size_t key_len;
  if (!get_bytes(env, argv[0], &key, &key_len, "key must be a Uint8Array")) return NULL;
  if (key_len != KEY_LEN) return RANGE_ERROR("key must be 32 bytes");
  uint32_t uses = USE_SEAL | USE_OPEN;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  if (t != napi_undefined && !get_u32(env, argv[1], &uses, "uses must be 1 (seal), 2 (open) or 3 (both)"))
    return NULL;
  if (uses < 1 || uses > 3) return RANGE_ERROR("uses must be 1 (seal), 2 (open) or 3 (both)");
  aead_key *k = calloc(1, sizeof *k);
  if (!k) return fail(env, false, "ERR_AEAD_OPENSSL", "out of memory");
  if (uses & USE_SEAL) k->seal = keyed_ctx(key, 1);
  if (uses & USE_OPEN) k->open = keyed_ctx(key, 0);
  if (((uses & USE_SEAL) && !k->seal) || ((uses & USE_OPEN) && !k->open)) {
    key_free(k);
    free(k);
    return openssl_error(env);
  }
  napi_value handle;
  if (napi_create_external(env, k, key_finalize, NULL, &handle) != napi_ok) {
    key_free(k);
    free(k);
    return fail(env, false, "ERR_AEAD_OPENSSL", "cannot create the key handle");
  }
  napi_type_tag_object(env, handle, &KEY_TAG);
  return handle;
}

/* release(handle): wipes and frees the cipher state now; later calls with it throw. */
static napi_value Release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  bool ok = false;
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, argv[0], &KEY_TAG, &ok) != napi_ok || !ok)
    return TYPE_ERROR("handle must be a key handle from newKey()");
  void *p = NULL;
  napi_get_value_external(env, argv[0], &p);
  key_free(p);
  return NULL;
}

/* The common start of seal / open: at least `want` arguments (*argc on entry: how many to read),
 * the first a live key handle. NULL with a pending exception otherwise. */
static aead_key *begin(napi_env env, napi_callback_info info, size_t want, size_t *argc, napi_value *argv,
                       const char *usage) {
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (*argc < want) {
    TYPE_ERROR(usage);
    return NULL;
  }
  return get_key(env, argv[0]);
}

/* Runs one operation; the JS result is undefined (seal) or whether the tag matched (open). */
static napi_value run(napi_env env, aead_key *k, int enc, const uint8_t *nonce, const uint8_t *aad,
                      size_t aad_len, uint8_t *p, size_t len, uint8_t *out) {
  EVP_CIPHER_CTX *ctx = enc ? k->seal : k->open;
  if (!ctx)
    return fail(env, false, "ERR_AEAD_DIRECTION",
                enc ? "this key handle was made for open only" : "this key handle was made for seal only");
  int r = crypt(ctx, enc, nonce, aad, aad_len, p, len, out);
  if (r < 0) return openssl_error(env);
  return enc ? NULL : value_bool(env, r == 1);
}

/* seal/open(handle, ctrLo, ctrHi, buf, off, len[, dst, dstOff]) with the WireGuard nonce. */
static napi_value counter_op(napi_env env, napi_callback_info info, int enc) {
  size_t argc = 8;
  napi_value argv[8];
  aead_key *k = begin(env, info, 6, &argc, argv, "expected (handle, counterLo, counterHi, buf, off, len)");
  if (!k) return NULL;
  uint32_t lo, hi;
  if (!get_u32(env, argv[1], &lo, "counterLo must be an integer in 0..2^32-1")) return NULL;
  if (!get_u32(env, argv[2], &hi, "counterHi must be an integer in 0..2^32-1")) return NULL;
  size_t len;
  uint8_t *p = get_region(env, argv + 3, &len);
  if (!p) return NULL;
  uint8_t nonce[NONCE_LEN] = {0};
  for (int i = 0; i < 4; i++) {
    nonce[4 + i] = (uint8_t)(lo >> (8 * i));
    nonce[8 + i] = (uint8_t)(hi >> (8 * i));
  }
  uint8_t *out = p;
  if (!enc && !get_dst(env, argc - 6, argv + 6, p, len, &out)) return NULL;
  return run(env, k, enc, nonce, NULL, 0, p, len, out);
}

static napi_value Seal(napi_env env, napi_callback_info info) {
  return counter_op(env, info, 1);
}

static napi_value Open(napi_env env, napi_callback_info info) {
  return counter_op(env, info, 0);
}

/* sealNonce/openNonce(handle, nonce12, aad | null, buf, off, len). */
static napi_value nonce_op(napi_env env, napi_callback_info info, int enc) {
  size_t argc = 6;
  napi_value argv[6];
  aead_key *k = begin(env, info, 6, &argc, argv, "expected (handle, nonce, aad, buf, off, len)");
  if (!k) return NULL;
  uint8_t *nonce, *aad = NULL;
  size_t nonce_len, aad_len = 0;
  if (!get_bytes(env, argv[1], &nonce, &nonce_len, "nonce must be a Uint8Array")) return NULL;
  if (nonce_len != NONCE_LEN) return RANGE_ERROR("nonce must be 12 bytes");
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_null && t != napi_undefined) {
    if (!get_bytes(env, argv[2], &aad, &aad_len, "aad must be a Uint8Array or null")) return NULL;
    if (aad_len > INT32_MAX) return RANGE_ERROR("aad is too large");
  }
  size_t len;
  uint8_t *p = get_region(env, argv + 3, &len);
  if (!p) return NULL;
  return run(env, k, enc, nonce, aad, aad_len, p, len, p);
}

static napi_value SealNonce(napi_env env, napi_callback_info info) {
  return nonce_op(env, info, 1);
}

static napi_value OpenNonce(napi_env env, napi_callback_info info) {
  return nonce_op(env, info, 0);
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"newKey", NULL, NewKey, NULL, NULL, NULL, napi_enumerable, NULL},
      {"release", NULL, Release, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, Seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealNonce", NULL, SealNonce, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openNonce", NULL, OpenNonce, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
