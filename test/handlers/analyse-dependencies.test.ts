import { describe, expect, it } from 'vitest';
import { analyseDependencies, analyseSource, classifyAssets, mapFields, parseInputs, validateRecords } from '../../src/handlers/index.ts';
import { graphView } from '../../src/handlers/analyse-dependencies.ts';
import { azureDependencyCsv, cmfIntakeCsv, netboxFixtureJson, rvtoolsVinfoCsv, toCsv } from '../fixtures/generate.ts';
import { file, runPipeline } from './run-pipeline.ts';

const SERVERS = toCsv([
  ['sys_id', 'name', 'sys_class_name', 'ip_address', 'fqdn'],
  ['s1', 'web01', 'Linux Server', '10.1.0.11', 'web01.corp.example.com'],
  ['s2', 'app01', 'Linux Server', '10.1.0.21', 'app01.corp.example.com'],
  ['s3', 'db01', 'Database', '10.1.0.31', ''],
  ['s4', 'esx01', 'ESX Server', '10.1.0.41', ''],
]);

describe('analyseDependencies', () => {
  it('normalises ServiceNow relation types and their direction', async () => {
    const relations = toCsv([
      ['parent', 'child', 'type'],
      ['web01', 'app01', 'Depends on::Used by'],
      ['APP01.corp.example.com', 'web01', 'Used by::Depends on'],
      ['app01', 'esx01', 'Runs on::Runs'],
      ['esx01', 'db01', 'Hosts::Hosted on'],
      ['10.1.0.31', 'app01', 'Sends data to::Receives data from'],
      ['esx01', 'app01', 'Depends on::Used by'],
    ]);
    const { dependencies } = await runPipeline([file('cmdb_ci.csv', SERVERS), file('cmdb_rel_ci.csv', relations)]);
    const edges = dependencies.edges.map((edge) => `${edge.source_key} ${edge.type} ${edge.target_key} x${edge.count}`);
    // "Used by::Depends on" read from app01's side is the same dependency of web01 on app01.
    expect(edges).toEqual(['s1 depends_on s2 x2', 's2 runs_on s4 x1', 's3 hosted_on s4 x1', 's3 sends_data_to s2 x1', 's4 depends_on s2 x1']);
    expect(dependencies.summary).toMatchObject({ nodes: 4, edges: 5, unresolvedEndpoints: 0, edgesByType: { depends_on: 2, runs_on: 1, hosted_on: 1, sends_data_to: 1 } });
    // app01 runs on esx01, which depends on app01: one cycle.
    expect(dependencies.summary.cycles).toBe(1);
  });

  it('keeps unknown relation endpoints as orphan or external nodes and counts them', async () => {
    const relations = toCsv([
      ['parent', 'child', 'type'],
      ['web01', 'ghost-ci', 'Depends on::Used by'],
      ['web01', 'api.partner.example.net', 'Depends on::Used by'],
      ['web01', '8.8.8.8', 'Connects to::Connected by'],
      ['', 'web01', 'Depends on::Used by'],
    ]);
    const { dependencies, validation } = await runPipeline([file('cmdb_ci.csv', SERVERS), file('cmdb_rel_ci.csv', relations)]);
    const unresolved = dependencies.nodes.filter((node) => !node.resolved).map((node) => `${node.key}:${node.kind}`);
    expect(unresolved).toEqual(['external:ghost-ci:orphan', 'external:api.partner.example.net:external', 'external:8.8.8.8:external']);
    expect(dependencies.summary.unresolvedEndpoints).toBe(3);
    expect(dependencies.edges).toHaveLength(3);
    expect(validation.quarantine).toHaveLength(1);
  });

  it('aggregates repeated flow observations with port and process, resolving endpoints by name or IP', async () => {
    const { dependencies } = await runPipeline([file('cmdb_ci.csv', SERVERS), file('deps.csv', azureDependencyCsv({ rows: 40 }))]);
    const flows = Object.fromEntries(dependencies.edges.filter((edge) => edge.origin === 'flow').map((edge) => [`${edge.source_key}>${edge.target_key}:${edge.port}`, edge]));
    expect(Object.keys(flows).sort()).toEqual(['s1>external:172.16.9.9:445', 's1>s2:8443', 's2>external:20.42.73.26:443', 's2>s3:1433', 's3>s2:8443']);
    expect(flows['s1>s2:8443']).toMatchObject({ count: 8, process: 'w3wp.exe', type: 'network_flow' });
    expect(flows['s2>external:20.42.73.26:443'].process).toBe('svchost.exe');
    const kinds = Object.fromEntries(dependencies.nodes.filter((node) => !node.resolved).map((node) => [node.label, node.kind]));
    expect(kinds).toEqual({ '20.42.73.26': 'external', '172.16.9.9': 'orphan' });
  });

  it('folds ephemeral client ports into one edge and ignores "Unknown process"', async () => {
    const flows = toCsv([
      ['Source server name', 'Source IP', 'Source process', 'Destination IP', 'Destination port'],
      ['vm1', 'fe80::6208:ffe1:9223:386e%3', 'Unknown process', 'fe80::28b8:60da:fe51:7378%3', 57874],
      ['vm1', 'fe80::6208:ffe1:9223:386e%3', 'Unknown process', 'fe80::28b8:60da:fe51:7378%3', 57872],
      ['vm1', '192.168.0.51', 'svchost.exe', '40.83.247.108', 443],
    ]);
    const { dependencies } = await runPipeline([file('deps.csv', flows)]);
    expect(dependencies.edges.map((edge) => `${edge.source_key}>${edge.target_key}:${edge.port}:${edge.process}:x${edge.count}`)).toEqual([
      'external:vm1>external:fe80::28b8:60da:fe51:7378:null:null:x2',
      'external:vm1>external:40.83.247.108:443:svchost.exe:x1',
    ]);
    expect(dependencies.nodes.find((node) => node.key === 'external:vm1')?.kind).toBe('orphan');
  });

  it('implies application, virtualization host and cluster edges from asset columns', async () => {
    const cmf = await runPipeline([file('intake.csv', cmfIntakeCsv())]);
    expect(cmf.dependencies.summary.edgesByType).toEqual({ runs_on: 6 });
    expect(cmf.dependencies.summary.applicationGroups.map((group) => group.members)).toEqual([
      ['Server1', 'Server2', 'app01-hr'],
      ['Server3', 'Server4', 'app02-sales'],
      ['Server6', 'Server8', 'app03-sales'],
    ]);
    const vinfo = await runPipeline([file('vinfo.csv', rvtoolsVinfoCsv({ rows: 6 }))]);
    expect(vinfo.dependencies.summary.edgesByType).toEqual({ runs_on: 6, member_of: 6 });
    expect(vinfo.dependencies.nodes.filter((node) => node.kind === 'orphan').map((node) => node.label).sort()).toEqual(expect.arrayContaining(['Cluster-A']));
  });

  it('turns NetBox cables into edges between devices and VM clusters into memberships', async () => {
    const { dependencies } = await runPipeline([file('netbox.json', netboxFixtureJson())]);
    const edges = dependencies.edges.map((edge) => `${edge.source_key} ${edge.type} ${edge.target_key}`);
    expect(edges).toEqual(
      expect.arrayContaining([
        'dcim.device:1 cabled_to dcim.device:2',
        'dcim.device:2 cabled_to dcim.device:3',
        'external:circuit:deow4921 cabled_to dcim.device:1',
        'virtualization.virtualmachine:10 runs_on dcim.device:3',
        'virtualization.virtualmachine:10 member_of virtualization.cluster:1',
        'virtualization.virtualmachine:11 member_of virtualization.cluster:1',
        'dcim.device:3 member_of virtualization.cluster:1',
      ]),
    );
    expect(dependencies.nodes.find((node) => node.key === 'external:circuit:deow4921')?.kind).toBe('external');
  });

  it('keeps the summary small: at most 100 groups of at most 50 member names, biggest first', async () => {
    const rows: (string | number)[][] = [['name', 'application']];
    for (let app = 0; app < 150; app++) for (let member = 0; member < (app === 0 ? 80 : 2); member++) rows.push([`srv-${app}-${member}`, `app-${app}`]);
    const tables = await parseInputs([file('big.csv', toCsv(rows))]);
    const analysis = analyseSource(tables);
    const validation = validateRecords(tables, analysis);
    const { mappings } = mapFields(tables, analysis);
    const { assets } = classifyAssets(tables, analysis, mappings, validation.quarantine);
    const { summary } = analyseDependencies(tables, analysis, mappings, assets);
    expect(summary.applicationGroups).toHaveLength(100);
    expect(summary.applicationGroups[0]).toMatchObject({ id: 1, size: 81 });
    expect(summary.applicationGroups[0].members).toHaveLength(50);
    expect(summary.applicationGroups[1].size).toBe(3);
    expect(JSON.stringify(summary).length).toBeLessThan(16 * 1024);
  });
});

