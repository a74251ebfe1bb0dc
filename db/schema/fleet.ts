import { sql } from 'drizzle-orm';
import {
  bigint,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { iqs } from './sites';

export const firmwareReleases = pgTable(
  'firmware_releases',
  {
    id: uuid().primaryKey().defaultRandom(),
    model: text().notNull(),
    version: text().notNull(),
    url: text().notNull(),
    sha256: text().notNull(),
    sizeBytes: bigint({ mode: 'number' }).notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('firmware_releases_model_version_key').on(t.model, t.version)],
);

export const rolloutStatus = pgEnum('rollout_status', ['running', 'paused', 'completed', 'aborted']);

export const rollouts = pgTable('rollouts', {
  id: uuid().primaryKey().defaultRandom(),
  releaseId: uuid()
    .notNull()
    .references(() => firmwareReleases.id),
  target: jsonb()
    .$type<{ model?: string | undefined; siteIds?: string[] | undefined; iqIds?: string[] | undefined }>()
    .notNull(),
  policy: jsonb().$type<Record<string, unknown>>().notNull(),
  status: rolloutStatus().notNull().default('running'),
  abortReason: text(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp({ withTimezone: true }),
});

/**
 * F5: every change of a rollout's status, in the order recorded, with how many update commands had
 * been started by then (attempts summed over its IQs). Written by the rollout's workflow alone, in the
 * transaction that changes the status (db/queries/rollouts.ts), which no start of an update overlaps.
 */
export const rolloutStatusChanges = pgTable(
  'rollout_status_changes',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    rolloutId: uuid()
      .notNull()
      .references(() => rollouts.id, { onDelete: 'cascade' }),
    status: rolloutStatus().notNull(),
    reason: text(),
    updatesStarted: integer().notNull(),
    at: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [index('rollout_status_changes_rollout_idx').on(t.rolloutId, t.id)],
);

export const rolloutTargetState = pgEnum('rollout_target_state', [
  'queued',
  'in_progress',
  'succeeded',
  'failed',
  'timed_out',
  'skipped',
  'canceled',
]);

export const rolloutTargets = pgTable(
  'rollout_targets',
  {
    rolloutId: uuid()
      .notNull()
      .references(() => rollouts.id, { onDelete: 'cascade' }),
    iqId: uuid()
      .notNull()
      .references(() => iqs.id, { onDelete: 'cascade' }),
    /** Order in which the rollout takes IQs (waves are slices of it). */
    position: integer().notNull(),
    state: rolloutTargetState().notNull().default('queued'),
    attempts: integer().notNull().default(0),
    updateId: text(),
    error: text(),
    startedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.rolloutId, t.iqId] }),
    index('rollout_targets_state_idx').on(t.rolloutId, t.state),
    // An IQ's update in flight, looked up on every hello (updateInFlight).
    index('rollout_targets_in_progress_iq_idx').on(t.iqId).where(sql`${t.state} = 'in_progress'`),
    // The next queued IQs in position order, read by every look of a wave (startNextUpdates).
    index('rollout_targets_queued_position_idx')
      .on(t.rolloutId, t.position)
      .where(sql`${t.state} = 'queued'`),
    // Queued again after a timed-out attempt: a look still checks their version (markReportedVersion).
    index('rollout_targets_retried_idx')
      .on(t.rolloutId)
      .where(sql`${t.state} = 'queued' and ${t.attempts} > 0`),
    // The targets ever started: the furthest position an update started at, which support's view of a
    // rollout shows (rolloutPlan), and the update commands a status change logs (logStatusChange).
    index('rollout_targets_started_position_idx').on(t.rolloutId, t.position).where(sql`${t.attempts} > 0`),
  ],
);

/**
 * How many of a rollout's targets are in each state, kept by triggers on rollout_targets in the
 * statement that changes them (migration 0016): a wave's look reads them ten times a second, and
 * counting the targets instead cost each look a read of all of them (issue 15).
 */
export const rolloutTargetCounts = pgTable(
  'rollout_target_counts',
  {
    rolloutId: uuid()
      .notNull()
      .references(() => rollouts.id, { onDelete: 'cascade' }),
    state: rolloutTargetState().notNull(),
    n: integer().notNull(),
  },
  (t) => [primaryKey({ columns: [t.rolloutId, t.state] })],
);

/**
 * The running device-gateway instances and where each serves its internal command endpoint (the
 * direct request/reply path for remote openings): `iqs.gatewayInstance` names the row. Written at the
 * instance's start, touched each heartbeat, deleted at its stop.
 */
export const gatewayInstances = pgTable('gateway_instances', {
  id: text().primaryKey(),
  /** tcp://host:port of the instance's command endpoint (loopback unless configured otherwise). */
  commandUrl: text().notNull(),
  heartbeatAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});
