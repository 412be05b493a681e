#include "authd/webauthn/cose_key.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "authd/base/openssl_ptr.h"
#include "authd/webauthn/cbor.h"

namespace authd::webauthn {
namespace {

constexpr int64_t kKty = 1, kAlg = 3, kCrvOrN = -1, kXOrE = -2, kY = -3, kD = -4;
constexpr int64_t kKtyOkp = 1, kKtyEc2 = 2, kKtyRsa = 3;

Error Invalid(std::string why) { return Err(ErrorCode::kInvalidPublicKey, std::move(why)); }

struct Curve {
  int64_t crv;
  int64_t alg;
  const char* name;
  size_t coord;
  int nid;
};
constexpr Curve kCurves[] = {{1, cose::kES256, "P-256", 32, NID_X9_62_prime256v1},
                             {2, cose::kES384, "P-384", 48, NID_secp384r1},
                             {3, cose::kES512, "P-521", 66, NID_secp521r1}};

// The point must be on the curve (and not the point at infinity). The NIST curves have cofactor
// 1, so every such point has the group's order: the full check's extra scalar multiplication by
// the order (about as costly as a signature verification) proves nothing more.
Status CheckPublicQuick(EVP_PKEY* key) {
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) {
    return Invalid("the public key is not valid (point not on the curve?)");
  }
  return Ok();
}

Result<EvpPkeyPtr> FromData(const char* type, OSSL_PARAM* params) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return Invalid("the public key does not load");
  }
  EvpPkeyPtr key(raw);
  AUTHD_RETURN_IF_ERROR(CheckPublicQuick(key.get()));
  return key;
}

Result<EvpPkeyPtr> EcFromParams(const Curve& curve, ByteView point) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return Invalid("EC2 key could not be built");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  return FromData("EC", params.get());
}

// A public key on the curve (its generator), built once per curve. Copying it and setting the
// point costs a quarter of loading a key from parameters, which builds the curve's group from its
// name each time; most logins are a credential's first in a while, so each loads its key.
EVP_PKEY* EcTemplate(const Curve& curve) {
  auto build = [](const Curve& c) -> EVP_PKEY* {
    EcGroupPtr group(EC_GROUP_new_by_curve_name(c.nid));
    if (!group) return nullptr;
    Bytes g(1 + 2 * c.coord);
    if (EC_POINT_point2oct(group.get(), EC_GROUP_get0_generator(group.get()), POINT_CONVERSION_UNCOMPRESSED, g.data(),
                           g.size(), nullptr) != g.size()) {
      return nullptr;
    }
    auto key = EcFromParams(c, g);
    return key ? std::move(key).value().release() : nullptr;
  };
  static EVP_PKEY* const templates[] = {build(kCurves[0]), build(kCurves[1]), build(kCurves[2])};
  return templates[&curve - kCurves];
}

Result<EvpPkeyPtr> Ec2Key(const cbor_item_t* map, int64_t alg) {
  auto crv = CborInt(MapFind(map, kCrvOrN));
  auto x = CborBytes(MapFind(map, kXOrE));
  auto y = CborBytes(MapFind(map, kY));
  if (!crv || !x || !y) return Invalid("EC2 key needs crv, x and y");
  const Curve* curve = nullptr;
  for (const auto& c : kCurves) {
    if (c.crv == *crv) curve = &c;
  }
  if (!curve) return Invalid("unsupported EC2 curve");
  if (curve->alg != alg) return Invalid("the curve does not match the algorithm");
  if (x->size() != curve->coord || y->size() != curve->coord) return Invalid("EC2 coordinates have the wrong size");
  Bytes point;
  point.reserve(1 + 2 * curve->coord);
  point.push_back(0x04);
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  if (EVP_PKEY* tmpl = EcTemplate(*curve)) {
    EvpPkeyPtr key(EVP_PKEY_dup(tmpl));
    if (!key || EVP_PKEY_set1_encoded_public_key(key.get(), point.data(), point.size()) != 1) {
      return Invalid("the public key does not load (point not on the curve?)");
    }
    AUTHD_RETURN_IF_ERROR(CheckPublicQuick(key.get()));
    return key;
  }
  return EcFromParams(*curve, point);
}

Result<EvpPkeyPtr> OkpKey(const cbor_item_t* map, int64_t alg) {
  auto crv = CborInt(MapFind(map, kCrvOrN));
  auto x = CborBytes(MapFind(map, kXOrE));
  if (alg != cose::kEdDSA) return Invalid("OKP keys are used with EdDSA only");
  if (!crv || *crv != 6) return Invalid("only the Ed25519 OKP curve is supported");
  if (!x || x->size() != 32) return Invalid("Ed25519 key must be 32 bytes");
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x->data(), x->size());
  if (!raw) return Invalid("Ed25519 key does not load");
  return EvpPkeyPtr(raw);
}

