// Never a silent success: an import that identifies nothing, or whose records are (mostly) held back,
// stops at the mapping review, or fails with a code and a hint when nobody may be asked.
import { DataError } from './errors.ts';
import type { MappingOutput, ValidationOutput } from './types.ts';

/** More than this share of a table's records quarantined asks for a review (configurable per call). */
export const MAX_QUARANTINE_SHARE = 0.5;

export interface AssessOptions {
  /** A reviewer approved the mappings already: nothing can be asked again. */
  approved: boolean;
  /** As the workflow was created: true always stops for review, false never asks, undefined asks when it must. */
  reviewMappings?: boolean;
  maxQuarantineShare?: number;
}

export interface Assessment {
  review: { required: boolean; reasons: string[] };
}

interface Problem {
  code: 'NO_IDENTITY_COLUMN' | 'NO_USABLE_RECORDS' | 'TOO_MANY_QUARANTINED';
  message: string;
}

const HINTS: Record<Problem['code'], string> = {
  NO_IDENTITY_COLUMN:
    'Map a column that names each record: create the workflow without reviewMappings: false and approve the mappings with an override such as { "<column>": "name" }, or give the column a recognisable header (name, hostname, fqdn, ip_address, sys_id).',
  NO_USABLE_RECORDS:
    'Read the findings (GET /workflows/:id/quarantine): when a column was mapped wrongly, fix it at the mapping review with an override; otherwise correct the export and start a new workflow.',
  TOO_MANY_QUARANTINED:
    'Read the findings (GET /workflows/:id/quarantine) and fix the mapping at the review, or correct the export; create the workflow without reviewMappings: false to be asked instead.',
};

function topFindings(validation: ValidationOutput, table: string): string {
  const counts = new Map<string, number>();
  for (const record of validation.quarantine) {
    if (record.table !== table) continue;
    for (const finding of record.findings) if (finding.severity === 'error') counts.set(finding.code, (counts.get(finding.code) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([code, count]) => `${code} ${count}`).join(', ');
}

function problemsOf(mapping: MappingOutput, validation: ValidationOutput, maxShare: number): Problem[] {
  const problems: Problem[] = [];
  for (const reason of mapping.reviewReasons) if (reason.startsWith('NO_IDENTITY_COLUMN: ')) problems.push({ code: 'NO_IDENTITY_COLUMN', message: reason.slice('NO_IDENTITY_COLUMN: '.length) });
  const records = validation.tables.reduce((sum, table) => sum + table.records, 0);
  const usable = validation.tables.reduce((sum, table) => sum + table.valid, 0);
  if (records > 0 && usable === 0) {
    const tables = validation.tables.filter((table) => table.records > 0).map((table) => `${table.table} (${topFindings(validation, table.table)})`);
    problems.push({ code: 'NO_USABLE_RECORDS', message: `All ${records} records were quarantined, so nothing would be imported: ${tables.join('; ')}.` });
    return problems;
  }
  for (const table of validation.tables) {
    if (table.records === 0 || table.quarantined / table.records <= maxShare) continue;
    const share = Math.round((100 * table.quarantined) / table.records);
    problems.push({ code: 'TOO_MANY_QUARANTINED', message: `${table.table}: ${table.quarantined} of ${table.records} records (${share}%) were quarantined, more than the ${Math.round(maxShare * 100)}% allowed (${topFindings(validation, table.table)}).` });
  }
  return problems;
}

/**
 * Decides whether the workflow may go on after field mapping, must stop at the review, or must fail.
 * Throws a DataError (no retry can help) when the import would identify or keep nothing and nobody may be asked.
 */
export function assessMapping(mapping: MappingOutput, validation: ValidationOutput, options: AssessOptions): Assessment {
  const problems = problemsOf(mapping, validation, options.maxQuarantineShare ?? MAX_QUARANTINE_SHARE);
  // A reviewer saw a high quarantine share and approved it; an import that keeps nothing is never approved.
  const fatal = problems.filter((problem) => problem.code !== 'TOO_MANY_QUARANTINED' || !options.approved);
  if (fatal.length > 0 && (options.approved || options.reviewMappings === false)) {
    const [first] = fatal;
    throw new DataError(first.code, `${first.message}${options.approved ? ' (after the reviewed mappings were applied)' : ''}`, { hint: HINTS[first.code], details: { problems: fatal } });
  }
  if (options.approved || options.reviewMappings === false) return { review: { required: false, reasons: [] } };
  const reasons = [
    ...mapping.reviewReasons,
    ...problems.filter((problem) => problem.code !== 'NO_IDENTITY_COLUMN').map((problem) => `${problem.code}: ${problem.message}`),
  ];
  return { review: { required: reasons.length > 0, reasons } };
}
