// The floor: a server that does only what no implementation of authd's verification routes can
// leave out, so that authd's server CPU per operation can be set against the least this machine
// spends on the same exchange. It answers enough of authd's API for bench/loadgen's
// webauthn-login, totp-verify, yubiotp-verify and ykval-verify scenarios (their set-up
// included) and, per measured operation, does:
//
//   webauthn-login   options: 32 random bytes for the challenge, the user's key found in memory;
//                    verify: the three response fields found in the body, SHA-256 of the client
//                    data, one signature verification with the key kept parsed, the signature
//                    counter compared in memory, one ES256 access token (random jti) signed
//   totp-verify      the user's secret found in memory, the code compared with the current step's
//                    and, failing that, its neighbours' (HMAC-SHA1 each), the step compared in
//                    memory, one ES256
//                    access token signed
//   yubiotp-verify   the OTP decrypted (AES-128, CRC) with the key found in memory, the counters
//                    compared in memory, one ES256 access token signed
//   ykval-verify     the request's HMAC-SHA1 checked, the OTP as above, the answer signed
//
// and for each verification, one record appended to a file and made durable (fdatasync) before
// the answer, with concurrent verifications sharing one fdatasync (group commit on a writer
// thread that sends their answers, as authd does). Each connection has its own thread, as in
// authd. Nothing is checked that does not cost (the challenge, the origin, the client data's
// shape, audit records, storage of anything but the one record): it is a lower bound, not a
// server. Keys registered during set-up are parsed with authd's own WebAuthn code, outside the
// measured window.
//
//   floor_server --port 8090 --log /tmp/floor.log --ykval-key BASE64 [--sqlite off|on|read]
//   floor_server --port 8090 --population COPY_OF_POPULATED_DB
//
// --sqlite on keeps the records in an SQLite database at --log instead, as a store would: WAL,
// synchronous=FULL, per verification the subject's counter advanced (an upsert) and the record
// inserted, one transaction per batch; --sqlite read also reads the subject's stored counter in
// a read transaction before each check. Those two measure the least an SQLite store adds.
//
// --population DB serves loadgen's webauthn-login with --spread-users instead: the users and keys
// of an authd database that bench/populate filled (a copy: the floor writes to it), looked up as a
// store must, since a million users' keys do not all stay in memory: per ceremony, the options
// read the user's id and credential ids (one read transaction, two statements), the verification
// reads the credential's public key and counter (one, one), parses the key unless it is among the
// 16,384 last parsed (authd keeps as many; --kept-keys), and its write advances the credential's counter and
// last use in its row beside inserting the record. What no store of those keys can leave out, on
// the very B-trees authd searches; scripts/bench-scale.sh runs it with a thousand and a million.
//
// scripts/bench.sh runs it beside authd under the same generator (docs/PERFORMANCE.md).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "authd/base/crypto.h"
#include "authd/base/encoding.h"
#include "authd/base/json.h"
#include "authd/domain/otp.h"
#include "authd/store/store_vfs.h"
#include "authd/webauthn/attestation.h"
#include "authd/webauthn/cose_key.h"

