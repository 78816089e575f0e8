import { describe, expect, it } from 'vitest';
import { certainty, KindCounter, valueCandidates, valueKinds, valueSupport } from '../../src/handlers/profile.ts';
import type { ColumnProfile } from '../../src/handlers/types.ts';

function profile(values: string[], name = 'column'): ColumnProfile {
  const counter = new KindCounter();
  for (const value of values) counter.add(value);
  return { name, type: 'string', emptyShare: 0, distinct: new Set(values).size, examples: values.slice(0, 5), patterns: [], sampled: counter.sampled, kinds: counter.finish() };
}

describe('valueKinds', () => {
  it('recognises addresses, host names, OS names, environment words, MACs, serials, keys, dates and relation types', () => {
    expect(valueKinds('10.1.2.3')).toContain('ipv4');
    expect(valueKinds('fe80::1%3')).toContain('ipv6');
    expect(valueKinds('web01.corp.example.com')).toEqual(expect.arrayContaining(['fqdn', 'host']));
    expect(valueKinds('lnx-db-02')).toContain('host');
    expect(valueKinds('Red Hat Enterprise Linux 8.6')).toContain('os');
    expect(valueKinds('UAT')).toContain('environment');
    expect(valueKinds('00:1a:2b:3c:4d:5e')).toContain('mac');
    expect(valueKinds('5CG1234XYZ')).toContain('serial');
    expect(valueKinds('5CG1234XYZ')).not.toContain('host');
    expect(valueKinds('a1b2c3d4e5f60718293a4b5c6d7e8f90')).toContain('key');
    expect(valueKinds('2024-03-01 10:00:00')).toContain('date');
    expect(valueKinds('Provided by::Provides')).toContain('relation_type');
    expect(valueKinds('cmdb_ci_db_hana_instance')).toContain('class');
    // Words are not host names, and "device" is not the environment "dev...".
    expect(valueKinds('Production')).not.toContain('host');
    expect(valueKinds('device')).not.toContain('environment');
  });
});

describe('certainty', () => {
  it('grows with the sample: two of two count for less than two hundred of two hundred', () => {
    expect(certainty(1, 2)).toBeLessThan(0.7);
    expect(certainty(1, 200)).toBeGreaterThan(0.98);
    expect(certainty(0.5, 1000)).toBeLessThan(0.5);
  });
});

describe('valueSupport and valueCandidates', () => {
  const hosts = profile(Array.from({ length: 50 }, (_, index) => `web${index}`));
  const dates = profile(Array.from({ length: 50 }, (_, index) => `2024-01-${String((index % 28) + 1).padStart(2, '0')}`));

  it('confirms a field whose values look like it and contradicts one whose values are clearly something else', () => {
    expect(valueSupport('name', hosts, 50)).toMatchObject({ effect: 'confirms', evidence: 'values: 100% host-like names' });
    expect(valueSupport('environment', dates, 50)).toMatchObject({ effect: 'contradicts', evidence: expect.stringContaining('100% dates') });
    expect(valueSupport('cpu_cores', profile(Array(20).fill('Intel Xeon Gold 6230')), 20)).toMatchObject({ effect: 'contradicts' });
    expect(valueSupport('location', hosts, 50)).toBeNull();
  });

  it('makes a column of unique host names a name candidate whatever its header', () => {
    expect(valueCandidates(hosts, 50)[0]).toMatchObject({ target: 'name', evidence: expect.stringContaining('unique per row') });
    expect(valueCandidates(profile(Array(50).fill('web01')), 50).map((candidate) => candidate.target)).not.toContain('name');
  });
});
