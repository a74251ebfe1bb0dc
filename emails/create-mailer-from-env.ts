import { Resend } from 'resend';
import type { Env } from '../config/env';
import type { Db } from '../db/client';
import { createMailer, type Mailer } from './mailer';

/** Resend when a key is configured; otherwise the development mailbox (the sent_emails table). */
export function createMailerFromEnv(env: Pick<Env, 'RESEND_API_KEY' | 'EMAIL_FROM'>, db: Db): Mailer {
  const resend = env.RESEND_API_KEY ? new Resend(env.RESEND_API_KEY) : undefined;
  return createMailer({ db, from: env.EMAIL_FROM, resend });
}