namespace {

using authd::Bytes;
using authd::ByteView;

// A connection's socket, closed when the last of its thread and its pending answers lets go.
struct Socket {
  explicit Socket(int f) : fd(f) {}
  ~Socket() { close(fd); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd;
};
using SocketPtr = std::shared_ptr<Socket>;

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string Answer(int status, const std::string& body, const char* type = "application/json") {
  const char* reason = status == 200 ? "OK" : status == 201 ? "Created" : status == 404 ? "Not Found" : "Bad Request";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Group commit: records appended by any thread, written and made durable together, then each
// one's answer sent. To a file (one write and one fdatasync per batch), or with --sqlite to an
// SQLite database as a store would keep them (WAL, synchronous=FULL, one transaction per batch:
// per record, the subject's counter advanced and the record inserted).
class Journal {
 public:
  // `population`: the records go into an authd database, each advancing its credential's row.
  Journal(const std::string& path, bool sqlite, bool population = false) : path_(path), population_(population) {
    if (sqlite) {
      if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          population ? authd::store::StoreVfs() : nullptr) != SQLITE_OK ||
          sqlite3_exec(db_,
                       "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                       "CREATE TABLE IF NOT EXISTS state(subject TEXT PRIMARY KEY, counter INTEGER NOT NULL);"
                       "CREATE TABLE IF NOT EXISTS records(id INTEGER PRIMARY KEY, text TEXT NOT NULL);",
                       nullptr, nullptr, nullptr) != SQLITE_OK ||
          sqlite3_prepare_v2(db_,
                             population ? "UPDATE webauthn_credentials SET sign_count = ?2, last_used_at = ?3 "
                                          "WHERE raw_id = ?1 AND (sign_count < ?2 OR ?2 = 0)"
                                        : "INSERT INTO state(subject, counter) VALUES(?1, ?2) ON CONFLICT(subject) "
                                          "DO UPDATE SET counter = excluded.counter WHERE excluded.counter > "
                                          "state.counter",
                             -1, &advance_, nullptr) != SQLITE_OK ||
          sqlite3_prepare_v2(db_, "INSERT INTO records(text) VALUES(?1)", -1, &insert_, nullptr) != SQLITE_OK) {
        std::fprintf(stderr, "floor_server: opening %s: %s\n", path.c_str(), db_ ? sqlite3_errmsg(db_) : "no memory");
        std::exit(1);
      }
    } else {
      fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd_ < 0) {
        std::perror("floor_server: opening the log");
        std::exit(1);
      }
    }
    writer_ = std::thread([this] { Run(); });
  }

  // The subject's counter as stored, read in a transaction of this thread's own connection (with
  // --sqlite read: the read a store makes before it checks), or -1.
  int64_t Read(const std::string& subject) const {
    struct Reader {
      sqlite3* db = nullptr;
      sqlite3_stmt* select = nullptr;
      ~Reader() {
        sqlite3_finalize(select);
        sqlite3_close(db);
      }
    };
    thread_local Reader reader;
    if (!reader.db &&
        (sqlite3_open_v2(path_.c_str(), &reader.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK ||
         sqlite3_prepare_v2(reader.db, "SELECT counter FROM state WHERE subject = ?1", -1, &reader.select, nullptr) !=
             SQLITE_OK)) {
      std::fprintf(stderr, "floor_server: reading %s failed\n", path_.c_str());
      std::exit(1);
    }
    sqlite3_bind_text(reader.select, 1, subject.data(), static_cast<int>(subject.size()), SQLITE_STATIC);
    const int64_t counter = sqlite3_step(reader.select) == SQLITE_ROW ? sqlite3_column_int64(reader.select, 0) : -1;
    sqlite3_reset(reader.select);
    return counter;
  }

  void Append(std::string record, std::string subject, int64_t counter, SocketPtr to, std::string answer) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back({std::move(record), std::move(subject), counter, std::move(to), std::move(answer)});
    }
    cv_.notify_one();
  }

 private:
  struct Pending {
    std::string record, subject;
    int64_t counter;
    SocketPtr to;
    std::string answer;
  };

  void Commit(const std::vector<Pending>& batch, std::string& buffer) {
    if (!db_) {
      buffer.clear();
      for (const auto& p : batch) buffer += p.record;
      if (write(fd_, buffer.data(), buffer.size()) != static_cast<ssize_t>(buffer.size()) || fdatasync(fd_) != 0) {
        std::perror("floor_server: writing the log");
        std::exit(1);
      }
      return;
    }
    bool ok = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
    for (const auto& p : batch) {
      if (population_) {
        sqlite3_bind_blob(advance_, 1, p.subject.data(), static_cast<int>(p.subject.size()), SQLITE_STATIC);
        sqlite3_bind_int64(advance_, 3, static_cast<int64_t>(std::time(nullptr)));
      } else {
        sqlite3_bind_text(advance_, 1, p.subject.data(), static_cast<int>(p.subject.size()), SQLITE_STATIC);
      }
      sqlite3_bind_int64(advance_, 2, p.counter);
      ok = ok && sqlite3_step(advance_) == SQLITE_DONE;
      sqlite3_reset(advance_);
      sqlite3_bind_text(insert_, 1, p.record.data(), static_cast<int>(p.record.size()), SQLITE_STATIC);
      ok = ok && sqlite3_step(insert_) == SQLITE_DONE;
      sqlite3_reset(insert_);
    }
    if (!ok || sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "floor_server: writing %s: %s\n", path_.c_str(), sqlite3_errmsg(db_));
      std::exit(1);
    }
  }

  void Run() {
    std::vector<Pending> batch;
    std::string buffer;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
        queue_.clear();
      }
      Commit(batch, buffer);
      for (const auto& p : batch) SendAll(p.to->fd, p.answer);
      batch.clear();
    }
  }

  const std::string path_;
  const bool population_;
  int fd_ = -1;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* advance_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::thread writer_;
};

