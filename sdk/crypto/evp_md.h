// Internal to sdk/crypto: BoringSSL's digest for a HashAlgorithm, and the
// check for BoringSSL calls that fail only when memory runs out. Kept out of
// the public headers so that they stay free of OpenSSL types.
#ifndef STOWAWAY_SDK_CRYPTO_EVP_MD_H_
#define STOWAWAY_SDK_CRYPTO_EVP_MD_H_

#include <openssl/digest.h>

#include "sdk/crypto/hash.h"

namespace stow::crypto::internal {

// The EVP_MD of `algorithm`; aborts on a value outside the enum.
const EVP_MD* EvpMd(HashAlgorithm algorithm);

// Aborts, naming `what`, unless `rc` is 1: BoringSSL's digest and HMAC
// functions fail only on allocation failure, which is treated like
// operator new's.
void CheckOk(int rc, const char* what);

}  // namespace stow::crypto::internal

#endif  // STOWAWAY_SDK_CRYPTO_EVP_MD_H_
