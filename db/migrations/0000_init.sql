CREATE TYPE "public"."email_token_kind" AS ENUM('confirm_email', 'password_reset', 'invitation');--> statement-breakpoint
CREATE TYPE "public"."platform_role" AS ENUM('installer', 'support');--> statement-breakpoint
CREATE TYPE "public"."consent_decision" AS ENUM('pending', 'approved', 'denied');--> statement-breakpoint
CREATE TYPE "public"."deletion_status" AS ENUM('awaiting_consent', 'blocked_owner', 'denied', 'timed_out', 'canceled', 'completed');--> statement-breakpoint
CREATE TYPE "public"."email_status" AS ENUM('pending', 'sent');--> statement-breakpoint
CREATE TYPE "public"."rollout_status" AS ENUM('running', 'paused', 'completed', 'aborted');--> statement-breakpoint
CREATE TYPE "public"."rollout_target_state" AS ENUM('queued', 'in_progress', 'succeeded', 'failed', 'timed_out', 'skipped', 'canceled');--> statement-breakpoint
CREATE TYPE "public"."access_kind" AS ENUM('tag', 'mobile_key', 'pin', 'remote');--> statement-breakpoint
CREATE TYPE "public"."access_status" AS ENUM('active', 'needs_activation', 'revoked');--> statement-breakpoint
CREATE TYPE "public"."site_role" AS ENUM('owner', 'admin', 'user');--> statement-breakpoint
CREATE TYPE "public"."site_status" AS ENUM('installing', 'active');--> statement-breakpoint
CREATE TYPE "public"."subscription_status" AS ENUM('none', 'active', 'expired');--> statement-breakpoint
CREATE TABLE "email_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" "email_token_kind" NOT NULL,
	"token_hash" text NOT NULL,
	"profile_id" uuid,
	"email" text,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "profiles" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"email" text NOT NULL,
	"name" text NOT NULL,
	"password_hash" text NOT NULL,
	"email_confirmed_at" timestamp with time zone,
	"platform_role" "platform_role",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deletion_consents" (
	"request_id" uuid NOT NULL,
	"site_id" uuid NOT NULL,
	"decision" "consent_decision" DEFAULT 'pending' NOT NULL,
	"token_hash" text,
	"token_expires_at" timestamp with time zone,
	"token_used_at" timestamp with time zone,
	"decided_at" timestamp with time zone,
	"reminded_at" timestamp with time zone,
	CONSTRAINT "deletion_consents_request_id_site_id_pk" PRIMARY KEY("request_id","site_id")
);
--> statement-breakpoint
CREATE TABLE "deletion_requests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"profile_id" uuid,
	"status" "deletion_status" DEFAULT 'awaiting_consent' NOT NULL,
	"deadline_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "idempotency_records" (
	"scope" text NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"status" integer NOT NULL,
	"body" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_records_scope_key_pk" PRIMARY KEY("scope","key")
);
--> statement-breakpoint
CREATE TABLE "sent_emails" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"idempotency_key" text NOT NULL,
	"to_address" text NOT NULL,
	"template" text NOT NULL,
	"subject" text NOT NULL,
	"html" text NOT NULL,
	"text" text NOT NULL,
	"status" "email_status" DEFAULT 'pending' NOT NULL,
	"provider_message_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "firmware_releases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"model" text NOT NULL,
	"version" text NOT NULL,
	"url" text NOT NULL,
	"sha256" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollout_targets" (
	"rollout_id" uuid NOT NULL,
	"iq_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"state" "rollout_target_state" DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"update_id" text,
	"error" text,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "rollout_targets_rollout_id_iq_id_pk" PRIMARY KEY("rollout_id","iq_id")
);
--> statement-breakpoint
CREATE TABLE "rollouts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"release_id" uuid NOT NULL,
	"target" jsonb NOT NULL,
	"policy" jsonb NOT NULL,
	"status" "rollout_status" DEFAULT 'running' NOT NULL,
	"abort_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "access_methods" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_id" uuid NOT NULL,
	"profile_id" uuid NOT NULL,
	"kind" "access_kind" NOT NULL,
	"iq_id" uuid,
	"tag_uid" text,
	"pin_hash" text,
	"status" "access_status" DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "events_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"site_id" uuid NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"type" text NOT NULL,
	"actor_profile_id" uuid,
	"actor_kind" text DEFAULT 'profile' NOT NULL,
	"subject_profile_id" uuid,
	"lock_id" uuid,
	"iq_id" uuid,
	"data" jsonb
);
--> statement-breakpoint
CREATE TABLE "iqs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_id" uuid NOT NULL,
	"serial" text NOT NULL,
	"model" text NOT NULL,
	"name" text,
	"secret_hash" text NOT NULL,
	"subscribed" boolean DEFAULT false NOT NULL,
	"subscribed_at" timestamp with time zone,
	"online" boolean DEFAULT false NOT NULL,
	"firmware" text,
	"last_seen_at" timestamp with time zone,
	"gateway_instance" text,
	"registered_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "locks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_id" uuid NOT NULL,
	"iq_id" uuid NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "memberships" (
	"site_id" uuid NOT NULL,
	"profile_id" uuid NOT NULL,
	"role" "site_role" NOT NULL,
	"subscribed" boolean DEFAULT false NOT NULL,
	"subscribed_at" timestamp with time zone,
	"master_key" boolean DEFAULT false NOT NULL,
	"joined_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "memberships_site_id_profile_id_pk" PRIMARY KEY("site_id","profile_id")
);
--> statement-breakpoint
CREATE TABLE "sites" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"status" "site_status" DEFAULT 'active' NOT NULL,
	"installer_profile_id" uuid,
	"sandbox" boolean DEFAULT false NOT NULL,
	"clock_offset_seconds" bigint DEFAULT 0 NOT NULL,
	"subscription_status" "subscription_status" DEFAULT 'none' NOT NULL,
	"notify_event_types" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"released_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "redemption_failures" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_id" uuid NOT NULL,
	"client_key" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscription_terms" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"site_id" uuid NOT NULL,
	"voucher_id" uuid NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone NOT NULL,
	"users_limit" integer NOT NULL,
	"iqs_limit" integer NOT NULL,
	"carried_over_seconds" bigint DEFAULT 0 NOT NULL,
	"previous_term_id" uuid,
	"request_id" text NOT NULL,
	"replaced_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "vouchers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"code_hash" text NOT NULL,
	"users_limit" integer NOT NULL,
	"iqs_limit" integer NOT NULL,
	"duration_days" integer NOT NULL,
	"redeem_by" timestamp with time zone,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"redeemed_at" timestamp with time zone,
	"redeemed_site_id" uuid
);
--> statement-breakpoint
ALTER TABLE "email_tokens" ADD CONSTRAINT "email_tokens_profile_id_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."profiles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deletion_consents" ADD CONSTRAINT "deletion_consents_request_id_deletion_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."deletion_requests"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deletion_consents" ADD CONSTRAINT "deletion_consents_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollout_targets" ADD CONSTRAINT "rollout_targets_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollout_targets" ADD CONSTRAINT "rollout_targets_iq_id_iqs_id_fk" FOREIGN KEY ("iq_id") REFERENCES "public"."iqs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_release_id_firmware_releases_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."firmware_releases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_methods" ADD CONSTRAINT "access_methods_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_methods" ADD CONSTRAINT "access_methods_profile_id_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."profiles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "access_methods" ADD CONSTRAINT "access_methods_iq_id_iqs_id_fk" FOREIGN KEY ("iq_id") REFERENCES "public"."iqs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "iqs" ADD CONSTRAINT "iqs_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "locks" ADD CONSTRAINT "locks_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "locks" ADD CONSTRAINT "locks_iq_id_iqs_id_fk" FOREIGN KEY ("iq_id") REFERENCES "public"."iqs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_profile_id_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."profiles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sites" ADD CONSTRAINT "sites_installer_profile_id_profiles_id_fk" FOREIGN KEY ("installer_profile_id") REFERENCES "public"."profiles"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscription_terms" ADD CONSTRAINT "subscription_terms_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscription_terms" ADD CONSTRAINT "subscription_terms_voucher_id_vouchers_id_fk" FOREIGN KEY ("voucher_id") REFERENCES "public"."vouchers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_created_by_profiles_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."profiles"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "vouchers" ADD CONSTRAINT "vouchers_redeemed_site_id_sites_id_fk" FOREIGN KEY ("redeemed_site_id") REFERENCES "public"."sites"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "email_tokens_hash_key" ON "email_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "email_tokens_profile_idx" ON "email_tokens" USING btree ("profile_id");--> statement-breakpoint
CREATE INDEX "email_tokens_open_invitation_idx" ON "email_tokens" USING btree ("email") WHERE "email_tokens"."kind" = 'invitation' and "email_tokens"."used_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "profiles_email_key" ON "profiles" USING btree ("email");--> statement-breakpoint
CREATE INDEX "deletion_consents_token_idx" ON "deletion_consents" USING btree ("token_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "deletion_requests_one_open_key" ON "deletion_requests" USING btree ("profile_id") WHERE "deletion_requests"."status" = 'awaiting_consent';--> statement-breakpoint
CREATE UNIQUE INDEX "sent_emails_idempotency_key" ON "sent_emails" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "sent_emails_created_idx" ON "sent_emails" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "firmware_releases_model_version_key" ON "firmware_releases" USING btree ("model","version");--> statement-breakpoint
CREATE INDEX "rollout_targets_state_idx" ON "rollout_targets" USING btree ("rollout_id","state");--> statement-breakpoint
CREATE INDEX "access_methods_member_idx" ON "access_methods" USING btree ("site_id","profile_id");--> statement-breakpoint
CREATE INDEX "access_methods_iq_idx" ON "access_methods" USING btree ("iq_id");--> statement-breakpoint
CREATE INDEX "events_site_seq_idx" ON "events" USING btree ("site_id","seq");--> statement-breakpoint
CREATE INDEX "events_actor_idx" ON "events" USING btree ("actor_profile_id");--> statement-breakpoint
CREATE INDEX "events_subject_idx" ON "events" USING btree ("subject_profile_id");--> statement-breakpoint
CREATE UNIQUE INDEX "iqs_serial_key" ON "iqs" USING btree ("serial");--> statement-breakpoint
CREATE INDEX "iqs_site_idx" ON "iqs" USING btree ("site_id");--> statement-breakpoint
CREATE INDEX "locks_site_idx" ON "locks" USING btree ("site_id");--> statement-breakpoint
CREATE UNIQUE INDEX "memberships_one_owner_key" ON "memberships" USING btree ("site_id") WHERE "memberships"."role" = 'owner';--> statement-breakpoint
CREATE INDEX "memberships_profile_idx" ON "memberships" USING btree ("profile_id");--> statement-breakpoint
CREATE INDEX "redemption_failures_site_idx" ON "redemption_failures" USING btree ("site_id","at");--> statement-breakpoint
CREATE INDEX "redemption_failures_client_idx" ON "redemption_failures" USING btree ("client_key","at");--> statement-breakpoint
CREATE UNIQUE INDEX "subscription_terms_voucher_key" ON "subscription_terms" USING btree ("voucher_id");--> statement-breakpoint
CREATE UNIQUE INDEX "subscription_terms_request_key" ON "subscription_terms" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "subscription_terms_site_idx" ON "subscription_terms" USING btree ("site_id","starts_at");--> statement-breakpoint
CREATE UNIQUE INDEX "vouchers_code_hash_key" ON "vouchers" USING btree ("code_hash");