// An authd database's users and WebAuthn keys (--population), read as authd's store reads them:
// each thread through its own read-only connection, each lookup in its own read transaction,
// through authd's VFS (store_vfs.h: lasting maps, up to the 256 MiB authd's readers map, and its
// page cache; SQLite's own maps cost more than they save under writes).
class Population {
 public:
  explicit Population(std::string path) : path_(std::move(path)) {}

  // The user's credential ids (raw), or nullopt for an unknown user.
  std::optional<std::vector<Bytes>> CredentialIds(const std::string& username) const {
    Reader& r = Open();
    sqlite3_exec(r.db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_text(r.user, 1, username.data(), static_cast<int>(username.size()), SQLITE_STATIC);
    std::optional<std::vector<Bytes>> out;
    if (sqlite3_step(r.user) == SQLITE_ROW) {
      out.emplace();
      sqlite3_bind_text(r.ids, 1, reinterpret_cast<const char*>(sqlite3_column_text(r.user, 0)),
                        sqlite3_column_bytes(r.user, 0), SQLITE_TRANSIENT);
      while (sqlite3_step(r.ids) == SQLITE_ROW) out->push_back(Column(r.ids, 0));
      sqlite3_reset(r.ids);
    }
    sqlite3_reset(r.user);
    sqlite3_exec(r.db, "COMMIT", nullptr, nullptr, nullptr);
    return out;
  }

  struct Key {
    Bytes cose;
    int64_t sign_count = 0;
    std::string user_id;
  };
  // The credential's stored key and counter, or nullopt.
  std::optional<Key> Credential(const Bytes& raw_id) const {
    Reader& r = Open();
    sqlite3_bind_blob(r.key, 1, raw_id.data(), static_cast<int>(raw_id.size()), SQLITE_STATIC);
    std::optional<Key> out;
    if (sqlite3_step(r.key) == SQLITE_ROW) {
      out = Key{Column(r.key, 0), sqlite3_column_int64(r.key, 1),
                reinterpret_cast<const char*>(sqlite3_column_text(r.key, 2))};
    }
    sqlite3_reset(r.key);
    return out;
  }

 private:
  struct Reader {
    sqlite3* db = nullptr;
    sqlite3_stmt *user = nullptr, *ids = nullptr, *key = nullptr;
    ~Reader() {
      sqlite3_finalize(user);
      sqlite3_finalize(ids);
      sqlite3_finalize(key);
      sqlite3_close(db);
    }
  };
  static Bytes Column(sqlite3_stmt* st, int col) {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st, col));
    return p ? Bytes(p, p + sqlite3_column_bytes(st, col)) : Bytes();
  }
  Reader& Open() const {
    thread_local Reader r;
    if (!r.db &&
        (sqlite3_open_v2(path_.c_str(), &r.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                         authd::store::StoreVfs()) != SQLITE_OK ||
         sqlite3_exec(r.db, "PRAGMA mmap_size=268435456", nullptr, nullptr, nullptr) != SQLITE_OK ||
         sqlite3_prepare_v2(r.db, "SELECT id FROM users WHERE username = ?1", -1, &r.user, nullptr) != SQLITE_OK ||
         sqlite3_prepare_v2(r.db, "SELECT raw_id FROM webauthn_credentials WHERE user_id = ?1", -1, &r.ids,
                            nullptr) != SQLITE_OK ||
         sqlite3_prepare_v2(r.db, "SELECT public_key, sign_count, user_id FROM webauthn_credentials WHERE raw_id = ?1",
                            -1, &r.key, nullptr) != SQLITE_OK)) {
      std::fprintf(stderr, "floor_server: reading %s: %s\n", path_.c_str(), r.db ? sqlite3_errmsg(r.db) : "no memory");
      std::exit(1);
    }
    return r;
  }
  const std::string path_;
};

