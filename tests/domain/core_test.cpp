#include "authd/domain/core.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "authd/base/encoding.h"

#include "domain/fixture.h"

namespace authd::domain {
namespace {

using CoreTest = CoreFixture;

TEST_F(CoreTest, CreatesUsersWithNormalisedNamesAndRefusesDuplicates) {
  User u = MakeUser("Alice", {"auditor"});
  EXPECT_EQ(u.username, "alice");
  EXPECT_EQ(u.roles, std::vector<std::string>{"auditor"});
  EXPECT_EQ(u.id.size(), 22u);
  auto again = core_->CreateUser(Operator(), Ctx(), {"ALICE", "", {}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.code(), ErrorCode::kUserExists);
  EXPECT_EQ(core_->CreateUser(Operator(), Ctx(), {"bad name", "", {}}).code(), ErrorCode::kInvalidUsername);
  EXPECT_EQ(core_->CreateUser(Operator(), Ctx(), {"bob", "", {"superuser"}}).code(), ErrorCode::kInvalidArgument);
}

TEST_F(CoreTest, EnrollerCannotGrantRolesButCanCreatePlainUsers) {
  User enroller = MakeUser("eve", {"enroller"});
  EXPECT_TRUE(core_->CreateUser(As(enroller), Ctx(), {"carol", "", {}}));
  auto escalate = core_->CreateUser(As(enroller), Ctx(), {"mallory", "", {"admin"}});
  ASSERT_FALSE(escalate);
  EXPECT_EQ(escalate.code(), ErrorCode::kForbidden);
  EXPECT_EQ(core_->GetUser("mallory").code(), ErrorCode::kNotFound);
  User auditor = MakeUser("audrey", {"auditor"});
  EXPECT_EQ(core_->CreateUser(As(auditor), Ctx(), {"dave", "", {}}).code(), ErrorCode::kForbidden);
}

TEST_F(CoreTest, ListsUsersInPagesWithQuery) {
  for (const char* n : {"ann", "bob", "bobby", "carl", "dan"}) MakeUser(n);
  auto p1 = core_->ListUsers("", 2, "");
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1->users.size(), 2u);
  EXPECT_EQ(p1->users[0].username, "ann");
  ASSERT_FALSE(p1->next_cursor.empty());
  auto p2 = core_->ListUsers("", 2, p1->next_cursor);
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->users[0].username, "bobby");
  auto q = core_->ListUsers("BOB", 50, "");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->users.size(), 2u);
  EXPECT_TRUE(q->next_cursor.empty());
  EXPECT_FALSE(core_->ListUsers("", 10, "!!!"));
}

