/**
 * Versioned migrations of the Switchboard schema. `S` stands for the quoted schema name and
 * `NOTIFY_CHANNEL` for the LISTEN channel (the schema name as a literal).
 *
 * Rule: every migration is idempotent (IF NOT EXISTS, CREATE OR REPLACE), because a node that
 * finds an object missing under it (a table dropped by hand) repairs the schema by applying every
 * migration again, in order, under the same advisory lock.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const V1 = `
CREATE TABLE IF NOT EXISTS S.channels (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE,
  epoch text NOT NULL,
  top bigint NOT NULL DEFAULT 0,
  meta_expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS channels_meta_expires ON S.channels (meta_expires_at);

CREATE TABLE IF NOT EXISTS S.history (
  channel_id bigint NOT NULL REFERENCES S.channels (id) ON DELETE CASCADE,
  "offset" bigint NOT NULL,
  data text NOT NULL,
  info jsonb,
  tags jsonb,
  time_ms bigint,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (channel_id, "offset")
);
CREATE INDEX IF NOT EXISTS history_expires ON S.history (expires_at);

CREATE TABLE IF NOT EXISTS S.presence (
  channel text NOT NULL,
  client text NOT NULL,
  user_id text NOT NULL,
  info jsonb NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (channel, client)
);
CREATE INDEX IF NOT EXISTS presence_expires ON S.presence (expires_at);

-- notifications too large for NOTIFY's payload limit: the notification carries the row id
CREATE TABLE IF NOT EXISTS S.messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_created ON S.messages (created_at);

CREATE TABLE IF NOT EXISTS S.nodes (
  id text PRIMARY KEY,
  name text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION S._epoch() RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT substr(md5(gen_random_uuid()::text), 1, 10) $$;

-- every cross-node message goes through here: NOTIFY when it fits, else a row and its id
CREATE OR REPLACE FUNCTION S._send(p_payload text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE mid bigint;
BEGIN
  IF octet_length(p_payload) < 7900 THEN
    PERFORM pg_notify(NOTIFY_CHANNEL, p_payload);
  ELSE
    INSERT INTO S.messages (body) VALUES (p_payload) RETURNING id INTO mid;
    PERFORM pg_notify(NOTIFY_CHANNEL, 'r' || mid);
  END IF;
END $$;

-- the channel's stream row, locked for the rest of the transaction; created, or renewed with a
-- new epoch when its metadata expired (its publications are dropped with it)
CREATE OR REPLACE FUNCTION S._lock_stream(p_channel text, p_meta_ttl_ms bigint, OUT o_id bigint, OUT o_epoch text, OUT o_top bigint)
LANGUAGE plpgsql AS $$
DECLARE lost boolean;
BEGIN
  FOR attempt IN 1..3 LOOP
    SELECT c.id, c.epoch, c.top, c.meta_expires_at <= now() INTO o_id, o_epoch, o_top, lost
      FROM S.channels c WHERE c.name = p_channel FOR UPDATE;
    IF FOUND THEN
      IF lost THEN
        o_epoch := S._epoch();
        o_top := 0;
        DELETE FROM S.history WHERE channel_id = o_id;
        UPDATE S.channels SET epoch = o_epoch, top = 0, meta_expires_at = now() + p_meta_ttl_ms * interval '1 millisecond' WHERE id = o_id;
      END IF;
      RETURN;
    END IF;
    INSERT INTO S.channels (name, epoch, top, meta_expires_at)
      VALUES (p_channel, S._epoch(), 0, now() + p_meta_ttl_ms * interval '1 millisecond')
      ON CONFLICT (name) DO NOTHING;
  END LOOP;
  RAISE EXCEPTION 'switchboard: could not create the stream of channel %', p_channel;
END $$;

-- appends a publication: the next offset under the channel's row lock (so offsets commit in
-- order), trims to p_size, and (p_notify) wakes every node up with the offset and the row's content
CREATE OR REPLACE FUNCTION S._append(
  p_channel text, p_data text, p_info text, p_tags text, p_time bigint,
  p_size integer, p_ttl_ms bigint, p_meta_ttl_ms bigint, p_notify boolean, p_delivery text,
  OUT o_offset bigint, OUT o_epoch text)
LANGUAGE plpgsql AS $$
DECLARE cid bigint;
BEGIN
  IF p_size < 1 OR p_ttl_ms < 1 THEN RAISE EXCEPTION 'switchboard: history size and ttl must be positive'; END IF;
  SELECT s.o_id, s.o_epoch, s.o_top + 1 INTO cid, o_epoch, o_offset FROM S._lock_stream(p_channel, p_meta_ttl_ms) s;
  UPDATE S.channels SET top = o_offset, meta_expires_at = now() + p_meta_ttl_ms * interval '1 millisecond' WHERE id = cid;
  INSERT INTO S.history (channel_id, "offset", data, info, tags, time_ms, expires_at)
    VALUES (cid, o_offset, p_data, p_info::jsonb, p_tags::jsonb, p_time, now() + p_ttl_ms * interval '1 millisecond');
  IF o_offset > p_size THEN
    DELETE FROM S.history WHERE channel_id = cid AND "offset" <= o_offset - p_size;
  END IF;
  IF p_notify THEN
    PERFORM S._send('h' || p_channel || ' ' || o_offset || ' ' || o_epoch || ' ' || jsonb_strip_nulls(jsonb_build_object(
      'd', p_data, 'i', p_info::jsonb, 't', p_tags::jsonb, 'm', p_time, 'l', p_delivery::jsonb))::text);
  END IF;
END $$;
`;

/**
 * Transactional publish: the app calls `S.publish(channel, data)` inside its own transaction.
 * The append (row lock, offset, row) and the NOTIFY are part of that transaction: rolled back,
 * nothing happened; committed, the wake-up goes out after the commit, in commit order. History
 * size and TTL come from the arguments, else from `S.history_options` (per namespace, written by
 * the server from its configuration), else the publication is sent without history.
 */