struct WebAuthnKey {
  authd::webauthn::CosePublicKey key;
  std::atomic<uint32_t> sign_count{0};
  std::string user, id;  // id: the credential id, base64url
};

struct TotpSecret {
  Bytes secret;
  std::mutex mu;
  int64_t last_step = -1;
};

struct YubiKey {
  Bytes aes_key, private_id;
  std::string user;
  std::mutex mu;
  uint32_t last = 0;  // useCtr << 8 | sessionCtr of the last OTP accepted
};

class Floor {
 public:
  // `population`: an authd database whose users log in (webauthn-login --spread-users), at most
  // `kept_keys` of its keys kept parsed; empty: none.
  Floor(const std::string& log, bool sqlite, bool read, Bytes ykval_key, const std::string& population = {},
        size_t kept_keys = 16384)
      : journal_(population.empty() ? log : population, sqlite || !population.empty(), !population.empty()),
        population_(population.empty() ? nullptr : std::make_unique<Population>(population)),
        kept_keys_(std::max<size_t>(kept_keys, 1)),
        read_(sqlite && read),
        token_key_(authd::SigningKey::Generate(authd::JwsAlg::kES256)),
        ykval_key_(std::move(ykval_key)) {}

  // One request; an empty result means the answer was handed to the journal.
  std::string Handle(const std::string& method, const std::string& target, const std::string& body,
                     const SocketPtr& sock) {
    if (method == "POST" && target == "/v1/webauthn/authentication/options") return Options(body);
    if (method == "POST" && target == "/v1/webauthn/authentication/verify") return Verify(body, sock);
    if (method == "POST" && target == "/v1/totp/verify") return Totp(body, sock);
    if (method == "POST" && target == "/v1/yubiotp/verify") return YubiOtp(Field(body, "otp"), sock);
    if (method == "GET" && target.rfind("/wsapi/2.0/verify?", 0) == 0) return Ykval(target.substr(18), sock);
    // Set-up, outside the measured window.
    if (method == "GET" && target == "/healthz") return Answer(200, "{\"status\":\"ok\"}");
    if (method == "POST" && target == "/v1/admin/users") return Answer(201, "{}");
    if (method == "POST" && target.find("/enrollment-codes") != std::string::npos) {
      return Answer(201, "{\"enrollment_code\":\"floor\"}");
    }
    if (method == "POST" && target == "/v1/totp/enrollment") return TotpEnrollment(body);
    if (method == "POST" && target == "/v1/totp/enrollment/confirm") return Answer(201, "{}");
    if (method == "POST" && target == "/v1/webauthn/registration/options") return RegistrationOptions(body);
    if (method == "POST" && target == "/v1/webauthn/registration/verify") return RegistrationVerify(body);
    if (method == "POST" && target.rfind("/v1/admin/users/", 0) == 0 && target.find("/yubiotp") != std::string::npos) {
      return RegisterYubiKey(target.substr(16, target.find('/', 16) - 16), body);
    }
    return Answer(404, "{}");
  }

 private:
  // The string value of "name" in a flat scan of a JSON body (no escapes in the values sought).
  static std::string Field(const std::string& body, const std::string& name) {
    const std::string key = "\"" + name + "\":\"";
    const size_t at = body.find(key);
    if (at == std::string::npos) return {};
    const size_t from = at + key.size();
    const size_t to = body.find('"', from);
    return to == std::string::npos ? std::string() : body.substr(from, to - from);
  }

  std::string Token(const std::string& user) {
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    const std::string payload = "{\"iss\":\"http://localhost:8090\",\"sub\":\"" + user +
                                "\",\"aud\":\"floor\",\"iat\":" + std::to_string(now) +
                                ",\"exp\":" + std::to_string(now + 300) + ",\"jti\":\"" + authd::RandomId(16) + "\"}";
    static const std::string header =
        authd::Base64UrlEncode(authd::AsBytes("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"f\"}"));
    const std::string input = header + "." + authd::Base64UrlEncode(authd::AsBytes(payload));
    return input + "." + authd::Base64UrlEncode(token_key_.Sign(authd::AsBytes(input)));
  }

  std::string TokenAnswer(const std::string& token) {
    return Answer(200, "{\"access_token\":\"" + token + "\",\"token_type\":\"Bearer\",\"expires_in\":300}");
  }

