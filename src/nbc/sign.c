/* sign.c: signed bytecode and key files (sign.h).  libsodium does the cryptography
 * (crypto_sign_*: Ed25519); this file only frames it.  The signature covers the header
 * (with the signed flag set) and the payload, so no byte of a signed file can change
 * without nd_nbc_signature seeing it: the header and payload are signed, and the trailer
 * holds the key the signature is checked against.
 */
#include "nbc/sign.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "common/outfile.h"
#include "nbc/nbc.h"
#include "nbc/opinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_TAG "noodle-sign-key 1 "
#define PUB_TAG "noodle-sign-pub 1 "

static nd_status sodium_up(void)
{
    if (sodium_init() < 0) return nd_err_set(ND_EINTERNAL, "libsodium cannot start");
    return ND_OK;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) out[2 * i] = digits[b[i] >> 4], out[2 * i + 1] = digits[b[i] & 15];
    out[2 * n] = '\0';
}

static bool unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return false;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

void nd_sign_id(const uint8_t pk[32], char out[ND_SIGN_ID_LEN + 1])
{
    uint8_t sha[32];
    nd_sha256_buf(pk, 32, sha);
    hex(sha, ND_SIGN_ID_LEN / 2, out);
}

/* Creates path exclusively with mode and writes text; never replaces a file. */
static nd_status write_new(const char *path, const char *text, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST)
        return nd_err_set(ND_EUSAGE, "'%s' exists: a key is never replaced (remove it first)", path);
    if (fd < 0) return nd_err_set(ND_EUSAGE, "cannot create '%s': %s", path, strerror(errno));
    size_t n = strlen(text);
    bool ok = fchmod(fd, mode) == 0 && write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        unlink(path);
        return nd_err_set(ND_EIO, "cannot write '%s': %s", path, strerror(errno));
    }
    return ND_OK;
}

nd_status nd_sign_gen_key(const char *name)
{
    ND_TRY(sodium_up());
    ND_CHECK(*name && strlen(name) < 4000, ND_EUSAGE, "--gen-key needs a key name");
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    char path[4100], text[4300], h[129];
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    hex(sk, 64, h);
    snprintf(text, sizeof text, "%s%s\n", KEY_TAG, h);
    sodium_memzero(sk, sizeof sk);
    snprintf(path, sizeof path, "%s.key", name);
    nd_status st = write_new(path, text, 0600);
    sodium_memzero(text, sizeof text);
    sodium_memzero(h, sizeof h);
    if (st != ND_OK) return st;
    hex(pk, 32, h);
    snprintf(text, sizeof text, "%s%s %s\n", PUB_TAG, h, base);
    snprintf(path, sizeof path, "%s.pub", name);
    unsigned um = (unsigned)umask(0);
    umask((mode_t)um);
    st = write_new(path, text, 0644 & ~um);
    if (st != ND_OK) {
        snprintf(path, sizeof path, "%s.key", name);
        unlink(path);
    }
    return st;
}

/* Reads a key file of at most 4 KiB into buf (NUL-terminated); *mode := its mode. */
static nd_status read_key_file(const char *path, char *buf, size_t cap, unsigned *mode)
{
    int fd = nd_open_regular(path, O_RDONLY, 0);
    if (fd < 0) {
        if (errno == EINVAL) return nd_err_set(ND_EUSAGE, "key file '%s' is not a regular file", path);
        return nd_err_set(ND_EUSAGE, "cannot read key file '%s': %s", path, strerror(errno));
    }
    struct stat sb;
    nd_status st = ND_OK;
    if (fstat(fd, &sb) != 0) st = nd_err_set(ND_EUSAGE, "cannot read key file '%s': %s", path, strerror(errno));
    *mode = st == ND_OK ? (unsigned)(sb.st_mode & 0777) : 0;
    ssize_t n = st == ND_OK ? read(fd, buf, cap - 1) : 0;
    close(fd);
    if (st == ND_OK && n < 0) st = nd_err_set(ND_EUSAGE, "cannot read key file '%s': %s", path, strerror(errno));
    if (st == ND_OK && (size_t)n >= cap - 1) st = nd_err_set(ND_EUSAGE, "key file '%s' is too large for a key", path);
    if (st == ND_OK) buf[n] = '\0';
    return st;
}

