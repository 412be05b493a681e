// A software FIDO2 authenticator that speaks CTAPHID: the 64-byte HID reports a USB security key
// exchanges with the host, so libfido2's real code (framing, CBOR, PIN protocol) runs against it
// through fido_dev_set_io_functions. CTAP 2.0 authenticatorGetInfo, MakeCredential (ES256 or
// EdDSA, resident keys, packed self attestation, excludeList), GetAssertion (allowList or
// resident keys, user handle), ClientPIN (protocol 1: set, change, retries, PIN token) and
// Reset; the signature counter and every credential persist in a 0600 JSON file.
//
// It is as strict as a device: frames on another channel, out-of-order continuation frames,
// lengths beyond the message limit, unknown commands and malformed CBOR get the CTAPHID or CTAP2
// error a key would send. It holds private keys in a file, so it is a test and demonstration
// device, never a replacement for a hardware key; authd can refuse it by attestation policy like
// any self-attested key.
#pragma once

#include <fido.h>

#include <deque>
#include <memory>
#include <string>

#include "authd/base/bytes.h"
#include "authd/base/json.h"
#include "authd/base/result.h"

namespace authd::drivers {

class SoftKey {
 public:
  // The AAGUID every soft key reports ("authd softkey").
  static const Bytes& Aaguid();

  // Loads the state file, creating it when it does not exist: a CTAP2 key, or with `u2f_only` a
  // U2F key that speaks only CTAP1 (raw U2F messages in CTAPHID MSG frames, with its own
  // self-signed P-256 attestation certificate), as older keys do. A file keeps its protocol.
  static Result<std::unique_ptr<SoftKey>> Open(const std::string& file, bool u2f_only = false);

  // HID transport: one output report from the host (65 bytes: report id 0, then the 64-byte
  // frame; a bare 64-byte frame is accepted too), and the next input report for the host.
  // Write returns the bytes consumed or -1; Read returns 64 or -1 when nothing is pending.
  int Write(ByteView report);
  int Read(unsigned char* out, size_t len);

  // libfido2 I/O callbacks; fido_dev_open's path is "soft:FILE" (or "soft-u2f:FILE" to create a
  // U2F-only key).
  static const fido_dev_io_t& IoFunctions();

  // The CTAP2 command processor behind the framing: command byte + CBOR in, status + CBOR out.
  Bytes HandleCbor(ByteView request);
  // CTAP1 (FIDO U2F Raw Message Formats), for a U2F-only key: one APDU in, response data and
  // status word out.
  Bytes HandleApdu(ByteView apdu);
  bool u2f_only() const;

  // PIN state, for tests and `authctl` messages.
  bool has_pin() const;
  int pin_retries() const;
  size_t credential_count() const;

 private:
  explicit SoftKey(std::string file, Json state) : file_(std::move(file)), state_(std::move(state)) {}
  Status Save();
  void Reply(const uint8_t cid[4], uint8_t cmd, ByteView payload);
  void ReplyError(const uint8_t cid[4], uint8_t code);
  void Dispatch(const uint8_t cid[4], uint8_t cmd, ByteView payload);

  Bytes GetInfo();
  Bytes MakeCredential(ByteView cbor);
  Bytes GetAssertion(ByteView cbor);
  Bytes ClientPin(ByteView cbor);
  Bytes Reset();
  // UV through the PIN: 0 when `param` (pinAuth over the client data hash) is valid.
  uint8_t CheckPinAuth(const Bytes& param, int64_t protocol, ByteView client_data_hash);
  // The PIN's hash as the platform sent it (encrypted under the shared secret), counted.
  uint8_t CheckPinHash(ByteView shared_secret, ByteView pin_hash_enc);

  std::string file_;
  Json state_;
  // CTAPHID
  uint32_t next_cid_ = 1;
  std::deque<Bytes> outbox_;
  struct Assembly {
    uint8_t cid[4] = {};
    uint8_t cmd = 0;
    size_t expected = 0;
    uint8_t next_seq = 0;
    Bytes data;
    bool active = false;
  } in_;
  // ClientPIN protocol 1
  Bytes key_agreement_private_;  // DER of the authenticator's ECDH key, fresh per power-up
  Bytes pin_token_;
};

}  // namespace authd::drivers