  // The entry of `map` under `key`, or null; the maps change only during set-up.
  template <typename T>
  std::shared_ptr<T> Find(const std::unordered_map<std::string, std::shared_ptr<T>>& map, const std::string& key) {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = map.find(key);
    return it == map.end() ? nullptr : it->second;
  }

  std::string Options(const std::string& body) {
    const std::string user = Field(body, "username");
    if (population_) return PopulationOptions(user);
    auto key = Find(user_keys_, user);
    if (!key) return Answer(400, "{\"code\":\"unknown_user\"}");
    const std::string challenge = authd::Base64UrlEncode(authd::RandomBytes(32));
    return Answer(200, "{\"ceremony\":\"" + user + "\",\"publicKey\":{\"challenge\":\"" + challenge +
                           "\",\"rpId\":\"localhost\",\"allowCredentials\":[{\"type\":\"public-key\",\"id\":\"" +
                           key->id + "\"}]}}");
  }

  std::string Verify(const std::string& body, const SocketPtr& sock) {
    const auto raw_id = authd::Base64UrlDecode(Field(body, "rawId"));
    const auto client_data = authd::Base64UrlDecode(Field(body, "clientDataJSON"));
    const auto auth_data = authd::Base64UrlDecode(Field(body, "authenticatorData"));
    const auto signature = authd::Base64UrlDecode(Field(body, "signature"));
    if (!raw_id || !client_data || !auth_data || !signature || auth_data->size() < 37) {
      return Answer(400, "{\"code\":\"malformed\"}");
    }
    if (population_) return PopulationVerify(*raw_id, *client_data, *auth_data, *signature, sock);
    const auto key = Find(keys_, std::string(raw_id->begin(), raw_id->end()));
    if (!key) return Answer(400, "{\"code\":\"unknown_credential\"}");
    if (read_) journal_.Read(key->id);
    Bytes signed_data = *auth_data;
    const Bytes hash = authd::Sha256(*client_data);
    signed_data.insert(signed_data.end(), hash.begin(), hash.end());
    if (!authd::webauthn::VerifySignature(key->key, signed_data, *signature)) {
      return Answer(400, "{\"code\":\"signature_invalid\"}");
    }
    const uint32_t count = (uint32_t{(*auth_data)[33]} << 24) | (uint32_t{(*auth_data)[34]} << 16) |
                           (uint32_t{(*auth_data)[35]} << 8) | uint32_t{(*auth_data)[36]};
    uint32_t seen = key->sign_count.load();
    while (count != 0 && (count > seen) && !key->sign_count.compare_exchange_weak(seen, count)) {
    }
    if (count != 0 && count <= seen) return Answer(400, "{\"code\":\"counter\"}");
    const std::string token = Token(key->user);
    journal_.Append("login " + key->user + " " + std::to_string(count) + " " + token.substr(token.size() - 16) + "\n",
                    key->id, count, sock, TokenAnswer(token));
    return {};
  }

  std::string PopulationOptions(const std::string& user) {
    const auto ids = population_->CredentialIds(user);
    if (!ids || ids->empty()) return Answer(400, "{\"code\":\"unknown_user\"}");
    std::string allowed;
    for (const Bytes& id : *ids) {
      allowed += std::string(allowed.empty() ? "" : ",") + "{\"type\":\"public-key\",\"id\":\"" +
                 authd::Base64UrlEncode(id) + "\"}";
    }
    const std::string challenge = authd::Base64UrlEncode(authd::RandomBytes(32));
    return Answer(200, "{\"ceremony\":\"" + user + "\",\"publicKey\":{\"challenge\":\"" + challenge +
                           "\",\"rpId\":\"localhost\",\"allowCredentials\":[" + allowed + "]}}");
  }

  // The key parsed from its stored COSE form, kept among the last kept_keys_ parsed.
  std::shared_ptr<const authd::webauthn::CosePublicKey> ParsedKey(const Bytes& raw_id, const Bytes& cose) {
    const std::string id(raw_id.begin(), raw_id.end());
    {
      std::lock_guard<std::mutex> lock(kept_mu_);
      auto it = kept_.find(id);
      if (it != kept_.end()) return it->second;
    }
    auto parsed = authd::webauthn::ParseCoseKey(cose);
    if (!parsed || !authd::webauthn::PrepareVerifier(*parsed)) return nullptr;
    auto key = std::make_shared<const authd::webauthn::CosePublicKey>(std::move(*parsed));
    std::shared_ptr<const authd::webauthn::CosePublicKey> evicted;  // freed after the lock
    std::lock_guard<std::mutex> lock(kept_mu_);
    if (kept_.size() >= kept_keys_) {
      evicted = std::move(kept_.begin()->second);
      kept_.erase(kept_.begin());
    }
    kept_[id] = key;
    return key;
  }