describe('graphView', () => {
  it('keeps everything the dependency analysis reads: the graph of the cut-down assets is the graph of the full ones', async () => {
    const servers = toCsv([
      ['sys_id', 'name', 'sys_class_name', 'ip_address', 'fqdn', 'application', 'virtual_host', 'cluster', 'backup_server', 'owner', 'notes'],
      ['s1', 'web01', 'Linux Server', '10.1.0.11', 'web01.corp.example.com', 'Shop', 'esx01', 'c1', 'bkp01', 'ops', 'x'],
      ['s2', 'app01', 'Linux Server', '10.1.0.21', 'app01.corp.example.com', 'Shop', 'esx01', 'c1', '10.9.0.1', 'ops', 'y'],
      ['s3', 'db01', 'Database', '10.1.0.31', '', 'Billing', 'esx02', 'c2', 'bkp01', 'dba', 'z'],
      ['s4', 'esx01', 'ESX Server', '10.1.0.41', '', '', '', 'c1', '', 'infra', ''],
      ['s5', 'bkp01', 'Linux Server', '10.1.0.51', '', '', 'esx02', '', '', 'infra', ''],
    ]);
    const relations = toCsv([
      ['parent', 'child', 'type'],
      ['web01', 'app01', 'Depends on::Used by'],
      ['app01', 'db01.corp.example.com', 'Depends on::Used by'],
    ]);
    for (const files of [[file('cmdb_ci.csv', servers), file('cmdb_rel_ci.csv', relations)], [file('intake.csv', cmfIntakeCsv())], [file('vinfo.csv', rvtoolsVinfoCsv())]]) {
      const tables = await parseInputs(files);
      const analysis = analyseSource(tables);
      const validation = validateRecords(tables, analysis);
      const { mappings } = mapFields(tables, analysis);
      const { assets } = classifyAssets(tables, analysis, mappings, validation.quarantine);
      const full = analyseDependencies(tables, analysis, mappings, assets);
      expect(analyseDependencies(tables, analysis, mappings, assets.map(graphView))).toEqual(full);
      expect(full.edges.length).toBeGreaterThan(0);
      if (files[0]!.name === 'cmdb_ci.csv') expect(full.edges.map((e) => e.type)).toEqual(expect.arrayContaining(['backed_up_by', 'runs_on', 'member_of', 'depends_on']));
    }
    const tables = await parseInputs([file('cmdb_ci.csv', servers)]);
    const analysis = analyseSource(tables);
    const { mappings } = mapFields(tables, analysis);
    const [web] = classifyAssets(tables, analysis, mappings, []).assets;
    // The backup target stays, the rest of the attributes go.
    expect(Object.keys(graphView(web!).attributes)).toEqual(['backup_server']);
    expect(Object.keys(graphView(web!).attributes)).toEqual(Object.keys(web!.attributes).filter((column) => /backup/.test(column)));
    expect(JSON.stringify(graphView(web!)).length).toBeLessThan(JSON.stringify(web).length / 2);
  });
});
