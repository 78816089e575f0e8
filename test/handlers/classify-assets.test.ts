import { describe, expect, it } from 'vitest';
import type { Asset } from '../../src/handlers/types.ts';
import { cmfIntakeCsv, messySpreadsheetXlsx, netboxFixtureJson, rvtoolsVinfoCsv, toCsv } from '../fixtures/generate.ts';
import { file, runPipeline } from './run-pipeline.ts';

function byName(assets: Asset[]): Record<string, Asset> {
  return Object.fromEntries(assets.map((asset) => [asset.name ?? asset.asset_key, asset]));
}

describe('classifyAssets', () => {
  it('classifies ServiceNow classes into canonical types and subtypes with evidence', async () => {
    const classes = ['Software', 'Computer', 'Server', 'Windows Cluster Node', 'Windows Cluster', 'IP Router', 'IP Switch', 'Storage Switch', 'Mass Storage Device', 'UPS', 'Rack', 'Printer', 'Database', 'MySQL Catalog', 'Web Server', 'Service', 'Application Service Group', 'Data Center Zone', 'Configuration Item'];
    const csv = toCsv([['sys_id', 'name', 'sys_class_name', 'install_status'], ...classes.map((cls, index) => [`id${index}`, `ci ${cls}`, cls, 'Installed'])]);
    const { classes: result } = await runPipeline([file('cmdb_ci.csv', csv)]);
    const types = Object.fromEntries(result.assets.map((asset) => [asset.asset_class, `${asset.asset_type}/${asset.asset_subtype ?? ''}`]));
    expect(types).toEqual({
      Software: 'software/',
      Computer: 'end_user_device/workstation',
      Server: 'server/',
      'Windows Cluster Node': 'server/',
      'Windows Cluster': 'cluster/',
      'IP Router': 'network_device/router',
      'IP Switch': 'network_device/switch',
      'Storage Switch': 'network_device/switch',
      'Mass Storage Device': 'storage/',
      UPS: 'facility/ups',
      Rack: 'facility/rack',
      Printer: 'end_user_device/printer',
      Database: 'database/',
      'MySQL Catalog': 'database/',
      'Web Server': 'application/web_server',
      Service: 'service/',
      'Application Service Group': 'service/',
      'Data Center Zone': 'facility/data_center',
      'Configuration Item': 'unknown/',
    });
    const router = result.assets.find((asset) => asset.asset_class === 'IP Router');
    expect(router?.classification.confidence).toBeGreaterThan(0.8);
    expect(router?.classification.evidence[0]).toContain('asset_class="IP Router"');
    expect(result.summary.unknownShare).toBeCloseTo(1 / classes.length, 3);
  });

  it('normalises memory to MB and disk to GB whatever the unit', async () => {
    const { classes } = await runPipeline([file('inventory.xlsx', await messySpreadsheetXlsx())]);
    const assets = byName(classes.assets);
    expect(assets['app-prd-01']).toMatchObject({ memory_mb: 16384, disk_gb: 500, cpu_cores: 4 });
    expect(assets['app-prd-02']).toMatchObject({ memory_mb: 16384, disk_gb: 512 });
    expect(assets['db-uat-01']).toMatchObject({ memory_mb: 16384, disk_gb: 1024, cpu_cores: 8 });
    expect(assets['dr-fs-01']).toMatchObject({ memory_mb: 4096, disk_gb: 2048 });
    expect(assets['broken-01'].memory_mb).toBeNull();
    const vinfo = await runPipeline([file('vinfo.csv', rvtoolsVinfoCsv())]);
    for (const asset of vinfo.classes.assets) {
      expect([40, 100, 200]).toContain(asset.disk_gb);
      expect(asset).toMatchObject({ asset_type: 'server', asset_subtype: 'virtual', cluster: 'Cluster-A' });
    }
  });

  it('splits IP lists, parses k=v tags and normalises environment and OS family', async () => {
    const { classes } = await runPipeline([file('inventory.xlsx', await messySpreadsheetXlsx()), file('intake.csv', cmfIntakeCsv())]);
    const assets = byName(classes.assets);
    expect(assets['app-prd-02'].ip_addresses).toEqual(['10.20.0.2', '10.20.0.3']);
    expect(assets['app-prd-01'].tags).toEqual({ team: 'payments', tier: '1' });
    expect(assets.Server1.tags).toEqual({ CostCenter: '123', BU: 'IT', Location: 'US' });
    expect(Object.fromEntries(['app-prd-01', 'app-prd-02', 'db-uat-01', '10.20.2.2', 'broken-01', 'dr-fs-01', 'Server1', 'Server3'].map((name) => [name, `${assets[name].environment}/${assets[name].os_family}`]))).toEqual({
      'app-prd-01': 'production/windows',
      'app-prd-02': 'production/linux',
      'db-uat-01': 'staging/linux',
      '10.20.2.2': 'development/linux',
      'broken-01': 'test/unix',
      'dr-fs-01': 'dr/windows',
      Server1: 'development/windows',
      Server3: 'production/windows',
    });
    expect(assets['10.20.2.2'].ip_addresses).toEqual(['10.20.2.2']);
    expect(classes.summary.byEnvironment).toMatchObject({ production: 6, development: 3 });
  });

  it('gives every asset a stable, unique key and skips quarantined rows', async () => {
    const first = await runPipeline([file('intake.csv', cmfIntakeCsv()), file('inventory.xlsx', await messySpreadsheetXlsx())]);
    const second = await runPipeline([file('intake.csv', cmfIntakeCsv()), file('inventory.xlsx', await messySpreadsheetXlsx())]);
    const keys = first.classes.assets.map((asset) => asset.asset_key);
    expect(keys).toEqual(second.classes.assets.map((asset) => asset.asset_key));
    expect(new Set(keys).size).toBe(keys.length);
    expect(byName(first.classes.assets).Server6.asset_key).toBe('server6.example.local');
    // Server8 repeats Server6's FQDN, so it falls back to its own name rather than a number.
    expect(byName(first.classes.assets).Server8.asset_key).toBe('server8');
    expect(first.classes.assets.some((asset) => asset.source_table === 'inventory.xlsx#Servers' && asset.source_row === 5)).toBe(false);
    expect(first.classes.summary.assets).toBe(first.classes.assets.length);
  });

  it('uses source keys and NetBox models, roles and platforms', async () => {
    const { classes } = await runPipeline([file('netbox.json', netboxFixtureJson())]);
    const assets = Object.fromEntries(classes.assets.map((asset) => [asset.asset_key, asset]));
    expect(assets['dcim.device:1']).toMatchObject({ asset_type: 'network_device', asset_subtype: 'router', ip_addresses: ['10.0.0.1'], model: 'MX480', manufacturer: 'Juniper', os_family: 'other' });
    expect(assets['dcim.device:3']).toMatchObject({ asset_type: 'server', asset_subtype: 'physical', os_family: 'linux' });
    expect(assets['dcim.device:4']).toMatchObject({ name: null, asset_type: 'server' });
    expect(assets['virtualization.virtualmachine:11']).toMatchObject({ asset_type: 'server', asset_subtype: 'virtual', cpu_cores: 8, memory_mb: 32768, disk_gb: 500, ip_addresses: ['10.0.1.11'] });
    expect(assets['virtualization.cluster:1']).toMatchObject({ asset_type: 'cluster', name: 'CL-AKRON' });
    expect(classes.assets.some((asset) => asset.source_table.endsWith('#dcim.cable'))).toBe(false);
  });

  it('keeps unmapped columns as attributes and counts assets by type, environment and OS family', async () => {
    const { classes } = await runPipeline([file('intake.csv', cmfIntakeCsv())]);
    expect(classes.assets[0].attributes).toMatchObject({ wave_name: 'Wave 1', instanceType: 'm4.large' });
    expect(classes.summary).toEqual({ assets: 6, byType: { server: 6 }, byEnvironment: { development: 2, production: 4 }, byOsFamily: { windows: 3, linux: 3 }, unknownShare: 0 });
  });
});
