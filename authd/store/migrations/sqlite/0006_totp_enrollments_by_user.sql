-- authd schema version 6: unconfirmed TOTP enrolments take room among a user's credentials
-- (max_credentials_per_user), so they are counted by user.
CREATE INDEX totp_enrollments_user ON totp_enrollments(user_id, expires_at);
