-- name: RateGrantMany :many
-- Allowance blocks for one request's limits, all or none (rate_grant_many).
SELECT idx::int AS idx, granted::bigint AS granted, used::bigint AS used, bucket::bigint AS bucket,
       free_at_ms::bigint AS free_at_ms, now_ms::bigint AS now_ms
FROM rate_grant_many(@scopes::text[], @kinds::smallint[], @limits::bigint[], @widths::bigint[], @counts::bigint[],
                     @wants::bigint[], @mins::bigint[], @node_id::text);

-- name: RateReturnMany :exec
-- What blocks did not use goes back (a negative amount: a TPM request
-- that used more than its estimate); blocks of one bucket are summed.
UPDATE rate_grants g SET granted = greatest(g.granted - d.amount, 0)
FROM (SELECT scope, kind, bucket, sum(amount)::bigint AS amount
      FROM (SELECT unnest(@scopes::text[]) AS scope, unnest(@kinds::smallint[]) AS kind,
                   unnest(@buckets::bigint[]) AS bucket, unnest(@amounts::bigint[]) AS amount) x
      GROUP BY scope, kind, bucket) d
WHERE g.scope = d.scope AND g.kind = d.kind AND g.bucket = d.bucket AND g.node_id = @node_id;

-- name: RateGrantsForget :exec
-- Windowed counts older than any window (a day and a bit).
DELETE FROM rate_grants WHERE kind <> 4 AND bucket < extract(epoch FROM now())::bigint - 2 * 86400;

-- name: RateSlotsOfDeadNodes :exec
-- Concurrency slots held by nodes that stopped renewing their heartbeat.
DELETE FROM rate_grants g
WHERE g.kind = 4 AND NOT EXISTS (SELECT 1 FROM meter_nodes n
                                 WHERE n.node_id = g.node_id AND n.heartbeat_at >= @cutoff::timestamptz);

-- name: RateWindowUsed :one
-- What a scope's limit counts now (tests, the console).
SELECT coalesce(sum(granted), 0)::bigint FROM rate_grants
WHERE scope = @scope AND kind = @kind AND (kind = 4 OR bucket >= extract(epoch FROM now())::bigint - @span::bigint);

-- name: TokenSetLimits :one
UPDATE tokens SET rpm_limit = @rpm_limit, rpd_limit = @rpd_limit, tpm_limit = @tpm_limit,
                  max_concurrency = @max_concurrency, model_limits = @model_limits
WHERE id = @id RETURNING *;

-- name: UserSetLimits :one
UPDATE users SET rpm_limit = @rpm_limit, rpd_limit = @rpd_limit, tpm_limit = @tpm_limit,
                 max_concurrency = @max_concurrency, model_limits = @model_limits
WHERE id = @id RETURNING *;