Result<EvpPkeyPtr> RsaKey(const cbor_item_t* map, int64_t alg) {
  if (alg != cose::kRS256 && alg != cose::kPS256) return Invalid("RSA keys are used with RS256 or PS256 only");
  auto n = CborBytes(MapFind(map, kCrvOrN));
  auto e = CborBytes(MapFind(map, kXOrE));
  if (!n || !e || n->empty() || e->empty() || e->size() > 8) return Invalid("RSA key needs n and e");
  if ((*n)[0] == 0) return Invalid("RSA modulus has a leading zero");
  if (n->size() * 8 < 2048 || n->size() > 1024) return Invalid("RSA modulus must be 2048 to 8192 bits");
  BignumPtr bn_n(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
  BignumPtr bn_e(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
  if (!bn_n || !bn_e || !BN_is_odd(bn_e.get()) || BN_cmp(bn_e.get(), BN_value_one()) <= 0) {
    return Invalid("RSA exponent must be odd and greater than 1");
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return Invalid("RSA key could not be built");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  return FromData("RSA", params.get());
}

const EVP_MD* DigestFor(int64_t alg) {
  switch (alg) {
    case cose::kES256:
    case cose::kRS256:
    case cose::kPS256:
      return EVP_sha256();
    case cose::kES384:
      return EVP_sha384();
    case cose::kES512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

// Appends a CBOR header (major type, argument) in shortest form.
void Header(Bytes& out, uint8_t major, uint64_t v) {
  uint8_t m = static_cast<uint8_t>(major << 5);
  if (v < 24) {
    out.push_back(static_cast<uint8_t>(m | v));
  } else if (v <= 0xff) {
    out.push_back(m | 24);
    out.push_back(static_cast<uint8_t>(v));
  } else if (v <= 0xffff) {
    out.push_back(m | 25);
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
  } else {
    out.push_back(m | 26);
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  }
}
void Int(Bytes& out, int64_t v) {
  if (v >= 0) Header(out, 0, static_cast<uint64_t>(v));
  else Header(out, 1, static_cast<uint64_t>(-1 - v));
}
void Bstr(Bytes& out, ByteView b) {
  Header(out, 2, b.size());
  out.insert(out.end(), b.begin(), b.end());
}

Bytes BnBytes(EVP_PKEY* key, const char* name, size_t pad) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
  BignumPtr owned(bn);
  size_t n = pad ? pad : static_cast<size_t>(BN_num_bytes(bn));
  Bytes out(n);
  if (BN_bn2binpad(bn, out.data(), static_cast<int>(n)) < 0) return {};
  return out;
}

}  // namespace

Result<CosePublicKey> ParseCoseKey(ByteView cbor) {
  AUTHD_ASSIGN_OR_RETURN(CborDecoded decoded, DecodeCbor(cbor, false, CborLimits{4096, 1, 16}));
  const cbor_item_t* map = decoded.item.get();
  if (!cbor_isa_map(map)) return Invalid("COSE key is not a map");
  // Every label must be an integer (COSE_Key labels in use here are all ints).
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    if (!CborInt(cbor_map_handle(map)[i].key)) return Invalid("COSE key has a non-integer label");
  }
  if (MapFind(map, kD)) return Invalid("COSE key contains private key material");
  auto alg = CborInt(MapFind(map, kAlg));
  if (!alg) return Err(ErrorCode::kAlgNotAllowed, "COSE key has no alg");
  if (*alg == cose::kRS1) return Err(ErrorCode::kAlgNotAllowed, "RS1 (SHA-1) is not allowed");
  auto kty = CborInt(MapFind(map, kKty));
  if (!kty) return Invalid("COSE key has no kty");
  CosePublicKey out;
  out.alg = *alg;
  Result<EvpPkeyPtr> key = Invalid("unsupported COSE key type");
  if (*kty == kKtyEc2) {
    if (*alg != cose::kES256 && *alg != cose::kES384 && *alg != cose::kES512) {
      return Err(ErrorCode::kAlgNotAllowed, "EC2 key with an unsupported algorithm");
    }
    key = Ec2Key(map, *alg);
  } else if (*kty == kKtyOkp) {
    key = OkpKey(map, *alg);
  } else if (*kty == kKtyRsa) {
    key = RsaKey(map, *alg);
  }
  if (!key) return key.error();
  out.key = std::move(key).value();
  return out;
}

Result<Bytes> EncodeCoseKey(EVP_PKEY* key, int64_t alg) {
  Bytes out;
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_EC) {
    char group[32] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) != 1) {
      return Invalid("EC key without a group");
    }
    const Curve* curve = nullptr;
    std::string_view g(group, len);
    for (const auto& c : kCurves) {
      if ((g == "prime256v1" && c.crv == 1) || (g == "secp384r1" && c.crv == 2) || (g == "secp521r1" && c.crv == 3) ||
          g == c.name) {
        curve = &c;
      }
    }
    if (!curve) return Invalid("unsupported EC group");
    Bytes x = BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_X, curve->coord);
    Bytes y = BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, curve->coord);
    Header(out, 5, 5);
    Int(out, kKty); Int(out, kKtyEc2);
    Int(out, kAlg); Int(out, alg);
    Int(out, kCrvOrN); Int(out, curve->crv);
    Int(out, kXOrE); Bstr(out, x);
    Int(out, kY); Bstr(out, y);
    return out;
  }
  if (id == EVP_PKEY_ED25519) {
    uint8_t x[32];
    size_t len = sizeof(x);
    if (EVP_PKEY_get_raw_public_key(key, x, &len) != 1) return Invalid("Ed25519 key without a public part");
    Header(out, 5, 4);
    Int(out, kKty); Int(out, kKtyOkp);
    Int(out, kAlg); Int(out, alg);
    Int(out, kCrvOrN); Int(out, 6);
    Int(out, kXOrE); Bstr(out, ByteView(x, len));
    return out;
  }
  if (id == EVP_PKEY_RSA) {
    Header(out, 5, 4);
    Int(out, kKty); Int(out, kKtyRsa);
    Int(out, kAlg); Int(out, alg);
    Int(out, kCrvOrN); Bstr(out, BnBytes(key, OSSL_PKEY_PARAM_RSA_N, 0));
    Int(out, kXOrE); Bstr(out, BnBytes(key, OSSL_PKEY_PARAM_RSA_E, 0));
    return out;
  }
  return Invalid("unsupported key type");
}