  std::string PopulationVerify(const Bytes& raw_id, const Bytes& client_data, const Bytes& auth_data,
                               const Bytes& signature, const SocketPtr& sock) {
    const auto stored = population_->Credential(raw_id);
    if (!stored) return Answer(400, "{\"code\":\"unknown_credential\"}");
    const auto key = ParsedKey(raw_id, stored->cose);
    if (!key) return Answer(400, "{\"code\":\"bad_key\"}");
    Bytes signed_data = auth_data;
    const Bytes hash = authd::Sha256(client_data);
    signed_data.insert(signed_data.end(), hash.begin(), hash.end());
    if (!authd::webauthn::VerifySignature(*key, signed_data, signature)) {
      return Answer(400, "{\"code\":\"signature_invalid\"}");
    }
    const uint32_t count = (uint32_t{auth_data[33]} << 24) | (uint32_t{auth_data[34]} << 16) |
                           (uint32_t{auth_data[35]} << 8) | uint32_t{auth_data[36]};
    // Zero on both sides: a key without a counter; otherwise it must move forward.
    if ((count != 0 || stored->sign_count != 0) && count <= stored->sign_count) {
      return Answer(400, "{\"code\":\"counter\"}");
    }
    const std::string token = Token(stored->user_id);
    journal_.Append("login " + stored->user_id + " " + std::to_string(count) + " " + token.substr(token.size() - 16) +
                        "\n",
                    std::string(raw_id.begin(), raw_id.end()), count, sock, TokenAnswer(token));
    return {};
  }

  struct AcceptedOtp {
    std::string user, public_id;
    uint32_t counter = 0;
  };
  // The OTP checked against its key's AES key and counters.
  std::optional<AcceptedOtp> CheckOtp(const std::string& otp) {
    auto parts = authd::domain::otp::SplitYubiOtp(otp);
    if (!parts) return {};
    const auto key = Find(yubikeys_, parts->public_id);
    if (!key) return std::nullopt;
    if (read_) journal_.Read(parts->public_id);
    auto token = authd::domain::otp::DecryptYubiOtp(parts->ciphertext, key->aes_key, key->private_id);
    if (!token) return std::nullopt;
    const uint32_t counter = (uint32_t{token->use_counter} << 8) | token->session_counter;
    std::lock_guard<std::mutex> lock(key->mu);
    if (counter <= key->last) return std::nullopt;
    key->last = counter;
    return AcceptedOtp{key->user, parts->public_id, counter};
  }

  std::string YubiOtp(const std::string& otp, const SocketPtr& sock) {
    const auto accepted = CheckOtp(otp);
    if (!accepted) return Answer(400, "{\"code\":\"otp_invalid\"}");
    const std::string token = Token(accepted->user);
    journal_.Append("yubiotp " + otp + "\n", accepted->public_id, accepted->counter, sock, TokenAnswer(token));
    return {};
  }

  std::string Totp(const std::string& body, const SocketPtr& sock) {
    const std::string user = Field(body, "username"), code = Field(body, "code");
    const auto secret = Find(totp_, user);
    if (!secret) return Answer(400, "{\"code\":\"otp_invalid\"}");
    if (read_) journal_.Read(user);
    const int64_t now = static_cast<int64_t>(std::time(nullptr)) / 30;
    // The current step first, then its neighbours, stopping at the first match: the fewest HMACs.
    int64_t matched = -1;
    for (int64_t step : {now, now - 1, now + 1}) {
      const std::string expected =
          authd::domain::otp::Hotp(secret->secret, static_cast<uint64_t>(step), authd::domain::otp::HashAlg::kSha1, 6);
      if (authd::SafeEquals(authd::AsBytes(expected), authd::AsBytes(code))) {
        matched = step;
        break;
      }
    }
    {
      std::lock_guard<std::mutex> lock(secret->mu);
      if (matched <= secret->last_step) return Answer(400, "{\"code\":\"otp_invalid\"}");
      secret->last_step = matched;
    }
    const std::string token = Token(user);
    journal_.Append("totp " + user + " " + std::to_string(matched) + "\n", user, matched, sock, TokenAnswer(token));
    return {};
  }

