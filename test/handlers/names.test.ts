import { describe, expect, it } from 'vitest';
import { normaliseWords, readColumns, splitWords } from '../../src/handlers/names.ts';

function readings(columns: string[], column: string): string[] {
  return readColumns(columns)
    .find((name) => name.column === column)!
    .readings.map((reading) => `${reading.entity ?? ''}:${reading.words.join('_')}${reading.reference ? ' (ref)' : ''}`);
}

describe('splitWords', () => {
  it('splits camelCase, snake, kebab, dots and spaces and drops accents, keeping vCPU, IPv4 and CPUs whole', () => {
    expect(splitWords('ipAddress')).toEqual(['ip', 'address']);
    expect(splitWords('IPAddress')).toEqual(['ip', 'address']);
    expect(splitWords('server.os-name')).toEqual(['server', 'os', 'name']);
    expect(splitWords('Système d’exploitation')).toEqual(['systeme', 'd', 'exploitation']);
    expect(splitWords('vCPU')).toEqual(['vcpu']);
    expect(splitWords('IPv4')).toEqual(['ipv4']);
    expect(splitWords('CPUs')).toEqual(['cpus']);
  });
});

describe('normaliseWords', () => {
  it('expands abbreviations and translates German, French and Spanish header words', () => {
    expect(normaliseWords(['env'])).toEqual(['environment']);
    expect(normaliseWords(['mfr'])).toEqual(['manufacturer']);
    expect(normaliseWords(splitWords('Betriebssystem'))).toEqual(['os']);
    expect(normaliseWords(splitWords("Système d'exploitation"))).toEqual(['os']);
    expect(normaliseWords(splitWords('Número de serie'))).toEqual(['number', 'serial']);
    expect(normaliseWords(splitWords('Seriennummer'))).toEqual(['serial', 'number']);
  });
});

describe('readColumns', () => {
  it("drops a view's table aliases and reads other records' prefixes as those records", () => {
    const columns = ['serv_name', 'serv_os', 'serv_u_environment', 'app_name', 'app_u_application_criticality', 'bus_name'];
    expect(readings(columns, 'serv_name')).toContain(':name');
    expect(readings(columns, 'serv_u_environment')).toContain(':environment');
    expect(readings(columns, 'app_name')).toContain('application:name');
    expect(readings(columns, 'bus_name')).toContain('business_service:name');
  });

  it('drops a prefix shared by most columns, but never the source/destination sides of a flow', () => {
    expect(readings(['t1_name', 't1_ip', 't1_os', 'other'], 't1_ip')).toContain(':ip');
    expect(readings(['source_ip', 'source_host', 'destination_ip', 'destination_host'], 'source_ip')).toEqual([':source_ip']);
  });

  it('reads reference markers and dotted references as references to the named record', () => {
    expect(readings(['parent_u_key', 'child_u_key', 'type'], 'parent_u_key')).toContain(':parent (ref)');
    expect(readings(['location.display_value'], 'location.display_value')).toEqual([':location (ref)']);
    expect(readings(['Lieu->Nom'], 'Lieu->Nom')).toEqual([':location (ref)']);
    expect(readings(['server.os', 'server.ip'], 'server.os')).toEqual([':os']);
    expect(readings(['u_key', 'name'], 'u_key')).toContain(':key');
  });

  it('says what it did to each header, for the mapping evidence', () => {
    const [serv] = readColumns(['serv_u_environment', 'serv_name']);
    expect(serv.readings.at(-1)?.steps).toEqual(['prefix "serv_" shared by several columns dropped', 'ServiceNow custom prefix "u_" dropped']);
  });
});
