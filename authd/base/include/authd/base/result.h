// Errors are values: Result<T> holds either a T or an Error. Libraries never throw.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "authd/base/error_code.h"

namespace authd {

// `detail` is shown to clients; it never contains a secret or whether a username exists.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string detail;
};

inline Error Err(ErrorCode code, std::string detail = {}) { return Error{code, std::move(detail)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }
  ErrorCode code() const { return ok() ? ErrorCode::kInternal : error().code; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  ErrorCode code() const { return error_.code; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;
inline Status Ok() { return Status(); }

#define AUTHD_CONCAT_INNER(a, b) a##b
#define AUTHD_CONCAT(a, b) AUTHD_CONCAT_INNER(a, b)

// Returns the error of `expr` (a Result or Status) from the enclosing function.
#define AUTHD_RETURN_IF_ERROR(expr) AUTHD_RETURN_IF_ERROR_IMPL(AUTHD_CONCAT(authd_status_, __COUNTER__), expr)
#define AUTHD_RETURN_IF_ERROR_IMPL(tmp, expr) \
  do {                                        \
    auto tmp = (expr);                        \
    if (!tmp) return tmp.error();             \
  } while (0)

// `lhs = value of expr`, or returns its error.
#define AUTHD_ASSIGN_OR_RETURN(lhs, expr) AUTHD_ASSIGN_OR_RETURN_IMPL(AUTHD_CONCAT(authd_result_, __COUNTER__), lhs, expr)
#define AUTHD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp) return tmp.error();                     \
  lhs = std::move(tmp).value()

}  // namespace authd