const V2 = `
CREATE TABLE IF NOT EXISTS S.history_options (
  namespace text PRIMARY KEY,
  history_size integer NOT NULL CHECK (history_size > 0),
  history_ttl_ms bigint NOT NULL CHECK (history_ttl_ms > 0),
  meta_ttl_ms bigint
);

CREATE OR REPLACE FUNCTION S.publish(
  channel text, data jsonb, history_size integer DEFAULT NULL, history_ttl interval DEFAULT NULL, tags jsonb DEFAULT NULL,
  OUT "offset" bigint, OUT epoch text)
LANGUAGE plpgsql AS $$
DECLARE
  size integer := history_size;
  ttl_ms bigint := (extract(epoch FROM history_ttl) * 1000)::bigint;
  meta_ms bigint;
  ns text;
  now_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
BEGIN
  IF channel IS NULL OR channel !~ '^[!-~]+$' OR channel = '*' OR length(channel) > 255 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('switchboard.publish: invalid channel name %L (printable ASCII without spaces, at most 255)', channel);
  END IF;
  IF data IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'switchboard.publish: data must be a JSON value, not NULL';
  END IF;
  IF tags IS NOT NULL AND jsonb_typeof(tags) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'switchboard.publish: tags must be a JSON object of strings';
  END IF;
  IF size IS NULL THEN
    ns := CASE WHEN position(':' IN ltrim(channel, '$')) > 0 THEN split_part(ltrim(channel, '$'), ':', 1) ELSE '' END;
    SELECT o.history_size, o.history_ttl_ms, o.meta_ttl_ms INTO size, ttl_ms, meta_ms FROM S.history_options o WHERE o.namespace = ns;
  END IF;
  IF coalesce(size, 0) > 0 THEN
    IF coalesce(ttl_ms, 0) <= 0 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'switchboard.publish: history_ttl must be positive when history_size is given';
    END IF;
    SELECT a.o_offset, a.o_epoch INTO "offset", epoch
      FROM S._append(channel, data::text, NULL, tags::text, now_ms, size, ttl_ms, coalesce(meta_ms, 2592000000), true, NULL) a;
  ELSE
    PERFORM S._send('p' || channel || ' ' || jsonb_strip_nulls(jsonb_build_object('d', data::text, 'm', now_ms, 't', tags))::text);
    "offset" := 0;
    epoch := '';
  END IF;
END $$;
`;

