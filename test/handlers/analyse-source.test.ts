import { describe, expect, it } from 'vitest';
import { analyseSource, parseInputs } from '../../src/handlers/index.ts';
import { azureDependencyCsv, cmfIntakeCsv, netboxFixtureJson, rvtoolsVinfoCsv, serviceNowCiCsv, serviceNowRelCsv } from '../fixtures/generate.ts';
import { file } from './run-pipeline.ts';

describe('analyseSource', () => {
  it('detects the source system and role of every kind of export', async () => {
    const sn = serviceNowCiCsv();
    const tables = await parseInputs([
      file('cmdb_ci.csv', sn.csv),
      file('cmdb_rel_ci.csv', serviceNowRelCsv(sn.cis)),
      file('deps.csv', azureDependencyCsv()),
      file('intake.csv', cmfIntakeCsv()),
      file('vinfo.csv', rvtoolsVinfoCsv()),
      file('netbox.json', netboxFixtureJson()),
      file('hand.csv', 'Server;Owner\nweb01;Jane\n'),
    ]);
    const analysis = analyseSource(tables);
    const summary = Object.fromEntries(analysis.tables.map((table) => [table.table, `${table.source.system}/${table.role}`]));
    expect(summary).toEqual({
      'cmdb_ci.csv': 'servicenow/assets',
      'cmdb_rel_ci.csv': 'servicenow/relations',
      'deps.csv': 'azure_migrate/flows',
      'intake.csv': 'aws_migration_factory/assets',
      'vinfo.csv': 'rvtools/assets',
      'netbox.json#dcim.device': 'netbox/assets',
      'netbox.json#virtualization.virtualmachine': 'netbox/assets',
      'netbox.json#virtualization.cluster': 'netbox/assets',
      'netbox.json#dcim.cable': 'netbox/relations',
      'hand.csv': 'generic/assets',
    });
    expect(analysis.source.system).toBe('servicenow');
    for (const table of analysis.tables) {
      expect(table.source.confidence).toBeGreaterThanOrEqual(0.5);
      expect(table.source.confidence).toBeLessThanOrEqual(1);
    }
  });

  it('profiles columns: type, empty share, distinct count, at most five examples and value patterns', async () => {
    const [table] = await parseInputs([
      file(
        'p.csv',
        [
          'ip,fqdn,cost,ram,tags,updated,mac,empty,count',
          '10.0.0.1,a.example.com,"3,665",16 GB,a=1;b=2,2023-08-04 1:00:00,00:1a:2b:3c:4d:5e,,1',
          '10.0.0.2,b.example.com,"1,200",8 GB,a=2,2024-05-16 12:40:57,00:1a:2b:3c:4d:5f,,2',
          '10.0.0.3,c.example.com,"9,999",4 GB,a=3;c=4,2024-05-16 12:41:10,00:1a:2b:3c:4d:60,,3',
          '10.0.0.4,d.example.com,"2,000",2 GB,a=4,2024-05-16 12:41:11,00:1a:2b:3c:4d:61,,4',
          '10.0.0.5,e.example.com,"3,000",1 GB,a=5,2024-05-16 12:41:12,00:1a:2b:3c:4d:62,,5',
          '10.0.0.6,f.example.com,"4,000",1 GB,a=6,2024-05-16 12:41:13,00:1a:2b:3c:4d:63,,',
        ].join('\r\n'),
      ),
    ]);
    const [analysis] = analyseSource([table]).tables;
    const profile = Object.fromEntries(analysis.profile.map((column) => [column.name, column]));
    expect(profile.ip.patterns).toContain('ipv4');
    expect(profile.fqdn.patterns).toContain('fqdn');
    expect(profile.cost.patterns).toContain('number_with_separators');
    expect(profile.cost.type).toBe('number');
    expect(profile.ram.patterns).toContain('number_with_unit');
    expect(profile.tags.patterns).toContain('key_value_list');
    expect(profile.updated.patterns).toContain('date');
    expect(profile.updated.type).toBe('date');
    expect(profile.mac.patterns).toContain('mac');
    expect(profile.empty).toMatchObject({ type: 'empty', emptyShare: 1, distinct: 0, examples: [] });
    expect(profile.count).toMatchObject({ type: 'integer', distinct: 5 });
    expect(profile.count.emptyShare).toBeCloseTo(1 / 6, 3);
    expect(profile.ip.examples).toHaveLength(5);
    expect(analysis).toMatchObject({ rows: 6, columns: 9, format: 'csv', encoding: 'utf-8', delimiter: ',' });
  });

  it('recognises IPv6 link-local addresses with zone ids', async () => {
    const [table] = await parseInputs([file('v6.csv', 'Source IP\nfe80::6208:ffe1:9223:386e%3\nfe80::28b8:60da:fe51:7378%3\n2001:db8::1\n')]);
    expect(analyseSource([table]).tables[0].profile[0].patterns).toContain('ipv6');
  });
});
