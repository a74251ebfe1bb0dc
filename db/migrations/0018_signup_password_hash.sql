ALTER TABLE "profiles" ADD COLUMN "signup_password_hash" text;--> statement-breakpoint
-- A profile not yet confirmed was made by its sign-up: that sign-up's password answers email_not_confirmed (A4).
UPDATE "profiles" SET "signup_password_hash" = "password_hash" WHERE "email_confirmed_at" IS NULL;
