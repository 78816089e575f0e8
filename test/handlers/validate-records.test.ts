import { describe, expect, it } from 'vitest';
import { analyseSource, parseInputs, validateRecords } from '../../src/handlers/index.ts';
import { azureDependencyCsv, cmfIntakeCsv, messySpreadsheetXlsx, serviceNowCiCsv, serviceNowRelCsv } from '../fixtures/generate.ts';
import { file } from './run-pipeline.ts';

async function validate(...files: ReturnType<typeof file>[]) {
  const tables = await parseInputs(files);
  return validateRecords(tables, analyseSource(tables));
}

describe('validateRecords', () => {
  it('warns on the later row of a duplicate FQDN and says which row it duplicates', async () => {
    const result = await validate(file('intake.csv', cmfIntakeCsv()));
    const duplicates = result.findings.filter((finding) => finding.code === 'DUPLICATE_IDENTITY');
    expect(duplicates).toHaveLength(1);
    expect(duplicates[0]).toMatchObject({ row: 5, severity: 'warning', column: 'server_fqdn' });
    expect(duplicates[0].message).toContain('server6.example.local');
    expect(duplicates[0].message).toContain('row 5 (Server6)');
    expect(result.quarantine).toHaveLength(0);
  });

  it('quarantines records without identity together with their findings instead of dropping them', async () => {
    const result = await validate(file('inventory.xlsx', await messySpreadsheetXlsx()));
    const servers = result.tables.find((table) => table.table === 'inventory.xlsx#Servers');
    expect(servers).toMatchObject({ records: 7, valid: 6, quarantined: 1 });
    const quarantined = result.quarantine.find((record) => record.table === 'inventory.xlsx#Servers');
    expect(quarantined?.record).toMatchObject({ 'IP Address': 'not-an-ip', Env: 'prod' });
    expect(quarantined?.findings.map((finding) => finding.code)).toContain('NO_IDENTITY');
    for (const table of result.tables) expect(table.valid + table.quarantined).toBe(table.records);
  });

  it('flags invalid IPs, IPs in name columns, host names in IP columns and implausible numbers', async () => {
    const result = await validate(file('inventory.xlsx', await messySpreadsheetXlsx()));
    const codes = result.findings.filter((finding) => finding.table === 'inventory.xlsx#Servers').map((finding) => `${finding.row}:${finding.severity}:${finding.code}:${finding.column ?? ''}`);
    expect(codes).toEqual(
      expect.arrayContaining([
        '3:warning:MISPLACED_VALUE:Server',
        '4:warning:INVALID_IP:IP Address',
        '4:warning:OUT_OF_RANGE:vCPU',
        '4:warning:OUT_OF_RANGE:RAM',
        '5:warning:MISPLACED_VALUE:IP Address',
        '5:error:NO_IDENTITY:',
      ]),
    );
  });

  it('makes an invalid IP an error when it is the only identity of the record', async () => {
    const result = await validate(file('ips.csv', 'ip_address,os\n10.0.0.300,linux\n10.0.0.3,linux\n'));
    expect(result.findings).toEqual([expect.objectContaining({ row: 0, severity: 'error', code: 'INVALID_IP' })]);
    expect(result.quarantine.map((record) => record.row)).toEqual([0]);
  });

  it('treats placeholders such as N/A as missing values', async () => {
    const result = await validate(file('p.csv', 'name,ip_address\nN/A,-\nweb01,N/A\n'));
    expect(result.findings).toEqual([expect.objectContaining({ row: 0, code: 'NO_IDENTITY' })]);
  });

  it('validates relations and flows with their own endpoint rules', async () => {
    const sn = serviceNowCiCsv({ rows: 20 });
    const result = await validate(
      file('cmdb_rel_ci.csv', serviceNowRelCsv(sn.cis)),
      file('deps.csv', azureDependencyCsv({ rows: 5 })),
      file('flows.csv', 'source_ip,destination_ip,destination_port\n10.0.0.1,,443\n10.0.0.1,10.0.0.2,70000\nbad,10.0.0.2,22\n'),
    );
    const relations = result.quarantine.filter((record) => record.table === 'cmdb_rel_ci.csv');
    expect(relations).toHaveLength(1);
    expect(relations[0].findings[0]).toMatchObject({ code: 'MISSING_ENDPOINT', message: expect.stringContaining('no parent') });
    const flows = result.findings.filter((finding) => finding.table === 'flows.csv').map((finding) => `${finding.row}:${finding.severity}:${finding.code}`);
    expect(flows).toEqual(['0:error:MISSING_ENDPOINT', '1:warning:OUT_OF_RANGE', '2:error:INVALID_IP']);
    expect(result.tables.find((table) => table.table === 'deps.csv')?.quarantined).toBe(0);
  });

  it('scores clean tables higher than messy ones, within 0..100', async () => {
    const result = await validate(file('intake.csv', cmfIntakeCsv()), file('inventory.xlsx', await messySpreadsheetXlsx()));
    const score = Object.fromEntries(result.tables.map((table) => [table.table, table.qualityScore]));
    expect(score['intake.csv']).toBeGreaterThan(score['inventory.xlsx#Servers']);
    for (const value of Object.values(score)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(100);
    }
  });

  it('does not flag repeated names when every record carries its own key', async () => {
    const result = await validate(file('k.csv', 'sys_id,name\na1,MacBook Pro\na2,MacBook Pro\na2,Other\n'));
    expect(result.findings.map((finding) => `${finding.row}:${finding.code}:${finding.column}`)).toEqual(['2:DUPLICATE_IDENTITY:sys_id']);
  });
});
