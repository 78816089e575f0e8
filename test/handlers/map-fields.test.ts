import { describe, expect, it } from 'vitest';
import { analyseSource, mapFields, parseInputs } from '../../src/handlers/index.ts';
import type { FieldMapping, MappingOverrides } from '../../src/handlers/types.ts';
import { azureDependencyCsv, cmfIntakeCsv, netboxFixtureJson, rvtoolsVinfoCsv, serviceNowCiCsv, serviceNowRelCsv } from '../fixtures/generate.ts';
import { file } from './run-pipeline.ts';

async function map(files: ReturnType<typeof file>[], overrides?: MappingOverrides) {
  const tables = await parseInputs(files);
  return { tables, ...mapFields(tables, analyseSource(tables), overrides) };
}

function targets(mappings: FieldMapping[], table: string): Record<string, string> {
  return Object.fromEntries(mappings.filter((mapping) => mapping.file === table).map((mapping) => [mapping.source, mapping.target]));
}

describe('mapFields', () => {
  it('maps ServiceNow fields with their own vocabulary, including u_ custom fields', async () => {
    const sn = serviceNowCiCsv();
    const { mappings, lowConfidence } = await map([file('cmdb_ci.csv', sn.csv), file('cmdb_rel_ci.csv', serviceNowRelCsv(sn.cis))]);
    expect(targets(mappings, 'cmdb_ci.csv')).toMatchObject({
      sys_id: 'source_key',
      name: 'name',
      sys_class_name: 'asset_class',
      ip_address: 'ip_addresses',
      os: 'os_name',
      cpu_count: 'cpu_cores',
      ram: 'memory_mb',
      disk_space: 'disk_gb',
      used_for: 'environment',
      install_status: 'lifecycle_status',
      assignment_group: 'support_group',
      u_application: 'application',
      short_description: 'attributes',
    });
    expect(targets(mappings, 'cmdb_rel_ci.csv')).toMatchObject({ parent: 'rel_parent', child: 'rel_child', type: 'rel_type' });
    expect(lowConfidence).toBe(false);
  });

  it('maps Azure Migrate, CMF, RVTools and NetBox columns', async () => {
    const { mappings } = await map([file('deps.csv', azureDependencyCsv()), file('intake.csv', cmfIntakeCsv()), file('vinfo.csv', rvtoolsVinfoCsv()), file('netbox.json', netboxFixtureJson())]);
    expect(targets(mappings, 'deps.csv')).toMatchObject({ 'Source server name': 'src_host', 'Source IP': 'src_ip', 'Destination server name': 'dst_host', 'Destination IP': 'dst_ip', 'Destination port': 'dst_port', 'Source process': 'process', 'Time slot': 'attributes' });
    expect(targets(mappings, 'intake.csv')).toMatchObject({ server_name: 'name', server_fqdn: 'fqdn', app_name: 'application', server_os_family: 'os_family', server_environment: 'environment', tags: 'tags', wave_name: 'attributes' });
    expect(targets(mappings, 'vinfo.csv')).toMatchObject({ VM: 'name', CPUs: 'cpu_cores', Memory: 'memory_mb', 'Provisioned MB': 'disk_gb', Host: 'virtualization_host', Cluster: 'cluster', 'Primary IP Address': 'ip_addresses', Annotation: 'attributes' });
    expect(targets(mappings, 'netbox.json#virtualization.virtualmachine')).toMatchObject({ id: 'source_key', name: 'name', vcpus: 'cpu_cores', memory: 'memory_mb', disk: 'disk_gb', cluster: 'cluster', device: 'virtualization_host', platform: 'os_name', role: 'asset_class' });
    expect(targets(mappings, 'netbox.json#dcim.cable')).toMatchObject({ a_device: 'rel_parent', b_device: 'rel_child', relation: 'rel_type' });
  });

  it('maps every column exactly once, with unmapped columns kept as attributes with reason none', async () => {
    const { tables, mappings } = await map([file('intake.csv', cmfIntakeCsv())]);
    expect(mappings.map((mapping) => mapping.source)).toEqual(tables[0].columns);
    for (const mapping of mappings) {
      expect(mapping.confidence).toBeGreaterThanOrEqual(0);
      expect(mapping.confidence).toBeLessThanOrEqual(1);
      if (mapping.target === 'attributes') expect(mapping.reason).toBe('none');
    }
  });

  it('uses similarity for misspelt names and value patterns for unnamed columns', async () => {
    const { mappings, lowConfidence, reviewReasons } = await map([file('odd.csv', 'hostnmae,col_a,Primary IP Addr\nweb01,web01.example.com,10.0.0.1\nweb02,web02.example.com,10.0.0.2\n')]);
    const byColumn = Object.fromEntries(mappings.map((mapping) => [mapping.source, mapping]));
    expect(byColumn.hostnmae).toMatchObject({ target: 'hostname', reason: 'similarity' });
    expect(byColumn.col_a).toMatchObject({ target: 'fqdn', reason: 'value_pattern' });
    expect(byColumn.col_a.confidence).toBeLessThan(0.6);
    expect(lowConfidence).toBe(true);
    expect(reviewReasons.join(' ')).toContain('"col_a"');
  });

  it('asks for review when an assets table has no identity column', async () => {
    const { lowConfidence, reviewReasons } = await map([file('apps.csv', 'Owner,Criticality\nJane,High\n')]);
    expect(lowConfidence).toBe(true);
    expect(reviewReasons[0]).toContain('apps.csv: no column maps to an identity field');
  });

  it('applies overrides by column and by table:column', async () => {
    const { mappings, lowConfidence } = await map([file('a.csv', 'col_a,Owner\nweb01,Jane\n'), file('b.csv', 'col_a,Owner\nweb02,Joe\n')], { col_a: 'hostname', 'b.csv:Owner': 'support_group' });
    expect(targets(mappings, 'a.csv')).toEqual({ col_a: 'hostname', Owner: 'owner' });
    expect(targets(mappings, 'b.csv')).toEqual({ col_a: 'hostname', Owner: 'support_group' });
    expect(mappings.find((mapping) => mapping.file === 'b.csv' && mapping.source === 'Owner')).toMatchObject({ reason: 'override', confidence: 1 });
    expect(lowConfidence).toBe(false);
  });

  it('rejects an override with an unknown target or column with INVALID_OVERRIDE', async () => {
    const tables = await parseInputs([file('a.csv', 'name\nweb01\n')]);
    const analysis = analyseSource(tables);
    expect(() => mapFields(tables, analysis, { name: 'nickname' as 'name' })).toThrow(expect.objectContaining({ code: 'INVALID_OVERRIDE', message: expect.stringContaining('nickname') }));
    expect(() => mapFields(tables, analysis, { nmae: 'name' })).toThrow(expect.objectContaining({ code: 'INVALID_OVERRIDE' }));
  });
});
