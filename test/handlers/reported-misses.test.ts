// The four misses reported on exports the importer had never seen (issue 13), on exports of the
// same shape in test/fixtures/eval. Each failed before the importer read names and values as evidence.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyseSource, mapFields, parseInputs, validateRecords } from '../../src/handlers/index.ts';
import { assessMapping } from '../../src/handlers/outcome.ts';
import type { FieldMapping } from '../../src/handlers/types.ts';
import { file, rejection, runPipeline } from './run-pipeline.ts';

const EVAL = join(import.meta.dirname, '../fixtures/eval');

function exportFiles(name: string, ...files: string[]) {
  return files.map((path) => file(path, new Uint8Array(readFileSync(join(EVAL, name, path)))));
}

function targets(mappings: FieldMapping[], table: string): Record<string, string> {
  return Object.fromEntries(mappings.filter((mapping) => mapping.file === table).map((mapping) => [mapping.source, mapping.target]));
}

describe('reported misses', () => {
  it('1. reads a ServiceNow view with serv_/app_/bus_ prefixes: every server an asset, backup columns left alone', async () => {
    const { mapping, validation, classes } = await runPipeline(exportFiles('snow-db-view-prefixed', 'u_cmdb_server_app_view.csv'));
    expect(targets(mapping.mappings, 'u_cmdb_server_app_view.csv')).toMatchObject({
      serv_name: 'name',
      serv_os: 'os_name',
      serv_ip_address: 'ip_addresses',
      serv_sys_class_name: 'asset_class',
      serv_u_last_backup_category: 'attributes',
      serv_u_backup_software_vendor: 'attributes',
      app_name: 'application',
      app_u_application_criticality: 'criticality',
      bus_name: 'business_service',
    });
    expect(validation.quarantine).toHaveLength(0);
    expect(classes.summary).toMatchObject({ assets: 109, byType: { server: 109 } });
    const name = mapping.mappings.find((entry) => entry.source === 'serv_name');
    expect(name?.decidedBy).toBe('header_and_values');
    expect(name?.evidence.join(' ')).toContain('prefix "serv_"');
  });

  it('2. reads cmdb_rel_ci by parent_u_key/child_u_key as 61 typed edges between the CIs whose u_key they name, not as assets', async () => {
    const { analysis, mapping, classes, dependencies } = await runPipeline(exportFiles('snow-rel-by-key', 'cmdb_ci.csv', 'cmdb_rel_ci.csv'));
    expect(analysis.tables.find((table) => table.table === 'cmdb_rel_ci.csv')?.role).toBe('relations');
    expect(targets(mapping.mappings, 'cmdb_rel_ci.csv')).toEqual({ parent_u_key: 'rel_parent', child_u_key: 'rel_child', type: 'rel_type' });
    expect(targets(mapping.mappings, 'cmdb_ci.csv')).toMatchObject({ u_key: 'source_key' });
    expect(classes.summary.assets).toBe(46);
    const relationEdges = dependencies.edges.filter((edge) => edge.origin === 'relation');
    expect(relationEdges).toHaveLength(61);
    expect(dependencies.summary.unresolvedEndpoints).toBe(0);
    // "Provided by::Provides" reads parent → child as written.
    const provided = relationEdges.find((edge) => edge.type === 'provided_by');
    const byKey = new Map(classes.assets.map((asset) => [asset.asset_key, asset]));
    expect(byKey.get(provided!.source_key)?.asset_type).toBe('service');
    expect(byKey.get(provided!.target_key)?.asset_type).toBe('application');
  });

  it('3. classifies ServiceNow class names: cmdb_ci_db_hana_instance is a database, cmdb_ci_ip_firewall a network device, cmdb_ci_appl an application', async () => {
    const { classes } = await runPipeline(exportFiles('snow-rel-by-key', 'cmdb_ci.csv'));
    const typeOf = (assetClass: string) => [...new Set(classes.assets.filter((asset) => asset.asset_class === assetClass).map((asset) => asset.asset_type))];
    expect(typeOf('cmdb_ci_db_hana_instance')).toEqual(['database']);
    expect(typeOf('cmdb_ci_db_ora_instance')).toEqual(['database']);
    expect(typeOf('cmdb_ci_postgresql_instance')).toEqual(['database']);
    expect(typeOf('cmdb_ci_ip_firewall')).toEqual(['network_device']);
    expect(typeOf('cmdb_ci_ip_switch')).toEqual(['network_device']);
    expect(typeOf('cmdb_ci_appl')).toEqual(['application']);
    expect(classes.summary.byType.database).toBe(5);
    const hana = classes.assets.find((asset) => asset.asset_class === 'cmdb_ci_db_hana_instance');
    expect(hana?.classification.evidence[0]).toBe('class_database: asset_class="cmdb_ci_db_hana_instance"');
  });

  it('4. fails a header-only CSV with NO_RECORDS and a hint instead of completing with quality 100', async () => {
    const error = await rejection(runPipeline(exportFiles('header-only', 'cmdb_ci.csv')));
    expect(error).toMatchObject({ code: 'NO_RECORDS', message: expect.stringContaining('"cmdb_ci.csv" (5 columns) has a header and no rows') });
    expect(error.hint).toMatch(/Export the table again with its rows/);
  });

  it('4. stops an export whose records nothing identifies at the review, naming the cause and the columns considered', async () => {
    const tables = await parseInputs(exportFiles('no-identity', 'auslastung.csv'));
    const analysis = analyseSource(tables);
    const mapping = mapFields(tables, analysis);
    const { review } = assessMapping(mapping, validateRecords(tables, analysis), { approved: false });
    expect(review.required).toBe(true);
    expect(review.reasons[0]).toMatch(/^NO_IDENTITY_COLUMN: auslastung\.csv: no column maps to an identity field .* Columns considered: "Monat" → attributes/);
    expect(() => assessMapping(mapping, validateRecords(tables, analysis), { approved: false, reviewMappings: false })).toThrow(expect.objectContaining({ code: 'NO_IDENTITY_COLUMN' }));
  });
});