/* Parses "TAG<2n hex digits>" and an optional rest (a name) into out. */
static bool parse_key(const char *text, const char *tag, size_t n, uint8_t *out)
{
    size_t tl = strlen(tag);
    if (strncmp(text, tag, tl) != 0) return false;
    const char *h = text + tl;
    size_t digits = strspn(h, "0123456789abcdef");
    if (digits != 2 * n) return false;
    char end = h[2 * n];
    if (end != '\n' && end != ' ' && end != '\0') return false;
    return unhex(h, n, out);
}

nd_status nd_sign_load_secret(const char *path, uint8_t sk[64])
{
    char buf[4096];
    unsigned mode;
    ND_TRY(read_key_file(path, buf, sizeof buf, &mode));
    bool ok = parse_key(buf, KEY_TAG, 64, sk);
    bool pub = !ok && strncmp(buf, PUB_TAG, strlen(PUB_TAG)) == 0;
    sodium_memzero(buf, sizeof buf);
    if (pub) return nd_err_set(ND_EUSAGE, "'%s' is a public key: signing needs the secret key (NAME.key)", path);
    ND_CHECK(ok, ND_EUSAGE, "'%s' is not a Noodle secret key (noodlec --gen-key writes one)", path);
    if (mode & 077) {
        sodium_memzero(sk, 64);
        return nd_err_set(ND_EUSAGE, "secret key '%s' is readable by others (mode %03o): chmod 600 it",
                          path, mode);
    }
    /* the public half must be the one the seed gives: a corrupted key file signs nothing */
    uint8_t pk[32];
    ND_TRY(sodium_up());
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    uint8_t seed[32], pk2[32], sk2[64];
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    crypto_sign_seed_keypair(pk2, sk2, seed);
    bool same = memcmp(pk, pk2, 32) == 0;
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk2, sizeof sk2);
    ND_CHECK(same, ND_EUSAGE, "secret key '%s' is damaged (its two halves disagree)", path);
    return ND_OK;
}

nd_status nd_sign_load_public(const char *path, uint8_t pk[32])
{
    char buf[4096];
    unsigned mode;
    ND_TRY(read_key_file(path, buf, sizeof buf, &mode));
    if (parse_key(buf, PUB_TAG, 32, pk)) return ND_OK;
    if (strncmp(buf, KEY_TAG, strlen(KEY_TAG)) == 0) {
        sodium_memzero(buf, sizeof buf);
        return nd_err_set(ND_EUSAGE, "'%s' is a secret key: trust the public one (NAME.pub)", path);
    }
    return nd_err_set(ND_EUSAGE, "'%s' is not a Noodle public key (noodlec --gen-key writes one)", path);
}

/* The length of the unsigned part of nbc (header and payload); 0 when nbc is not a
 * .nbc whose sizes add up. */
static size_t body_len(const uint8_t *b, size_t len, bool *is_signed)
{
    *is_signed = false;
    if (len < NBC_HEADER_SIZE || !nd_nbc_is_nbc(b, len)) return 0;
    uint32_t flags = 0;
    uint64_t plen = 0;
    for (int i = 0; i < 4; i++) flags |= (uint32_t)b[12 + i] << (8 * i);
    for (int i = 0; i < 8; i++) plen |= (uint64_t)b[NBC_OFF_PAYLOAD_LEN + i] << (8 * i);
    if (plen > len - NBC_HEADER_SIZE) return 0;
    *is_signed = (flags & ND_NBC_FLAG_SIGNED) != 0;
    return NBC_HEADER_SIZE + (size_t)plen;
}