  std::string TotpEnrollment(const std::string& body) {
    auto secret = std::make_shared<TotpSecret>();
    secret->secret = authd::RandomBytes(20);
    const std::string user = Field(body, "username");
    const std::string encoded = authd::Base32Encode(secret->secret);
    std::unique_lock<std::shared_mutex> lock(mu_);
    totp_[user] = secret;
    return Answer(200, "{\"enrollment\":\"" + user + "\",\"secret\":\"" + encoded + "\"}");
  }

  static std::string UrlDecode(const std::string& in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '%' && i + 2 < in.size()) {
        out += static_cast<char>(std::strtol(in.substr(i + 1, 2).c_str(), nullptr, 16));
        i += 2;
      } else {
        out += in[i];
      }
    }
    return out;
  }

  std::string Ykval(const std::string& query, const SocketPtr& sock) {
    std::map<std::string, std::string> params;
    size_t start = 0;
    while (start <= query.size()) {
      const size_t amp = std::min(query.find('&', start), query.size());
      const size_t eq = query.find('=', start);
      if (eq != std::string::npos && eq < amp)
        params[query.substr(start, eq - start)] = UrlDecode(query.substr(eq + 1, amp - eq - 1));
      start = amp + 1;
    }
    const std::string h = params["h"];
    params.erase("h");
    const std::string expected = authd::domain::otp::YkvalSignature(params, ykval_key_);
    std::map<std::string, std::string> fields = {
        {"otp", params["otp"]}, {"nonce", params["nonce"]}, {"t", std::to_string(std::time(nullptr))}};
    std::optional<AcceptedOtp> accepted;
    if (expected == h) accepted = CheckOtp(params["otp"]);
    fields["status"] = expected != h ? "BAD_SIGNATURE" : accepted ? "OK" : "BAD_OTP";
    std::string text = "h=" + authd::domain::otp::YkvalSignature(fields, ykval_key_) + "\r\n";
    for (const auto& [k, v] : fields) text += k + "=" + v + "\r\n";
    text += "\r\n";
    std::string answer = Answer(200, text, "text/plain");
    if (fields["status"] != "OK") return answer;
    journal_.Append("ykval " + params["otp"] + "\n", accepted->public_id, accepted->counter, sock, std::move(answer));
    return {};
  }

  std::string RegistrationOptions(const std::string& body) {
    const std::string user = Field(body, "username");
    return Answer(200, "{\"ceremony\":\"" + user + "\",\"publicKey\":{\"challenge\":\"" +
                           authd::Base64UrlEncode(authd::RandomBytes(32)) +
                           "\",\"rp\":{\"id\":\"localhost\",\"name\":\"floor\"}," + "\"user\":{\"id\":\"" +
                           authd::Base64UrlEncode(authd::AsBytes(user)) + "\",\"name\":\"" + user +
                           "\",\"displayName\":\"" + user +
                           "\"},\"pubKeyCredParams\":[{\"type\":\"public-key\",\"alg\":-7}]}}");
  }

  std::string RegistrationVerify(const std::string& body) {
    auto json = authd::ParseJsonStrict(body);
    if (!json) return Answer(400, "{}");
    const std::string user = (*json)["ceremony"].get<std::string>();
    const auto& response = (*json)["credential"]["response"];
    auto attestation = authd::Base64UrlDecode(response["attestationObject"].get<std::string>());
    if (!attestation) return Answer(400, "{}");
    auto parsed = authd::webauthn::ParseAttestationObject(*attestation);
    if (!parsed || !parsed->auth_data.attested) return Answer(400, "{}");
    auto cose = authd::webauthn::ParseCoseKey(parsed->auth_data.attested->cose_key);
    if (!cose || !authd::webauthn::PrepareVerifier(*cose)) return Answer(400, "{}");
    auto key = std::make_shared<WebAuthnKey>();
    key->key = std::move(*cose);
    key->user = user;
    const Bytes& id = parsed->auth_data.attested->credential_id;
    key->id = authd::Base64UrlEncode(id);
    std::unique_lock<std::shared_mutex> lock(mu_);
    keys_[std::string(id.begin(), id.end())] = key;
    user_keys_[user] = key;
    return Answer(201, "{}");
  }

  std::string RegisterYubiKey(const std::string& user, const std::string& body) {
    auto key = std::make_shared<YubiKey>();
    auto aes = authd::HexDecode(Field(body, "aes_key"));
    auto private_id = authd::HexDecode(Field(body, "private_id"));
    if (!aes || !private_id) return Answer(400, "{}");
    key->aes_key = *aes;
    key->private_id = *private_id;
    key->user = user;
    std::unique_lock<std::shared_mutex> lock(mu_);
    yubikeys_[Field(body, "public_id")] = key;
    return Answer(201, "{}");
  }

  Journal journal_;
  const std::unique_ptr<Population> population_;
  size_t kept_keys_ = 16384;  // as many as authd keeps by default
  std::mutex kept_mu_;
  std::unordered_map<std::string, std::shared_ptr<const authd::webauthn::CosePublicKey>> kept_;
  const bool read_;  // each verification reads its subject's stored counter first
  authd::SigningKey token_key_;
  Bytes ykval_key_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<WebAuthnKey>> keys_;
  std::unordered_map<std::string, std::shared_ptr<WebAuthnKey>> user_keys_;
  std::unordered_map<std::string, std::shared_ptr<YubiKey>> yubikeys_;
  std::unordered_map<std::string, std::shared_ptr<TotpSecret>> totp_;
};

