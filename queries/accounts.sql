-- name: AccountCodeCreate :exec
INSERT INTO account_codes (purpose, email, code_hash, expires_at)
VALUES ($1, $2, $3, $4);

-- AccountCodeUse consumes a live code once; a used, expired or unknown code
-- returns no row.
-- name: AccountCodeUse :one
UPDATE account_codes SET used_at = now()
WHERE purpose = $1 AND code_hash = $2 AND lower(email) = lower(@email::text)
  AND used_at IS NULL AND expires_at > now() AND attempts < 5
RETURNING *;

-- AccountCodeFail counts a wrong guess against every live code for an
-- address, so a short emailed code cannot be brute-forced.
-- name: AccountCodeFail :exec
UPDATE account_codes SET attempts = attempts + 1
WHERE purpose = $1 AND lower(email) = lower(@email::text) AND used_at IS NULL AND expires_at > now();

-- name: AccountCodeRecentCount :one
SELECT count(*) FROM account_codes
WHERE purpose = $1 AND lower(email) = lower(@email::text) AND created_at > now() - interval '10 minutes';

-- AccountCodeDeleteExpired drops codes a day past expiry (the hourly
-- account_cleanup job).
-- name: AccountCodeDeleteExpired :execrows
DELETE FROM account_codes WHERE expires_at < now() - interval '1 day';

-- LoginFailureRecord counts one failure for key, starting a new window when
-- the old one has ended, and returns the count in the current window.
-- name: LoginFailureRecord :one
INSERT INTO login_failures (key, failures, window_end)
VALUES (@key, 1, now() + make_interval(secs => @window_secs::float8))
ON CONFLICT (key) DO UPDATE SET
    failures   = CASE WHEN login_failures.window_end <= now() THEN 1 ELSE login_failures.failures + 1 END,
    window_end = CASE WHEN login_failures.window_end <= now() THEN excluded.window_end ELSE login_failures.window_end END
RETURNING failures, window_end;

-- name: LoginFailureGet :one
SELECT failures, window_end FROM login_failures WHERE key = $1 AND window_end > now();

-- name: LoginFailureClear :exec
DELETE FROM login_failures WHERE key = $1;

-- LoginFailureDeleteExpired drops windows that have ended (the hourly
-- account_cleanup job).
-- name: LoginFailureDeleteExpired :execrows
DELETE FROM login_failures WHERE window_end < now();
