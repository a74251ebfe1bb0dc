-- D3: an email a provider accepted (it has the provider's message id) keeps no body, so its one-time
-- links and PINs are not readable here; emails/mailer.ts empties each one as it is sent from now on.
-- Rows without a provider's id are the development mailbox (or still pending) and keep theirs.
UPDATE "sent_emails" SET "html" = '[sent; body not kept]', "text" = '[sent; body not kept]'
WHERE "status" = 'sent' AND "provider_message_id" IS NOT NULL AND "text" <> '[sent; body not kept]';
