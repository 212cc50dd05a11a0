-- Queries of the background jobs (jobs/) and of the job views in /api.

-- name: ChannelListIDs :many
-- Channel ids to test or to update, oldest first; an empty status list means
-- every channel.
SELECT id FROM channels
WHERE coalesce(cardinality(@statuses::smallint[]), 0) = 0 OR status = ANY(@statuses::smallint[])
ORDER BY id;

-- name: ChannelEnableAuto :execrows
-- Only a channel disabled automatically (3) is re-enabled by a passing test:
-- a channel an admin disabled (2) stays so.
UPDATE channels SET status = 1 WHERE id = $1 AND status = 3;

-- name: ChannelSetBalance :exec
-- Balance columns are not routing state: the channels trigger ignores them,
-- so a balance update notifies nobody.
UPDATE channels SET balance = $2, balance_updated_at = now() WHERE id = $1;

-- name: LogDeleteConsumeBefore :execrows
-- One batch of consumption log rows (type 2) older than the cutoff, oldest
-- first; the log retention job repeats it until a batch comes back short, so
-- no single statement holds locks on millions of rows.
DELETE FROM logs
WHERE id IN (SELECT id FROM logs WHERE type = 2 AND created_at < @cutoff::timestamptz ORDER BY id LIMIT @batch_size);

-- name: UserListRootEmails :many
-- Where notices for root go (One API mails the root user).
SELECT email FROM users WHERE role = 100 AND status = 1 AND deleted_at IS NULL AND email <> '' ORDER BY id;

-- name: JobListRecent :many
-- The newest River jobs, for GET /api/jobs. kind and state filter when not
-- empty. River's own queries stay River's; this one only reads.
SELECT id, kind, state::text AS state, queue, attempt, max_attempts, args, errors,
       coalesce(metadata -> 'output', 'null'::jsonb)::jsonb AS output, attempted_by, created_at, scheduled_at, attempted_at, finalized_at
FROM river_job
WHERE (@kind::text = '' OR kind = @kind::text)
  AND (@state::text = '' OR state::text = @state::text)
ORDER BY id DESC
LIMIT @max_rows;

-- name: JobsUnfinished :one
-- How many jobs of a kind are still to run, e.g. the tests of a "test all".
SELECT count(*) FROM river_job
WHERE kind = @kind::text AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled');
