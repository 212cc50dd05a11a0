-- +goose Up
-- Rate limits of tokens and users (0 = none); group defaults live in the
-- GroupRateLimits option. model_limits is JSON, model name to limits:
-- {"gpt-4o": {"rpm": 10, "tpm": 20000}} ('' = none).
ALTER TABLE tokens ADD COLUMN rpm_limit       bigint NOT NULL DEFAULT 0,
                   ADD COLUMN rpd_limit       bigint NOT NULL DEFAULT 0,
                   ADD COLUMN tpm_limit       bigint NOT NULL DEFAULT 0,
                   ADD COLUMN max_concurrency bigint NOT NULL DEFAULT 0,
                   ADD COLUMN model_limits    text   NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN rpm_limit       bigint NOT NULL DEFAULT 0,
                  ADD COLUMN rpd_limit       bigint NOT NULL DEFAULT 0,
                  ADD COLUMN tpm_limit       bigint NOT NULL DEFAULT 0,
                  ADD COLUMN max_concurrency bigint NOT NULL DEFAULT 0,
                  ADD COLUMN model_limits    text   NOT NULL DEFAULT '';

DROP TRIGGER tokens_notify ON tokens;
CREATE TRIGGER tokens_notify AFTER INSERT OR DELETE OR UPDATE OF
    user_id, name, key_hash, status, expires_at, unlimited_quota, models, subnet, prompts, prompts_only,
    rpm_limit, rpd_limit, tpm_limit, max_concurrency, model_limits
    ON tokens FOR EACH ROW EXECUTE FUNCTION notify_config_changed('tokens', 'id');
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify AFTER INSERT OR DELETE OR UPDATE OF
    username, role, status, group_name, deleted_at,
    rpm_limit, rpd_limit, tpm_limit, max_concurrency, model_limits
    ON users FOR EACH ROW EXECUTE FUNCTION notify_config_changed('users', 'id');

-- Allowance granted to nodes (relay/ratelimit.go). A limited key's requests
-- are admitted from blocks a node takes here, in memory, and what a block
-- did not use goes back. scope names the key ('t:12', 'u:5', 't:12:gpt-4o'),
-- kind the limit (1 rpm, 2 rpd, 3 tpm, 4 concurrency). Windowed kinds count
-- per bucket (its start, unix seconds); concurrency has bucket 0 and one row
-- per node holding slots, which go when the node stops (the sweeper).
CREATE TABLE rate_grants (
    scope   text     NOT NULL,
    kind    smallint NOT NULL,
    bucket  bigint   NOT NULL,
    node_id text     NOT NULL,
    granted bigint   NOT NULL,
    PRIMARY KEY (scope, kind, bucket, node_id)
);
CREATE INDEX rate_grants_bucket ON rate_grants (bucket) WHERE kind <> 4;

-- rate_grant_many grants item i up to p_want[i] of its limit p_limit[i],
-- at least p_min[i], all items or none. A windowed item counts what was
-- granted in the current bucket of p_width[i] seconds and the p_count[i]
-- before it: any rolling period of p_width*p_count seconds lies inside
-- those buckets, so no such period is granted more than the limit.
-- Items are locked in the order given (the caller sorts them by scope and
-- kind, so two calls never wait on each other in a circle).
-- Per item: granted (0 for all when refused), used (in the window, after
-- the grant), bucket, free_at_ms (when the oldest counted bucket leaves the
-- window; 0 if none), and the database's clock in ms.
-- +goose StatementBegin
CREATE FUNCTION rate_grant_many(p_scopes text[], p_kinds smallint[], p_limits bigint[], p_widths bigint[],
                                p_counts bigint[], p_wants bigint[], p_mins bigint[], p_node_id text)
RETURNS TABLE (idx integer, granted bigint, used bigint, bucket bigint, free_at_ms bigint, now_ms bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n       integer := coalesce(array_length(p_scopes, 1), 0);
    l_now   double precision := extract(epoch FROM clock_timestamp());
    l_used  bigint[] := '{}';
    l_grant bigint[] := '{}';
    l_bkt   bigint[] := '{}';
    l_free  bigint[] := '{}';
    refused boolean := false;
    u       bigint;
    oldest  bigint;
    b       bigint;
BEGIN
    FOR i IN 1 .. n LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(p_scopes[i] || '/' || p_kinds[i], 0));
        IF p_widths[i] > 0 THEN
            b := floor(l_now / p_widths[i])::bigint * p_widths[i];
            SELECT coalesce(sum(g.granted), 0), min(g.bucket) FILTER (WHERE g.granted > 0) INTO u, oldest
              FROM rate_grants g
             WHERE g.scope = p_scopes[i] AND g.kind = p_kinds[i] AND g.bucket >= b - p_widths[i] * p_counts[i];
            l_free := l_free || CASE WHEN oldest IS NULL THEN 0 ELSE (oldest + p_widths[i] * (p_counts[i] + 1)) * 1000 END;
        ELSE
            b := 0;
            SELECT coalesce(sum(g.granted), 0) INTO u FROM rate_grants g
             WHERE g.scope = p_scopes[i] AND g.kind = p_kinds[i] AND g.bucket = 0;
            l_free := l_free || 0::bigint;
        END IF;
        l_bkt := l_bkt || b;
        l_used := l_used || u;
        l_grant := l_grant || greatest(least(p_wants[i], p_limits[i] - u), 0);
        IF l_grant[i] < p_mins[i] THEN
            refused := true;
        END IF;
    END LOOP;
    FOR i IN 1 .. n LOOP
        idx := i - 1; bucket := l_bkt[i]; free_at_ms := l_free[i]; now_ms := (l_now * 1000)::bigint;
        IF refused THEN
            granted := 0; used := l_used[i];
        ELSE
            granted := l_grant[i]; used := l_used[i] + l_grant[i];
            IF granted > 0 THEN
                INSERT INTO rate_grants AS g (scope, kind, bucket, node_id, granted)
                VALUES (p_scopes[i], p_kinds[i], l_bkt[i], p_node_id, l_grant[i])
                ON CONFLICT (scope, kind, bucket, node_id) DO UPDATE SET granted = g.granted + excluded.granted;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION rate_grant_many;
DROP TABLE rate_grants;
DROP TRIGGER users_notify ON users;
CREATE TRIGGER users_notify AFTER INSERT OR DELETE OR UPDATE OF
    username, role, status, group_name, deleted_at
    ON users FOR EACH ROW EXECUTE FUNCTION notify_config_changed('users', 'id');
DROP TRIGGER tokens_notify ON tokens;
CREATE TRIGGER tokens_notify AFTER INSERT OR DELETE OR UPDATE OF
    user_id, name, key_hash, status, expires_at, unlimited_quota, models, subnet, prompts, prompts_only
    ON tokens FOR EACH ROW EXECUTE FUNCTION notify_config_changed('tokens', 'id');
ALTER TABLE users DROP COLUMN rpm_limit, DROP COLUMN rpd_limit, DROP COLUMN tpm_limit,
                  DROP COLUMN max_concurrency, DROP COLUMN model_limits;
ALTER TABLE tokens DROP COLUMN rpm_limit, DROP COLUMN rpd_limit, DROP COLUMN tpm_limit,
                   DROP COLUMN max_concurrency, DROP COLUMN model_limits;