/**
 * Batched appends: one transaction for many publications. Every commit that NOTIFYs takes
 * PostgreSQL's notification queue lock through its WAL flush, so notifying commits go one at a
 * time, one fsync each; a node therefore sends the publications that arrive while its previous
 * append is in flight as one batch. Channel rows are locked in name order first, so two batches
 * never deadlock each other.
 */
const V3 = `
CREATE OR REPLACE FUNCTION S._append_batch(
  p_channels text[], p_datas text[], p_infos text[], p_tags text[], p_times bigint[],
  p_sizes integer[], p_ttls bigint[], p_meta_ttls bigint[], p_deliveries text[])
RETURNS TABLE (o_offset bigint, o_epoch text) LANGUAGE plpgsql AS $$
DECLARE ch text;
BEGIN
  FOR ch IN SELECT DISTINCT c FROM unnest(p_channels) AS c ORDER BY c LOOP
    PERFORM S._lock_stream(ch, (SELECT max(m) FROM unnest(p_channels, p_meta_ttls) AS x(c, m) WHERE x.c = ch));
  END LOOP;
  FOR i IN 1..coalesce(array_length(p_channels, 1), 0) LOOP
    RETURN QUERY SELECT a.o_offset, a.o_epoch FROM S._append(p_channels[i], p_datas[i], p_infos[i], p_tags[i], p_times[i],
      p_sizes[i], p_ttls[i], p_meta_ttls[i], true, p_deliveries[i]) a;
  END LOOP;
END $$;
`;

/**
 * Centrifugo's publish `version` / `version_epoch`: the channel row keeps the version of its last
 * versioned publication (and its epoch), checked and replaced under the row lock of the append,
 * so a stale publication from any node is neither appended nor notified. A stream renewed after
 * its metadata expired forgets the version (`_lock_stream`, redefined with that).
 */
const V4 = `
ALTER TABLE S.channels ADD COLUMN IF NOT EXISTS version bigint;
ALTER TABLE S.channels ADD COLUMN IF NOT EXISTS version_epoch text;

CREATE OR REPLACE FUNCTION S._lock_stream(p_channel text, p_meta_ttl_ms bigint, OUT o_id bigint, OUT o_epoch text, OUT o_top bigint)
LANGUAGE plpgsql AS $$
DECLARE lost boolean;
BEGIN
  FOR attempt IN 1..3 LOOP
    SELECT c.id, c.epoch, c.top, c.meta_expires_at <= now() INTO o_id, o_epoch, o_top, lost
      FROM S.channels c WHERE c.name = p_channel FOR UPDATE;
    IF FOUND THEN
      IF lost THEN
        o_epoch := S._epoch();
        o_top := 0;
        DELETE FROM S.history WHERE channel_id = o_id;
        UPDATE S.channels SET epoch = o_epoch, top = 0, version = NULL, version_epoch = NULL,
          meta_expires_at = now() + p_meta_ttl_ms * interval '1 millisecond' WHERE id = o_id;
      END IF;
      RETURN;
    END IF;
    INSERT INTO S.channels (name, epoch, top, meta_expires_at)
      VALUES (p_channel, S._epoch(), 0, now() + p_meta_ttl_ms * interval '1 millisecond')
      ON CONFLICT (name) DO NOTHING;
  END LOOP;
  RAISE EXCEPTION 'switchboard: could not create the stream of channel %', p_channel;
END $$;

-- a versioned append: stale (o_stale, o_offset/o_epoch the stream's top) when p_version is not above
-- the channel's last and the epochs match (an empty p_version_epoch matches any); else _append
CREATE OR REPLACE FUNCTION S._append_versioned(
  p_channel text, p_data text, p_info text, p_tags text, p_time bigint,
  p_size integer, p_ttl_ms bigint, p_meta_ttl_ms bigint, p_delivery text, p_version bigint, p_version_epoch text,
  OUT o_offset bigint, OUT o_epoch text, OUT o_stale boolean)
LANGUAGE plpgsql AS $$
DECLARE cid bigint; v bigint; ve text;
BEGIN
  SELECT s.o_id, s.o_epoch, s.o_top INTO cid, o_epoch, o_offset FROM S._lock_stream(p_channel, p_meta_ttl_ms) s;
  SELECT c.version, c.version_epoch INTO v, ve FROM S.channels c WHERE c.id = cid;
  IF v IS NOT NULL AND (p_version_epoch = '' OR p_version_epoch = ve) AND p_version <= v THEN
    o_stale := true;
    RETURN;
  END IF;
  UPDATE S.channels SET version = p_version, version_epoch = p_version_epoch WHERE id = cid;
  SELECT a.o_offset, a.o_epoch INTO o_offset, o_epoch
    FROM S._append(p_channel, p_data, p_info, p_tags, p_time, p_size, p_ttl_ms, p_meta_ttl_ms, true, p_delivery) a;
  o_stale := false;
END $$;
`;

