-- V11: a redemption's audit event names its term by id only, as an expiry's does; the voucher, end
-- and carry-over it also held are the subscription history, which owners and admins (who read the
-- audit trail) may not see. The stored api_json is generated from data and follows.
UPDATE "events" SET "data" = jsonb_build_object('termId', "data"->'termId')
WHERE "type" = 'subscription.redeemed' AND "data" - 'termId' <> '{}'::jsonb;