TEST_F(CoreTest, EnrollmentCodeIsSingleUseExpiringAndBoundToItsUser) {
  User alice = MakeUser("alice");
  User bob = MakeUser("bob");
  auto code = core_->IssueEnrollmentCode(Ctx(), "alice", 0);
  ASSERT_TRUE(code);
  EXPECT_EQ(code->expires_at, clock_.NowSeconds() + 24 * 3600);
  auto consume = [&](const User& u, const std::string& c) {
    return store_->Write([&](WriteTx& tx) { return core_->ConsumeEnrollmentCode(tx, u, c); });
  };
  EXPECT_EQ(consume(bob, code->code).code(), ErrorCode::kInvalidEnrollmentCode);
  std::string typed = code->code;
  for (char& c : typed) c = static_cast<char>(std::tolower(c));
  EXPECT_TRUE(consume(alice, typed));  // case and dashes as a person types them
  EXPECT_EQ(consume(alice, code->code).code(), ErrorCode::kInvalidEnrollmentCode);

  auto short_lived = core_->IssueEnrollmentCode(Ctx(), "alice", 60);
  ASSERT_TRUE(short_lived);
  clock_.AdvanceSeconds(61);
  EXPECT_EQ(consume(alice, short_lived->code).code(), ErrorCode::kInvalidEnrollmentCode);
  EXPECT_EQ(core_->IssueEnrollmentCode(Ctx(), "alice", 10).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(core_->IssueEnrollmentCode(Ctx(), "nobody", 0).code(), ErrorCode::kNotFound);
}

TEST_F(CoreTest, EnrollmentCodeConsumedAtMostOnceUnderConcurrency) {
  User alice = MakeUser("alice");
  auto code = core_->IssueEnrollmentCode(Ctx(), "alice", 0);
  ASSERT_TRUE(code);
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (store_->Write([&](WriteTx& tx) { return core_->ConsumeEnrollmentCode(tx, alice, code->code); })) ++wins;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

TEST_F(CoreTest, ClientAuthenticationChecksSecretAddressAndScope) {
  auto c = core_->CreateClient(Ctx(), {"app", {"introspect"}, {"10.0.0.0/8"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->client.ykval_id, 1);
  EXPECT_EQ(c->client_secret.size(), 43u);
  const auto& id = c->client.client_id;
  EXPECT_TRUE(core_->AuthenticateClient(id, c->client_secret, "10.2.3.4", "introspect", Ctx()));
  EXPECT_EQ(core_->AuthenticateClient(id, c->client_secret + "x", "10.2.3.4", "introspect", Ctx()).code(),
            ErrorCode::kInvalidClient);
  EXPECT_EQ(core_->AuthenticateClient("c_unknown", c->client_secret, "10.2.3.4", "", Ctx()).code(),
            ErrorCode::kInvalidClient);
  EXPECT_EQ(core_->AuthenticateClient(id, c->client_secret, "127.0.0.1", "introspect", Ctx()).code(),
            ErrorCode::kAddressNotAllowed);
  EXPECT_EQ(core_->AuthenticateClient(id, c->client_secret, "10.2.3.4", "revoke", Ctx()).code(),
            ErrorCode::kInsufficientScope);
  auto second = core_->CreateClient(Ctx(), {"app2", {}, {}});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->client.ykval_id, 2);
  EXPECT_EQ(second->client.scopes.size(), 4u);
  EXPECT_EQ(core_->CreateClient(Ctx(), {"bad", {}, {"999.1.1.1"}}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(core_->CreateClient(Ctx(), {"", {}, {}}).code(), ErrorCode::kInvalidArgument);
}

TEST_F(CoreTest, ClientYkvalKeyIsSealedAtRest) {
  auto c = core_->CreateClient(Ctx(), {"app", {}, {}});
  ASSERT_TRUE(c);
  std::optional<Client> stored;
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(stored, tx.FindClient(c->client.client_id));
    return Ok();
  }));
  ASSERT_TRUE(stored);
  auto opened = keyring_->Open(stored->ykval_key_sealed, "client.ykval_key:" + c->client.client_id);
  ASSERT_TRUE(opened);
  EXPECT_EQ(Base64Encode(opened->view()), c->ykval_key);
  // The plain key and the plain secret are nowhere in the database file.
  std::string file = testing::ReadFile(dir_.File("authd.db")) + testing::ReadFile(dir_.File("authd.db-wal"));
  EXPECT_EQ(file.find(std::string(AsChars(opened->view()))), std::string::npos);
  EXPECT_EQ(file.find(c->client_secret), std::string::npos);
}

TEST_F(CoreTest, DisablingAUserRevokesTokensAndBlocksBearer) {
  User admin = MakeUser("root", {"admin"});
  auto t = core_->IssueOperatorToken(Ctx(), "root");
  ASSERT_TRUE(t);
  auto who = core_->AuthenticateBearer("Bearer " + t->access_token, Ctx());
  ASSERT_TRUE(who);
  EXPECT_EQ(who->user.username, "root");
  EXPECT_TRUE(core_->AuthenticateBearer("bearer " + t->access_token, Ctx()));
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "root", kStatusDisabled));
  EXPECT_EQ(core_->AuthenticateBearer("Bearer " + t->access_token, Ctx()).code(), ErrorCode::kInvalidToken);
  EXPECT_EQ(core_->IssueOperatorToken(Ctx(), "root").code(), ErrorCode::kUserDisabled);
  ASSERT_TRUE(core_->SetUserStatus(Ctx(), "root", kStatusActive));
  // Re-enabling does not bring revoked tokens back (P4).
  EXPECT_FALSE(core_->AuthenticateBearer("Bearer " + t->access_token, Ctx()));
  EXPECT_FALSE(core_->SetUserStatus(Ctx(), "root", "frozen"));
}

TEST_F(CoreTest, BearerRefusesExpiredForeignAudienceAndMalformedTokens) {
  MakeUser("root", {"admin"});
  auto t = core_->IssueOperatorToken(Ctx(), "root");
  ASSERT_TRUE(t);
  EXPECT_FALSE(core_->AuthenticateBearer("Basic " + t->access_token, Ctx()));
  EXPECT_FALSE(core_->AuthenticateBearer("Bearer", Ctx()));
  EXPECT_FALSE(core_->AuthenticateBearer("Bearer " + t->access_token + "x", Ctx()));
  EXPECT_FALSE(core_->AuthenticateBearer("Bearer a.b.c", Ctx()));
  // A token for a downstream client's audience is not an admin credential.
  User root = core_->GetUser("root")->user;
  IssuedToken foreign;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(foreign, core_->tokens().Issue(tx, root, "", "c_app", {"hwk"}, clock_.NowSeconds()));
    return Ok();
  }));
  EXPECT_FALSE(core_->AuthenticateBearer("Bearer " + foreign.access_token, Ctx()));
  clock_.AdvanceSeconds(301);
  EXPECT_FALSE(core_->AuthenticateBearer("Bearer " + t->access_token, Ctx()));
}