Result<Bytes> CoseKeyFromRaw(int64_t alg, ByteView raw) {
  Bytes out;
  if (alg == cose::kES256) {
    if (raw.size() == 65 && raw[0] == 0x04) raw = raw.subspan(1);
    if (raw.size() != 64) return Invalid("an ES256 public key is 64 or 65 bytes");
    Header(out, 5, 5);
    Int(out, kKty); Int(out, kKtyEc2);
    Int(out, kAlg); Int(out, alg);
    Int(out, kCrvOrN); Int(out, 1);
    Int(out, kXOrE); Bstr(out, raw.first(32));
    Int(out, kY); Bstr(out, raw.subspan(32));
  } else if (alg == cose::kEdDSA) {
    if (raw.size() != 32) return Invalid("an EdDSA public key is 32 bytes");
    Header(out, 5, 4);
    Int(out, kKty); Int(out, kKtyOkp);
    Int(out, kAlg); Int(out, alg);
    Int(out, kCrvOrN); Int(out, 6);
    Int(out, kXOrE); Bstr(out, raw);
  } else if (alg == cose::kRS256) {
    if (raw.size() != 259) return Invalid("an RS256 public key is 256 bytes of n and 3 of e");
    Header(out, 5, 4);
    Int(out, kKty); Int(out, kKtyRsa);
    Int(out, kAlg); Int(out, alg);
    Int(out, kCrvOrN); Bstr(out, raw.first(256));
    Int(out, kXOrE); Bstr(out, raw.subspan(256));
  } else {
    return Invalid("unsupported algorithm");
  }
  AUTHD_RETURN_IF_ERROR(ParseCoseKey(out));  // on the curve, sizes right
  return out;
}

namespace {

// A context through EVP_DigestVerifyInit for the key's algorithm (PS256: PSS padding, salt the
// digest's length), or nullptr.
EvpMdCtxPtr VerifyContext(const CosePublicKey& key) {
  const EVP_MD* md = key.alg == cose::kEdDSA ? nullptr : DigestFor(key.alg);
  if (!key.key || (key.alg != cose::kEdDSA && !md)) return nullptr;
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key.key.get()) != 1) return nullptr;
  if (key.alg == cose::kPS256 &&
      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return nullptr;
  }
  return ctx;
}

}  // namespace

Status PrepareVerifier(CosePublicKey& key) {
  EvpMdCtxPtr ctx = VerifyContext(key);
  if (!ctx) return Err(ErrorCode::kInvalidPublicKey, "the key cannot verify signatures of its algorithm");
  key.verifier = std::make_shared<const PreparedDigestContext>(std::move(ctx));
  return Ok();
}

Status VerifySignature(const CosePublicKey& key, ByteView data, ByteView signature) {
  auto bad = [] { return Err(ErrorCode::kSignatureInvalid, "the signature does not verify"); };
  if (!key.key || signature.empty() || signature.size() > 1024) return bad();
  const EVP_MD* md = DigestFor(key.alg);
  if (key.alg == cose::kES256 || key.alg == cose::kES384 || key.alg == cose::kES512) {
    // Strict DER: parse, re-encode, and require the same bytes (no BER, no trailing data).
    const unsigned char* p = signature.data();
    EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())));
    if (!sig || p != signature.data() + signature.size()) return bad();
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &der);
    bool same = len == static_cast<int>(signature.size()) && std::equal(signature.begin(), signature.end(), der);
    OPENSSL_free(der);
    if (!same) return bad();
    if (BN_is_zero(ECDSA_SIG_get0_r(sig.get())) || BN_is_zero(ECDSA_SIG_get0_s(sig.get()))) return bad();
  } else if (key.alg == cose::kEdDSA) {
    if (signature.size() != 64) return bad();
  } else if (!md) {
    return bad();
  }
  EvpMdCtxPtr ctx = key.verifier ? key.verifier->Copy() : VerifyContext(key);
  if (!ctx) return bad();
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(), data.size()) != 1) return bad();
  return Ok();
}

}  // namespace authd::webauthn
