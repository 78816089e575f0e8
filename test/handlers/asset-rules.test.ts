import { describe, expect, it } from 'vitest';
import { classify, environmentFromName, normaliseEnvironment, osFamilyOf, parseTags, type ClassifyInput } from '../../src/handlers/asset-rules.ts';

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

  it('parses tag lists and JSON objects', () => {
    expect(parseTags('env=prod; owner:ops, critical')).toEqual({ env: 'prod', owner: 'ops', critical: '' });
    expect(parseTags('{"team": "infra", "tier": 1}')).toEqual({ team: 'infra', tier: '1' });
    expect(parseTags(null)).toEqual({});
  });
});