/**
 * Cluster state (the StateStore contract of @switchboard/server): node leases, group memberships
 * whose first/last transitions are decided under a per-group advisory lock, one sequence for every
 * change, revocations, last-seen times, and webhook journals.
 */
const V5 = `
CREATE TABLE IF NOT EXISTS S.state_nodes (
  node text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS S.state_members (
  grp text NOT NULL,
  member text NOT NULL,
  node text NOT NULL,
  data text NOT NULL,
  rank integer NOT NULL DEFAULT 0,
  reaping boolean NOT NULL DEFAULT false,
  PRIMARY KEY (grp, member)
);
CREATE INDEX IF NOT EXISTS state_members_node ON S.state_members (node);
CREATE INDEX IF NOT EXISTS state_members_reaping ON S.state_members (rank, grp, member) WHERE reaping;

CREATE SEQUENCE IF NOT EXISTS S.state_seq;

CREATE TABLE IF NOT EXISTS S.state_revocations (
  key text PRIMARY KEY,
  issued_before bigint NOT NULL,
  expire_at bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS S.state_seen (
  user_id text PRIMARY KEY,
  at bigint NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS state_seen_expires ON S.state_seen (expires_at);

CREATE TABLE IF NOT EXISTS S.state_webhooks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook text NOT NULL,
  node text NOT NULL,
  entry text NOT NULL
);
CREATE INDEX IF NOT EXISTS state_webhooks_owner ON S.state_webhooks (webhook, node, id);

-- joins p_member to p_group under the group's advisory lock: first when the group was empty
CREATE OR REPLACE FUNCTION S._st_join(p_group text, p_member text, p_node text, p_data text, p_rank integer,
  OUT o_first boolean, OUT o_seq bigint, OUT o_added boolean)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('switchboard-state'), hashtext(p_group));
  IF EXISTS (SELECT 1 FROM S.state_members WHERE grp = p_group AND member = p_member) THEN
    o_first := false; o_added := false;
    SELECT last_value INTO o_seq FROM S.state_seq;
    RETURN;
  END IF;
  o_first := NOT EXISTS (SELECT 1 FROM S.state_members WHERE grp = p_group);
  INSERT INTO S.state_members (grp, member, node, data, rank) VALUES (p_group, p_member, p_node, p_data, p_rank);
  o_seq := nextval('S.state_seq');
  o_added := true;
END $$;

-- removes p_member from p_group under the group's advisory lock: last when the group is now empty
CREATE OR REPLACE FUNCTION S._st_leave(p_group text, p_member text, p_reaping boolean,
  OUT o_removed boolean, OUT o_last boolean, OUT o_seq bigint, OUT o_node text, OUT o_data text)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('switchboard-state'), hashtext(p_group));
  DELETE FROM S.state_members WHERE grp = p_group AND member = p_member AND (NOT p_reaping OR reaping)
    RETURNING node, data INTO o_node, o_data;
  IF NOT FOUND THEN
    o_removed := false; o_last := false;
    SELECT last_value INTO o_seq FROM S.state_seq;
    RETURN;
  END IF;
  o_removed := true;
  o_last := NOT EXISTS (SELECT 1 FROM S.state_members WHERE grp = p_group);
  o_seq := nextval('S.state_seq');
END $$;

-- nodes whose lease lapsed lose it and their members become reapable (a node that comes back
-- starts over). Its own transaction, apart from _st_reap: the row locks it takes are not held
-- while _st_reap waits for group locks.
CREATE OR REPLACE FUNCTION S._st_lapse() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  WITH dead AS (DELETE FROM S.state_nodes WHERE expires_at <= now() RETURNING node)
  UPDATE S.state_members m SET reaping = true FROM dead WHERE m.node = dead.node AND NOT m.reaping;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- up to p_limit reapable members leave their groups, lowest rank first; groups are locked in one
-- order (rank, group) by every reaper, so two reapers do not deadlock
CREATE OR REPLACE FUNCTION S._st_reap(p_limit integer)
RETURNS TABLE (o_node text, o_group text, o_member text, o_data text, o_last boolean, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE r record; l record;
BEGIN
  FOR r IN SELECT grp, member FROM S.state_members WHERE reaping ORDER BY rank, grp, member LIMIT p_limit LOOP
    SELECT * INTO l FROM S._st_leave(r.grp, r.member, true);
    IF l.o_removed THEN
      o_node := l.o_node; o_group := r.grp; o_member := r.member; o_data := l.o_data; o_last := l.o_last; o_seq := l.o_seq;
      RETURN NEXT;
    END IF;
  END LOOP;
END $$;
`;

