import { describe, expect, it } from 'vitest';
import { classify, classText, classVerdict, environmentFromName, isEnvironmentWord, normaliseEnvironment, osFamilyOf, parseTags, type ClassifyInput } from '../../src/handlers/asset-rules.ts';

const input = (patch: Partial<ClassifyInput>): ClassifyInput => ({
  assetClass: null,
  system: 'generic',
  netboxModel: null,
  osText: null,
  model: null,
  names: [],
  virtualHost: null,
  hasResources: false,
  ...patch,
});

describe('asset rules', () => {
  it('classifies by class first, then OS, model and name, with the evidence that decided', () => {
    expect(classify(input({ assetClass: 'Linux Server' }))).toMatchObject({ type: 'server', confidence: 0.9 });
    expect(classify(input({ assetClass: 'Apache Web Server', system: 'servicenow' }))).toMatchObject({ type: 'application', subtype: 'web_server' });
    expect(classify(input({ osText: 'Junos 21.4R3' }))).toMatchObject({ type: 'network_device', confidence: 0.75 });
    expect(classify(input({ model: 'PowerEdge R740' }))).toMatchObject({ type: 'server', subtype: 'physical' });
    expect(classify(input({ names: ['fw01'] }))).toMatchObject({ type: 'network_device', subtype: 'firewall', evidence: ['name_token: name="fw01"'] });
  });

  it('calls an asset with a virtualization host a virtual server, and says so when nothing matched', () => {
    expect(classify(input({ virtualHost: 'esx01' }))).toMatchObject({ type: 'server', subtype: 'virtual' });
    expect(classify(input({}))).toEqual({ type: 'unknown', subtype: null, confidence: 0, evidence: ['no rule matched: no class, OS, model or name hint'] });
  });

  it('normalises environment words and finds them in host names', () => {
    expect(normaliseEnvironment('PRD')).toBe('production');
    expect(normaliseEnvironment('Pre-Prod')).toBe('staging');
    expect(normaliseEnvironment('billing dev')).toBe('development');
    expect(normaliseEnvironment(null)).toBe('unknown');
    expect(environmentFromName([null, 'web-uat-01'])).toBe('staging');
  });

  it('names the OS family of the first text that tells it', () => {
    expect(osFamilyOf('Red Hat Enterprise Linux 8')).toBe('linux');
    expect(osFamilyOf('Solaris 11', 'windows')).toBe('unix');
    expect(osFamilyOf('some appliance')).toBe('other');
    expect(osFamilyOf(null)).toBeNull();
  });

  it('asks the other class-like columns when the class column says nothing', () => {
    expect(classify(input({ assetClass: 'Configuration Item', otherClasses: [{ column: 'subcategory', value: 'Database' }] }))).toMatchObject({
      type: 'database',
      evidence: ['class_generic_ci: asset_class="Configuration Item"', 'class_database: subcategory="Database"'],
    });
  });

  it('parses tag lists and JSON objects', () => {
    expect(parseTags('env=prod; owner:ops, critical')).toEqual({ env: 'prod', owner: 'ops', critical: '' });
    expect(parseTags('{"team": "infra", "tier": 1}')).toEqual({ team: 'infra', tier: '1' });
    expect(parseTags(null)).toEqual({});
  });
});

describe('class names', () => {
  it('reads ServiceNow table names, other languages and PascalCase types as words', () => {
    expect(classText('cmdb_ci_db_hana_instance')).toBe('db hana instance');
    expect(classText('CMDB_CI_DB_ORA_INSTANCE')).toBe('db oracle instance');
    expect(classText('Base de données')).toBe('database');
    expect(classText('cmdb_ci')).toBe('ci');
  });

  it.each([
    ['cmdb_ci_db_hana_instance', 'database'],
    ['cmdb_ci_db_ora_instance', 'database'],
    ['cmdb_ci_postgresql_instance', 'database'],
    ['cmdb_ci_ip_firewall', 'network_device'],
    ['cmdb_ci_ip_switch', 'network_device'],
    ['cmdb_ci_netgear', 'network_device'],
    ['cmdb_ci_lb_bigip', 'network_device'],
    ['cmdb_ci_appl', 'application'],
    ['cmdb_ci_business_app', 'application'],
    ['cmdb_ci_linux_server', 'server'],
    ['cmdb_ci_vmware_instance', 'server'],
    ['cmdb_ci_msd', 'storage'],
    ['cmdb_ci_spkg', 'software'],
    ['ApplicationComponent', 'application'],
    ['SystemSoftware', 'software'],
    ['Pare-feu', 'network_device'],
    ['Datenbank', 'database'],
    ['PostgreSQL', 'database'],
  ])('%s is a %s', (name, type) => {
    expect(classVerdict(name).rule?.type).toBe(type);
  });

  it('gives the rule that decided as evidence', () => {
    expect(classVerdict('cmdb_ci_db_hana_instance').ruleEvidence).toBe('class_database: asset_class="cmdb_ci_db_hana_instance"');
  });
});

describe('isEnvironmentWord', () => {
  it('knows whole environment words, not words that only start like one', () => {
    expect(['Production', 'UAT', 'pre-prod', 'DR'].every(isEnvironmentWord)).toBe(true);
    expect(['device', 'testing lab 3', 'Frankfurt'].some(isEnvironmentWord)).toBe(false);
  });
});