TEST_F(CoreTest, RevokingACredentialRevokesItsTokensOnly) {
  User alice = MakeUser("alice");
  Credential key{"cred-1", alice.id, "webauthn", "blue key"};
  Credential other{"cred-2", alice.id, "totp", "phone"};
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    AUTHD_RETURN_IF_ERROR(tx.InsertCredential(key));
    return tx.InsertCredential(other);
  }));
  IssuedToken via_key, via_other;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(via_key, core_->tokens().Issue(tx, alice, "cred-1", "", {"hwk"}, 0));
    AUTHD_ASSIGN_OR_RETURN(via_other, core_->tokens().Issue(tx, alice, "cred-2", "", {"otp"}, 0));
    return Ok();
  }));
  auto client = core_->CreateClient(Ctx(), {"app", {}, {}});
  ASSERT_TRUE(client);
  ASSERT_TRUE(core_->RevokeCredential(Ctx(), "alice", "cred-1"));
  EXPECT_FALSE(core_->Introspect(client->client, via_key.access_token)->active);
  EXPECT_TRUE(core_->Introspect(client->client, via_other.access_token)->active);
  auto view = core_->GetUser("alice");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->credentials[0].status, "revoked");
  EXPECT_EQ(view->credentials[1].status, "active");
  EXPECT_EQ(core_->RevokeCredential(Ctx(), "alice", "nope").code(), ErrorCode::kNotFound);
  User bob = MakeUser("bob");
  EXPECT_EQ(core_->RevokeCredential(Ctx(), "bob", "cred-2").code(), ErrorCode::kNotFound);  // not bob's
}

TEST_F(CoreTest, IntrospectionIsScopedToTheAudience) {
  User alice = MakeUser("alice");
  auto a = core_->CreateClient(Ctx(), {"a", {}, {}});
  auto b = core_->CreateClient(Ctx(), {"b", {}, {}});
  ASSERT_TRUE(a && b);
  IssuedToken for_a;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(for_a, core_->tokens().Issue(tx, alice, "", a->client.client_id, {"hwk"}, 0));
    return Ok();
  }));
  auto ia = core_->Introspect(a->client, for_a.access_token);
  ASSERT_TRUE(ia);
  EXPECT_TRUE(ia->active);
  EXPECT_EQ(ia->record.username, "alice");
  EXPECT_FALSE(core_->Introspect(b->client, for_a.access_token)->active);  // K11
  // B cannot revoke A's token; A can.
  ASSERT_TRUE(core_->RevokeByClient(b->client, for_a.access_token, Ctx()));
  EXPECT_TRUE(core_->Introspect(a->client, for_a.access_token)->active);
  ASSERT_TRUE(core_->RevokeByClient(a->client, for_a.access_token, Ctx()));
  EXPECT_FALSE(core_->Introspect(a->client, for_a.access_token)->active);
  ASSERT_TRUE(core_->RevokeByClient(a->client, "garbage", Ctx()));
}

TEST_F(CoreTest, RevokeUserTokensCountsLiveTokens) {
  MakeUser("alice");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(core_->IssueOperatorToken(Ctx(), "alice"));
  EXPECT_EQ(*core_->RevokeUserTokens(Ctx(), "alice"), 3);
  EXPECT_EQ(*core_->RevokeUserTokens(Ctx(), "alice"), 0);
  EXPECT_EQ(core_->RevokeUserTokens(Ctx(), "ghost").code(), ErrorCode::kNotFound);
}

TEST_F(CoreTest, PurgeDeletesLongExpiredTokenRecords) {
  MakeUser("alice");
  ASSERT_TRUE(core_->IssueOperatorToken(Ctx(), "alice"));
  EXPECT_EQ(*core_->PurgeExpired(), 0);
  clock_.AdvanceSeconds(300 + 24 * 3600 + 1);
  EXPECT_EQ(*core_->PurgeExpired(), 1);
}