/**
 * Acknowledged delivery (the AckStore of @switchboard/server): per channel and consumer its stream
 * epoch and expiry, and its pending offsets with their due times (ms). `_ack_add` forgets the
 * consumer's offsets of another epoch or past expiry, adds, and keeps the highest `p_max`.
 */
const V6 = `
CREATE TABLE IF NOT EXISTS S.ack_consumers (
  channel text NOT NULL,
  consumer text NOT NULL,
  epoch text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (channel, consumer)
);
CREATE INDEX IF NOT EXISTS ack_consumers_expires ON S.ack_consumers (expires_at);

CREATE TABLE IF NOT EXISTS S.acks (
  channel text NOT NULL,
  consumer text NOT NULL,
  "offset" bigint NOT NULL,
  due_ms bigint NOT NULL,
  PRIMARY KEY (channel, consumer, "offset"),
  FOREIGN KEY (channel, consumer) REFERENCES S.ack_consumers (channel, consumer) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS acks_by_offset ON S.acks (channel, "offset");

CREATE OR REPLACE FUNCTION S._ack_add(p_channel text, p_consumer text, p_epoch text, p_offsets bigint[], p_due bigint, p_ttl_ms bigint, p_max integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE cur text; exp timestamptz;
BEGIN
  SELECT epoch, expires_at INTO cur, exp FROM S.ack_consumers WHERE channel = p_channel AND consumer = p_consumer FOR UPDATE;
  IF FOUND AND (cur <> p_epoch OR exp <= now()) THEN
    DELETE FROM S.acks WHERE channel = p_channel AND consumer = p_consumer;
  END IF;
  INSERT INTO S.ack_consumers (channel, consumer, epoch, expires_at)
    VALUES (p_channel, p_consumer, p_epoch, now() + p_ttl_ms * interval '1 millisecond')
    ON CONFLICT (channel, consumer) DO UPDATE SET epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at;
  INSERT INTO S.acks (channel, consumer, "offset", due_ms)
    SELECT p_channel, p_consumer, o, p_due FROM (SELECT DISTINCT o FROM unnest(p_offsets) AS o) d
    ON CONFLICT (channel, consumer, "offset") DO UPDATE SET due_ms = EXCLUDED.due_ms;
  DELETE FROM S.acks WHERE channel = p_channel AND consumer = p_consumer AND "offset" IN (
    SELECT "offset" FROM S.acks WHERE channel = p_channel AND consumer = p_consumer ORDER BY "offset" DESC OFFSET p_max);
END $$;
`;

/**
 * Idempotent publications across nodes (Centrifugo's `idempotency_key`): a key kept per channel
 * with the result of its publication until `expires_at`. With history the key is checked and
 * written under the channel's row lock, in the transaction of the append, so two nodes retrying
 * one key append once and both answer the first position; a failed append leaves no key behind.
 * Without history an upsert claims the key atomically and the NOTIFY goes out with its commit.
 * A stale versioned publication does not keep its key (as on Redis).
 */
