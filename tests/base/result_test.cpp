#include "authd/base/result.h"

#include <gtest/gtest.h>

namespace authd {
namespace {

Result<int> Half(int v) {
  if (v % 2) return Err(ErrorCode::kInvalidArgument, "odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  AUTHD_ASSIGN_OR_RETURN(int h, Half(v));
  AUTHD_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int v) {
  AUTHD_RETURN_IF_ERROR(Half(v));
  return Ok();
}

TEST(Result, PropagatesValuesAndErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().detail, "odd");
  EXPECT_TRUE(CheckEven(4));
  EXPECT_FALSE(CheckEven(3));
}

TEST(ErrorCode, NamesAndStatusesFollowTheContract) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kChallengeExpired), "challenge_expired");
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kChallengeExpired), 422);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kMalformedCbor), "malformed_cbor");
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kMalformedCbor), 400);
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kInvalidClient), 401);
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kCredentialExists), 409);
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kBodyTooLarge), 413);
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kUnsupportedMediaType), 415);
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kRateLimited), 429);
  EXPECT_EQ(ErrorCodeStatus(ErrorCode::kStorageUnavailable), 503);
}

}  // namespace
}  // namespace authd
