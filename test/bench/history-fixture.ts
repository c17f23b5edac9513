import type pg from 'pg';
import { COUNT_COLUMNS as COUNTED, countsByStatus } from '../../src/deliveries/status-counts.ts';

export type HistoryShape = { deliveries: number; perMessage: number; days: number; recipients: number; senders: string[] };

/**
 * An account's long history written straight into the tables, as acceptance and dispatch would
 * have left it: messages of `perMessage` recipients spread over the last `days`, most deliveries
 * final. Written with generate_series so a million rows take seconds, not an afternoon of sends.
 * The account's counts are then derived from the rows, as the gateway keeps them.
 */
export async function seedHistory(pool: pg.Pool, accountId: string, shape: HistoryShape): Promise<void> {
  const messages = Math.ceil(shape.deliveries / shape.perMessage);
  await pool.query(
    `INSERT INTO messages (id, account_id, text, sender_id, request_hash, status, encoding, segments, recipient_count,
       cost, currency, delivered_count, created_at, updated_at)
     SELECT md5($1 || ':' || g)::uuid, $1::uuid, 'History ' || g, ($4::text[])[1 + g % cardinality($4::text[])], md5('h' || g),
       'DELIVERED', 'GSM7', 1, $3::int, 0.02 * $3::int, 'USD', $3::int, t, t
     FROM generate_series(1, $2::int) AS g, LATERAL (SELECT now() - ($5::int * interval '1 day') * (1 - g::float8 / $2)) AS x(t)`,
    [accountId, messages, shape.perMessage, shape.senders, shape.days],
  );
  await pool.query(
    `INSERT INTO deliveries (id, message_id, account_id, recipient, sender_id, country, segments, price, status, route, provider,
       provider_message_id, sent_at, delivered_at, created_at, updated_at)
     SELECT md5($1 || ':d:' || n)::uuid, m.id, $1::uuid, '+2557' || lpad(((n::bigint * 7919) % $4::int)::text, 8, '0'), m.sender_id, 'TZ', 1, 0.02,
       s.status::"DeliveryStatus", ARRAY['sandbox'], 'sandbox', 'sb-' || n, m.created_at, m.created_at, m.created_at, m.created_at
     FROM generate_series(1, $2::int) AS n
     JOIN messages m ON m.id = md5($1 || ':' || (1 + (n - 1) / $3::int))::uuid
     CROSS JOIN LATERAL (SELECT CASE WHEN n % 100 < 85 THEN 'DELIVERED' WHEN n % 100 < 93 THEN 'FAILED'
       WHEN n % 100 < 96 THEN 'EXPIRED' WHEN n % 100 < 98 THEN 'REJECTED' WHEN n % 100 < 99 THEN 'SENT' ELSE 'QUEUED' END) AS s(status)`,
    [accountId, shape.deliveries, shape.perMessage, shape.recipients],
  );
  await pool.query(
    `INSERT INTO account_event_seqs (account_id, ${COUNTED.join(', ')})
     SELECT $1, ${countsByStatus('status::text')}
     FROM deliveries WHERE account_id = $1
     ON CONFLICT (account_id) DO UPDATE SET ${COUNTED.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`,
    [accountId],
  );
  await pool.query('ANALYZE messages');
  await pool.query('ANALYZE deliveries');
}
