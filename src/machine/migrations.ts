/**
 * Snapshot migrations: how a snapshot persisted by an older machine version becomes one the current
 * machine can restore. Key = the version migrated FROM; each step returns the snapshot of version + 1.
 * When MACHINE_VERSION is bumped, add the step from the previous version here (and a test with a real
 * old snapshot). A snapshot with no path to the current version is left untouched and reported as
 * needs_migration.
 */
export type SnapshotMigration = (snapshot: Record<string, unknown>) => Record<string, unknown>;

export const SNAPSHOT_MIGRATIONS: Readonly<Record<number, SnapshotMigration>> = {
  // Version 1 stored reviewMappings: false when it was not given, and stopped for weak mappings all the
  // same; version 2 reads false as "never ask". A stored false becomes "not given", as it behaved.
  1: (snapshot) => {
    const context = snapshot.context as { options?: Record<string, unknown> } | undefined;
    if (context?.options?.reviewMappings !== false) return snapshot;
    const { reviewMappings: _dropped, ...options } = context.options;
    return { ...snapshot, context: { ...context, options } };
  },
};

/** Applies the migrations from `from` up to `to`; null when a step is missing. */
export function migrateSnapshot(
  snapshot: unknown,
  from: number,
  to: number,
  migrations: Readonly<Record<number, SnapshotMigration>> = SNAPSHOT_MIGRATIONS,
): Record<string, unknown> | null {
  if (from > to) return null;
  let current = snapshot as Record<string, unknown>;
  for (let version = from; version < to; version++) {
    const step = migrations[version];
    if (!step) return null;
    current = step(current);
  }
  return current;
}
