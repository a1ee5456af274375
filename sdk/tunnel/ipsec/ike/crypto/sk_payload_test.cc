#include "sdk/tunnel/ipsec/ike/crypto/sk_payload.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sdk/crypto/aead.h"
#include "sdk/tunnel/ipsec/ike/crypto/fragmentation.h"
#include "sdk/tunnel/ipsec/ike/crypto/keys.h"

namespace stow::ike {
namespace {

constexpr EncrAlgorithm kAll[] = {EncrAlgorithm::kAesGcm16With128BitKey,
                                  EncrAlgorithm::kAesGcm16With256BitKey,
                                  EncrAlgorithm::kChaCha20Poly1305};

std::vector<uint8_t> KeyMaterial(EncrAlgorithm encr, uint8_t seed) {
  std::vector<uint8_t> k(EncrKeyMaterialSize(encr));
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(seed + 3 * i);
  return k;
}

// An IKE_AUTH request header (SPIs, Next Payload SK or the given type,
// version 2.0, exchange 35, flags I, Message ID 1), Length left 0.
std::vector<uint8_t> IkeHeader(uint8_t next_payload) {
  std::vector<uint8_t> h = {0x8a, 0x36, 0xe2, 0x3d, 0x5e, 0xde, 0xb5, 0x0f,
                            0x74, 0x0f, 0xdb, 0x12, 0xb4, 0xe2, 0xfa, 0x74,
                            next_payload, 0x20, 35, 0x08, 0, 0, 0, 1,
                            0, 0, 0, 0};
  return h;
}

// Inner payloads: stand-in bytes for IDi | AUTH | ... (content is opaque
// here).
std::vector<uint8_t> Inner(size_t size) {
  std::vector<uint8_t> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = uint8_t(i * 31 + 7);
  return v;
}

// header | [unencrypted N payload] | SK header(next = IDi)
std::vector<uint8_t> MessagePrefix(bool with_unencrypted, size_t* sk_offset) {
  std::vector<uint8_t> m = IkeHeader(with_unencrypted ? 41 : kPayloadTypeSk);
  if (with_unencrypted) {
    // A Notify payload (8 bytes + 4 of data) that precedes SK.
    const uint8_t notify[] = {kPayloadTypeSk, 0, 0, 12, 0, 0, 0x40, 0x00,
                              1, 2, 3, 4};
    m.insert(m.end(), notify, notify + sizeof(notify));
  }
  *sk_offset = m.size();
  const uint8_t sk_header[] = {35, 0, 0, 0};
  m.insert(m.end(), sk_header, sk_header + 4);
  return m;
}

TEST(SkCipherTest, CreateChecksKeySize) {
  for (EncrAlgorithm encr : kAll) {
    std::vector<uint8_t> k = KeyMaterial(encr, 1);
    EXPECT_TRUE(SkCipher::Create(encr, k).ok());
    k.pop_back();
    EXPECT_EQ(SkCipher::Create(encr, k).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// The layout written out from RFC 5282 sections 3 and 5.1 / RFC 7634
// section 4 with the raw AEAD: IV = counter, nonce = salt | IV, AAD = the
// message through the SK header, plaintext = inner | Pad Length 0.
TEST(SkCipherTest, SealMatchesRawAeadConstruction) {
  for (EncrAlgorithm encr : kAll) {
    for (bool unencrypted : {false, true}) {
      SCOPED_TRACE(std::string(EncrName(encr)));
      const std::vector<uint8_t> km = KeyMaterial(encr, 0x40);
      auto cipher = SkCipher::Create(encr, km);
      ASSERT_TRUE(cipher.ok());
      cipher->set_next_iv(0x0102030405060708ull);
      size_t sk_offset = 0;
      std::vector<uint8_t> message = MessagePrefix(unencrypted, &sk_offset);
      const std::vector<uint8_t> inner = Inner(77);
      ASSERT_TRUE(
          cipher->SealMessage(SkKind::kSk, &message, sk_offset, inner)
              .ok());
      ASSERT_EQ(message.size(), sk_offset + 4 + 8 + 77 + 1 + 16);
      EXPECT_EQ(cipher->next_iv(), 0x0102030405060709ull);

      // Lengths filled in.
      const size_t total = message.size();
      EXPECT_EQ(message[24], total >> 24);
      EXPECT_EQ(message[25], (total >> 16) & 0xff);
      EXPECT_EQ(message[26], (total >> 8) & 0xff);
      EXPECT_EQ(message[27], total & 0xff);
      const size_t payload_length = total - sk_offset;
      EXPECT_EQ(message[sk_offset + 2], payload_length >> 8);
      EXPECT_EQ(message[sk_offset + 3], payload_length & 0xff);

      const std::vector<uint8_t> iv = {1, 2, 3, 4, 5, 6, 7, 8};
      EXPECT_EQ(std::vector<uint8_t>(message.begin() + sk_offset + 4,
                                     message.begin() + sk_offset + 12),
                iv);
      std::vector<uint8_t> nonce(km.end() - 4, km.end());
      nonce.insert(nonce.end(), iv.begin(), iv.end());
      auto aead = crypto::Aead::Create(
          EncrAead(encr), absl::MakeConstSpan(km.data(), km.size() - 4));
      ASSERT_TRUE(aead.ok());
      std::vector<uint8_t> plaintext = inner;
      plaintext.push_back(0);
      std::vector<uint8_t> expected(plaintext.size() + 16);
      ASSERT_TRUE(aead->Seal(
          nonce, absl::MakeConstSpan(message.data(), sk_offset + 4), plaintext,
          absl::MakeSpan(expected)));
      EXPECT_EQ(std::vector<uint8_t>(message.begin() + sk_offset + 12,
                                     message.end()),
                expected);
    }
  }
}

TEST(SkCipherTest, RoundTripAllAeadsAndSizes) {
  for (EncrAlgorithm encr : kAll) {
    SCOPED_TRACE(std::string(EncrName(encr)));
    auto ei = SkCipher::Create(encr, KeyMaterial(encr, 1));
    auto ei_peer = SkCipher::Create(encr, KeyMaterial(encr, 1));
    auto er = SkCipher::Create(encr, KeyMaterial(encr, 2));
    ASSERT_TRUE(ei.ok() && ei_peer.ok() && er.ok());
    for (size_t size : {0, 1, 15, 16, 17, 100, 1400, 65506, 65507}) {
      for (bool unencrypted : {false, true}) {
        size_t sk_offset = 0;
        std::vector<uint8_t> message = MessagePrefix(unencrypted, &sk_offset);
        const std::vector<uint8_t> inner = Inner(size);
        absl::Status sealed =
            ei->SealMessage(SkKind::kSk, &message, sk_offset, inner);
        if (size == 65507) {
          // 4 + 8 + 65507 + 1 + 16 > 65535: no room in Payload Length.
          EXPECT_EQ(sealed.code(), absl::StatusCode::kInvalidArgument);
          continue;
        }
        ASSERT_TRUE(sealed.ok()) << sealed;
        auto opened =
            ei_peer->OpenMessage(SkKind::kSk, message, sk_offset);
        ASSERT_TRUE(opened.ok()) << opened.status();
        EXPECT_EQ(*opened, inner);
        // The other direction's key does not open it.
        EXPECT_EQ(
            er->OpenMessage(SkKind::kSk, message, sk_offset)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
      }
    }
  }
}

TEST(SkCipherTest, IvIsUniquePerMessage) {
  auto c = SkCipher::Create(EncrAlgorithm::kAesGcm16With256BitKey,
                            KeyMaterial(EncrAlgorithm::kAesGcm16With256BitKey,
                                        5));
  ASSERT_TRUE(c.ok());
  std::vector<std::vector<uint8_t>> ivs;
  for (int i = 0; i < 5; ++i) {
    size_t off = 0;
    std::vector<uint8_t> m = MessagePrefix(false, &off);
    ASSERT_TRUE(c->SealMessage(SkKind::kSk, &m, off, Inner(10)).ok());
    ivs.emplace_back(m.begin() + off + 4, m.begin() + off + 12);
  }
  for (size_t a = 0; a < ivs.size(); ++a) {
    for (size_t b = a + 1; b < ivs.size(); ++b) EXPECT_NE(ivs[a], ivs[b]);
  }
  EXPECT_EQ(ivs[0], std::vector<uint8_t>({0, 0, 0, 0, 0, 0, 0, 1}));

  // The counter's last value seals; after it the cipher refuses.
  c->set_next_iv(~uint64_t{0});
  size_t off = 0;
  std::vector<uint8_t> m = MessagePrefix(false, &off);
  EXPECT_TRUE(c->SealMessage(SkKind::kSk, &m, off, Inner(3)).ok());
  m = MessagePrefix(false, &off);
  EXPECT_EQ(c->SealMessage(SkKind::kSk, &m, off, Inner(3)).code(),
            absl::StatusCode::kResourceExhausted);
}

// Every byte of the message is covered: the IKE header and the unencrypted
// payload and the SK header (associated data), the IV (nonce), the
// ciphertext and the ICV.
TEST(SkCipherTest, EveryTamperedByteIsRejected) {
  for (EncrAlgorithm encr : kAll) {
    SCOPED_TRACE(std::string(EncrName(encr)));
    auto tx = SkCipher::Create(encr, KeyMaterial(encr, 9));
    auto rx = SkCipher::Create(encr, KeyMaterial(encr, 9));
    ASSERT_TRUE(tx.ok() && rx.ok());
    size_t sk_offset = 0;
    std::vector<uint8_t> message = MessagePrefix(true, &sk_offset);
    ASSERT_TRUE(
        tx->SealMessage(SkKind::kSk, &message, sk_offset, Inner(40))
            .ok());
    ASSERT_TRUE(rx->OpenMessage(SkKind::kSk, message, sk_offset).ok());
    for (size_t i = 0; i < message.size(); ++i) {
      for (uint8_t flip : {0x01, 0x80}) {
        std::vector<uint8_t> bad = message;
        bad[i] ^= flip;
        auto opened = rx->OpenMessage(SkKind::kSk, bad, sk_offset);
        ASSERT_FALSE(opened.ok()) << "byte " << i;
        const bool length_field = (i >= 24 && i < 28) ||
                                  i == sk_offset + 2 || i == sk_offset + 3;
        EXPECT_EQ(opened.status().code(),
                  length_field ? absl::StatusCode::kInvalidArgument
                               : absl::StatusCode::kDataLoss)
            << "byte " << i;
      }
    }
    // Truncated or extended messages never open.
    for (size_t n = 0; n < message.size(); ++n) {
      std::vector<uint8_t> cut(message.begin(), message.begin() + n);
      EXPECT_FALSE(rx->OpenMessage(SkKind::kSk, cut, sk_offset).ok());
    }
    std::vector<uint8_t> longer = message;
    longer.push_back(0);
    EXPECT_FALSE(
        rx->OpenMessage(SkKind::kSk, longer, sk_offset).ok());
    // A wrong offset is refused or fails the ICV, never crashes.
    for (size_t off = 0; off <= message.size() + 2; ++off) {
      if (off == sk_offset) continue;
      EXPECT_FALSE(rx->OpenMessage(SkKind::kSk, message, off).ok());
    }
  }
}

// Seals a chosen plaintext (inner | padding | Pad Length) with the raw AEAD,
// to test how the receiver handles padding.
std::vector<uint8_t> SealRawPlaintext(EncrAlgorithm encr,
                                      const std::vector<uint8_t>& km,
                                      const std::vector<uint8_t>& plaintext,
                                      size_t* sk_offset) {
  std::vector<uint8_t> m = MessagePrefix(false, sk_offset);
  const size_t total = m.size() + 8 + plaintext.size() + 16;
  m[24] = 0;
  m[25] = 0;
  m[26] = uint8_t(total >> 8);
  m[27] = uint8_t(total);
  const size_t payload_length = total - *sk_offset;
  m[*sk_offset + 2] = uint8_t(payload_length >> 8);
  m[*sk_offset + 3] = uint8_t(payload_length);
  const std::vector<uint8_t> iv = {9, 9, 9, 9, 9, 9, 9, 9};
  std::vector<uint8_t> nonce(km.end() - 4, km.end());
  nonce.insert(nonce.end(), iv.begin(), iv.end());
  auto aead = crypto::Aead::Create(
      EncrAead(encr), absl::MakeConstSpan(km.data(), km.size() - 4));
  std::vector<uint8_t> sealed(plaintext.size() + 16);
  EXPECT_TRUE(aead->Seal(nonce, m, plaintext, absl::MakeSpan(sealed)));
  m.insert(m.end(), iv.begin(), iv.end());
  m.insert(m.end(), sealed.begin(), sealed.end());
  return m;
}

TEST(SkCipherTest, AcceptsPeerPaddingRejectsInsanePadLength) {
  for (EncrAlgorithm encr : kAll) {
    SCOPED_TRACE(std::string(EncrName(encr)));
    const std::vector<uint8_t> km = KeyMaterial(encr, 0x77);
    auto rx = SkCipher::Create(encr, km);
    ASSERT_TRUE(rx.ok());
    size_t off = 0;
    // inner (5 bytes) | padding of 3 arbitrary bytes | Pad Length 3.
    std::vector<uint8_t> m = SealRawPlaintext(
        encr, km, {1, 2, 3, 4, 5, 0xaa, 0xbb, 0xcc, 3}, &off);
    auto opened = rx->OpenMessage(SkKind::kSk, m, off);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, std::vector<uint8_t>({1, 2, 3, 4, 5}));
    // Pad Length covering everything but itself: valid, empty inner.
    m = SealRawPlaintext(encr, km, {1, 2, 3, 3}, &off);
    opened = rx->OpenMessage(SkKind::kSk, m, off);
    ASSERT_TRUE(opened.ok());
    EXPECT_TRUE(opened->empty());
    // Pad Length one beyond the plaintext, and 255 with little plaintext.
    for (std::vector<uint8_t> bad :
         {std::vector<uint8_t>{1, 2, 3, 4}, std::vector<uint8_t>{1, 2, 255}}) {
      m = SealRawPlaintext(encr, km, bad, &off);
      EXPECT_EQ(rx->OpenMessage(SkKind::kSk, m, off).status().code(),
                absl::StatusCode::kInvalidArgument);
    }
    // No plaintext at all (not even a Pad Length): too short.
    m = SealRawPlaintext(encr, km, {}, &off);
    EXPECT_EQ(rx->OpenMessage(SkKind::kSk, m, off).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(SkCipherTest, SkfRoundTripAuthenticatesFragmentFields) {
  for (EncrAlgorithm encr : kAll) {
    auto tx = SkCipher::Create(encr, KeyMaterial(encr, 3));
    auto rx = SkCipher::Create(encr, KeyMaterial(encr, 3));
    ASSERT_TRUE(tx.ok() && rx.ok());
    std::vector<uint8_t> m = IkeHeader(kPayloadTypeSkf);
    const size_t off = m.size();
    AppendSkfHeader(35, 2, 3, &m);
    ASSERT_TRUE(tx->SealMessage(SkKind::kSkf, &m, off, Inner(50)).ok());
    auto header = ParseSkfHeader(m, off);
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->fragment_number, 2);
    EXPECT_EQ(header->total_fragments, 3);
    EXPECT_EQ(header->payload_length, m.size() - off);
    auto opened = rx->OpenMessage(SkKind::kSkf, m, off);
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(*opened, Inner(50));
    for (size_t i = off + 4; i < off + 8; ++i) {
      std::vector<uint8_t> bad = m;
      bad[i] ^= 1;
      EXPECT_EQ(rx->OpenMessage(SkKind::kSkf, bad, off)
                    .status()
                    .code(),
                absl::StatusCode::kDataLoss);
    }
    // Opening it as SK puts the fragment fields in the IV: fails.
    EXPECT_FALSE(rx->OpenMessage(SkKind::kSk, m, off).ok());
  }
}

TEST(SkCipherTest, SealMessageRejectsBadLayouts) {
  auto c = SkCipher::Create(EncrAlgorithm::kChaCha20Poly1305,
                            KeyMaterial(EncrAlgorithm::kChaCha20Poly1305, 1));
  ASSERT_TRUE(c.ok());
  size_t off = 0;
  std::vector<uint8_t> m = MessagePrefix(false, &off);
  // Offset inside the IKE header.
  std::vector<uint8_t> short_header(m.begin() + 4, m.end());
  EXPECT_EQ(c->SealMessage(SkKind::kSk, &short_header, 24, Inner(1))
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Bytes after the SK header.
  std::vector<uint8_t> extra = m;
  extra.push_back(0);
  EXPECT_EQ(c->SealMessage(SkKind::kSk, &extra, off, Inner(1)).code(),
            absl::StatusCode::kInvalidArgument);
  // SKF needs 8 header bytes.
  EXPECT_EQ(c->SealMessage(SkKind::kSkf, &m, off, Inner(1)).code(),
            absl::StatusCode::kInvalidArgument);
  // Low level: wrong output size.
  std::vector<uint8_t> out(SkCipher::SealedBodySize(4) + 1);
  EXPECT_EQ(c->SealBody(m, Inner(4), absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  out.pop_back();
  EXPECT_TRUE(c->SealBody(m, Inner(4), absl::MakeSpan(out)).ok());
  auto opened = c->OpenBody(m, out);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, Inner(4));
}

}  // namespace
}  // namespace stow::ike