// One connection: requests read in turn (Content-Length bodies), each answered at once or by the
// journal after its record is durable.
void Serve(Floor& floor, SocketPtr sock) {
  std::string buf;
  char tmp[16384];
  while (true) {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = recv(sock->fd, tmp, sizeof tmp, 0);
      if (n <= 0 || buf.size() > (1u << 16)) return;
      buf.append(tmp, static_cast<size_t>(n));
    }
    size_t length = 0;
    const size_t cl = buf.find("Content-Length: ");
    if (cl != std::string::npos && cl < head_end) length = std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
    if (length > (1u << 20)) return;  // not loadgen's: end the connection
    while (buf.size() < head_end + 4 + length) {
      const ssize_t n = recv(sock->fd, tmp, sizeof tmp, 0);
      if (n <= 0) return;
      buf.append(tmp, static_cast<size_t>(n));
    }
    const size_t sp1 = buf.find(' ');
    const size_t sp2 = buf.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos || sp2 > head_end) return;
    const std::string answer =
        floor.Handle(buf.substr(0, sp1), buf.substr(sp1 + 1, sp2 - sp1 - 1), buf.substr(head_end + 4, length), sock);
    buf.erase(0, head_end + 4 + length);
    if (!answer.empty()) SendAll(sock->fd, answer);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 8090;
  std::string log = "floor.log", population;
  size_t kept_keys = 16384;
  bool sqlite = false, read = false;
  Bytes ykval_key(20, 0);
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--port")
      port = std::atoi(v.c_str());
    else if (a == "--log")
      log = v;
    else if (a == "--sqlite") {
      sqlite = v == "on" || v == "read";
      read = v == "read";
    } else if (a == "--population") {
      population = v;
    } else if (a == "--kept-keys") {
      kept_keys = std::strtoul(v.c_str(), nullptr, 10);
    } else if (a == "--ykval-key")
      ykval_key = authd::Base64Decode(v).value_or(ykval_key);
    else {
      std::fprintf(stderr,
                   "usage: floor_server [--port 8090] [--log FILE] [--sqlite off|on|read] [--ykval-key BASE64] "
                   "[--population DB [--kept-keys 16384]]\n");
      return 2;
    }
  }
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 128) != 0) {
    std::perror("floor_server: listening");
    return 1;
  }
  Floor floor(log, sqlite, read, std::move(ykval_key), population, kept_keys);
  std::fprintf(stderr, "floor_server: listening on 127.0.0.1:%d, records in %s\n", port,
               population.empty() ? log.c_str() : population.c_str());
  while (true) {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([&floor, sock = std::make_shared<Socket>(fd)] { Serve(floor, sock); }).detach();
  }
}