const V7 = `
CREATE TABLE IF NOT EXISTS S.idempotency (
  channel text NOT NULL,
  key text NOT NULL,
  "offset" bigint,
  epoch text,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (channel, key)
);
CREATE INDEX IF NOT EXISTS idempotency_expires ON S.idempotency (expires_at);

-- o_result: 'new' (appended, key kept), 'dup' (o_offset/o_epoch the first result; NULL when it had
-- no history) or 'stale' (p_version not above the last; o_offset/o_epoch the stream's top)
CREATE OR REPLACE FUNCTION S._append_idempotent(
  p_channel text, p_data text, p_info text, p_tags text, p_time bigint,
  p_size integer, p_ttl_ms bigint, p_meta_ttl_ms bigint, p_delivery text, p_version bigint, p_version_epoch text,
  p_key text, p_key_ttl_ms bigint,
  OUT o_offset bigint, OUT o_epoch text, OUT o_result text)
LANGUAGE plpgsql AS $$
DECLARE stale boolean; k_offset bigint; k_epoch text;
BEGIN
  IF p_size < 1 OR p_ttl_ms < 1 OR p_key_ttl_ms < 1 THEN RAISE EXCEPTION 'switchboard: history size, ttl and key ttl must be positive'; END IF;
  PERFORM S._lock_stream(p_channel, p_meta_ttl_ms);
  -- under the channel's row lock: no other append to this channel runs until this transaction ends
  SELECT i."offset", i.epoch INTO k_offset, k_epoch FROM S.idempotency i
    WHERE i.channel = p_channel AND i.key = p_key AND i.expires_at > now();
  IF FOUND THEN
    o_offset := k_offset; o_epoch := k_epoch; o_result := 'dup';
    RETURN;
  END IF;
  IF p_version IS NOT NULL THEN
    SELECT a.o_offset, a.o_epoch, a.o_stale INTO o_offset, o_epoch, stale
      FROM S._append_versioned(p_channel, p_data, p_info, p_tags, p_time, p_size, p_ttl_ms, p_meta_ttl_ms, p_delivery, p_version, p_version_epoch) a;
    IF stale THEN o_result := 'stale'; RETURN; END IF;
  ELSE
    SELECT a.o_offset, a.o_epoch INTO o_offset, o_epoch
      FROM S._append(p_channel, p_data, p_info, p_tags, p_time, p_size, p_ttl_ms, p_meta_ttl_ms, true, p_delivery) a;
  END IF;
  INSERT INTO S.idempotency AS i (channel, key, "offset", epoch, expires_at)
    VALUES (p_channel, p_key, o_offset, o_epoch, now() + p_key_ttl_ms * interval '1 millisecond')
    ON CONFLICT (channel, key) DO UPDATE SET "offset" = EXCLUDED."offset", epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at;
  o_result := 'new';
END $$;

-- a publication without history: true when this transaction claimed the key (new, or the old claim
-- expired) and sent p_payload; false for a duplicate. Concurrent claims of one key wait on the
-- primary key for the first to end.
CREATE OR REPLACE FUNCTION S._send_idempotent(p_channel text, p_payload text, p_key text, p_key_ttl_ms bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  IF p_key_ttl_ms < 1 THEN RAISE EXCEPTION 'switchboard: key ttl must be positive'; END IF;
  INSERT INTO S.idempotency AS i (channel, key, expires_at)
    VALUES (p_channel, p_key, now() + p_key_ttl_ms * interval '1 millisecond')
    ON CONFLICT (channel, key) DO UPDATE SET "offset" = NULL, epoch = NULL, expires_at = EXCLUDED.expires_at
      WHERE i.expires_at <= now();
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n = 0 THEN RETURN false; END IF;
  PERFORM S._send(p_payload);
  RETURN true;
END $$;
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'streams, history, presence, messages, nodes', sql: V1 },
  { version: 2, name: 'transactional publish', sql: V2 },
  { version: 3, name: 'batched appends', sql: V3 },
  { version: 4, name: 'publish versions', sql: V4 },
  { version: 5, name: 'cluster state', sql: V5 },
  { version: 6, name: 'acknowledged delivery', sql: V6 },
  { version: 7, name: 'idempotent publications', sql: V7 },
];

/** The SQL of a migration for one schema. */
export function migrationSql(m: Migration, quotedSchema: string, notifyChannel: string): string {
  return m.sql.replace(/\bS\./g, `${quotedSchema}.`).replace(/NOTIFY_CHANNEL/g, `'${notifyChannel.replace(/'/g, "''")}'`);
}
