-- Invitation links move onto their invitation (one link, one site). Links of the old kind die, and so
-- do the pending invitations they led to: managers invite again. (The DELETEs are added by hand:
-- drizzle-kit generates schema changes only, and the enum cannot change while rows use the old value.)
DROP INDEX "email_tokens_open_invitation_idx";--> statement-breakpoint
DELETE FROM "email_tokens" WHERE "kind" = 'invitation';--> statement-breakpoint
ALTER TABLE "email_tokens" ALTER COLUMN "kind" SET DATA TYPE text;--> statement-breakpoint
DROP TYPE "public"."email_token_kind";--> statement-breakpoint
CREATE TYPE "public"."email_token_kind" AS ENUM('confirm_email', 'password_reset');--> statement-breakpoint
ALTER TABLE "email_tokens" ALTER COLUMN "kind" SET DATA TYPE "public"."email_token_kind" USING "kind"::"public"."email_token_kind";--> statement-breakpoint
DELETE FROM "site_invitations" WHERE "accepted_at" IS NULL;--> statement-breakpoint
ALTER TABLE "site_invitations" ADD COLUMN "token_hash" text;--> statement-breakpoint
ALTER TABLE "site_invitations" ADD COLUMN "expires_at" timestamp with time zone DEFAULT now() + interval '14 days' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "site_invitations_token_key" ON "site_invitations" USING btree ("token_hash");--> statement-breakpoint
ALTER TABLE "email_tokens" DROP COLUMN "email";