ALTER TABLE "account_emails" ADD COLUMN "password_hash" text;--> statement-breakpoint
ALTER TABLE "account_emails" ADD COLUMN "name" text;--> statement-breakpoint
ALTER TABLE "email_tokens" ADD COLUMN "password_hash" text;--> statement-breakpoint
ALTER TABLE "email_tokens" ADD COLUMN "name" text;--> statement-breakpoint
-- Links sent before: a profile's first sign-up made it and sent the one confirmation link, so a live link
-- is that sign-up's (its password and name are the profile's) unless a later sign-up noted another
-- password; then the link dies, as a newer sign-up's would kill it now (A1).
UPDATE "email_tokens" AS t SET "password_hash" = p."password_hash", "name" = p."name"
FROM "profiles" AS p
WHERE t."profile_id" = p."id" AND t."kind" = 'confirm_email' AND t."used_at" IS NULL
  AND p."email_confirmed_at" IS NULL AND p."signup_password_hash" = p."password_hash";--> statement-breakpoint
UPDATE "email_tokens" SET "used_at" = now()
WHERE "kind" = 'confirm_email' AND "used_at" IS NULL AND "password_hash" IS NULL;--> statement-breakpoint
-- Confirmation emails still queued: the same sign-up's; one a later sign-up superseded stays unbound
-- and goes unsent.
UPDATE "account_emails" AS e SET "password_hash" = p."password_hash", "name" = p."name"
FROM "profiles" AS p
WHERE e."email" = p."email" AND e."kind" = 'confirm_email'
  AND p."email_confirmed_at" IS NULL AND p."signup_password_hash" = p."password_hash";