TEST_F(CoreTest, PurgeForgetsExpiredCeremoniesAChunkPerTransactionAndStopsWhenAsked) {
  const int64_t expires = clock_.NowSeconds() + 300;
  ASSERT_TRUE(store_->Write([&](WriteTx& tx) -> Status {
    for (uint8_t i = 0; i < 11; ++i) {
      AUTHD_ASSIGN_OR_RETURN(bool first, tx.UseCeremony(Bytes(16, i), expires));
      if (!first) return Err(ErrorCode::kConflict, "used twice");
    }
    return Ok();
  }));
  EXPECT_EQ(*core_->PurgeExpired(4), 0);  // not expired yet
  clock_.AdvanceSeconds(300 + 61);
  // Told to stop after its first transaction: one chunk, and no more.
  int asked = 0;
  EXPECT_EQ(*core_->PurgeExpired(4, [&] { return ++asked < 1; }), 4);
  EXPECT_EQ(asked, 1);
  // Asked between each two transactions: 4, 3 (short: the ceremonies are done), then one for the tokens.
  asked = 0;
  EXPECT_EQ(*core_->PurgeExpired(4, [&] { return ++asked > 0; }), 7);
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(*core_->PurgeExpired(4), 0);
  int left = 0;
  ASSERT_TRUE(store_->Read([&](ReadTx& tx) -> Status {
    for (uint8_t i = 0; i < 11; ++i) {
      AUTHD_ASSIGN_OR_RETURN(bool used, tx.CeremonyUsed(Bytes(16, i), expires));
      left += used ? 1 : 0;
    }
    return Ok();
  }));
  EXPECT_EQ(left, 0);
}

TEST_F(CoreTest, AuthorizeAuditsDenials) {
  User auditor = MakeUser("audrey", {"auditor"});
  size_t before = core_->ListAudit(0, 0, 1000)->size();
  EXPECT_EQ(core_->Authorize(As(auditor), Permission::kManageClients, Ctx("user:audrey"), "clients").code(),
            ErrorCode::kForbidden);
  auto events = core_->ListAudit(0, 0, 1000);
  ASSERT_EQ(events->size(), before + 1);
  EXPECT_EQ(events->front().action, "access.denied");
  EXPECT_EQ(events->front().outcome, "denied");
  EXPECT_EQ(events->front().actor, "user:audrey");
}

// With the client and the token kept in memory, a refused caller still takes the full way: the
// same error code as without the cache, audited, and nothing about the token.
TEST_F(CoreTest, KeptIntrospectionRecordsStillRefuseAndAuditABadClient) {
  MakeUser("alice");
  auto t = core_->IssueOperatorToken(Ctx(), "alice");
  auto c = core_->CreateClient(Ctx(), {"app", {"introspect"}, {"10.0.0.0/8"}});
  ASSERT_TRUE(t && c);
  const std::string& id = c->client.client_id;
  for (int i = 0; i < 2; ++i) {
    auto ok = core_->IntrospectAs(id, c->client_secret, "10.2.3.4", t->access_token, Ctx());
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->active);
  }
  const size_t before = core_->ListAudit(0, 0, 1000)->size();
  EXPECT_EQ(core_->IntrospectAs(id, c->client_secret + "x", "10.2.3.4", t->access_token, Ctx()).code(),
            ErrorCode::kInvalidClient);
  EXPECT_EQ(core_->IntrospectAs(id, c->client_secret, "192.168.1.1", t->access_token, Ctx()).code(),
            ErrorCode::kAddressNotAllowed);
  EXPECT_EQ(core_->ListAudit(0, 0, 1000)->size(), before + 2);
  // A token of another shape under the kept jti is not the kept token.
  std::string forged = t->access_token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  auto no = core_->IntrospectAs(id, c->client_secret, "10.2.3.4", forged, Ctx());
  ASSERT_TRUE(no);
  EXPECT_FALSE(no->active);
}

// Introspections race a revocation made through another store on the same file, as authctl makes
// it: once the revocation has returned, no introspection that starts afterwards says active,
// though the records were kept in memory a moment before.
TEST_F(CoreTest, KeptIntrospectionRecordsNeverOutliveARevocationByAnotherWriter) {
  MakeUser("alice");
  auto t = core_->IssueOperatorToken(Ctx(), "alice");
  auto c = core_->CreateClient(Ctx(), {"app", {"introspect"}, {}});
  ASSERT_TRUE(t && c);
  auto other = store::OpenSqliteStore(dir_.File("authd.db"));
  ASSERT_TRUE(other) << other.error().detail;
  std::atomic<bool> revoked{false}, stop{false};
  std::atomic<int> stale{0}, active_before{0}, after{0}, failed{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        const bool revoked_already = revoked.load();
        auto r = core_->IntrospectAs(c->client.client_id, c->client_secret, "127.0.0.1", t->access_token, Ctx());
        if (!r) {
          ++failed;
        } else if (revoked_already) {
          if (r->active) ++stale;
          ++after;
        } else if (r->active) {
          ++active_before;
        }
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (active_before < 200 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  Status s = (*other)->Write([&](WriteTx& tx) -> Status {
    AUTHD_ASSIGN_OR_RETURN(int64_t n, tx.RevokeTokenByJti(t->record.jti, clock_.NowSeconds()));
    return n == 1 ? Ok() : Err(ErrorCode::kNotFound, "the token was not live");
  });
  revoked = true;
  while (after < 200 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_GE(active_before.load(), 200);
  EXPECT_GE(after.load(), 200);
  EXPECT_EQ(stale.load(), 0);
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace authd::domain
