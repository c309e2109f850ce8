/* sign.h: signed bytecode (docs/security.md "Signed bytecode").  Ed25519 through
 * libsodium.  A signed .nbc is the unsigned file with header flag bit 1 set, followed by
 * a trailer of ND_NBC_SIG_LEN bytes: the magic "NDSIG\0\0\1", the signer's 32-byte public
 * key and the 64-byte signature of every byte before the trailer.  The reader accepts
 * the trailer and ignores it; whether a signature is valid and trusted is decided here,
 * by noodle-run (rank 0) before it broadcasts the program.  Rank-local.
 *
 * Key files are text.  NAME.key (mode 0600): "noodle-sign-key 1 <128 hex digits>\n", the
 * 64-byte libsodium secret key (seed and public key).  NAME.pub: "noodle-sign-pub 1 <64
 * hex digits> NAME\n".  A signer is named by the first 16 hex digits of the SHA-256 of
 * its public key (nd_sign_id).
 */
#ifndef ND_NBC_SIGN_H
#define ND_NBC_SIGN_H

#include "common/nd.h"
#include "common/strbuf.h"

#define ND_NBC_FLAG_SIGNED 2u
#define ND_NBC_SIG_MAGIC "NDSIG\0\0\1"
#define ND_NBC_SIG_LEN (8u + 32u + 64u)
#define ND_SIGN_ID_LEN 16

/* Writes NAME.key (mode 0600) and NAME.pub; refuses to replace either (ND_EUSAGE). */
nd_status nd_sign_gen_key(const char *name);
/* Reads a secret key file (ND_EUSAGE naming it: missing, unreadable, readable by
 * others, not a secret key, a key of the wrong size). */
nd_status nd_sign_load_secret(const char *path, uint8_t sk[64]);
/* Reads a public key file (the same errors). */
nd_status nd_sign_load_public(const char *path, uint8_t pk[32]);
/* out := the id of pk: 16 hex digits and a NUL. */
void nd_sign_id(const uint8_t pk[32], char out[ND_SIGN_ID_LEN + 1]);

/* out := nbc (a .nbc, signed or not: an old signature is replaced) signed with sk. */
nd_status nd_nbc_sign(const void *nbc, size_t len, const uint8_t sk[64], nd_strbuf *out);

typedef enum nd_sig_state {
    ND_SIG_NONE,    /* not signed */
    ND_SIG_VALID,   /* signed, and the signature matches the key in the trailer */
    ND_SIG_INVALID  /* signed, but the bytes or the trailer were changed */
} nd_sig_state;
/* What nbc's signature says; *pk := the key in the trailer when signed. */
nd_sig_state nd_nbc_signature(const void *nbc, size_t len, uint8_t pk[32]);

/* The policy of noodle-run (security.trust, security.require_signed): keys (':'-separated
 * public key files; "" none) are loaded, then the bytes are checked.  ND_EUSAGE for a bad
 * key file; ND_EINVALID (exit 3) for a tampered file, or, when required, one that is not
 * signed or signed by a key not trusted; what names the program in messages.  signer :=
 * the signer's id when the signature is valid (trusted or not), else "". */
nd_status nd_sign_check(const void *nbc, size_t len, const char *what, const char *keys,
                        bool require, char signer[ND_SIGN_ID_LEN + 1]);

#endif