nd_status nd_nbc_sign(const void *nbc, size_t len, const uint8_t sk[64], nd_strbuf *out)
{
    ND_TRY(sodium_up());
    bool was;
    size_t n = body_len(nbc, len, &was);
    ND_CHECK(n > 0 && (len == n || (was && len == n + ND_NBC_SIG_LEN)), ND_EINVALID,
             "not a bytecode file that can be signed");
    out->len = 0;
    ND_TRY(nd_sb_append(out, nbc, n));
    out->data[12] |= (char)ND_NBC_FLAG_SIGNED; /* flags, low byte */
    uint8_t pk[32], sig[64];
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    crypto_sign_detached(sig, NULL, (const uint8_t *)out->data, n, sk);
    ND_TRY(nd_sb_append(out, ND_NBC_SIG_MAGIC, 8));
    ND_TRY(nd_sb_append(out, pk, 32));
    return nd_sb_append(out, sig, 64);
}

nd_sig_state nd_nbc_signature(const void *nbc, size_t len, uint8_t pk[32])
{
    const uint8_t *b = nbc;
    bool is_signed;
    size_t n = body_len(b, len, &is_signed);
    if (!is_signed) return ND_SIG_NONE;
    if (n == 0 || len != n + ND_NBC_SIG_LEN || memcmp(b + n, ND_NBC_SIG_MAGIC, 8) != 0 ||
        sodium_up() != ND_OK)
        return ND_SIG_INVALID;
    memcpy(pk, b + n + 8, 32);
    return crypto_sign_verify_detached(b + n + 40, b, n, pk) == 0 ? ND_SIG_VALID : ND_SIG_INVALID;
}

nd_status nd_sign_check(const void *nbc, size_t len, const char *what, const char *keys,
                        bool require, char signer[ND_SIGN_ID_LEN + 1])
{
    signer[0] = '\0';
    /* every trusted key is read first: a bad key file is an error even for unsigned code */
    uint8_t (*trusted)[32] = NULL;
    size_t ntrusted = 0, cap = 0;
    nd_status st = ND_OK;
    for (const char *p = keys ? keys : ""; st == ND_OK && *p;) {
        size_t n = strcspn(p, ":");
        if (n > 0) {
            char path[4096];
            if (n >= sizeof path) st = nd_err_set(ND_EUSAGE, "security.trust: a path is too long");
            if (st == ND_OK && ntrusted == cap) {
                size_t nc = cap ? 2 * cap : 4;
                uint8_t(*t)[32] = nd_realloc(trusted, cap * 32, nc * 32);
                if (!t) st = ND_ENOMEM;
                else trusted = t, cap = nc;
            }
            if (st == ND_OK) {
                memcpy(path, p, n);
                path[n] = '\0';
                st = nd_sign_load_public(path, trusted[ntrusted]);
                if (st == ND_OK) ntrusted++;
            }
        }
        p += n;
        if (*p == ':') p++;
    }
    if (st == ND_OK && require && ntrusted == 0)
        st = nd_err_set(ND_EUSAGE, "security.require_signed needs the keys to trust "
                        "(security.trust or --trust KEY.pub)");
    uint8_t pk[32];
    nd_sig_state s = st == ND_OK ? nd_nbc_signature(nbc, len, pk) : ND_SIG_NONE;
    if (st == ND_OK && s == ND_SIG_INVALID)
        st = nd_err_set(ND_EINVALID, "%s: the signature does not match: the file was changed after "
                        "it was signed", what);
    if (st == ND_OK && s == ND_SIG_VALID) nd_sign_id(pk, signer);
    if (st == ND_OK && require && s == ND_SIG_NONE)
        st = nd_err_set(ND_EINVALID, "%s is not signed (security.require_signed): sign it with "
                        "noodlec --sign KEY.key", what);
    if (st == ND_OK && require && s == ND_SIG_VALID) {
        bool ok = false;
        for (size_t k = 0; k < ntrusted && !ok; k++) ok = memcmp(trusted[k], pk, 32) == 0;
        if (!ok)
            st = nd_err_set(ND_EINVALID, "%s is signed by key %s, which is not trusted "
                            "(security.trust)", what, signer);
    }
    if (trusted) nd_free(trusted, cap * 32);
    return st;
}
