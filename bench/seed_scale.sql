-- A large firm and 50 small ones, in SQL (generate_series), for bench.scale.
-- :big is the large business's id, :owner its owner's user id, :hash the owner's password
-- hash. 100,000 clients, 50,000 reminders, 1,000,000 deliveries and 200,000 audit events
-- spread over the two years before now; then 50 businesses of 20 clients, 10 reminders
-- and 200 deliveries each.
BEGIN;

INSERT INTO businesses (id, name, timezone, default_channels, created_at, updated_at)
VALUES (:'big'::uuid, 'Scale & Co Accountants', 'Europe/London', '["email"]', now() - interval '2 years', now());
INSERT INTO users (id, email, hashed_password, full_name, is_active, is_superuser, created_at, updated_at)
VALUES (:'owner'::uuid, 'owner@scale.example.com', :'hash', 'Scale Owner', true, true, now() - interval '2 years', now());
INSERT INTO memberships (id, business_id, user_id, role, created_at)
VALUES (gen_random_uuid(), :'big'::uuid, :'owner'::uuid, 'owner', now() - interval '2 years');

CREATE TEMP TABLE seed_clients AS
SELECT i, gen_random_uuid() AS id FROM generate_series(1, 100000) AS i;
INSERT INTO clients (id, business_id, name, email, phone, timezone, preferred_channels,
                     opted_out_channels, external_ref, created_at, updated_at)
SELECT id, :'big'::uuid, 'Client ' || i || ' Ltd', 'client' || i || '@example.com',
       '+4479' || lpad(i::text, 8, '0'), 'Europe/London',
       CASE WHEN i % 4 = 0 THEN '["sms"]' ELSE '["email"]' END::json, '[]'::json,
       'REF-' || i, now() - (i % 730) * interval '1 day', now()
FROM seed_clients;
INSERT INTO client_tags (client_id, tag, business_id)
SELECT id, 'vat', :'big'::uuid FROM seed_clients WHERE i % 3 = 0
UNION ALL SELECT id, 'payroll', :'big'::uuid FROM seed_clients WHERE i % 5 = 0;

CREATE TEMP TABLE seed_reminders AS
SELECT r, gen_random_uuid() AS id, (SELECT id FROM seed_clients c WHERE c.i = (r * 2) % 100000 + 1) AS client_id
FROM generate_series(1, 50000) AS r;
INSERT INTO reminders (id, business_id, title, type, client_ids, tag, channels, subject, body,
                       timezone, schedule, status, next_fire_at, occurrences_sent,
                       last_fired_at, workflow_id, created_at, updated_at)
SELECT id, :'big'::uuid, 'Reminder ' || r,
       (ARRAY['deadline', 'payment', 'document_request', 'appointment'])[r % 4 + 1],
       json_build_array(client_id::text), NULL, '["email"]'::json, 'Subject ' || r,
       'Hi {{ client.name }}, reminder ' || r || '.', 'Europe/London',
       json_build_object('kind', 'once', 'at', to_char(now() + (r % 365) * interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS+00:00')),
       (ARRAY['scheduled', 'scheduled', 'scheduled', 'scheduled', 'scheduled', 'scheduled',
              'scheduled', 'completed', 'completed', 'paused', 'cancelled'])[r % 11 + 1],
       now() + (r % 365) * interval '1 day', r % 20, now() - (r % 700) * interval '1 day',
       'reminder-' || id, now() - (r % 730) * interval '1 day', now()
FROM seed_reminders;

INSERT INTO deliveries (id, business_id, reminder_id, client_id, channel, occurrence_key, status,
                        attempts, to_address, subject, body, provider_message_id, error_code,
                        scheduled_for, sent_at, delivered_at, created_at, updated_at)
SELECT gen_random_uuid(), :'big'::uuid, r.id, r.client_id,
       (ARRAY['email', 'email', 'email', 'sms', 'whatsapp'])[d % 5 + 1],
       'seed-' || d,
       (ARRAY['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered',
              'delivered', 'sent', 'failed', 'undelivered', 'skipped', 'pending'])[d % 12 + 1],
       1, 'client@example.com', 'Subject', 'Body ' || d, 'msg-' || d,
       CASE WHEN d % 12 = 8 THEN 'smtp_rejected' END,
       at, at, at + interval '5 seconds', at, at
FROM (
    SELECT d, now() - (d % 1051200) * interval '1 minute' * 1 AS at
    FROM generate_series(1, 1000000) AS d
) AS g
JOIN seed_reminders r ON r.r = g.d % 50000 + 1;

INSERT INTO app_events (id, business_id, actor_user_id, action, subject_type, subject_id,
                        payload, created_at)
SELECT gen_random_uuid(), :'big'::uuid, :'owner'::uuid,
       (ARRAY['reminder.created', 'reminder.signal', 'client.created', 'client.updated'])[e % 4 + 1],
       'reminder', e::text, '{}'::json, now() - (e % 1051200) * interval '1 minute'
FROM generate_series(1, 200000) AS e;

-- 50 small businesses: another tenant's rows beside the big one's.
CREATE TEMP TABLE seed_small AS
SELECT b, gen_random_uuid() AS id FROM generate_series(1, 50) AS b;
INSERT INTO businesses (id, name, timezone, default_channels, created_at, updated_at)
SELECT id, 'Small firm ' || b, 'UTC', '["email"]', now() - interval '1 year', now() FROM seed_small;
CREATE TEMP TABLE seed_small_clients AS
SELECT s.id AS business_id, gen_random_uuid() AS id, c FROM seed_small s, generate_series(1, 20) AS c;
INSERT INTO clients (id, business_id, name, email, preferred_channels, opted_out_channels, created_at, updated_at)
SELECT id, business_id, 'Small client ' || c, 'small' || c || '@example.com', '["email"]', '[]', now(), now()
FROM seed_small_clients;
CREATE TEMP TABLE seed_small_reminders AS
SELECT sc.business_id, gen_random_uuid() AS id, sc.id AS client_id, sc.c
FROM seed_small_clients sc WHERE sc.c <= 10;
INSERT INTO reminders (id, business_id, title, type, client_ids, channels, timezone, schedule,
                       status, next_fire_at, occurrences_sent, workflow_id, created_at, updated_at)
SELECT id, business_id, 'Small reminder ' || c, 'payment', json_build_array(client_id::text),
       '["email"]', 'UTC', json_build_object('kind', 'once', 'at', '2030-01-01T09:00:00+00:00'),
       'scheduled', '2030-01-01 09:00+00', 0, 'reminder-' || id, now(), now()
FROM seed_small_reminders;
INSERT INTO deliveries (id, business_id, reminder_id, client_id, channel, occurrence_key, status,
                        attempts, created_at, updated_at)
SELECT gen_random_uuid(), sr.business_id, sr.id, sr.client_id, 'email', 'seed-' || k, 'delivered',
       1, now() - k * interval '1 day', now()
FROM seed_small_reminders sr, generate_series(1, 20) AS k;

COMMIT;
ANALYZE;
